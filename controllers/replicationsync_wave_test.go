package controllers

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// tooManyHarness runs 6 groups on a provider that takes 2 per call and refuses more with TooMany.
func tooManyHarness(t *testing.T, slots int32) *runHarness {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxConcurrentTasks = slots
	})
	h.fake.Sync = func(call smsfake.SyncCall) (string, error) {
		if len(call.Groups) > 2 {
			return "", &sms.TooManyError{MaxBatchSize: 2}
		}
		return h.fake.CreateTask(call.Groups, call.PitName), nil
	}
	return h
}

// TestTooManyReplansInTheSameReconcile: the first call of a provider whose batch size is not known yet
// is refused with TooMany; the reconcile claims the wave again at that size and calls it, with no write
// in between that only says so.
func TestTooManyReplansInTheSameReconcile(t *testing.T) {
	h := tooManyHarness(t, 2)
	claimed := h.clock.Now()
	h.reconcile()
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(3), "one refused call of all 6 groups, then 2 batches of 2")
	h.g.Expect(calls[0].Groups).To(HaveLen(6))
	h.g.Expect(h.patches).To(Equal(2), "the claim of all 6 covers the batches at the learned size; then the refs")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Syncing", "Syncing", "Issuing", "Issuing"}))
	h.g.Expect(h.get().Status.BatchSize).To(BeEquivalentTo(2))
	h.g.Expect(claimTimeOf(h.get().Status.Groups[0])).To(BeTemporally("==", claimed.Truncate(time.Microsecond)), "called under the first claim")
}

// TestRefusedWaveMergedIntoFresherObject: the commit after a refused wave loses to another writer; the
// merge records the refs of the batches called, and puts back to Pending the refused groups not called
// again (in the merged write they are neither in doubt nor armed).
func TestRefusedWaveMergedIntoFresherObject(t *testing.T) {
	h := tooManyHarness(t, 1)
	h.onPatch = func(n int, _ client.Object) error {
		if n == 2 {
			return conflict()
		}
		return nil
	}
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2), "the refused call, then one batch of 2")
	h.g.Expect(h.patches).To(Equal(3), "claim, the lost commit, the merged commit")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Pending", "Pending", "Pending", "Pending"}))
	h.onPatch = nil
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	for range 4 {
		h.fake.FinishAll(h.clock.Now())
		h.runFor(time.Minute)
	}
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.maxCallsPerGroup(6)).To(Equal(2), "each group: the refused call, then its own")
}

// TestWakeCountsFromAfterTheWrite: a task's poll is planned before the commit's write; the requeue
// leaves out the time that write took, or every poll after a commit would come a write late.
func TestWakeCountsFromAfterTheWrite(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	for range 3 {
		h.r.Capacity.ObserveTask(client.ObjectKeyFromObject(h.vp), time.Second) // first poll a second after the call
	}
	h.onPatch = func(int, client.Object) error {
		h.clock.Step(300 * time.Millisecond) // each write takes 300 ms
		return nil
	}
	start := h.clock.Now()
	res := h.reconcile()
	h.g.Expect(h.patches).To(Equal(2), "claim, then the ref")
	// Called after the claim (300 ms), due a second later; the ref's write took 300 ms more.
	h.g.Expect(res.RequeueAfter).To(Equal(start.Add(1300 * time.Millisecond).Sub(h.clock.Now())))
	h.g.Expect(res.RequeueAfter).To(Equal(700 * time.Millisecond))
}

// TestClaimTimeIsTakenAfterThePiTQueries: a run created again finds most of its groups synced, one
// PiT query per free slot in turn, which can take minutes. The groups it then claims carry the time of
// the claim, not of the reconcile's start: the in-doubt window counts from it, and a claim dated minutes
// early would have a group whose call got no answer issued again while its first task still runs.
func TestClaimTimeIsTakenAfterThePiTQueries(t *testing.T) {
	h := newRunHarness(t, 8, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 1
	})
	queries := 0
	h.fake.PiTs = func(_ string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		h.clock.Step(time.Minute) // a slow provider
		if queries++; queries > 7 {
			return nil, nil
		}
		return []sms.PointInTime{{Group: groups[0], ID: "pit", Name: pitName, TimeStamp: h.clock.Now()}}, nil
	}
	h.fake.Sync = func(smsfake.SyncCall) (string, error) {
		return "", &net.OpError{Op: "read", Err: errors.New("i/o timeout")} // in doubt
	}
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	last := h.get().Status.Groups[7]
	h.g.Expect(last.State).To(Equal(replicationv1alpha1.GroupIssuing), "%+v", last)
	h.g.Expect(claimTimeOf(last)).To(BeTemporally("==", h.clock.Now().Truncate(time.Microsecond)), "claimed after the 8 queries")
}

// TestOnePiTFaultOneBackOffStep: the PiT queries that hand slots on to the next groups stop at the first
// that makes the run back off; each further one would have counted another step of backoff in the same
// reconcile.
func TestOnePiTFaultOneBackOffStep(t *testing.T) {
	h := newRunHarness(t, 8, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 1
	})
	queries := 0
	h.fake.PiTs = func(_ string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		if queries++; queries == 1 {
			return []sms.PointInTime{{Group: groups[0], ID: "pit", Name: pitName, TimeStamp: h.clock.Now()}}, nil
		}
		return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{groups[0]: &sms.OtherFaultError{Type: "SystemError"}}}
	}
	h.reconcile()
	h.g.Expect(queries).To(Equal(2), "the synced group's slot went to the next group, whose query failed")
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.g.Expect(h.get().Status.Retry).NotTo(BeNil())
	h.g.Expect(h.get().Status.Retry.Attempts).To(BeEquivalentTo(1))
}

// TestPiTFaultHoldsTheArmedBatchesCheckedBeforeIt: when the PiT query of one armed batch answers busy,
// the armed batch checked before it is not called either: the provider is backed off, and no call
// resets that backoff.
func TestPiTFaultHoldsTheArmedBatchesCheckedBeforeIt(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	busy := true
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		if busy && len(h.fake.Calls()) == 2 && slices.Contains(groups, h.group(3)) {
			busy = false
			return nil, &sms.ProviderBusyError{Message: "busy"}
		}
		return nil, nil
	}
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(h.states()[2:]).To(Equal(all(2, replicationv1alpha1.GroupIssuing)), "pre-claimed by the commit")

	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(10 * time.Second) // past the tasks' poll, within the pre-claims' freshness
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2), "nothing is called in the reconcile whose PiT query answered busy")
	rs := h.get()
	h.g.Expect(rs.Status.Retry).NotTo(BeNil())
	h.g.Expect(rs.Status.Retry.NextRetryTime).NotTo(BeNil())
	h.g.Expect(rs.Status.Retry.NextRetryTime.After(h.clock.Now())).To(BeTrue())
	h.expectEndsSyncedOnce(4)
}

// TestConflictedCommitKeepsTheRunsOutcome: a write of metadata (a GitOps tool's annotation) between the
// claim and the commit makes the commit conflict; the merged write still carries how the wave ended the
// run (NotImplemented), and the run's Failed event is sent once.
func TestConflictedCommitKeepsTheRunsOutcome(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.fake.Sync = func(smsfake.SyncCall) (string, error) {
		return "", &sms.NotImplementedError{Message: "SyncReplicationGroup is not implemented"}
	}
	h.onPatch = func(n int, _ client.Object) error {
		if n == 2 { // the commit, after the claim
			rs := h.get()
			rs.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "app:replication.vasa.io/ReplicationSync:ns/run"}
			h.g.Expect(k8sClient.Update(h.ctx, rs)).To(Succeed())
		}
		return nil
	}
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	stalled := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(stalled).NotTo(BeNil())
	h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.NotImplementedReason))
	failed := 0
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "Failed:") {
			failed++
		}
	}
	h.g.Expect(failed).To(Equal(1), "%v", h.eventReasons())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestBusyWaveBacksOffOnce: every batch of a wave answered ProviderBusy is one busy provider, not four
// faults in a row: the run backs off by the first step (5 s here), not by the fourth (40 s), and says so
// once.
func TestBusyWaveBacksOffOnce(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 4
	})
	h.r.Backoff = backoff.Policy{Base: 5 * time.Second, Max: 5 * time.Minute, Factor: 2, Rand: func() float64 { return 0 }}
	h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", &sms.ProviderBusyError{Message: "busy"} }
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(4))
	rs := h.get()
	h.g.Expect(rs.Status.Retry).NotTo(BeNil())
	h.g.Expect(rs.Status.Retry.Attempts).To(BeEquivalentTo(1))
	h.g.Expect(rs.Status.Retry.NextRetryTime.Sub(h.clock.Now())).To(Equal(5 * time.Second))
	backingOff := slices.DeleteFunc(h.eventReasons(), func(e string) bool { return !strings.HasPrefix(e, replicationv1alpha1.BackingOffReason+":") })
	h.g.Expect(backingOff).To(HaveLen(1))
}

// TestBusyGroupsOfTwoTasksBackOffOnce: two tasks ending in one poll, each answering a group busy, are one
// busy provider: the run backs off by the first step, once.
func TestBusyGroupsOfTwoTasksBackOffOnce(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 2
	})
	h.r.Backoff = backoff.Policy{Base: 5 * time.Second, Max: 5 * time.Minute, Factor: 2, Rand: func() float64 { return 0 }}
	h.reconcile()
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(2))
	for _, c := range calls {
		h.fake.FinishFailing(c.Task, h.clock.Now(), map[sms.GroupID]error{c.Groups[1]: &sms.ProviderBusyError{Message: "busy"}})
	}
	h.clock.Step(10 * time.Second)
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Retry).NotTo(BeNil())
	h.g.Expect(rs.Status.Retry.Attempts).To(BeEquivalentTo(1))
	h.g.Expect(rs.Status.Retry.NextRetryTime.Sub(h.clock.Now())).To(Equal(5 * time.Second))
}
