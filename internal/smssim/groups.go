package smssim

import (
	"slices"
	"time"
)

// RemoveGroups deletes replication groups from the provider, with their PiTs, as an array does when a
// group is deleted. Sync tasks in flight end with an error for them.
func (h *Provider) RemoveGroups(ids ...GroupID) {
	h.with(func(p *providerState) {
		for _, id := range ids {
			delete(p.groups, id)
		}
		p.order = slices.DeleteFunc(p.order, func(id GroupID) bool { return slices.Contains(ids, id) })
		p.syncGroups()
		for _, id := range ids {
			h.sim.pits.deleteOf(p.cfg.Name, id, func(PiTRecord) bool { return true })
		}
	})
}

// AddPiT records a PiT of the group taken by the array itself (not by a sync) at t, and returns its id;
// "" when the provider has no such group.
func (h *Provider) AddPiT(id GroupID, name string, t time.Time) string {
	var pitID string
	h.with(func(p *providerState) {
		if p.groups[id] == nil {
			return
		}
		pitID = h.sim.recordPiT(p, id, name, t)
	})
	return pitID
}

// RemovePiTs deletes the group's PiTs named name ("" = all of them), as an array's retention policy or an
// administrator would; it returns how many were deleted.
func (h *Provider) RemovePiTs(id GroupID, name string) int {
	n := 0
	h.with(func(p *providerState) {
		n = h.sim.pits.deleteOf(p.cfg.Name, id, func(r PiTRecord) bool { return name == "" || r.PitName == name })
	})
	return n
}

// SetArraySchedule makes the array take PiTs of its TARGET groups every cfg.Interval from now on; nil or
// a zero interval stops it.
func (h *Provider) SetArraySchedule(cfg *ArrayScheduleConfig) {
	h.with(func(p *providerState) {
		a := &h.sim.arrays
		h.sim.runArraySchedules(h.sim.now()) // settle the old schedule first
		delete(a.last, p)
		a.anchor[p] = h.sim.now()
		if cfg != nil {
			c := *cfg
			cfg = &c
		}
		p.cfg.ArraySchedule = cfg
	})
}

// SetGroupName sets the name the provider reports for the group.
func (h *Provider) SetGroupName(id GroupID, name string) {
	h.with(func(p *providerState) {
		if g := p.groups[id]; g != nil {
			g.cfg.Name = name
		}
	})
}
