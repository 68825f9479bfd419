package smssim

import "time"

// ForeignPitName is the pitName of the sync GroupConfig.SyncOngoing starts.
const ForeignPitName = "external-sync"

// StartForeignSync starts a sync as another client (or the array's own scheduler) would, so syncs
// of these groups get SyncOngoing naming its task while it runs. pitName "" gives results without
// a pitName, as a sync started outside SMS may have; d is its duration, 0 meaning one drawn like
// any task of the provider. It is not a SyncCall. It returns the task reference.
func (h *Provider) StartForeignSync(groups []GroupID, pitName string, d time.Duration) string {
	var ref string
	h.with(func(p *providerState) {
		if d <= 0 {
			d = h.sim.drawTaskDuration(p)
		}
		ref = h.sim.newTaskTaking(p, groups, pitName, h.sim.now(), d).ref
	})
	return ref
}

// startConfiguredForeignSyncs starts the foreign syncs GroupConfig.SyncOngoing asks for, one task
// per group. Callers hold s.mu or own s exclusively.
func (s *Sim) startConfiguredForeignSyncs(now time.Time) {
	for _, p := range s.providers {
		for _, id := range p.order {
			g := p.groups[id].cfg
			if !g.SyncOngoing {
				continue
			}
			name := ForeignPitName
			if g.SyncOngoingWithoutPitName {
				name = ""
			}
			s.newTask(p, []GroupID{id}, name, now)
		}
	}
}
