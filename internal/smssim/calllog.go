package smssim

import (
	"slices"
	"time"
)

// What happened to the HTTP response of a SyncCall (SyncCall.Response).
const (
	// ResponseLost means the server closed the connection without answering.
	ResponseLost = "lost"
	// ResponseLate means the answer was held back (see LateResponseRule.Delay).
	ResponseLate = "late"
	// ResponseReset means the front proxy answered HTTP 503: the backend reset the connection.
	ResponseReset = "reset"
	// ResponseEmpty means the VI/JSON answer was HTTP 200 with an empty body: no task ref.
	ResponseEmpty = "empty"
)

// SyncCall is one SyncReplicationGroup_Task call as the simulator received it. Foreign syncs
// started from Go (Provider.StartSync, StartForeignSync, GroupConfig.SyncOngoing) are not calls.
type SyncCall struct {
	// Provider is the name of the provider called.
	Provider string
	// Groups are the requested groups, in request order.
	Groups []GroupID
	// PitName is the requested pitName.
	PitName string
	// Time is when the call arrived.
	Time time.Time
	// Task is the SmsTask the call created; "" if none was created.
	Task string
	// Fault is the fault type answered (e.g. "TooMany", "SyncOngoing"); "" if none.
	Fault string
	// Response is "" when the answer was sent as is, else ResponseLost, ResponseReset, ResponseLate or ResponseEmpty.
	Response string
}

// GroupCount returns the number of groups in the call.
func (c SyncCall) GroupCount() int { return len(c.Groups) }

// Calls returns a copy of every SyncReplicationGroup_Task call received, in arrival order.
func (s *Sim) Calls() []SyncCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SyncCall, len(s.calls))
	for i, c := range s.calls {
		c.Groups = slices.Clone(c.Groups)
		out[i] = c
	}
	return out
}

// CallCounts returns, per group, how many SyncReplicationGroup_Task calls named it with pitName,
// whatever they were answered (faults count too).
func (s *Sim) CallCounts(pitName string) map[GroupID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[GroupID]int{}
	for _, c := range s.calls {
		if c.PitName != pitName {
			continue
		}
		for _, g := range c.Groups {
			out[g]++
		}
	}
	return out
}

// PiTsOf returns the PiTs created so far for group g at the named provider, in creation order.
func (s *Sim) PiTsOf(provider string, g GroupID) []PiTRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	return s.pits.of(provider, g)
}

// PiTCounts returns, per group, how many PiTs named pitName exist (at any provider).
func (s *Sim) PiTCounts(pitName string) map[GroupID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	out := map[GroupID]int{}
	for _, p := range s.pits.all() {
		if p.PitName == pitName {
			out[p.Group]++
		}
	}
	return out
}

// callOfTask returns the log entry of the call that created task ref, or nil. Callers hold s.mu.
func (s *Sim) callOfTask(ref string) *SyncCall {
	if ref == "" {
		return nil
	}
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].Task == ref {
			return &s.calls[i]
		}
	}
	return nil
}
