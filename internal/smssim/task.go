package smssim

import (
	"time"

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

// lookUp finds the task as SMS knows it now, with the simulator locked; a fault (the call refused, a task
// SMS forgot) leaves it unlocked.
func (o *smsTask) lookUp(ctx *simulator.Context) (*task, time.Time, *soap.Fault) {
	if f := o.sim.begin(ctx); f != nil {
		return nil, time.Time{}, f
	}
	s := o.sim
	s.mu.Lock()
	now := s.now()
	s.advance(now)
	t := s.knownTask(o.Value, now)
	if t == nil {
		s.mu.Unlock()
		return nil, now, fault("no such task "+o.Value, &vimtypes.ManagedObjectNotFound{Obj: o.ManagedObjectReference})
	}
	return t, now, nil
}

// QuerySmsTaskInfo returns the task's state, progress, error and results.
func (o *smsTask) QuerySmsTaskInfo(ctx *simulator.Context, _ *smstypes.QuerySmsTaskInfo) soap.HasFault {
	body := new(methods.QuerySmsTaskInfoBody)
	s := o.sim
	t, now, f := o.lookUp(ctx)
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer s.mu.Unlock()
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
	t, _, f := o.lookUp(ctx)
	if f != nil {
		body.Fault_ = f
		return body
	}
	defer o.sim.mu.Unlock()
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
