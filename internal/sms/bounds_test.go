package sms_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// huge is a string of 2 MiB of a 3-byte character: no status holds it, and a cut must not split one.
var huge = strings.Repeat("日", 2<<20/3)

// cutTo matches a string cut to at most limit bytes: valid UTF-8, ending in an ellipsis.
func cutTo(limit int) types.GomegaMatcher {
	return SatisfyAll(
		WithTransform(func(s string) int { return len(s) }, BeNumerically("<=", limit)),
		WithTransform(utf8.ValidString, BeTrue()),
		HaveSuffix("…"),
	)
}

// TestDecodedStringsAreBounded: what an answer's strings become in the decoded values that reach
// Kubernetes objects: ids kept and sent back are dropped when too long, the rest cut.
func TestDecodedStringsAreBounded(t *testing.T) {
	id := vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd-1"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg-1"}}
	manyErrors := make([]vimtypes.LocalizedMethodFault, 100)
	for i := range manyErrors {
		manyErrors[i] = vimtypes.LocalizedMethodFault{Fault: &vimtypes.NotFound{}, LocalizedMessage: strings.Repeat("x", 100)}
	}
	longFault := vimtypes.LocalizedMethodFault{Fault: &smstypes.SmsReplicationFault{}, LocalizedMessage: huge}

	t.Run("task info", func(t *testing.T) {
		g := NewWithT(t)
		info := sms.DecodeTaskInfo(smstypes.SmsTaskInfo{
			Task: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: huge}, State: huge, Error: &longFault,
			Result: smstypes.ArrayOfGroupOperationResult{GroupOperationResult: []smstypes.BaseGroupOperationResult{
				&smstypes.SyncReplicationGroupSuccessResult{
					GroupOperationResult: smstypes.GroupOperationResult{GroupId: id, Warning: []vimtypes.LocalizedMethodFault{longFault}},
					PitId:                &smstypes.PointInTimeReplicaId{Id: huge}, PitName: huge,
				},
			}},
		})
		g.Expect(info.Ref).To(BeEmpty())
		g.Expect(string(info.State)).To(cutTo(1024))
		var fault sms.Fault
		g.Expect(errors.As(info.Err, &fault)).To(BeTrue())
		g.Expect(fault.FaultMessage()).To(cutTo(1024))
		g.Expect(info.Results[0].PitID).To(cutTo(64))
		g.Expect(info.Results[0].PitName).To(cutTo(255))
		g.Expect(info.Results[0].Warnings[0]).To(cutTo(1024))
	})
	t.Run("group infos", func(t *testing.T) {
		g := NewWithT(t)
		groups := sms.DecodeGroupInfos([]smstypes.BaseGroupOperationResult{
			&smstypes.QueryReplicationGroupSuccessResult{
				GroupOperationResult: smstypes.GroupOperationResult{GroupId: id},
				RgInfo: &smstypes.TargetGroupInfo{State: huge, Name: huge,
					SourceInfo: smstypes.TargetToSourceInfo{ReplicationAgreementDescription: huge}},
			},
			&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: id}, Error: manyErrors},
		})
		g.Expect(groups[0].State).To(cutTo(1024))
		g.Expect(groups[0].Name).To(cutTo(1024))
		g.Expect(groups[0].Agreement).To(cutTo(1024))
		g.Expect(groups[1].Err).To(cutTo(1024))
	})
	t.Run("PiTs", func(t *testing.T) {
		g := NewWithT(t)
		pits := []smstypes.BaseGroupOperationResult{&smstypes.QueryPointInTimeReplicaSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: id},
			ReplicaInfo:          []smstypes.PointInTimeReplicaInfo{{Id: smstypes.PointInTimeReplicaId{Id: huge}, PitName: huge, TimeStamp: time.Now()}},
		}}
		newest := sms.DecodeNewestPointInTimes(pits, []sms.GroupID{{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}})
		g.Expect(newest[0].PiT.ID).To(cutTo(64))
		g.Expect(newest[0].PiT.Name).To(cutTo(255))
		all := sms.DecodePointInTimeReplicas(pits, "")
		g.Expect(all[0].ID).To(cutTo(64))
		g.Expect(all[0].Name).To(cutTo(255))
		failed := sms.DecodeNewestPointInTimes([]smstypes.BaseGroupOperationResult{
			&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: id}, Error: manyErrors},
		}, []sms.GroupID{{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}})
		g.Expect(failed[0].Err).To(cutTo(1024))
	})
	t.Run("faults", func(t *testing.T) {
		g := NewWithT(t)
		var ongoing *sms.SyncOngoingError
		g.Expect(errors.As(sms.DecodeFault(&smstypes.SyncOngoing{Task: vimtypes.ManagedObjectReference{Value: huge}}, huge), &ongoing)).To(BeTrue())
		g.Expect(ongoing.TaskRef).To(BeEmpty(), "a task too long to keep is none")
		g.Expect(ongoing.Message).To(cutTo(1024))
		var inactive *sms.InactiveProviderError
		g.Expect(errors.As(sms.DecodeFault(&smstypes.InactiveProvider{Mapping: []smstypes.FaultDomainProviderMapping{{
			ActiveProvider: vimtypes.ManagedObjectReference{Value: huge}, FaultDomainId: []vimtypes.FaultDomainId{{Id: "fd-1"}},
		}}}, ""), &inactive)).To(BeTrue())
		g.Expect(inactive.Mapping[0].ActiveProviderRef).To(BeEmpty(), "a provider too long to keep is none")
	})
}

// TestLongIDsOnTheWire: a sync answered with a task id too long for a run to record is an answer without
// a task reference (in doubt), and a provider listed with an id too long to keep is one whose info could
// not be read; the provider's and the vCenter's strings come cut.
func TestLongIDsOnTheWire(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	dial := func(t *testing.T, method string, rewrite func([]byte) []byte) sms.Client {
		t.Helper()
		c, err := sms.Dial(ctx, rewriteAnswers(t, sim, sms.BindingSOAP, method, rewrite))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}
	t.Run("sync task id", func(t *testing.T) {
		g := NewWithT(t)
		longID := strings.Repeat("v", 65) // one byte longer than a managed object id may be
		c := dial(t, "SyncReplicationGroup_Task", func(body []byte) []byte {
			return regexp.MustCompile(`(<returnval[^>]*>)[^<]*(</returnval>)`).ReplaceAll(body, []byte("${1}"+longID+"${2}"))
		})
		ids, _ := groups("fd-1", 2)
		_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "p")
		g.Expect(err).To(MatchError(sms.ErrEmptyTaskRef))
		g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
	})
	t.Run("provider id", func(t *testing.T) {
		g := NewWithT(t)
		c := dial(t, "QueryProvider", func(body []byte) []byte {
			return bytes.Replace(body, []byte(">vasaprovider-2<"), []byte(">"+huge+"<"), 1)
		})
		_, err := c.FindProvider(ctx, "array-a", "")
		g.Expect(err).NotTo(HaveOccurred())
		_, err = c.FindProvider(ctx, "array-b", "")
		g.Expect(err).To(MatchError(sms.ErrProviderInfoUnread))
		g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
		g.Expect(len(err.Error())).To(BeNumerically("<", 1024))
	})
	t.Run("provider info", func(t *testing.T) {
		g := NewWithT(t)
		c := dial(t, "QueryProviderInfo", func(body []byte) []byte {
			return regexp.MustCompile(`<(version|status)>[^<]*</`).ReplaceAll(body, []byte("<${1}>"+huge+"</"))
		})
		p, err := c.FindProvider(ctx, "array-a", "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(p.Version).To(cutTo(1024))
		g.Expect(p.Status).To(cutTo(1024))
	})
	t.Run("server info", func(t *testing.T) {
		g := NewWithT(t)
		c := dial(t, "RetrieveServiceContent", func(body []byte) []byte {
			return regexp.MustCompile(`<(fullName|version|instanceUuid)>[^<]*</`).ReplaceAll(body, []byte("<${1}>"+huge+"</"))
		})
		info := c.(sms.ServerInfoReporter).ServerInfo()
		g.Expect(info.VCenterVersion).To(cutTo(1024))
		g.Expect(info.VCenterFullName).To(cutTo(1024))
		g.Expect(info.VCenterInstanceUUID).To(cutTo(1024))
	})
}
