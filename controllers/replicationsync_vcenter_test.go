package controllers

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The vCenter instanceUuids of readyProvider's vCenter and of another one.
const (
	vcenterA = "4e3c2f1a-0000-4000-8000-00000000000a"
	vcenterB = "4e3c2f1a-0000-4000-8000-00000000000b"
)

// moveProvider makes the harness's VasaProvider reach the vCenter with instanceUuid uuid, as its
// controller records after spec.vcenter.url was edited.
func (h *runHarness) moveProvider(uuid string) {
	h.t.Helper()
	vp := &replicationv1alpha1.VasaProvider{}
	h.g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	vp.Status.VCenterInstanceUUID = uuid
	h.g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())
}

// TestRunStopsWhileItsProviderReachesAnotherVCenter: task and provider moIds are unique only within one
// vCenter. A VasaProvider edited to reach another vCenter while a run's groups are in flight must not
// have the run ask that vCenter about them: it may answer for a task of its own under the same moId, or
// say ours is gone, and the groups would be issued a second time. The run calls nothing, says so
// (Stalled, ProviderChanged), and goes on where it stopped once the VasaProvider is back.
func TestRunStopsWhileItsProviderReachesAnotherVCenter(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(h.get().Status.VCenterInstanceUUID).To(Equal(vcenterA), "the claim names the vCenter")

	var asked atomic.Int32
	h.fake.Task = func(ref string) (sms.TaskInfo, error) { asked.Add(1); return taskGone(ref) }
	h.fake.PiTs = func([]sms.GroupID, string) ([]sms.PointInTime, error) { asked.Add(1); return nil, nil }
	h.moveProvider(vcenterB)
	h.runFor(3 * DefaultInDoubtWindow) // a forgotten task would have been issued again by now
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(asked.Load()).To(BeZero(), "nothing asked of the other vCenter")
	rs := h.get()
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupSyncing)))
	stalled := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(stalled).NotTo(BeNil())
	h.g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
	h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.ProviderChangedReason))
	h.g.Expect(stalled.Message).To(And(ContainSubstring(vcenterA), ContainSubstring(vcenterB), ContainSubstring("spec.vcenter.url")))

	h.moveProvider(vcenterA)
	h.fake.Task, h.fake.PiTs = nil, nil
	h.fake.Finish("smstask-1", h.clock.Now())
	h.runFor(time.Minute)
	rs = h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "groups: %+v", rs.Status.Groups)
	h.g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestSameVCenter: a run with nothing in flight takes the VasaProvider's vCenter as its own; one with a
// group claimed or issued keeps to the vCenter it recorded.
func TestSameVCenter(t *testing.T) {
	run := func(was string, states ...replicationv1alpha1.GroupState) *replicationv1alpha1.ReplicationSync {
		rs := &replicationv1alpha1.ReplicationSync{Status: replicationv1alpha1.ReplicationSyncStatus{VCenterInstanceUUID: was}}
		for _, s := range states {
			rs.Status.Groups = append(rs.Status.Groups, replicationv1alpha1.GroupStatus{State: s})
		}
		return rs
	}
	tests := map[string]struct {
		rs       *replicationv1alpha1.ReplicationSync
		now      string
		wantOK   bool
		wantUUID string
	}{
		"new run":                            {run("", replicationv1alpha1.GroupPending), vcenterB, true, vcenterB},
		"run from before the field":          {run("", replicationv1alpha1.GroupSyncing), vcenterB, true, vcenterB},
		"same vCenter":                       {run(vcenterA, replicationv1alpha1.GroupSyncing), vcenterA, true, vcenterA},
		"vCenter that reports none":          {run(vcenterA, replicationv1alpha1.GroupSyncing), "", true, vcenterA},
		"another, nothing in flight":         {run(vcenterA, replicationv1alpha1.GroupSynced, replicationv1alpha1.GroupPending), vcenterB, true, vcenterB},
		"another, a group claimed":           {run(vcenterA, replicationv1alpha1.GroupSynced, replicationv1alpha1.GroupIssuing), vcenterB, false, vcenterA},
		"another, a group syncing":           {run(vcenterA, replicationv1alpha1.GroupSyncing), vcenterB, false, vcenterA},
		"another, a group behind a task":     {run(vcenterA, replicationv1alpha1.GroupWaiting), vcenterB, false, vcenterA},
		"another, every group failed/synced": {run(vcenterA, replicationv1alpha1.GroupFailed, replicationv1alpha1.GroupSynced), vcenterB, true, vcenterB},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			vp := &replicationv1alpha1.VasaProvider{Status: replicationv1alpha1.VasaProviderStatus{VCenterInstanceUUID: tc.now}}
			_, ok := sameVCenter(tc.rs, vp)
			g.Expect(ok).To(Equal(tc.wantOK))
			g.Expect(tc.rs.Status.VCenterInstanceUUID).To(Equal(tc.wantUUID))
		})
	}
}
