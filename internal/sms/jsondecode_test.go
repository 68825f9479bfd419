package sms_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimjson "github.com/vmware/govmomi/vim25/json"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// encodeVIJSON encodes v as the VI/JSON API does: every object carries _typeName.
func encodeVIJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := vimjson.NewEncoder(&buf)
	enc.SetDiscriminator("_typeName", "_value", vimjson.DiscriminatorEncodeTypeNameAllObjects)
	enc.SetTypeToDiscriminatorFunc(vimtypes.VmomiTypeName)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// longGroupID is group i with both ids at the API's 255 characters.
func longGroupID(i int) vimtypes.ReplicationGroupId {
	pad := func(s string) string { return s + strings.Repeat("x", 255-len(s)) }
	return vimtypes.ReplicationGroupId{
		FaultDomainId: vimtypes.FaultDomainId{Id: pad("fd-")},
		DeviceGroupId: vimtypes.DeviceGroupId{Id: pad(fmt.Sprintf("dg-%d-", i))},
	}
}

// TestJSONAnswersDecodeInLinearTime: a listing of 5,000 groups and the result of a sync of 1,000 take a
// few times their size to decode, not the square of it (5 GiB and 27 s for the listing).
func TestJSONAnswersDecodeInLinearTime(t *testing.T) {
	g := NewWithT(t)
	listing := make([]smstypes.BaseGroupOperationResult, 5000)
	for i := range listing {
		id := longGroupID(i)
		listing[i] = &smstypes.QueryReplicationGroupSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: id},
			RgInfo: &smstypes.TargetGroupInfo{GroupInfo: smstypes.GroupInfo{GroupId: id}, State: "TARGET", SourceInfo: smstypes.TargetToSourceInfo{
				SourceGroupId: id, ReplicationAgreementDescription: "Asynchronous, RPO 15 minutes",
			}},
		}
	}
	data := encodeVIJSON(t, listing)
	var groups []sms.ReplicationGroup
	var err error
	bytes := allocated(func() { groups, err = sms.DecodeReplicationGroupsJSON(data) })
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groups).To(HaveLen(5000))
	g.Expect(groups[4999].State).To(Equal("TARGET"))
	t.Logf("a listing of %d MiB allocated %d MiB", len(data)>>20, bytes>>20)
	g.Expect(bytes).To(BeNumerically("<", 20*uint64(len(data))))

	results := make([]smstypes.BaseGroupOperationResult, 1000)
	for i := range results {
		results[i] = &smstypes.SyncReplicationGroupSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: longGroupID(i)},
			TimeStamp:            time.Now(), PitId: &smstypes.PointInTimeReplicaId{Id: fmt.Sprintf("pit-%d", i)}, PitName: "nightly",
		}
	}
	data = encodeVIJSON(t, smstypes.SmsTaskInfo{
		Key: "k", Task: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: "SmsTask-1"}, State: "success",
		Result: smstypes.ArrayOfGroupOperationResult{GroupOperationResult: results},
	})
	var info sms.TaskInfo
	bytes = allocated(func() { info, err = sms.DecodeTaskInfoJSON(data) })
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.State).To(Equal(sms.TaskSuccess))
	g.Expect(info.Ref).To(Equal("SmsTask-1"))
	g.Expect(info.Results).To(HaveLen(1000))
	g.Expect(info.Results[999].PitID).To(Equal("pit-999"))
	t.Logf("a task's info of %d KiB allocated %d MiB", len(data)>>10, bytes>>20)
	g.Expect(bytes).To(BeNumerically("<", 20*uint64(len(data))))
}

// TestJSONAnswerTooComplexIsRefused: an answer built to make the decoder copy it over and over (a group
// error of thousands of faults) is refused at once.
func TestJSONAnswerTooComplexIsRefused(t *testing.T) {
	g := NewWithT(t)
	errs := make([]vimtypes.LocalizedMethodFault, 4000)
	for i := range errs {
		errs[i] = vimtypes.LocalizedMethodFault{Fault: &vimtypes.NotFound{}, LocalizedMessage: "x"}
	}
	data := encodeVIJSON(t, []smstypes.BaseGroupOperationResult{
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: longGroupID(0)}, Error: errs},
	})
	var err error
	bytes := allocated(func() { _, err = sms.DecodePointInTimeReplicasJSON(data, "p") })
	g.Expect(err).To(MatchError(ContainSubstring("answer too complex to decode")))
	t.Logf("refusing %d KiB allocated %d MiB", len(data)>>10, bytes>>20)
	g.Expect(bytes).To(BeNumerically("<", 8<<20))
}
