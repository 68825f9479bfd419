package smssim

import (
	"fmt"
	"slices"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// GroupID identifies a replication group; it is the client's type, so tests compare them directly.
type GroupID = sms.GroupID

// PiTRecord is a point-in-time replica the simulator created.
type PiTRecord struct {
	// ProviderName is the provider that created it.
	ProviderName string
	// Group is the replicated group.
	Group GroupID
	// PitName is the name given in the sync request.
	PitName string
	// PitID is the replica id.
	PitID string
	// TimeStamp is when the sync completed.
	TimeStamp time.Time
	// TaskRef is the SmsTask that created it.
	TaskRef string
}

// SyncCall is one SyncReplicationGroup_Task request the simulator received.
type SyncCall struct {
	// ProviderName is the provider called.
	ProviderName string
	// Groups are the requested groups, in request order.
	Groups []GroupID
	// PitName is the requested pitName.
	PitName string
	// Fault is the fault answered ("" when a task was created), e.g. "TooMany".
	Fault string
	// TaskRef is the created task ("" on fault).
	TaskRef string
	// Time is when the call arrived.
	Time time.Time
}

// GroupCount returns the number of groups in the call.
func (c SyncCall) GroupCount() int { return len(c.Groups) }

// groupState is the runtime state of one replication group.
type groupState struct {
	cfg GroupConfig
}

// taskResult is the outcome of one group of a finished task.
type taskResult struct {
	group   GroupID
	ok      bool
	pitID   string
	warning string
	errMsg  string
}

// task is a sync task.
type task struct {
	ref      string
	provider *providerState
	groups   []GroupID
	pitName  string
	start    time.Time
	duration time.Duration
	fail     string // non-empty: the task ends in error with this message
	done     bool
	end      time.Time
	results  []taskResult
}

// status reports the task state and progress at now (without finalizing it).
func (t *task) status(now time.Time) (string, int32) {
	if t.done {
		if t.fail != "" {
			return "error", 100
		}
		return "success", 100
	}
	el := now.Sub(t.start)
	switch {
	case el < t.duration/4:
		return "queued", 0
	case el < t.duration:
		return "running", int32(el * 100 / t.duration)
	}
	return "success", 100
}

// providerState is the runtime state of one provider.
type providerState struct {
	ref       string
	cfg       ProviderConfig
	groups    map[GroupID]*groupState
	order     []GroupID
	ruleTimes []int // calls answered so far per cfg.Faults rule
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
	p.groups[id] = &groupState{cfg: g}
}

// syncGroups keeps cfg.Groups in step with the runtime group state (for Config()).
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

// inactiveFor returns the fault domains among groups the provider is inactive for.
func (p *providerState) inactiveFor(groups []GroupID) []string {
	in := p.cfg.Inactive
	if in == nil {
		return nil
	}
	var fds []string
	for _, g := range groups {
		if (len(in.FaultDomains) == 0 || slices.Contains(in.FaultDomains, g.FaultDomainID)) &&
			!slices.Contains(fds, g.FaultDomainID) {
			fds = append(fds, g.FaultDomainID)
		}
	}
	return fds
}

// finalize decides the per-group results of a task that ended at end and records PiTs.
func (s *Sim) finalize(t *task, end time.Time) {
	t.done, t.end = true, end
	if t.fail != "" {
		return
	}
	p := t.provider
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
			t.results = append(t.results, taskResult{group: id, errMsg: msg})
			continue
		}
		s.pitSeq++
		r := taskResult{group: id, ok: true, warning: g.cfg.Warning}
		r.pitID = fmt.Sprintf("pit-%d", s.pitSeq)
		s.pits = append(s.pits, PiTRecord{
			ProviderName: p.cfg.Name, Group: id, PitName: t.pitName, PitID: r.pitID, TimeStamp: end, TaskRef: t.ref,
		})
		t.results = append(t.results, r)
	}
	p.syncGroups()
}

// advance finalizes every task whose time is up. Callers hold s.mu.
func (s *Sim) advance(now time.Time) {
	s.runArraySchedules(now)
	for _, t := range s.taskOrder {
		if !t.done && now.Sub(t.start) >= t.duration {
			s.finalize(t, t.start.Add(t.duration))
		}
	}
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

// newTask creates a sync task. Callers hold s.mu.
func (s *Sim) newTask(p *providerState, groups []GroupID, pitName string, now time.Time) *task {
	s.taskSeq++
	t := &task{
		ref:      fmt.Sprintf("smstask-%d", s.taskSeq),
		provider: p,
		groups:   slices.Clone(groups),
		pitName:  pitName,
		start:    now,
		duration: p.cfg.TaskDuration.Duration,
	}
	if p.cfg.TaskErrors != 0 {
		if p.cfg.TaskErrors > 0 {
			p.cfg.TaskErrors--
		}
		t.fail = "simulated task failure"
	}
	s.tasks[t.ref] = t
	s.taskOrder = append(s.taskOrder, t)
	if t.duration <= 0 {
		s.finalize(t, now)
	}
	return t
}
