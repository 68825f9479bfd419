package smssim

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// SMS endpoint constants.
const (
	// Path is the SOAP path of SMS.
	Path = "/sms/sdk"
	// Namespace is the SMS namespace.
	Namespace = "sms"
)

var (
	serviceInstanceRef = vimtypes.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"}
	storageManagerRef  = vimtypes.ManagedObjectReference{Type: "SmsStorageManager", Value: "SmsStorageManager"}
)

// newRegistry builds the /sms/sdk registry of this simulator.
func (s *Sim) newRegistry() *simulator.Registry {
	r := simulator.NewRegistry()
	r.Namespace = Namespace
	r.Path = Path
	r.Cookie = simulator.SOAPCookie
	r.Put(&serviceInstance{ManagedObjectReference: serviceInstanceRef, sim: s})
	r.Put(&storageManager{ManagedObjectReference: storageManagerRef, sim: s})
	// Tasks are created at run time, and a provider's moId changes when it is re-registered
	// (Provider.Reregister): route both by reference; an unknown provider is ManagedObjectNotFound.
	r.Handler = func(_ *simulator.Context, m *simulator.Method) (mo.Reference, vimtypes.BaseMethodFault) {
		switch m.This.Type {
		case "SmsTask":
			return &smsTask{ManagedObjectReference: m.This, sim: s}, nil
		case "VasaProvider":
			s.mu.Lock()
			_, ok := s.byRef[m.This.Value]
			s.mu.Unlock()
			if !ok {
				return nil, &vimtypes.ManagedObjectNotFound{Obj: m.This}
			}
			return &vasaProvider{ManagedObjectReference: m.This, sim: s}, nil
		}
		return nil, nil
	}
	return r
}

// fault builds a SOAP fault whose MethodFault carries msg as its localized message too.
func fault(msg string, f vimtypes.BaseMethodFault) *soap.Fault {
	if msg != "" {
		f.GetMethodFault().FaultMessage = []vimtypes.LocalizableMessage{{Key: "com.vasa-sync-operator.smssim", Message: msg}}
	}
	return simulator.Fault(msg, f)
}

// begin applies session expiry; it returns an InvalidSession fault for an expired session (NotAuthenticated
// for a call without any).
func (s *Sim) begin(ctx *simulator.Context) *soap.Fault {
	s.countSMSCall()
	if ctx.Session == nil {
		return fault("not authenticated", &vimtypes.NotAuthenticated{})
	}
	key := ctx.Session.Key
	s.mu.Lock()
	expired := !s.expireBefore.IsZero() && !ctx.Session.LoginTime.After(s.expireBefore)
	s.sessCalls[key]++
	if s.expireAfter > 0 && s.sessCalls[key] > s.expireAfter {
		expired = true
	}
	if expired {
		delete(s.sessCalls, key)
		s.expiredCount++
	}
	s.mu.Unlock()
	if !expired {
		return nil
	}
	// Really end the vCenter session, as a real session timeout would.
	vc := *ctx.For("/sdk")
	vc.Session = &simulator.Session{UserSession: vimtypes.UserSession{Key: "smssim-expiry"}}
	vc.Map.SessionManager().TerminateSession(&vc, &vimtypes.TerminateSession{SessionId: []string{key}})
	// SMS answers an expired vCenter session with its own InvalidSession (REFERENCES.md), not vim25's
	// NotAuthenticated.
	return fault("The session is not authenticated.", &smstypes.InvalidSession{
		NoPermission:  vimtypes.NoPermission{PrivilegeId: "System.View"},
		SessionCookie: key,
	})
}

type serviceInstance struct {
	vimtypes.ManagedObjectReference
	sim *Sim
}

// QueryStorageManager returns the storage manager.
func (o *serviceInstance) QueryStorageManager(ctx *simulator.Context, _ *smstypes.QueryStorageManager) soap.HasFault {
	body := new(methods.QueryStorageManagerBody)
	if f := o.sim.begin(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	body.Res = &smstypes.QueryStorageManagerResponse{Returnval: storageManagerRef}
	return body
}

type storageManager struct {
	vimtypes.ManagedObjectReference
	sim *Sim
}

// QueryProvider lists the providers.
func (o *storageManager) QueryProvider(ctx *simulator.Context, _ *smstypes.QueryProvider) soap.HasFault {
	body := new(methods.QueryProviderBody)
	if f := o.sim.begin(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	res := &smstypes.QueryProviderResponse{}
	o.sim.mu.Lock()
	for _, p := range o.sim.providers {
		if !p.unregistered {
			res.Returnval = append(res.Returnval, vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: p.ref})
		}
	}
	o.sim.mu.Unlock()
	body.Res = res
	return body
}

type vasaProvider struct {
	vimtypes.ManagedObjectReference
	sim *Sim
}

// enter runs the common checks of a provider method (session, then latency) and takes sim.mu.
// On a nil fault the caller holds sim.mu and must unlock it.
func (o *vasaProvider) enter(ctx *simulator.Context) (*providerState, *soap.Fault) {
	if f := o.sim.begin(ctx); f != nil {
		return nil, f
	}
	// The provider may have been unregistered since the registry routed the call, or during the latency:
	// a real vCenter then answers ManagedObjectNotFound.
	gone := fault("the provider is not registered", &vimtypes.ManagedObjectNotFound{Obj: o.ManagedObjectReference})
	o.sim.mu.Lock()
	p := o.sim.byRef[o.Value]
	if p == nil {
		o.sim.mu.Unlock()
		return nil, gone
	}
	latency, sleep := p.cfg.Latency.Duration, o.sim.sleep
	o.sim.mu.Unlock()
	if latency > 0 {
		sleep(latency)
	}
	o.sim.mu.Lock()
	if o.sim.byRef[o.Value] != p {
		o.sim.mu.Unlock()
		return nil, gone
	}
	return p, nil
}

// enterQuery is enter plus the configured fault rules of a query method.
func (o *vasaProvider) enterQuery(ctx *simulator.Context, method string) (*providerState, *soap.Fault) {
	p, f := o.enter(ctx)
	if f != nil {
		return nil, f
	}
	if _, rf := o.ruleFault(p, method); rf != nil {
		o.sim.mu.Unlock()
		return nil, rf
	}
	return p, nil
}

// ruleFault returns the fault of a matching rule (callers hold sim.mu).
func (o *vasaProvider) ruleFault(p *providerState, method string) (string, *soap.Fault) {
	r := p.matchRule(method, o.sim.rnd.Float64)
	if r == nil {
		return "", nil
	}
	return string(r.Fault), faultOfKind(r.Fault, r.Message)
}

func faultOfKind(k FaultKind, msg string) *soap.Fault {
	if msg == "" {
		msg = "simulated " + string(k)
	}
	return fault(msg, faultOfKindValue(k))
}

// faultOfKindValue returns a new fault object of kind k.
func faultOfKindValue(k FaultKind) vimtypes.BaseMethodFault {
	switch k {
	case FaultBusy:
		return &smstypes.ProviderBusy{}
	case FaultOutOfResource:
		return &smstypes.ProviderOutOfResource{}
	case FaultUnavailable:
		return &smstypes.ProviderUnavailable{}
	case FaultNotImplemented:
		return &vimtypes.NotImplemented{}
	case FaultInvalidArgument:
		return &vimtypes.InvalidArgument{}
	case FaultTooMany:
		return &smstypes.TooMany{}
	case FaultQueryExecution:
		return &smstypes.QueryExecutionFault{}
	default:
		return &smstypes.SmsReplicationFault{}
	}
}

// QueryProviderInfo returns the VasaProviderInfo.
func (o *vasaProvider) QueryProviderInfo(ctx *simulator.Context, _ *smstypes.QueryProviderInfo) soap.HasFault {
	body := new(methods.QueryProviderInfoBody)
	p, f := o.enter(ctx)
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer o.sim.mu.Unlock()
	info := &smstypes.VasaProviderInfo{
		SmsProviderInfo: smstypes.SmsProviderInfo{Uid: p.cfg.UID, Name: p.cfg.Name, Version: p.cfg.Version},
		Url:             "https://" + p.cfg.Name + ".vasa.example:8443/vasa",
		Status:          p.cfg.Status,
		VasaVersion:     "3.0",
	}
	body.Res = &smstypes.QueryProviderInfoResponse{Returnval: info}
	return body
}

func groupIDs(in []vimtypes.ReplicationGroupId) []GroupID {
	out := make([]GroupID, 0, len(in))
	for _, g := range in {
		out = append(out, GroupID{FaultDomainID: g.FaultDomainId.Id, DeviceGroupID: g.DeviceGroupId.Id})
	}
	return out
}

func wireGroup(g GroupID) vimtypes.ReplicationGroupId {
	return vimtypes.ReplicationGroupId{
		FaultDomainId: vimtypes.FaultDomainId{Id: g.FaultDomainID},
		DeviceGroupId: vimtypes.DeviceGroupId{Id: g.DeviceGroupID},
	}
}

// unknownGroup is the per-group error a query answers for a group the provider does not have.
func unknownGroup(id GroupID) *smstypes.GroupErrorResult {
	return &smstypes.GroupErrorResult{
		GroupOperationResult: smstypes.GroupOperationResult{GroupId: wireGroup(id)},
		Error:                []vimtypes.LocalizedMethodFault{localized("unknown replication group", &vimtypes.InvalidArgument{InvalidProperty: "groupId"})},
	}
}

func localized(msg string, f vimtypes.BaseMethodFault) vimtypes.LocalizedMethodFault {
	f.GetMethodFault().FaultMessage = []vimtypes.LocalizableMessage{{Key: "com.vasa-sync-operator.smssim", Message: msg}}
	return vimtypes.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}
}

// QueryReplicationGroup returns the state of the requested groups (all groups when none is given).
func (o *vasaProvider) QueryReplicationGroup(ctx *simulator.Context, req *smstypes.QueryReplicationGroup) soap.HasFault {
	body := new(methods.QueryReplicationGroupBody)
	targetNames := compareVersions(o.sim.versionOf(ctx), targetNameSince) >= 0
	p, f := o.enterQuery(ctx, "QueryReplicationGroup")
	if f != nil {
		body.Fault_ = f
		return body
	}
	now := o.sim.now()
	ids := groupIDs(req.GroupId)
	listing := len(ids) == 0
	var refused *soap.Fault
	if listing {
		ids, refused = o.sim.listing(p, p.answerOrder(now))
	} else {
		refused = o.sim.inactiveFault(p, p.inactiveFor(ids))
	}
	if refused != nil {
		o.sim.mu.Unlock()
		body.Fault_ = refused
		return body
	}
	body.Res = o.sim.replicationGroups(p, ids, !listing, now, targetNames)
	if listing && p.cfg.ListIDsOnly {
		for i, r := range body.Res.Returnval {
			body.Res.Returnval[i] = &smstypes.GroupOperationResult{GroupId: r.GetGroupOperationResult().GroupId}
		}
	}
	perGroup, sleep := p.cfg.ListLatencyPerGroup.Duration, o.sim.sleep
	o.sim.mu.Unlock()
	if perGroup > 0 {
		sleep(time.Duration(len(ids)) * perGroup)
	}
	return body
}

// replicationGroups answers QueryReplicationGroup for ids of provider p; byID when the call named them,
// which the groups' GroupQueryFaults answer; targetNames when the request's version has TargetGroupInfo.name
// (callers hold s.mu).
func (s *Sim) replicationGroups(p *providerState, ids []GroupID, byID bool, now time.Time, targetNames bool) *smstypes.QueryReplicationGroupResponse {
	res := &smstypes.QueryReplicationGroupResponse{}
	for _, id := range ids {
		g := p.answerGroup(id, now)
		if g == nil {
			if !byID || !p.cfg.UnknownGroupsLeftOut {
				res.Returnval = append(res.Returnval, unknownGroup(id))
			}
			continue
		}
		if byID {
			if ge := s.groupQueryFault(id, g.cfg.GroupQueryFaults, g.groupQueryTimes); ge != nil {
				res.Returnval = append(res.Returnval, ge)
				continue
			}
		}
		var info smstypes.BaseGroupInfo
		if g.cfg.State == "SOURCE" {
			info = &smstypes.SourceGroupInfo{GroupInfo: smstypes.GroupInfo{GroupId: wireGroup(id)}, State: g.cfg.State, Name: g.cfg.Name}
		} else {
			info = &smstypes.TargetGroupInfo{
				GroupInfo:  smstypes.GroupInfo{GroupId: wireGroup(id)},
				SourceInfo: smstypes.TargetToSourceInfo{SourceGroupId: wireGroup(id), ReplicationAgreementDescription: g.cfg.Agreement},
				State:      g.cfg.State,
			}
			if targetNames {
				info.(*smstypes.TargetGroupInfo).Name = g.cfg.Name
			}
		}
		res.Returnval = append(res.Returnval, &smstypes.QueryReplicationGroupSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: wireGroup(id)},
			RgInfo:               info,
		})
	}
	return res
}
