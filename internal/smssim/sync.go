package smssim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// SyncReplicationGroupTask implements SyncReplicationGroup_Task with every rule of the API and the knobs.
func (o *vasaProvider) SyncReplicationGroupTask(ctx *simulator.Context, req *smstypes.SyncReplicationGroup_Task) soap.HasFault {
	body := new(methods.SyncReplicationGroup_TaskBody)
	p, f := o.enter(ctx)
	if f != nil {
		body.Fault_ = f
		return body
	}
	s := o.sim
	defer s.mu.Unlock()
	now := s.now()
	s.advance(now)
	ids := groupIDs(req.GroupId)
	call := SyncCall{Provider: p.cfg.Name, Groups: ids, PitName: req.PitName, Time: now}
	kind, sf := s.syncFault(o, p, ids, req.PitName)
	if sf != nil {
		call.Fault = kind
		s.calls = append(s.calls, call)
		body.Fault_ = sf
		return body
	}
	t := s.newTask(p, ids, req.PitName, now)
	call.Task = t.ref
	s.calls = append(s.calls, call)
	body.Res = &smstypes.SyncReplicationGroup_TaskResponse{Returnval: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: t.ref}}
	return body
}

// syncFault decides the fault a sync request gets, in the order a provider would check. Callers hold s.mu.
func (s *Sim) syncFault(o *vasaProvider, p *providerState, ids []GroupID, pitName string) (string, *soap.Fault) {
	if p.cfg.NotImplemented {
		return string(FaultNotImplemented), faultOfKind(FaultNotImplemented, "SyncReplicationGroup is not implemented by this provider")
	}
	if kind, rf := o.ruleFault(p, "SyncReplicationGroup_Task"); rf != nil {
		return kind, rf
	}
	if len(ids) == 0 {
		return "InvalidArgument", fault("groupId must not be empty", &vimtypes.InvalidArgument{InvalidProperty: "groupId"})
	}
	// Assumed: the array keeps pitName byte for byte, any length and characters, and reports it so. The
	// API calls it a "localized name" and lets a provider report PiT names "in a language as chosen by
	// the VASA provider"; an array that shortens or rewrites names would break finding a PiT again by
	// its name, which no client can do without.
	if pitName == "" {
		return "InvalidArgument", fault("pitName must be set", &vimtypes.InvalidArgument{InvalidProperty: "pitName"})
	}
	if f := s.inactiveFault(p, p.inactiveFor(ids)); f != nil {
		return "InactiveProvider", f
	}
	if p.cfg.MaxBatchSize > 0 && len(ids) > int(p.cfg.MaxBatchSize) {
		return "TooMany", fault(fmt.Sprintf("at most %d groups per call", p.cfg.MaxBatchSize),
			&smstypes.TooMany{MaxBatchSize: int64(p.cfg.MaxBatchSize)})
	}
	if p.cfg.TooManyWithoutSize && len(ids) > 1 {
		return "TooMany", fault("one group per call", &smstypes.TooMany{})
	}
	// The API lists InvalidArgument only for an empty groupId or pitName, and SmsReplicationFault "if an
	// error is encountered while processing the request". Assumed: a group the provider cannot sync
	// fails the whole call with an SmsReplicationFault (InvalidReplicationState for one not TARGET),
	// which does not say which group, as InvalidArgument's invalidProperty would not either.
	seen := map[GroupID]bool{}
	for _, id := range ids {
		g := p.answerGroup(id, s.now())
		switch {
		case g == nil:
			return "SmsReplicationFault", fault(fmt.Sprintf("unknown replication group %s/%s", id.FaultDomainID, id.DeviceGroupID),
				&smstypes.SmsReplicationFault{})
		case g.cfg.State != "TARGET":
			return "InvalidReplicationState", fault(fmt.Sprintf("replication group %s/%s is %s, not TARGET", id.FaultDomainID, id.DeviceGroupID, g.cfg.State),
				&smstypes.InvalidReplicationState{CurrentState: g.cfg.State, DesiredState: []string{"TARGET"}})
		case seen[id]:
			return "InvalidArgument", fault(fmt.Sprintf("replication group %s/%s is listed twice", id.FaultDomainID, id.DeviceGroupID),
				&vimtypes.InvalidArgument{InvalidProperty: "groupId"})
		}
		seen[id] = true
	}
	if t := s.runningTaskFor(p, ids); t != nil {
		return "SyncOngoing", fault("a sync of this group is already running",
			&smstypes.SyncOngoing{Task: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: t.ref}})
	}
	return s.taskLimitFault(p)
}
