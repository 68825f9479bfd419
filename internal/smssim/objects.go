package smssim

import (
	"fmt"
	"math"
	"regexp"
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
	for _, p := range s.providers {
		r.Put(&vasaProvider{ManagedObjectReference: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: p.ref}, sim: s})
	}
	// Tasks are created at run time: route every SmsTask reference to a handler.
	r.Handler = func(_ *simulator.Context, m *simulator.Method) (mo.Reference, vimtypes.BaseMethodFault) {
		if m.This.Type == "SmsTask" {
			return &smsTask{ManagedObjectReference: m.This, sim: s}, nil
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

// begin applies session expiry; it returns a NotAuthenticated fault for an expired session.
func (s *Sim) begin(ctx *simulator.Context) *soap.Fault {
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
	return fault("The session is not authenticated.", &vimtypes.NotAuthenticated{
		NoPermission: vimtypes.NoPermission{PrivilegeId: "System.View"},
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
		res.Returnval = append(res.Returnval, vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: p.ref})
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
	o.sim.mu.Lock()
	p := o.sim.byRef[o.Value]
	latency := p.cfg.Latency.Duration
	o.sim.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	o.sim.mu.Lock()
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
	switch k {
	case FaultBusy:
		return fault(msg, &smstypes.ProviderBusy{})
	case FaultOutOfResource:
		return fault(msg, &smstypes.ProviderOutOfResource{})
	case FaultUnavailable:
		return fault(msg, &smstypes.ProviderUnavailable{})
	case FaultNotImplemented:
		return fault(msg, &vimtypes.NotImplemented{})
	case FaultInvalidArgument:
		return fault(msg, &vimtypes.InvalidArgument{})
	case FaultTooMany:
		return fault(msg, &smstypes.TooMany{})
	default:
		return fault(msg, &smstypes.SmsReplicationFault{})
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
	p, f := o.enterQuery(ctx, "QueryReplicationGroup")
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer o.sim.mu.Unlock()
	ids := groupIDs(req.GroupId)
	if len(ids) == 0 {
		ids = p.order
	}
	res := &smstypes.QueryReplicationGroupResponse{}
	for _, id := range ids {
		g := p.groups[id]
		if g == nil {
			res.Returnval = append(res.Returnval, unknownGroup(id))
			continue
		}
		var info smstypes.BaseGroupInfo
		if g.cfg.State == "SOURCE" {
			info = &smstypes.SourceGroupInfo{GroupInfo: smstypes.GroupInfo{GroupId: wireGroup(id)}, State: g.cfg.State, Name: g.cfg.Name}
		} else {
			info = &smstypes.TargetGroupInfo{
				GroupInfo:  smstypes.GroupInfo{GroupId: wireGroup(id)},
				SourceInfo: smstypes.TargetToSourceInfo{SourceGroupId: wireGroup(id), ReplicationAgreementDescription: g.cfg.Agreement},
				State:      g.cfg.State,
				Name:       g.cfg.Name,
			}
		}
		res.Returnval = append(res.Returnval, &smstypes.QueryReplicationGroupSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: wireGroup(id)},
			RgInfo:               info,
		})
	}
	body.Res = res
	return body
}

// QueryPointInTimeReplica returns the PiTs of the groups, filtered by the queryParam.pitName regular
// expression when set, as details when queryParam.preferDetails is true and as summaries otherwise.
func (o *vasaProvider) QueryPointInTimeReplica(ctx *simulator.Context, req *smstypes.QueryPointInTimeReplica) soap.HasFault {
	body := new(methods.QueryPointInTimeReplicaBody)
	p, f := o.enterQuery(ctx, "QueryPointInTimeReplica")
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer o.sim.mu.Unlock()
	ids := groupIDs(req.GroupId)
	if len(ids) == 0 {
		body.Fault_ = fault("groupId must not be empty", &vimtypes.InvalidArgument{InvalidProperty: "groupId"})
		return body
	}
	// queryParam.pitName is an XSD regular expression anchored to the whole name; without
	// preferDetails=true the simulator answers summaries (counts), as a provider may.
	var nameRE *regexp.Regexp
	details := false
	if q := req.QueryParam; q != nil {
		details = q.PreferDetails != nil && *q.PreferDetails && !p.cfg.PiTSummaries
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
	o.sim.advance(o.sim.now())
	res := &smstypes.QueryPointInTimeReplicaResponse{}
	for _, id := range ids {
		if p.groups[id] == nil {
			res.Returnval = append(res.Returnval, unknownGroup(id))
			continue
		}
		var infos []smstypes.PointInTimeReplicaInfo
		for _, pit := range o.sim.pits {
			if pit.ProviderName == p.cfg.Name && pit.Group == id && (nameRE == nil || nameRE.MatchString(pit.PitName)) {
				infos = append(infos, smstypes.PointInTimeReplicaInfo{
					Id: smstypes.PointInTimeReplicaId{Id: pit.PitID}, PitName: pit.PitName, TimeStamp: pit.TimeStamp,
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
	call := SyncCall{ProviderName: p.cfg.Name, Groups: ids, PitName: req.PitName, Time: now}
	kind, sf := s.syncFault(o, p, ids, req.PitName)
	if sf != nil {
		call.Fault = kind
		s.calls = append(s.calls, call)
		body.Fault_ = sf
		return body
	}
	t := s.newTask(p, ids, req.PitName, now)
	call.TaskRef = t.ref
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
	if pitName == "" {
		return "InvalidArgument", fault("pitName must be set", &vimtypes.InvalidArgument{InvalidProperty: "pitName"})
	}
	if fds := p.inactiveFor(ids); len(fds) > 0 {
		active := s.byName[p.cfg.Inactive.ActiveProvider]
		m := smstypes.FaultDomainProviderMapping{ActiveProvider: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: active.ref}}
		for _, fd := range fds {
			m.FaultDomainId = append(m.FaultDomainId, vimtypes.FaultDomainId{Id: fd})
		}
		return "InactiveProvider", fault("provider is inactive for fault domains "+fmt.Sprint(fds),
			&smstypes.InactiveProvider{Mapping: []smstypes.FaultDomainProviderMapping{m}})
	}
	if p.cfg.MaxBatchSize > 0 && len(ids) > int(p.cfg.MaxBatchSize) {
		return "TooMany", fault(fmt.Sprintf("at most %d groups per call", p.cfg.MaxBatchSize),
			&smstypes.TooMany{MaxBatchSize: int64(p.cfg.MaxBatchSize)})
	}
	if p.cfg.TooManyWithoutSize && len(ids) > 1 {
		return "TooMany", fault("one group per call", &smstypes.TooMany{})
	}
	seen := map[GroupID]bool{}
	for _, id := range ids {
		g := p.groups[id]
		switch {
		case g == nil:
			return "InvalidArgument", fault(fmt.Sprintf("unknown replication group %s/%s", id.FaultDomainID, id.DeviceGroupID),
				&vimtypes.InvalidArgument{InvalidProperty: "groupId"})
		case g.cfg.State != "TARGET":
			return "InvalidArgument", fault(fmt.Sprintf("replication group %s/%s is %s, not TARGET", id.FaultDomainID, id.DeviceGroupID, g.cfg.State),
				&vimtypes.InvalidArgument{InvalidProperty: "groupId"})
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
	return "", nil
}

type smsTask struct {
	vimtypes.ManagedObjectReference
	sim *Sim
}

// QuerySmsTaskInfo returns the task's state, progress, error and results.
func (o *smsTask) QuerySmsTaskInfo(ctx *simulator.Context, _ *smstypes.QuerySmsTaskInfo) soap.HasFault {
	body := new(methods.QuerySmsTaskInfoBody)
	if f := o.sim.begin(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advance(now)
	t := s.tasks[o.Value]
	if t == nil {
		body.Fault_ = fault("no such task "+o.Value, &vimtypes.ManagedObjectNotFound{Obj: o.ManagedObjectReference})
		return body
	}
	state, progress := t.status(now)
	start := t.start
	info := smstypes.SmsTaskInfo{
		Key:       t.ref,
		Task:      o.ManagedObjectReference,
		Object:    &vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: t.provider.ref},
		StartTime: &start,
		State:     state,
		Progress:  progress,
	}
	if t.done {
		end := t.end
		info.CompletionTime = &end
		if t.fail != "" {
			lf := localized(t.fail, &smstypes.SmsReplicationFault{})
			info.Error = &lf
		} else {
			info.Result = taskResultValue(t, t.provider.cfg.NoPitSupport)
		}
	}
	body.Res = &smstypes.QuerySmsTaskInfoResponse{Returnval: info}
	return body
}

func taskResultValue(t *task, noPit bool) smstypes.ArrayOfGroupOperationResult {
	var arr smstypes.ArrayOfGroupOperationResult
	for _, r := range t.results {
		base := smstypes.GroupOperationResult{GroupId: wireGroup(r.group)}
		if !r.ok {
			arr.GroupOperationResult = append(arr.GroupOperationResult, &smstypes.GroupErrorResult{
				GroupOperationResult: base,
				Error:                []vimtypes.LocalizedMethodFault{localized(r.errMsg, &smstypes.SmsReplicationFault{})},
			})
			continue
		}
		if r.warning != "" {
			base.Warning = []vimtypes.LocalizedMethodFault{localized(r.warning, &smstypes.SmsReplicationFault{})}
		}
		sr := &smstypes.SyncReplicationGroupSuccessResult{GroupOperationResult: base, TimeStamp: t.end, PitName: t.pitName}
		if !noPit {
			sr.PitId = &smstypes.PointInTimeReplicaId{Id: r.pitID}
		}
		arr.GroupOperationResult = append(arr.GroupOperationResult, sr)
	}
	return arr
}
