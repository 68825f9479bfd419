package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestVCenterRebuiltMidRun: another vCenter comes to answer at the VasaProvider's url (one rebuilt after a
// disaster, a DNS name moved) while a run's tasks are in flight. It numbers its tasks anew, so the run's
// task moIds may name tasks of its own, and it knows none of the run's. The run takes no answer from it
// about its tasks and issues nothing there: it stops (ProviderChanged) while the array finishes the syncs
// it started. A new run of the same PiT name, as the runbook says, finds those PiTs, and the simulator's
// log shows each group issued once for the PiT name.
func TestVCenterRebuiltMidRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 6)
	tm := fast
	tm.providerRecheck = time.Second
	w := newWorld(t, arrayA(simGroups, 2*time.Second), tm)
	w.array(limits(2, 1)) // three tasks, one at a time
	w.waitProviderReady("array")
	first := getProvider(g, w.ns, "array").Status.VCenterInstanceUUID
	g.Expect(first).To(Equal(w.sim.About().InstanceUuid))
	key := w.createSync("rebuilt", "rebuilt-1", ids)
	g.Eventually(func() bool {
		return slices.ContainsFunc(w.sim.Tasks(), func(t smssim.TaskRecord) bool { return !t.Done })
	}).WithTimeout(syncTimeout).WithPolling(time.Millisecond).Should(BeTrue())

	w.sim.Redeploy()
	g.Eventually(func(g Gomega) {
		stalled := meta.FindStatusCondition(getSync(g, key).Status.Conditions, replicationv1alpha1.StalledCondition)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.ProviderChangedReason))
	}).WithTimeout(syncTimeout).WithPolling(50 * time.Millisecond).Should(Succeed())
	g.Expect(getSync(g, key).Status.VCenterInstanceUUID).To(Equal(first))
	g.Expect(getProvider(g, w.ns, "array").Status.VCenterInstanceUUID).To(Equal(w.sim.About().InstanceUuid))
	issued := 0
	for _, c := range syncCallsFor(w.sim, "rebuilt-1") {
		if c.Fault == "" {
			issued += len(c.Groups)
		}
	}
	g.Expect(issued).To(BeNumerically(">=", 2))
	g.Consistently(func() int { return len(syncCallsFor(w.sim, "rebuilt-1")) }).
		WithTimeout(3*time.Second).WithPolling(100*time.Millisecond).Should(Equal(len(syncCallsFor(w.sim, "rebuilt-1"))), "the stopped run calls nothing")

	// The array finishes what the run started; then the runbook: delete the run, start it again.
	g.Eventually(func() []smssim.PiTRecord { return pitsFor(w.sim, "rebuilt-1") }).
		WithTimeout(syncTimeout).WithPolling(50 * time.Millisecond).Should(HaveLen(issued))
	g.Expect(adminClient.Delete(ctx, getSync(g, key))).To(Succeed())
	waitGone(t, key)
	rs := waitPhase(t, w.createSync("rebuilt-again", "rebuilt-1", ids), replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(rs.Status.VCenterInstanceUUID).To(Equal(w.sim.About().InstanceUuid))
	expectOnePiTPerGroup(g, w.sim, "rebuilt-1", ids)
	expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, "rebuilt-1"), ids)
}
