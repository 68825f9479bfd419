package smssim

import (
	"fmt"
	"slices"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// GroupID identifies a replication group; it is the client's type, so tests compare them directly.
type GroupID = sms.GroupID

// PiTRecord is a point-in-time replica the simulator created (one per group of a successful sync).
type PiTRecord struct {
	// ProviderName is the provider that created it.
	ProviderName string
	// Group is the replicated group.
	Group GroupID
	// PitName is the name given in the sync request.
	PitName string
	// PitID is the replica id; empty for a provider without PiT support (its syncs are recorded
	// all the same, so tests can count them, but SMS never shows them).
	PitID string
	// TimeStamp is when the sync completed.
	TimeStamp time.Time
	// TaskRef is the SmsTask that created it.
	TaskRef string
}

// groupState is the runtime state of one replication group.
type groupState struct {
	cfg             GroupConfig
	pitQueryTimes   []int // answers so far per cfg.PiTQueryFaults rule
	groupQueryTimes []int // answers so far per cfg.GroupQueryFaults rule
}

// taskResult is the outcome of one group of a finished task.
type taskResult struct {
	group   GroupID
	ok      bool
	pitID   string
	warning string
	errMsg  string
	fault   FaultKind // of errMsg; "" is SmsReplicationFault
}

// task is a sync task.
type task struct {
	ref      string
	provider *providerState
	groups   []GroupID
	pitName  string
	start    time.Time
	duration time.Duration
	fail     string    // non-empty: the task ends in error with this message
	failKind FaultKind // the fault it ends with (TaskErrorFault)
	done     bool
	end      time.Time
	queries  int       // QuerySmsTaskInfo calls that asked for it
	seenEnd  time.Time // when a QuerySmsTaskInfo first answered that it had ended
	results  []taskResult
}

// status reports the task state and progress at now (without finalizing it). A task is queued
// for the first quarter of its duration; while running, its progress grows from 0 to 99 with the
// time it has run, as the API reference describes progress (percent done, while running).
func (t *task) status(now time.Time) (string, int32) {
	if t.done {
		if t.fail != "" {
			return "error", 100
		}
		return "success", 100
	}
	el, queued := now.Sub(t.start), t.duration/4
	switch {
	case el < queued:
		return "queued", 0
	case el < t.duration:
		return "running", int32(min((el-queued)*100/(t.duration-queued), 99))
	}
	return "success", 100
}

// providerState is the runtime state of one provider.
type providerState struct {
	ref       string
	cfg       ProviderConfig
	groups    map[GroupID]*groupState
	order     []GroupID
	unseeded  []newGroup       // groups added whose configured PiTs are not recorded yet
	ruleTimes []int            // calls answered so far per cfg.Faults rule
	responses responseCounters // responses tampered with so far per response rule
	// loadingUntil ends the provider's restart (RestartProvider); zero when it is not restarting.
	loadingUntil time.Time
	// unregistered: vCenter does not list the provider (Unregister) until it is registered again.
	unregistered bool
}

func newProviderState(ref string, cfg ProviderConfig) *providerState {
	p := &providerState{ref: ref, groups: map[GroupID]*groupState{}}
	p.setConfig(cfg)
	return p
}

// setConfig replaces the provider configuration, keeping counters for unchanged rules.
func (p *providerState) setConfig(cfg ProviderConfig) {
	if cfg.UID == "" {
		cfg.UID = "uid-" + cfg.Name
	}
	if cfg.Version == "" {
		cfg.Version = "3.0"
	}
	if cfg.Status == "" {
		cfg.Status = "online"
	}
	p.cfg = cfg
	p.ruleTimes = make([]int, len(cfg.Faults))
	p.responses = responseCounters{}
	p.groups = map[GroupID]*groupState{}
	p.order = nil
	for _, g := range cfg.Groups {
		p.addGroup(g)
	}
}

// addGroup adds a replication group, replacing one with the same id; the state defaults to TARGET.
func (p *providerState) addGroup(g GroupConfig) {
	if g.State == "" {
		g.State = "TARGET"
	}
	id := GroupID{FaultDomainID: g.FaultDomain, DeviceGroupID: g.DeviceGroup}
	if _, ok := p.groups[id]; !ok {
		p.order = append(p.order, id)
	}
	gs := &groupState{cfg: g, pitQueryTimes: make([]int, len(g.PiTQueryFaults)), groupQueryTimes: make([]int, len(g.GroupQueryFaults))}
	p.groups[id] = gs
	p.unseeded = append(p.unseeded, newGroup{id: id, group: gs})
}

// newGroup is a group added to a provider, by id and state.
type newGroup struct {
	id    GroupID
	group *groupState
}

// syncGroups brings cfg.Groups in step with the runtime group state. Config() calls it on read, so
// the hot paths (a task's end changes a group's knobs) need not copy every group.
func (p *providerState) syncGroups() {
	p.cfg.Groups = p.cfg.Groups[:0]
	for _, id := range p.order {
		p.cfg.Groups = append(p.cfg.Groups, p.groups[id].cfg)
	}
}

// matchRule returns the rule answering method now, consuming one of its times.
func (p *providerState) matchRule(method string, roll func() float64) *FaultRule {
	for i := range p.cfg.Faults {
		r := &p.cfg.Faults[i]
		if r.Method != "" && r.Method != method {
			continue
		}
		if r.Times > 0 && p.ruleTimes[i] >= r.Times {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && roll() >= r.Probability {
			continue
		}
		p.ruleTimes[i]++
		return r
	}
	return nil
}

// finalize decides the per-group results of a task that ended at end and records PiTs.
func (s *Sim) finalize(t *task, end time.Time) {
	t.done, t.end = true, end
	p := t.provider
	if t.fail != "" {
		// Assumed: an array that fails a sync midway keeps what it synced before the failure, and SMS
		// reports the task's error alone (SmsTaskInfo carries an error or a result, not both).
		for _, id := range t.groups[:min(p.cfg.TaskErrorAfterGroups, len(t.groups))] {
			if g := p.groups[id]; g != nil && g.cfg.State == "TARGET" {
				s.pits.add(PiTRecord{ProviderName: p.cfg.Name, Group: id, PitName: t.pitName, PitID: s.newPiTID(p), TimeStamp: end, TaskRef: t.ref})
			}
		}
		return
	}
	for _, id := range t.groups {
		g := p.groups[id]
		if g == nil {
			t.results = append(t.results, taskResult{group: id, errMsg: "group no longer exists"})
			continue
		}
		if g.cfg.Errors != 0 {
			if g.cfg.Errors > 0 {
				g.cfg.Errors--
			}
			msg := g.cfg.ErrorMessage
			if msg == "" {
				msg = "simulated replication error"
			}
			t.results = append(t.results, taskResult{group: id, errMsg: msg, fault: g.cfg.ErrorFault})
			continue
		}
		r := taskResult{group: id, ok: true, warning: g.cfg.Warning, pitID: s.newPiTID(p)}
		// An array without PiT support still synced the group: recorded (without an id) for tests.
		s.pits.add(PiTRecord{
			ProviderName: p.cfg.Name, Group: id, PitName: t.pitName, PitID: r.pitID, TimeStamp: end, TaskRef: t.ref,
		})
		t.results = append(t.results, r)
	}
	// Assumed: the API reference promises no order for a task's per-group results (the array answers
	// as its groups finish), so a client must match them by groupId; they come back shuffled.
	s.rnd.Shuffle(len(t.results), func(i, j int) { t.results[i], t.results[j] = t.results[j], t.results[i] })
}

// newPiTID numbers a PiT a sync of p made; "" on an array without PiT support, whose syncs report none.
func (s *Sim) newPiTID(p *providerState) string {
	if p.cfg.NoPitSupport {
		return ""
	}
	s.pitSeq++
	return fmt.Sprintf("pit-%d", s.pitSeq)
}

// advance finalizes every task whose time is up and drops it from s.taskOrder, which thus holds
// the unfinished tasks only (s.tasks keeps every task for queries). Callers hold s.mu.
func (s *Sim) advance(now time.Time) {
	s.runArraySchedules(now)
	s.taskOrder = slices.DeleteFunc(s.taskOrder, func(t *task) bool {
		if !t.done && now.Sub(t.start) >= t.duration {
			s.finalize(t, t.start.Add(t.duration))
		}
		return t.done
	})
}

// runningTaskFor returns an unfinished task of p that includes one of groups.
func (s *Sim) runningTaskFor(p *providerState, groups []GroupID) *task {
	for _, t := range s.taskOrder {
		if t.done || t.provider != p {
			continue
		}
		for _, g := range groups {
			if slices.Contains(t.groups, g) {
				return t
			}
		}
	}
	return nil
}

// newTask creates a sync task whose duration is drawn from the provider's knobs. Callers hold s.mu.
func (s *Sim) newTask(p *providerState, groups []GroupID, pitName string, now time.Time) *task {
	return s.newTaskTaking(p, groups, pitName, now, s.drawTaskDuration(p))
}

// newTaskTaking creates a sync task that takes d. Callers hold s.mu.
func (s *Sim) newTaskTaking(p *providerState, groups []GroupID, pitName string, now time.Time, d time.Duration) *task {
	s.taskSeq++
	t := &task{
		ref:      fmt.Sprintf("smstask-%d", s.taskSeq),
		provider: p,
		groups:   slices.Clone(groups),
		pitName:  pitName,
		start:    now,
		duration: d,
	}
	if p.cfg.TaskErrors != 0 {
		if p.cfg.TaskErrors > 0 {
			p.cfg.TaskErrors--
		}
		t.fail, t.failKind = "simulated task failure", p.cfg.TaskErrorFault
	}
	s.tasks[t.ref] = t
	s.taskOrder = append(s.taskOrder, t)
	if t.duration <= 0 {
		s.finalize(t, now)
	}
	return t
}
