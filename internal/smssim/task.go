package smssim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

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
	t := s.knownTask(o.Value, now)
	if t == nil {
		body.Fault_ = fault("no such task "+o.Value, &vimtypes.ManagedObjectNotFound{Obj: o.ManagedObjectReference})
		return body
	}
	t.queries++
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
		if t.seenEnd.IsZero() {
			t.seenEnd = now
		}
		end := t.end
		info.CompletionTime = &end
		if t.fail != "" {
			lf := localized(t.fail, faultOfKindValue(t.failKind))
			info.Error = &lf
		} else if !t.provider.cfg.ResultOnlyByQuery {
			info.Result = taskResultValue(t, t.provider.cfg.NoPitSupport)
		}
	}
	body.Res = &smstypes.QuerySmsTaskInfoResponse{Returnval: info}
	return body
}

// QuerySmsTaskResult returns the result of a task that succeeded, and nothing for one that runs or
// failed (its error is in its info). Assumed: the reference says only "the result of the task".
func (o *smsTask) QuerySmsTaskResult(ctx *simulator.Context, _ *smstypes.QuerySmsTaskResult) soap.HasFault {
	body := new(methods.QuerySmsTaskResultBody)
	if f := o.sim.begin(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advance(now)
	t := s.knownTask(o.Value, now)
	if t == nil {
		body.Fault_ = fault("no such task "+o.Value, &vimtypes.ManagedObjectNotFound{Obj: o.ManagedObjectReference})
		return body
	}
	body.Res = &smstypes.QuerySmsTaskResultResponse{}
	if t.done && t.fail == "" {
		body.Res.Returnval = taskResultValue(t, t.provider.cfg.NoPitSupport)
	}
	return body
}

func taskResultValue(t *task, noPit bool) smstypes.ArrayOfGroupOperationResult {
	var arr smstypes.ArrayOfGroupOperationResult
	for _, r := range t.results {
		base := smstypes.GroupOperationResult{GroupId: wireGroup(r.group)}
		if !r.ok {
			arr.GroupOperationResult = append(arr.GroupOperationResult, &smstypes.GroupErrorResult{
				GroupOperationResult: base,
				Error:                []vimtypes.LocalizedMethodFault{localized(r.errMsg, faultOfKindValue(r.fault))},
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
