package smssim

import (
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// groupQueryFault returns the GroupErrorResult a query answers for group id when one of rules applies
// now (counting it in times, one count per rule), else nil. Callers hold s.mu.
func (s *Sim) groupQueryFault(id GroupID, rules []FaultRule, times []int) *smstypes.GroupErrorResult {
	for i, r := range rules {
		if r.Times > 0 && times[i] >= r.Times {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && s.rnd.Float64() >= r.Probability {
			continue
		}
		times[i]++
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

// FailGroupQuery answers the group's entry of QueryReplicationGroup with a GroupErrorResult carrying
// r.Fault, as r says (Times, Probability); r.Method is ignored.
func (h *Provider) FailGroupQuery(id GroupID, r FaultRule) {
	h.with(func(p *providerState) {
		if g := p.groups[id]; g != nil {
			r.Method = ""
			g.cfg.GroupQueryFaults = append(g.cfg.GroupQueryFaults, r)
			g.groupQueryTimes = append(g.groupQueryTimes, 0)
		}
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
