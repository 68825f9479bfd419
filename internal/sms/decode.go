package sms

import (
	"fmt"
	"reflect"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// groupFromWire converts a wire ReplicationGroupId.
func groupFromWire(id vimtypes.ReplicationGroupId) GroupID {
	return GroupID{FaultDomainID: id.FaultDomainId.Id, DeviceGroupID: id.DeviceGroupId.Id}
}

// groupsToWire converts groups to wire ReplicationGroupIds.
func groupsToWire(groups []GroupID) []vimtypes.ReplicationGroupId {
	out := make([]vimtypes.ReplicationGroupId, 0, len(groups))
	for _, g := range groups {
		out = append(out, vimtypes.ReplicationGroupId{
			FaultDomainId: vimtypes.FaultDomainId{Id: g.FaultDomainID},
			DeviceGroupId: vimtypes.DeviceGroupId{Id: g.DeviceGroupID},
		})
	}
	return out
}

// localizedText renders a LocalizedMethodFault as a human-readable line of maxMessageBytes at most.
func localizedText(f vimtypes.LocalizedMethodFault) string {
	err := DecodeFault(f.Fault, f.LocalizedMessage)
	if err == nil {
		if f.LocalizedMessage != "" {
			return cut(f.LocalizedMessage, maxMessageBytes)
		}
		return "unknown fault"
	}
	return cut(err.Error(), maxMessageBytes)
}

func localizedTexts(in []vimtypes.LocalizedMethodFault) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, f := range in {
		out = append(out, localizedText(f))
	}
	return out
}

// DecodeTaskInfo converts an SmsTaskInfo into a TaskInfo. It never panics.
func DecodeTaskInfo(in smstypes.SmsTaskInfo) TaskInfo {
	out := TaskInfo{Ref: keptRef(in.Task.Value), State: TaskState(cut(in.State, maxNameBytes)), Progress: in.Progress}
	if in.Error != nil {
		out.Err = DecodeFault(in.Error.Fault, in.Error.LocalizedMessage)
		if out.Err == nil {
			out.Err = &OtherFaultError{Type: "MethodFault", Message: in.Error.LocalizedMessage}
		}
	} else if out.State == TaskError {
		out.Err = &OtherFaultError{Type: "MethodFault", Message: "task failed without a fault"}
	}
	out.Results = DecodeGroupResults(in.Result)
	if in.StartTime != nil {
		out.StartTime = *in.StartTime
	}
	if in.CompletionTime != nil {
		out.CompletionTime = *in.CompletionTime
	}
	return out
}

// DecodeGroupResults converts the result of a SyncReplicationGroup task (an
// ArrayOfGroupOperationResult, a slice, or a single result) into GroupResults.
// Values of unknown types are skipped. It never panics.
func DecodeGroupResults(result any) []GroupResult {
	var items []smstypes.BaseGroupOperationResult
	switch r := result.(type) {
	case nil:
		return nil
	case smstypes.ArrayOfGroupOperationResult:
		items = r.GroupOperationResult
	case *smstypes.ArrayOfGroupOperationResult:
		if r != nil {
			items = r.GroupOperationResult
		}
	case []smstypes.BaseGroupOperationResult:
		items = r
	case smstypes.BaseGroupOperationResult:
		items = []smstypes.BaseGroupOperationResult{r}
	case []any:
		for _, v := range r {
			if b, ok := asGroupOperationResult(v); ok {
				items = append(items, b)
			}
		}
	default:
		if b, ok := asGroupOperationResult(r); ok {
			items = []smstypes.BaseGroupOperationResult{b}
		}
	}
	out := make([]GroupResult, 0, len(items))
	for _, it := range items {
		if gr, ok := decodeGroupResult(it); ok {
			out = append(out, gr)
		}
	}
	return out
}

func asGroupOperationResult(v any) (smstypes.BaseGroupOperationResult, bool) {
	switch t := v.(type) {
	case smstypes.SyncReplicationGroupSuccessResult:
		return &t, true
	case smstypes.GroupErrorResult:
		return &t, true
	case smstypes.GroupOperationResult:
		return &t, true
	case smstypes.BaseGroupOperationResult:
		return t, t != nil
	}
	return nil, false
}

func decodeGroupResult(it smstypes.BaseGroupOperationResult) (GroupResult, bool) {
	switch r := it.(type) {
	case *smstypes.SyncReplicationGroupSuccessResult:
		if r == nil {
			return GroupResult{}, false
		}
		gr := GroupResult{
			Group:     groupFromWire(r.GroupId),
			Succeeded: true,
			PitName:   cut(r.PitName, maxPiTNameBytes),
			TimeStamp: r.TimeStamp,
			Warnings:  localizedTexts(r.Warning),
		}
		if r.PitId != nil {
			gr.PitID = cut(r.PitId.Id, maxPiTIDBytes)
		}
		return gr, true
	case *smstypes.GroupErrorResult:
		if r == nil {
			return GroupResult{}, false
		}
		gr := GroupResult{
			Group:    groupFromWire(r.GroupId),
			Warnings: localizedTexts(r.Warning),
			Errors:   localizedTexts(r.Error),
			Err:      groupError(r),
		}
		if len(gr.Errors) == 0 {
			gr.Errors = []string{"provider reported an error without details"}
		}
		return gr, true
	}
	if isNilPointer(it) {
		return GroupResult{}, false
	}
	base := it.GetGroupOperationResult()
	if base == nil {
		return GroupResult{}, false
	}
	return GroupResult{
		Group:    groupFromWire(base.GroupId),
		Warnings: localizedTexts(base.Warning),
		Errors:   []string{fmt.Sprintf("unexpected result type %T", it)},
	}, true
}

// isNilPointer reports whether v is nil or a typed nil pointer in an interface (calling a method on one
// may dereference it).
func isNilPointer(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
