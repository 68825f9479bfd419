package smssim

import "time"

// responseCounters counts the responses each ResponseRule of a provider has picked so far.
type responseCounters struct {
	lost, reset, late, empty ruleCount
}

// ruleCount is how many times a rule applied.
type ruleCount int

// pick reports whether rule r applies to one more response, counting it if so; a nil rule never does.
func (c *ruleCount) pick(r *ResponseRule, roll func() float64) bool {
	if r == nil {
		return false
	}
	if r.Times > 0 && int(*c) >= r.Times {
		return false
	}
	if r.Probability > 0 && r.Probability < 1 && roll() >= r.Probability {
		return false
	}
	*c++
	return true
}

// LoseResponses makes the HTTP responses of the next n SyncReplicationGroup_Task calls that create
// a task never arrive (the connection is closed); n <= 0 stops it.
func (h *Provider) LoseResponses(n int) {
	if n <= 0 {
		h.SetLostResponses(nil)
		return
	}
	h.SetLostResponses(&ResponseRule{Times: n})
}

// SetLostResponses replaces the lost-response rule (nil: none) and restarts its count.
func (h *Provider) SetLostResponses(r *ResponseRule) {
	h.with(func(p *providerState) {
		p.cfg.LostResponses, p.responses.lost = cloneRule(r), 0
	})
}

// ResetResponses answers the next n SyncReplicationGroup_Task calls that create a task with the front
// proxy's 503 for a backend that reset the connection; n <= 0 stops it.
func (h *Provider) ResetResponses(n int) {
	if n <= 0 {
		h.SetResetResponses(nil)
		return
	}
	h.SetResetResponses(&ResponseRule{Times: n})
}

// SetResetResponses replaces the reset-response rule (nil: none) and restarts its count.
func (h *Provider) SetResetResponses(r *ResponseRule) {
	h.with(func(p *providerState) {
		p.cfg.ResetResponses, p.responses.reset = cloneRule(r), 0
	})
}

// DelayResponses holds back the HTTP responses of the next n SyncReplicationGroup_Task calls that
// create a task for d; n <= 0 stops it.
func (h *Provider) DelayResponses(n int, d time.Duration) {
	if n <= 0 {
		h.SetLateResponses(nil)
		return
	}
	h.SetLateResponses(&LateResponseRule{ResponseRule: ResponseRule{Times: n}, Delay: Duration{d}})
}

// SetLateResponses replaces the late-response rule (nil: none) and restarts its count.
func (h *Provider) SetLateResponses(r *LateResponseRule) {
	h.with(func(p *providerState) {
		if r != nil {
			c := *r
			r = &c
		}
		p.cfg.LateResponses, p.responses.late = r, 0
	})
}

// EmptyTaskRefs answers the next n SyncReplicationGroup_Task calls on the VI/JSON binding that
// create a task with HTTP 200 and an empty body; n <= 0 stops it.
func (h *Provider) EmptyTaskRefs(n int) {
	if n <= 0 {
		h.SetEmptyTaskRefs(nil)
		return
	}
	h.SetEmptyTaskRefs(&ResponseRule{Times: n})
}

// SetEmptyTaskRefs replaces the empty-task-ref rule (nil: none) and restarts its count.
func (h *Provider) SetEmptyTaskRefs(r *ResponseRule) {
	h.with(func(p *providerState) {
		p.cfg.EmptyTaskRefs, p.responses.empty = cloneRule(r), 0
	})
}

func cloneRule(r *ResponseRule) *ResponseRule {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}
