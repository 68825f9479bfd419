package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func preclaimHarness(t *testing.T) *runHarness {
	return newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 1
	})
}

// TestCommitPreclaimsTheNextBatch: the write that records a task ref also claims the batch that follows
// it; when the task ends, that batch is called with no write before the call.
func TestCommitPreclaimsTheNextBatch(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(h.patches).To(Equal(2), "claim, then refs with the pre-claim")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Issuing", "Issuing", "Pending", "Pending"}))

	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(h.patches).To(Equal(3), "one write, after the call: results, refs, the next pre-claim")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Syncing", "Syncing", "Issuing", "Issuing"}))

	// Its own task holds the only slot: the run waits for that task, and says so in the commit already,
	// so a reconcile before the task ends has nothing to write.
	h.reconcile()
	h.g.Expect(h.patches).To(Equal(3), "a reconcile that finds the slots full writes nothing")
	h.g.Expect(meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition).Reason).To(Equal(replicationv1alpha1.WaitingForTaskReason))

	for range 3 {
		h.fake.FinishAll(h.clock.Now())
		h.runFor(5 * time.Second)
	}
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(3))
	h.g.Expect(h.maxCallsPerGroup(6)).To(Equal(1))
}

// TestNoPreclaimForTasksThatOutlastIt: a provider whose tasks take longer than an armed batch stays fresh
// (70 s at most with the default window) gets no pre-claim: its slot would free after the batch went
// stale, and the claim be written twice.
func TestNoPreclaimForTasksThatOutlastIt(t *testing.T) {
	h := preclaimHarness(t)
	h.r.Capacity.ObserveTask(client.ObjectKeyFromObject(h.vp), 5*time.Minute)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Pending", "Pending", "Pending", "Pending"}))
}

// TestPreclaimReleasedAtShutdown: a stopping manager gives its pre-claims back (Pending), so the next one
// issues them at once.
func TestPreclaimReleasedAtShutdown(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	ctx, stop := context.WithCancel(h.ctx)
	stop()
	h.g.Expect(h.r.releaseArmedOnStop(ctx)).To(Succeed())
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Pending", "Pending", "Pending", "Pending"}))
}

// TestPreclaimsOfManyRunsReleasedTogether: a stopping manager whose API server answers slowly gives back
// the pre-claims of its runs together, not one run after another (ten runs would take ten writes' time,
// past the shutdown grace); Drain, on which a manager that lost its Lease waits, waits for them.
func TestPreclaimsOfManyRunsReleasedTogether(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile() // groups 2 and 3 pre-claimed
	var reading, most atomic.Int32
	h.r.APIReader = intercepted(h.g, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			n := reading.Add(1)
			defer reading.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(300 * time.Millisecond)
			return c.Get(ctx, key, obj, opts...)
		},
	})
	for i := range 7 { // runs deleted meanwhile: each costs a read
		h.r.storeArmed(types.NamespacedName{Namespace: h.key.Namespace, Name: fmt.Sprintf("gone-%d", i)}, "gone", []syncBatch{{groups: []int{0}}})
	}
	ctx, stop := context.WithCancel(h.ctx)
	released := make(chan error, 1)
	go func() { released <- h.r.releaseArmedOnStop(ctx) }()
	h.g.Eventually(h.r.inProgress.Load).Should(BeEquivalentTo(1))
	stop()
	drained, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	h.g.Expect(h.r.Drain(drained)).To(BeTrue())
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Pending", "Pending", "Pending", "Pending"}), "released before Drain returned")
	h.g.Expect(<-released).To(Succeed())
	h.g.Expect(most.Load()).To(BeNumerically(">", 1), "the runs were read one after another")
}

// TestClaimWrittenWhileStoppingIsCalled: the manager stops (its reconcile's context ends) while the
// claim's write is in flight and the API server applies it. The write is not cut short, so the claim goes
// on to its call and its commit: no group is left Issuing without a task, for the next manager to take
// as in doubt. A reconcile that finds the manager stopping before its claim claims nothing.
func TestClaimWrittenWhileStoppingIsCalled(t *testing.T) {
	h := preclaimHarness(t)
	ctx, stop := context.WithCancel(h.ctx)
	defer stop()
	h.afterPatch = func(n int, patchCtx context.Context) error {
		if n == 1 {
			stop()
		}
		return patchCtx.Err()
	}
	_, _ = h.r.Reconcile(ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Pending", "Pending", "Pending", "Pending"}),
		"called and committed; nothing pre-claimed while stopping")
	for i, g := range h.get().Status.Groups[:2] {
		h.g.Expect(g.Task).NotTo(BeEmpty(), "group %d", i)
	}

	h.afterPatch = nil
	h.g.Expect(h.r.releaseArmedOnStop(ctx)).To(Succeed())
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	patches := h.patches
	_, _ = h.r.Reconcile(ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(h.patches).To(Equal(patches), "a stopping manager claims nothing")
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.expectEndsSyncedOnce(6)
}

// TestPreclaimAfterRestartIsInDoubt: a process that did not arm a pre-claim cannot tell it from a call
// without an answer: it waits out the in-doubt window, then issues it, once.
func TestPreclaimAfterRestartIsInDoubt(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	h.g.Expect(stateStrings(h.states())[2:4]).To(Equal([]string{"Issuing", "Issuing"}))

	// A new process: nothing armed.
	h.newProcess()
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero(), "in doubt: not called inside the window")
	h.g.Expect(h.fake.CallsOf(h.group(4))).To(BeZero(), "the in-doubt groups hold the one slot")

	for range 6 {
		h.runFor(time.Minute)
		h.fake.FinishAll(h.clock.Now())
	}
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.maxCallsPerGroup(6)).To(Equal(1))
	h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("InDoubtReissued")))
}

// TestStaleArmedBatchIsClaimedAgain: an armed batch that waited for a slot more than half the in-doubt
// window is not called on its old claim (a crash after the call would leave its task less than the
// window before another reader may issue it again): it is claimed again, its claimTime written afresh
// before the call.
func TestStaleArmedBatchIsClaimedAgain(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	armedAt := claimTimeOf(h.get().Status.Groups[2])
	h.g.Expect(stateStrings(h.states())[2:4]).To(Equal([]string{"Issuing", "Issuing"}))

	// An older run takes the slot the first task frees and keeps it for 90 s (the window is 2 min).
	provider := client.ObjectKeyFromObject(h.vp)
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.r.Capacity.Hold(provider, "other/run", 1, 1)
	h.runFor(90 * time.Second)
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero(), "no slot")
	h.g.Expect(claimTimeOf(h.get().Status.Groups[2])).To(Equal(armedAt), "still armed as claimed")

	h.r.Capacity.Hold(provider, "other/run", 0, 1)
	patches := h.patches
	h.reconcile()
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(Equal(1))
	g := h.get().Status.Groups[2]
	h.g.Expect(g.Task).NotTo(BeEmpty())
	h.g.Expect(claimTimeOf(g)).To(BeTemporally(">", armedAt.Add(time.Minute)), "claimed again, not called on the old claim")
	h.g.Expect(h.patches-patches).To(BeNumerically(">=", 2), "the claim is written before the call, the refs after")
	h.expectEndsSyncedOnce(6)
}

// TestArmedBatchGoneStaleBeforeItsCallIsClaimedAgain: the claim's age counts at the call, not at the
// reconcile's start: queries that take long in between (here the PiT check, 90 s) leave the armed batch
// to be claimed again, not called on a claim older than half the window.
func TestArmedBatchGoneStaleBeforeItsCallIsClaimedAgain(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	armedAt := claimTimeOf(h.get().Status.Groups[2])
	slow := true
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) {
		if slow {
			slow = false
			h.clock.Step(90 * time.Second)
		}
		return nil, nil
	}
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.reconcile()
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero(), "not called on its old claim")
	h.g.Expect(stateStrings(h.states())[2:4]).To(Equal([]string{"Pending", "Pending"}))

	h.reconcile()
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(Equal(1))
	h.g.Expect(claimTimeOf(h.get().Status.Groups[2])).To(BeTemporally(">", armedAt.Add(time.Minute)))
	h.expectEndsSyncedOnce(6)
}

func TestStillClaimed(t *testing.T) {
	claim := time.Date(2026, 12, 1, 2, 0, 0, 123456000, time.UTC)
	at := metav1.NewMicroTime(claim)
	other := metav1.NewMicroTime(claim.Add(time.Second))
	issuing := replicationv1alpha1.GroupStatus{State: replicationv1alpha1.GroupIssuing, ClaimTime: &at}
	tests := map[string]struct {
		groups []replicationv1alpha1.GroupStatus
		want   bool
	}{
		"all claimed":                    {[]replicationv1alpha1.GroupStatus{issuing, issuing}, true},
		"one found synced":               {[]replicationv1alpha1.GroupStatus{issuing, {State: replicationv1alpha1.GroupSynced}}, true},
		"one back to Pending":            {[]replicationv1alpha1.GroupStatus{{State: replicationv1alpha1.GroupPending}, issuing}, true},
		"none left":                      {[]replicationv1alpha1.GroupStatus{{State: replicationv1alpha1.GroupSynced}, {State: replicationv1alpha1.GroupPending}}, false},
		"called (a task)":                {[]replicationv1alpha1.GroupStatus{issuing, {State: replicationv1alpha1.GroupSyncing, Task: "t-1", ClaimTime: &at}}, false},
		"claimed again by someone else":  {[]replicationv1alpha1.GroupStatus{issuing, {State: replicationv1alpha1.GroupIssuing, ClaimTime: &other}}, false},
		"an in-doubt call with its task": {[]replicationv1alpha1.GroupStatus{{State: replicationv1alpha1.GroupIssuing, Task: "t-2", ClaimTime: &at}}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rs := &replicationv1alpha1.ReplicationSync{Status: replicationv1alpha1.ReplicationSyncStatus{Groups: tc.groups}}
			NewWithT(t).Expect(stillClaimed(rs, syncBatch{groups: []int{0, 1}[:len(tc.groups)], armed: claim})).To(Equal(tc.want))
		})
	}
}

// TestArmedBatchCallsOnlyItsClaimedMembers: a member of an armed batch whose PiT check failed is Pending
// again, claimed afresh with the Pending groups; the armed batch is called without it, so it is called
// once, after a claim written for it, and the batch's other member is called at once, not left Issuing
// without a call to wait out the in-doubt window.
func TestArmedBatchCallsOnlyItsClaimedMembers(t *testing.T) {
	h := newRunHarness(t, 8, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 2
		vp.Spec.InDoubtWindow = &metav1.Duration{Duration: 10 * time.Minute} // the armed batch outlasts the backoff
	})
	h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Syncing", "Syncing", "Issuing", "Issuing", "Issuing", "Issuing"}))

	// Both tasks end. The armed batch [4 5] is checked first: the provider fails group 4's PiT query,
	// which puts it back to Pending. The check of the armed batch [6 7] then faults as a whole (busy): the
	// wave is held, [4 5] stays armed.
	faulty := true
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		switch {
		case !faulty:
			return nil, nil
		case slices.Contains(groups, h.group(4)):
			return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{h.group(4): &sms.ProviderUnavailableError{Message: "replica not reachable"}}}
		case slices.Contains(groups, h.group(6)):
			return nil, &sms.ProviderBusyError{Message: "busy"}
		}
		return nil, nil
	}
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.reconcile()
	h.g.Expect(stateStrings(h.states())[4:6]).To(Equal([]string{"Pending", "Issuing"}))
	h.g.Expect(h.fake.CallsOf(h.group(4))).To(BeZero())

	faulty = false
	h.runFor(30 * time.Second)
	h.g.Expect(h.fake.CallsOf(h.group(4))).To(Equal(1))
	h.g.Expect(h.fake.CallsOf(h.group(5))).To(Equal(1), "called with its armed batch")
	for range 4 {
		h.fake.FinishAll(h.clock.Now())
		h.runFor(5 * time.Second)
	}
	h.expectEndsSyncedOnce(8)
	h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix("InDoubtReissued")))
}

// TestStaleArmedBatchStaysArmedWhenItsClaimIsLost: the write that claims a stale armed batch afresh fails
// (the API server answers 500 and applies nothing). Status still shows the batch claimed at its old time
// and never called: it stays armed, claimed again and called by the next reconcile, not held in doubt for
// the rest of its window and then issued as InDoubtReissued.
func TestStaleArmedBatchStaysArmedWhenItsClaimIsLost(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	armedAt := claimTimeOf(h.get().Status.Groups[2])
	provider := client.ObjectKeyFromObject(h.vp)
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(time.Second)
	h.r.Capacity.Hold(provider, "other/run", 1, 1)
	h.runFor(90 * time.Second)
	h.r.Capacity.Hold(provider, "other/run", 0, 1)

	h.onPatch = func(int, client.Object) error { return apierrors.NewInternalError(errors.New("etcd leader changed")) }
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).To(HaveOccurred())
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero(), "nothing is called on a claim not written")
	h.g.Expect(claimTimeOf(h.get().Status.Groups[2])).To(Equal(armedAt))

	h.onPatch = nil
	h.reconcile()
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(Equal(1), "claimed afresh and called at once, not held in doubt")
	h.g.Expect(claimTimeOf(h.get().Status.Groups[2])).To(BeTemporally(">", armedAt.Add(time.Minute)))
	h.expectEndsSyncedOnce(6)
	h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix("InDoubtReissued")))
}
