package smssim

import (
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// pitQueryGroupFault returns the GroupErrorResult a PiT query answers for group id when one of
// its PiTQueryFaults rules applies now (counting it), else nil. Callers hold s.mu.
func (s *Sim) pitQueryGroupFault(id GroupID, g *groupState) *smstypes.GroupErrorResult {
	for i := range g.cfg.PiTQueryFaults {
		r := g.cfg.PiTQueryFaults[i]
		if r.Times > 0 && g.pitQueryTimes[i] >= r.Times {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && s.rnd.Float64() >= r.Probability {
			continue
		}
		g.pitQueryTimes[i]++
		msg := r.Message
		if msg == "" {
			msg = "simulated " + string(r.Fault)
		}
		return &smstypes.GroupErrorResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: wireGroup(id)},
			Error:                []vimtypes.LocalizedMethodFault{localized(msg, faultOfKindValue(r.Fault))},
		}
	}
	return nil
}

// FailPiTQuery answers the group's entry of QueryPointInTimeReplica with a GroupErrorResult
// carrying r.Fault, as r says (Times, Probability); r.Method is ignored.
func (h *Provider) FailPiTQuery(id GroupID, r FaultRule) {
	h.with(func(p *providerState) {
		g := p.groups[id]
		if g == nil {
			return
		}
		r.Method = ""
		g.cfg.PiTQueryFaults = append(g.cfg.PiTQueryFaults, r)
		g.pitQueryTimes = append(g.pitQueryTimes, 0)
	})
}

// ClearPiTQueryFaults removes the group's PiT query fault rules.
func (h *Provider) ClearPiTQueryFaults(id GroupID) {
	h.with(func(p *providerState) {
		if g := p.groups[id]; g != nil {
			g.cfg.PiTQueryFaults, g.pitQueryTimes = nil, nil
		}
	})
}

// SetNoPitSupport models an array without PiT support (see ProviderConfig.NoPitSupport).
func (h *Provider) SetNoPitSupport(on bool) {
	h.with(func(p *providerState) { p.cfg.NoPitSupport = on })
}
