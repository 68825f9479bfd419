package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
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
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) { asked.Add(1); return nil, nil }
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

// vcenterReporting is a session that reports the vCenter it reached, as the SMS client does.
type vcenterReporting struct {
	*smsfake.Fake
	uuid atomic.Value // string
}

func (s *vcenterReporting) ServerInfo() sms.ServerInfo {
	return sms.ServerInfo{VCenterInstanceUUID: s.uuid.Load().(string)}
}

// reachVCenter makes the harness's sessions report the vCenter with instanceUuid uuid; the returned
// session's uuid can be changed later, as a re-login that meets another vCenter would.
func (h *runHarness) reachVCenter(uuid string) *vcenterReporting {
	session := &vcenterReporting{Fake: h.fake}
	session.uuid.Store(uuid)
	h.r.Dial = func(context.Context, sms.Config) (sms.Client, error) { return session, nil }
	return session
}

// TestRunStopsWhenItsSessionReachesAnotherVCenter: the VasaProvider's status is refreshed every few
// minutes, the session is what the calls go to. One that reaches another vCenter (a url whose DNS name
// moved, a vCenter rebuilt) stops the run before the status shows it, and the run's tasks, which run on
// the first vCenter, leave the VasaProvider's slots to other runs.
func TestRunStopsWhenItsSessionReachesAnotherVCenter(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	session := h.reachVCenter(vcenterA)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	inFlight := func() float64 {
		return testutil.ToFloat64(metrics.TasksInFlight.WithLabelValues(h.vp.Namespace, h.vp.Name))
	}
	h.g.Expect(inFlight()).To(BeEquivalentTo(1))

	var asked atomic.Int32
	h.fake.Task = func(ref string) (sms.TaskInfo, error) { asked.Add(1); return taskGone(ref) }
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) { asked.Add(1); return nil, nil }
	session.uuid.Store(vcenterB) // the VasaProvider's status still says vcenterA
	h.runFor(3 * DefaultInDoubtWindow)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(asked.Load()).To(BeZero(), "nothing asked of the other vCenter")
	stalled := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(stalled).NotTo(BeNil())
	h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.ProviderChangedReason))
	h.g.Expect(inFlight()).To(BeZero(), "the first vCenter's tasks hold no slot of the VasaProvider")
}

// TestRunWaitsUntilItsProviderIsFoundOnTheNewVCenter: a session that reaches another vCenter than the
// VasaProvider's status describes, with nothing of the run in flight. The provider moId in that status
// is the other vCenter's and may name another array's provider here: the run calls nothing with it, and
// goes on once the VasaProvider has looked its provider up on the vCenter the session reaches.
func TestRunWaitsUntilItsProviderIsFoundOnTheNewVCenter(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reachVCenter(vcenterB) // the VasaProvider's status still says vcenterA
	var asked atomic.Int32
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) { asked.Add(1); return nil, nil }
	h.runFor(time.Minute)
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.g.Expect(asked.Load()).To(BeZero(), "nothing asked of the provider moId the VasaProvider found on the other vCenter")
	reconciling := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition)
	h.g.Expect(reconciling).NotTo(BeNil())
	h.g.Expect(reconciling.Message).To(ContainSubstring("waiting for it to look its provider up there"))

	h.moveProvider(vcenterB)
	h.fake.PiTs = nil
	h.runFor(time.Minute)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(h.get().Status.VCenterInstanceUUID).To(Equal(vcenterB))
}

// TestSameVCenter: a run with nothing in flight takes the vCenter reached now as its own, and forgets
// the provider moIds of the other; one with a group claimed or issued keeps to the vCenter it recorded.
func TestSameVCenter(t *testing.T) {
	const moId = "vasaprovider-1"
	run := func(was string, states ...replicationv1alpha1.GroupState) *replicationv1alpha1.ReplicationSync {
		rs := &replicationv1alpha1.ReplicationSync{Status: replicationv1alpha1.ReplicationSyncStatus{VCenterInstanceUUID: was}}
		for _, s := range states {
			rs.Status.Groups = append(rs.Status.Groups, replicationv1alpha1.GroupStatus{State: s, Provider: moId})
		}
		return rs
	}
	const (
		pending = replicationv1alpha1.GroupPending
		issuing = replicationv1alpha1.GroupIssuing
		syncing = replicationv1alpha1.GroupSyncing
		waiting = replicationv1alpha1.GroupWaiting
		synced  = replicationv1alpha1.GroupSynced
		failed  = replicationv1alpha1.GroupFailed
	)
	tests := map[string]struct {
		rs            *replicationv1alpha1.ReplicationSync
		now           string
		wantOK        bool
		wantUUID      string
		wantProviders []string
	}{
		"new run":                            {run("", pending), vcenterB, true, vcenterB, []string{moId}},
		"run from before the field":          {run("", syncing), vcenterB, true, vcenterB, []string{moId}},
		"same vCenter":                       {run(vcenterA, syncing), vcenterA, true, vcenterA, []string{moId}},
		"vCenter that reports none":          {run(vcenterA, syncing), "", true, vcenterA, []string{moId}},
		"another, nothing in flight":         {run(vcenterA, synced, pending), vcenterB, true, vcenterB, []string{moId, ""}},
		"another, a group claimed":           {run(vcenterA, synced, issuing), vcenterB, false, vcenterA, []string{moId, moId}},
		"another, a group syncing":           {run(vcenterA, syncing, pending), vcenterB, false, vcenterA, []string{moId, moId}},
		"another, a group behind a task":     {run(vcenterA, waiting), vcenterB, false, vcenterA, []string{moId}},
		"another, every group failed/synced": {run(vcenterA, failed, synced), vcenterB, true, vcenterB, []string{moId, moId}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, ok := sameVCenter(tc.rs, "vp", tc.now)
			g.Expect(ok).To(Equal(tc.wantOK))
			g.Expect(tc.rs.Status.VCenterInstanceUUID).To(Equal(tc.wantUUID))
			var providers []string
			for _, grp := range tc.rs.Status.Groups {
				providers = append(providers, grp.Provider)
			}
			g.Expect(providers).To(Equal(tc.wantProviders))
		})
	}
}

// TestArmedBatchFollowsTheRunToTheNewVCenter: a batch this process claimed and has not called was never
// sent. When the VasaProvider comes to reach another vCenter while such a batch waits for a slot, and
// nothing else of the run is in flight, the run follows to the new vCenter: the batch goes back to
// Pending and is claimed there afresh, instead of stopping the run as if it were in flight.
func TestArmedBatchFollowsTheRunToTheNewVCenter(t *testing.T) {
	h := preclaimHarness(t)
	session := h.reachVCenter(vcenterA)
	h.reconcile()
	h.g.Expect(stateStrings(h.states())[:4]).To(Equal([]string{"Syncing", "Syncing", "Issuing", "Issuing"}))

	// Another run takes the slot the first task frees: the armed batch waits.
	provider := client.ObjectKeyFromObject(h.vp)
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.r.Capacity.Hold(provider, "other/run", 1, 1)
	h.runFor(10 * time.Second)
	h.g.Expect(stateStrings(h.states())[:4]).To(Equal([]string{"Synced", "Synced", "Issuing", "Issuing"}))
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero())

	session.uuid.Store(vcenterB)
	h.moveProvider(vcenterB)
	h.r.Capacity.Hold(provider, "other/run", 0, 1)
	h.runFor(10 * time.Second)
	rs := h.get()
	h.g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse(), "%+v", rs.Status.Conditions)
	h.g.Expect(rs.Status.VCenterInstanceUUID).To(Equal(vcenterB))
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(Equal(1), "claimed again on the new vCenter and called")
}
