package sms_test

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func TestDecodePointInTimeReplicaErrors(t *testing.T) {
	g := NewWithT(t)
	gid := func(dg string) vimtypes.ReplicationGroupId {
		return vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: dg}}
	}
	id := func(dg string) sms.GroupID { return sms.GroupID{FaultDomainID: "fd", DeviceGroupID: dg} }
	in := []smstypes.BaseGroupOperationResult{
		&smstypes.QueryPointInTimeReplicaSuccessResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("ok")}},
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("busy")},
			Error: []vimtypes.LocalizedMethodFault{{Fault: &smstypes.ProviderBusy{}, LocalizedMessage: "later"}}},
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("unknown")},
			Error: []vimtypes.LocalizedMethodFault{{Fault: &vimtypes.InvalidArgument{InvalidProperty: "groupId"}}}},
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("text")},
			Error: []vimtypes.LocalizedMethodFault{{LocalizedMessage: "only words"}}},
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("bare")}},
		(*smstypes.GroupErrorResult)(nil),
		nil,
	}
	got := sms.DecodePointInTimeReplicaErrors(in)
	g.Expect(got).To(HaveLen(4))
	var busy *sms.ProviderBusyError
	g.Expect(errors.As(got[id("busy")], &busy)).To(BeTrue())
	g.Expect(busy.Message).To(Equal("later"))
	var ia *sms.InvalidArgumentError
	g.Expect(errors.As(got[id("unknown")], &ia)).To(BeTrue())
	g.Expect(ia.Property).To(Equal("groupId"))
	g.Expect(got[id("text")]).To(MatchError(ContainSubstring("only words")))
	g.Expect(got[id("bare")]).To(MatchError(ContainSubstring("without details")))
	g.Expect(sms.DecodePointInTimeReplicaErrors(in[:1])).To(BeNil())

	err := error(&sms.GroupQueryError{Groups: got})
	g.Expect(err).To(MatchError(And(ContainSubstring("4 groups"), ContainSubstring("fd/busy"))))
}
