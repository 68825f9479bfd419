package smssim

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// QueryPointInTimeReplica returns the PiTs of the groups, filtered by the queryParam.pitName regular
// expression and the time bounds when set, as details or as summaries (see wantsDetails).
func (o *vasaProvider) QueryPointInTimeReplica(ctx *simulator.Context, req *smstypes.QueryPointInTimeReplica) soap.HasFault {
	body := new(methods.QueryPointInTimeReplicaBody)
	p, f := o.enterQuery(ctx, "QueryPointInTimeReplica")
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer o.sim.mu.Unlock()
	if p.cfg.NoPitSupport {
		// An array without PiT support does not implement the query (VASA makes it optional).
		body.Fault_ = faultOfKind(FaultNotImplemented, "QueryPointInTimeReplica is not implemented by this provider")
		return body
	}
	ids := groupIDs(req.GroupId)
	if len(ids) == 0 {
		body.Fault_ = fault("groupId must not be empty", &vimtypes.InvalidArgument{InvalidProperty: "groupId"})
		return body
	}
	if f := o.sim.inactiveFault(p, p.inactiveFor(ids)); f != nil {
		body.Fault_ = f
		return body
	}
	// queryParam.pitName is an XSD regular expression anchored to the whole name.
	var nameRE *regexp.Regexp
	details := false
	if q := req.QueryParam; q != nil {
		if f := checkReplicaTimeQuery(q.ReplicaTimeQueryParam); f != nil {
			body.Fault_ = f
			return body
		}
		details = wantsDetails(q) && !p.cfg.PiTSummaries
		if q.PitName != "" {
			re, err := compileXSDRegex(q.PitName)
			if err != nil {
				body.Fault_ = fault(fmt.Sprintf("queryParam.pitName %q: %v", q.PitName, err),
					&vimtypes.InvalidArgument{InvalidProperty: "queryParam.pitName"})
				return body
			}
			nameRE = re
		}
	}
	now := o.sim.now()
	o.sim.advance(now)
	res := &smstypes.QueryPointInTimeReplicaResponse{}
	answered := 0
	for _, id := range ids {
		g := p.answerGroup(id, now)
		if g == nil {
			res.Returnval = append(res.Returnval, unknownGroup(id))
			continue
		}
		// Assumed: the provider answers the groups in request order until its limit, and leaves
		// maxBatchSize unset (the reference says the client then asks for each group alone).
		if limit := p.cfg.PiTQueryMaxGroups; limit > 0 && answered >= int(limit) {
			res.Returnval = append(res.Returnval, &smstypes.GroupErrorResult{
				GroupOperationResult: smstypes.GroupOperationResult{GroupId: wireGroup(id)},
				Error:                []vimtypes.LocalizedMethodFault{localized("too many replicas to return; query this group separately", &smstypes.TooMany{})},
			})
			continue
		}
		answered++
		if ge := o.sim.groupQueryFault(id, g.cfg.PiTQueryFaults, g.pitQueryTimes); ge != nil {
			res.Returnval = append(res.Returnval, ge)
			continue
		}
		var infos []smstypes.PointInTimeReplicaInfo
		for _, pit := range o.sim.pits.of(p.cfg.Name, id) {
			// A sync done without PiT support left no PiT (no id) to list.
			if pit.PitID != "" && (nameRE == nil || nameRE.MatchString(pit.PitName)) {
				infos = append(infos, smstypes.PointInTimeReplicaInfo{
					Id: smstypes.PointInTimeReplicaId{Id: pit.PitID}, PitName: pit.PitName, TimeStamp: pit.TimeStamp.Add(p.cfg.ClockOffset.Duration),
				})
			}
		}
		infos = limitReplicas(infos, req.QueryParam)
		base := smstypes.GroupOperationResult{GroupId: wireGroup(id)}
		if details {
			res.Returnval = append(res.Returnval, &smstypes.QueryPointInTimeReplicaSuccessResult{GroupOperationResult: base, ReplicaInfo: infos})
		} else {
			res.Returnval = append(res.Returnval, &smstypes.QueryPointInTimeReplicaSummaryResult{GroupOperationResult: base, IntervalResults: summarize(infos)})
		}
	}
	body.Res = res
	return body
}

// summarize counts replicas in one interval spanning them all (from the first, inclusive, to just
// after the last, exclusive); no interval when there are none.
func summarize(infos []smstypes.PointInTimeReplicaInfo) []smstypes.ReplicaIntervalQueryResult {
	if len(infos) == 0 {
		return nil
	}
	from, to := infos[0].TimeStamp, infos[0].TimeStamp
	for _, in := range infos[1:] {
		if in.TimeStamp.Before(from) {
			from = in.TimeStamp
		}
		if in.TimeStamp.After(to) {
			to = in.TimeStamp
		}
	}
	return []smstypes.ReplicaIntervalQueryResult{{FromDate: from, ToDate: to.Add(time.Nanosecond), Number: int32(min(len(infos), math.MaxInt32))}}
}

// checkReplicaTimeQuery refuses a replicaTimeQueryParam outside the combinations the API allows: none of
// fromDate, toDate and number; fromDate and toDate; fromDate and number; toDate and number. Assumed: a
// provider answers another combination with InvalidArgument (the API leaves it undefined).
func checkReplicaTimeQuery(tq *smstypes.ReplicaQueryIntervalParam) *soap.Fault {
	if tq == nil {
		return nil
	}
	set := 0
	for _, on := range []bool{tq.FromDate != nil, tq.ToDate != nil, tq.Number > 0} {
		if on {
			set++
		}
	}
	if set == 0 || set == 2 {
		return nil
	}
	return fault("queryParam.replicaTimeQueryParam must set none of fromDate, toDate and number, or exactly two of them",
		&vimtypes.InvalidArgument{InvalidProperty: "queryParam.replicaTimeQueryParam"})
}

// wantsDetails reports whether a PiT query is answered with replica details (a
// QueryPointInTimeReplicaSuccessResult) rather than counts: as preferDetails says where it is set, and
// where it is not (a server before SMS 7.0.0.1 does not know it) when a time bound is set. The API: "when
// all the fields are omitted, VASA provider should return QueryPointInTimeReplicaSummaryResult", and
// preferDetails chooses otherwise; that a bounded query gets details without it is assumed.
func wantsDetails(q *smstypes.QueryPointInTimeReplicaParam) bool {
	if q.PreferDetails != nil {
		return *q.PreferDetails
	}
	tq := q.ReplicaTimeQueryParam
	return tq != nil && (tq.FromDate != nil || tq.ToDate != nil || tq.Number > 0)
}

// limitReplicas applies queryParam.replicaTimeQueryParam: fromDate (inclusive), toDate (exclusive) and
// number. The API says only "return information for only number entries"; the simulator returns the
// number newest before toDate, newest first, or the number oldest from fromDate, oldest first
// (assumed: no array documents the order; a caller that wants the newest sets toDate).
func limitReplicas(infos []smstypes.PointInTimeReplicaInfo, q *smstypes.QueryPointInTimeReplicaParam) []smstypes.PointInTimeReplicaInfo {
	if q == nil || q.ReplicaTimeQueryParam == nil {
		return infos
	}
	tq := q.ReplicaTimeQueryParam
	infos = slices.DeleteFunc(infos, func(in smstypes.PointInTimeReplicaInfo) bool {
		return (tq.FromDate != nil && in.TimeStamp.Before(*tq.FromDate)) || (tq.ToDate != nil && !in.TimeStamp.Before(*tq.ToDate))
	})
	if tq.Number > 0 {
		newestFirst := tq.ToDate != nil
		slices.SortStableFunc(infos, func(a, b smstypes.PointInTimeReplicaInfo) int {
			if newestFirst {
				a, b = b, a
			}
			return a.TimeStamp.Compare(b.TimeStamp)
		})
		infos = infos[:min(len(infos), int(tq.Number))]
	}
	return infos
}
