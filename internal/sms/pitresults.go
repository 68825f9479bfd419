package sms

import (
	"fmt"
	"sort"
	"strings"

	smstypes "github.com/vmware/govmomi/sms/types"
)

// GroupQueryError is returned (wrapped; test with errors.As) by PointInTimeReplicas when the
// provider answered a GroupErrorResult for some groups: their PiTs are unknown, which is not the
// same as "no PiT". The PiTs found for the other groups are returned alongside it.
type GroupQueryError struct {
	// Groups maps each group the provider failed to its decoded fault (a Fault when it carried one).
	Groups map[GroupID]error
}

// Error implements error.
func (e *GroupQueryError) Error() string {
	parts := make([]string, 0, len(e.Groups))
	for g, err := range e.Groups {
		parts = append(parts, fmt.Sprintf("%s/%s: %v", g.FaultDomainID, g.DeviceGroupID, err))
	}
	sort.Strings(parts)
	return fmt.Sprintf("provider failed the query for %d groups: %s", len(parts), strings.Join(parts, "; "))
}

// DecodePointInTimeReplicaErrors returns the per-group errors (GroupErrorResult entries) of a
// QueryPointInTimeReplica answer, nil when there are none. It never panics.
func DecodePointInTimeReplicaErrors(in []smstypes.BaseGroupOperationResult) map[GroupID]error {
	var out map[GroupID]error
	for _, r := range in {
		v, ok := r.(*smstypes.GroupErrorResult)
		if !ok || v == nil {
			continue
		}
		if out == nil {
			out = map[GroupID]error{}
		}
		out[groupFromWire(v.GroupId)] = groupError(v)
	}
	return out
}

// groupError decodes the first fault of a GroupErrorResult into a typed error.
func groupError(v *smstypes.GroupErrorResult) error {
	for _, f := range v.Error {
		if err := DecodeFault(f.Fault, f.LocalizedMessage); err != nil {
			return err
		}
		if f.LocalizedMessage != "" {
			return &OtherFaultError{Type: "MethodFault", Message: f.LocalizedMessage}
		}
	}
	return &OtherFaultError{Type: "MethodFault", Message: "provider reported an error without details"}
}
