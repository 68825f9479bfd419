package smssim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// QueryFaultDomain lists the fault domains of the provider whose uid is filter.providerId (of every
// provider when the filter is empty). The simulator has no fault domain objects of its own: a provider's
// fault domains are those its replication groups are in (assumed; a real array may report empty ones).
func (o *storageManager) QueryFaultDomain(ctx *simulator.Context, req *smstypes.QueryFaultDomain) soap.HasFault {
	body := new(methods.QueryFaultDomainBody)
	if f := o.sim.begin(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	want := ""
	if req.Filter != nil {
		want = req.Filter.ProviderId
	}
	seen := map[string]bool{}
	res := &smstypes.QueryFaultDomainResponse{}
	for _, p := range o.sim.providers {
		if want != "" && p.cfg.UID != want {
			continue
		}
		for _, id := range p.order {
			if !seen[id.FaultDomainID] {
				seen[id.FaultDomainID] = true
				res.Returnval = append(res.Returnval, vimtypes.FaultDomainId{Id: id.FaultDomainID})
			}
		}
	}
	body.Res = res
	return body
}
