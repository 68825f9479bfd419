package smssim

import "time"

// RestartProvider restarts the VASA provider as one does after an upgrade, a crash or a failover of the
// array controller that hosts it: for d from now it answers from an empty inventory, before it has read
// the array's replication groups again. QueryReplicationGroup then lists no group at all, as a success,
// not a fault; a query or a sync that names a group answers as for a group it does not know. The groups
// and their PiTs stay on the array and show again once d has passed. d <= 0 ends the restart.
//
// Assumption: field reports show providers that answer an empty group list for minutes after a restart
// or a failover; whether they answer calls naming a group from the array or from the same empty cache
// is not documented, and the simulator takes the empty cache, which is the harder case for a client.
func (h *Provider) RestartProvider(d time.Duration) {
	h.with(func(p *providerState) {
		if d <= 0 {
			p.loadingUntil = time.Time{}
			return
		}
		p.loadingUntil = h.sim.now().Add(d)
	})
}

// ProviderLoading reports whether the provider is still reading its inventory after RestartProvider.
func (h *Provider) ProviderLoading() bool {
	loading := false
	h.with(func(p *providerState) { loading = p.loading(h.sim.now()) })
	return loading
}

// loading reports whether the provider answers from an empty inventory at now (callers hold sim.mu).
func (p *providerState) loading(now time.Time) bool {
	return !p.loadingUntil.IsZero() && now.Before(p.loadingUntil)
}

// answerGroup is the group as the provider's answers show it at now: nil while it is loading its
// inventory, as for a group it does not have (callers hold sim.mu).
func (p *providerState) answerGroup(id GroupID, now time.Time) *groupState {
	if p.loading(now) {
		return nil
	}
	return p.groups[id]
}

// answerOrder lists the groups the provider's answers show at now (callers hold sim.mu).
func (p *providerState) answerOrder(now time.Time) []GroupID {
	if p.loading(now) {
		return nil
	}
	return p.order
}
