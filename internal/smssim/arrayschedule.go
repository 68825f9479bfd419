package smssim

import (
	"fmt"
	"strings"
	"time"
)

// ArrayScheduleConfig makes an array take PiTs of its replication groups on its own, as arrays' replication
// schedules do; most PiTs a provider reports were made this way, not by SyncReplicationGroup_Task.
type ArrayScheduleConfig struct {
	// Interval between two scheduled PiTs; 0 turns the schedule off. The first is taken one interval
	// after the simulator started (or after SetArraySchedule).
	Interval Duration `json:"interval"`
	// NamePrefix starts each PiT's name, followed by "-" and the UTC time (20060102-150405); "" means
	// "array-schedule".
	NamePrefix string `json:"namePrefix,omitempty"`
	// Retain is how many scheduled PiTs per group the array keeps; older ones are deleted by the array, as
	// its retention policy would. 0 means 24.
	Retain int `json:"retain,omitempty"`
}

// PiTConfig is a replica a group already has when the simulator starts or the group is added.
type PiTConfig struct {
	// Name of the replica.
	Name string `json:"name"`
	// Age is how long before the start the replica was taken.
	Age Duration `json:"age,omitempty"`
}

// defaultRetain is ArrayScheduleConfig.Retain's default.
const defaultRetain = 24

// arrayState is what the arrays' own schedules keep: when each schedule started and how far it ran.
type arrayState struct {
	start  time.Time                    // the simulator's start: schedules count from it
	anchor map[*providerState]time.Time // start of a schedule set at run time
	last   map[*providerState]time.Time // time of the last scheduled PiT taken
}

// runArraySchedules records the configured PiTs of new groups and takes every scheduled PiT due by now.
// Callers hold s.mu.
func (s *Sim) runArraySchedules(now time.Time) {
	a := &s.arrays
	if a.last == nil {
		a.last, a.anchor = map[*providerState]time.Time{}, map[*providerState]time.Time{}
	}
	for _, p := range s.providers {
		// Every call advances the simulator, so this looks at the groups added since the last call
		// only: a scan of all groups would cost each call as much as the provider has groups.
		for _, n := range p.unseeded {
			if p.groups[n.id] != n.group {
				continue // removed or replaced since; its replacement is queued too
			}
			for _, pc := range n.group.cfg.PiTs {
				s.recordPiT(p, n.id, pc.Name, now.Add(-pc.Age.Duration))
			}
		}
		p.unseeded = nil
		sc := p.cfg.ArraySchedule
		if sc == nil || sc.Interval.Duration <= 0 {
			continue
		}
		s.takeScheduledPiTs(p, sc, now)
	}
}

// takeScheduledPiTs takes the PiTs of p's schedule due by now, at most Retain per group (older ones would
// be deleted at once anyway).
func (s *Sim) takeScheduledPiTs(p *providerState, sc *ArrayScheduleConfig, now time.Time) {
	a := &s.arrays
	iv := sc.Interval.Duration
	retain := sc.Retain
	if retain <= 0 {
		retain = defaultRetain
	}
	last, ok := a.last[p]
	if !ok {
		last = a.start
		if at, ok := a.anchor[p]; ok {
			last = at
		}
	}
	due := int(now.Sub(last) / iv)
	if due <= 0 {
		return
	}
	skip := max(0, due-retain)
	for k := skip + 1; k <= due; k++ {
		at := last.Add(time.Duration(k) * iv)
		name := fmt.Sprintf("%s-%s", prefixOrDefault(sc.NamePrefix), at.UTC().Format("20060102-150405"))
		for _, id := range p.order {
			// Only a replication target takes PiTs of what it receives.
			if p.groups[id].cfg.State == "TARGET" {
				s.recordPiT(p, id, name, at)
			}
		}
	}
	a.last[p] = last.Add(time.Duration(due) * iv)
	s.pruneScheduled(p, prefixOrDefault(sc.NamePrefix), retain)
}

func prefixOrDefault(p string) string {
	if p == "" {
		return "array-schedule"
	}
	return p
}

// pruneScheduled deletes all but the newest retain scheduled PiTs of each group of p, as the array's
// retention policy would. PiTs are stored oldest first.
func (s *Sim) pruneScheduled(p *providerState, prefix string, retain int) {
	scheduled := func(pit PiTRecord) bool { return pit.TaskRef == "" && strings.HasPrefix(pit.PitName, prefix+"-") }
	for _, g := range s.pits.groupsOf(p.cfg.Name) {
		excess := -retain
		for _, pit := range s.pits.of(p.cfg.Name, g) {
			if scheduled(pit) {
				excess++
			}
		}
		s.pits.deleteOf(p.cfg.Name, g, func(pit PiTRecord) bool {
			if excess > 0 && scheduled(pit) {
				excess--
				return true
			}
			return false
		})
	}
}

// recordPiT stores a PiT of group id taken by the array itself at t. Callers hold s.mu.
func (s *Sim) recordPiT(p *providerState, id GroupID, name string, t time.Time) string {
	s.pitSeq++
	pitID := fmt.Sprintf("pit-%d", s.pitSeq)
	s.pits.add(PiTRecord{ProviderName: p.cfg.Name, Group: id, PitName: name, PitID: pitID, TimeStamp: t})
	return pitID
}
