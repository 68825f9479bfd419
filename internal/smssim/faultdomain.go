package smssim

import (
	"cmp"
	"slices"

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

// limitReplicas applies queryParam.replicaTimeQueryParam: fromDate (inclusive), toDate (exclusive) and
// number. The API says only "return information for only number entries"; the simulator returns the
// newest ones, newest first, which is what a caller asking for number: 1 wants (an assumption: no array
// documents another order).
func limitReplicas(infos []smstypes.PointInTimeReplicaInfo, q *smstypes.QueryPointInTimeReplicaParam) []smstypes.PointInTimeReplicaInfo {
	if q == nil || q.ReplicaTimeQueryParam == nil {
		return infos
	}
	tq := q.ReplicaTimeQueryParam
	infos = slices.DeleteFunc(infos, func(in smstypes.PointInTimeReplicaInfo) bool {
		return (tq.FromDate != nil && in.TimeStamp.Before(*tq.FromDate)) || (tq.ToDate != nil && !in.TimeStamp.Before(*tq.ToDate))
	})
	if tq.Number > 0 {
		slices.SortStableFunc(infos, func(a, b smstypes.PointInTimeReplicaInfo) int {
			return cmp.Compare(b.TimeStamp.UnixNano(), a.TimeStamp.UnixNano())
		})
		infos = infos[:min(len(infos), int(tq.Number))]
	}
	return infos
}
