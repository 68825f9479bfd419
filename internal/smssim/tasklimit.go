package smssim

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/soap"
)

// unfinishedTasks counts the queued or running sync tasks of p, whoever started them. Callers
// hold s.mu and have advanced the clock.
func (s *Sim) unfinishedTasks(p *providerState) int {
	n := 0
	for _, t := range s.taskOrder {
		if !t.done && t.provider == p {
			n++
		}
	}
	return n
}

// taskLimitFault answers ProviderBusy when p already runs MaxConcurrentTasks sync tasks. An array
// limits its own work, so tasks other clients started count too. Callers hold s.mu.
func (s *Sim) taskLimitFault(p *providerState) (string, *soap.Fault) {
	limit := p.cfg.MaxConcurrentTasks
	if limit <= 0 {
		return "", nil
	}
	if n := s.unfinishedTasks(p); n >= limit {
		return string(FaultBusy), faultOfKind(FaultBusy, fmt.Sprintf("%d sync tasks are running, the limit is %d", n, limit))
	}
	return "", nil
}

// SetMaxConcurrentTasks answers ProviderBusy to syncs while n sync tasks of the provider are queued
// or running; 0 (or less) removes the limit.
func (h *Provider) SetMaxConcurrentTasks(n int) {
	h.with(func(p *providerState) { p.cfg.MaxConcurrentTasks = max(n, 0) })
}

// UnfinishedTasks returns how many sync tasks of the provider are queued or running now.
func (h *Provider) UnfinishedTasks() int {
	var n int
	h.with(func(p *providerState) {
		h.sim.advance(h.sim.now())
		n = h.sim.unfinishedTasks(p)
	})
	return n
}
