package smssim

import (
	"cmp"
	"slices"
	"time"
)

// TaskRecord is one sync task as the simulator ran it, for measuring clients: when it started,
// how long the array took, and when it ended.
type TaskRecord struct {
	// Ref is the SmsTask moId value.
	Ref string
	// Provider is the name of the provider that ran it.
	Provider string
	// Groups are the task's groups.
	Groups []GroupID
	// PitName is the pitName of the sync.
	PitName string
	// Start is when the task was created.
	Start time.Time
	// Duration is how long the array takes for it (drawn when it started).
	Duration time.Duration
	// Done tells whether it has ended; End is then Start+Duration.
	Done bool
	// End is when it ended; zero while it is queued or running.
	End time.Time
	// Failed tells whether it ended in state error.
	Failed bool
	// Queries counts the QuerySmsTaskInfo calls that asked for it.
	Queries int
	// SeenEnd is when a QuerySmsTaskInfo first answered that it had ended (zero until then).
	SeenEnd time.Time
}

// Tasks returns every sync task the simulator knows (tasks forgotten by an SMS restart are gone),
// ordered by start time.
func (s *Sim) Tasks() []TaskRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	out := make([]TaskRecord, 0, len(s.tasks))
	for _, t := range s.tasks {
		r := TaskRecord{
			Ref: t.ref, Provider: t.provider.cfg.Name, Groups: slices.Clone(t.groups), PitName: t.pitName,
			Start: t.start, Duration: t.duration, Done: t.done, Failed: t.fail != "", Queries: t.queries,
			SeenEnd: t.seenEnd,
		}
		if t.done {
			r.End = t.end
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b TaskRecord) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.Ref), len(b.Ref)); c != 0 {
			return c
		}
		return cmp.Compare(a.Ref, b.Ref)
	})
	return out
}
