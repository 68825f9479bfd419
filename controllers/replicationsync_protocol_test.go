package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// Each test here is one of the ways a run used to call a group twice or hang; every one counts the
// calls the provider received per group.

var (
	timeoutErr = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}
	window     = LeastInDoubtWindow + 10*time.Second
)

// shortWindow sets the provider's in-doubt window.
func shortWindow(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
	vp.Spec.InDoubtWindow = &metav1.Duration{Duration: window}
}

// answerOnce makes the first sync call start a task but fail with err (a lost or late answer). The calls
// of a wave run at once: which one is first is decided atomically.
func answerOnce(f *smsfake.Fake, err error) {
	var lostOne atomic.Bool
	f.Sync = func(c smsfake.SyncCall) (string, error) {
		ref := f.CreateTask(c.Groups, c.PitName)
		if lostOne.CompareAndSwap(false, true) {
			return "", err
		}
		return ref, nil
	}
}

// TestNoAnswerIsInDoubtNotReissued: a timeout after the task started leaves the groups Issuing; within
// the window only PiTs are looked for, and the first task's PiT makes them Synced with one call each,
// before the window ends: neither re-issued nor left waiting for the window.
func TestNoAnswerIsInDoubtNotReissued(t *testing.T) {
	h := newRunHarness(t, 3, shortWindow)
	answerOnce(h.fake, timeoutErr)
	h.runFor(window / 2)
	h.g.Expect(h.states()).To(Equal(all(3, replicationv1alpha1.GroupIssuing)))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	c := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.InDoubtReason))

	h.fake.FinishAll(h.clock.Now())
	h.runFor(window / 4) // the window has a quarter left
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "the PiT is found inside the window: %v", h.states())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "the PiT of the unanswered call was found: no second call")
	for _, gs := range rs.Status.Groups {
		h.g.Expect(gs.Reissues).To(BeZero())
		h.g.Expect(gs.PitID).To(Equal("pit-smstask-1-" + gs.DeviceGroupID.ID))
	}
	h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix("InDoubtReissued")))
}

// TestNoPiTSupportReissuedOnceAfterWindow: without PiT support nothing can be learned in the window;
// after it, each group is called exactly once more, announced by an event.
func TestNoPiTSupportReissuedOnceAfterWindow(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	answerOnce(h.fake, timeoutErr)
	h.fake.NoPiTSupport = true
	h.runFor(window - time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "nothing is called again inside the in-doubt window")
	h.runFor(2 * time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.maxCallsPerGroup(2)).To(Equal(2))
	h.g.Expect(rs.Status.Groups).To(HaveLen(2))
	for _, gs := range rs.Status.Groups {
		h.g.Expect(gs.Reissues).To(BeEquivalentTo(1))
	}
	h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("InDoubtReissued")))
}

// TestLostCommitThenProviderNotReady: the write of the task refs is refused (not retried: the manager's
// role lost the right to write status), the next reconcile returns early because the provider is briefly
// not Ready; the claim in status keeps the groups in doubt.
func TestLostCommitThenProviderNotReady(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	h.onPatch = func(n int, _ client.Object) error {
		if n == 2 { // 1: claim, 2: commit
			return apierrors.NewForbidden(schema.GroupResource{Group: "replication.vasa.io", Resource: "replicationsyncs/status"}, "run", errors.New("RBAC: access denied"))
		}
		return nil
	}
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).To(MatchError(ContainSubstring("access denied")))
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupIssuing)))
	h.onPatch = nil

	vp := h.vp.DeepCopy()
	h.g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(vp), vp)).To(Succeed())
	ready := meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition).DeepCopy()
	meta.SetStatusCondition(&vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: "Unreachable", ObservedGeneration: vp.Generation})
	h.g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())
	h.reconcile()
	meta.SetStatusCondition(&vp.Status.Conditions, *ready)
	h.g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())

	h.runFor(window / 2)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestClaimLostToAnotherWriterCallsNothing: the claim carries the resourceVersion it was planned on; when
// another writer got there first, no call is made.
func TestClaimLostToAnotherWriterCallsNothing(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.onPatch = func(n int, _ client.Object) error {
		if n == 1 {
			return apierrors.NewConflict(schema.GroupResource{Group: "replication.vasa.io", Resource: "replicationsyncs"}, "run", errors.New("the object has been modified"))
		}
		return nil
	}
	res := h.reconcile()
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.g.Expect(res.RequeueAfter).To(Equal(conflictRetry))
	h.onPatch = nil
	h.runFor(time.Second)
	h.expectEndsSyncedOnce(2)
}

// TestStatusWritesCarryResourceVersion: every status write fails on a stale resourceVersion instead of
// overwriting another writer's task refs.
func TestStatusWritesCarryResourceVersion(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.reconcile() // claim + commit
	stale := h.get()
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Second) // Synced, written
	// A write the reconciler planned on the view before Synced was written (another manager's, say).
	planned := stale.DeepCopy()
	planned.Status.Groups[0].State = replicationv1alpha1.GroupPending
	err := h.r.patchStatus(h.ctx, stale, planned)
	h.g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "the reconciler's status writes carry the resourceVersion they were planned on: %v", err)
	h.g.Expect(h.get().Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced))
}

// TestShutdownDuringSubmitStillCommits: the reconcile's context ends (SIGTERM) while the call is in
// flight; the call's answer is still written.
func TestShutdownDuringSubmitStillCommits(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	ctx, cancel := context.WithCancel(h.ctx)
	h.ctx = ctx
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		cancel() // the manager stops while the provider answers
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	_, _ = h.r.Reconcile(ctx, ctrl.Request{NamespacedName: h.key})
	h.ctx = context.Background()
	rs := h.get()
	h.g.Expect(rs.Status.Groups).To(HaveLen(2))
	for _, gs := range rs.Status.Groups {
		h.g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSyncing))
		h.g.Expect(gs.Task).To(Equal("smstask-1"))
	}
}

// TestEmptyTaskRefIsInDoubt: a 200 without a task ref never leaves groups Syncing on nothing.
func TestEmptyTaskRefIsInDoubt(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	calls := 0
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		calls++
		if calls == 1 {
			return "", nil // no task was started by this answer in this test
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupIssuing)))
	h.g.Expect(rs.Status.Retry.LastFault.Type).To(Equal(faultEmptyTaskRef))
	h.runFor(window - time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "not issued again inside the in-doubt window")
	h.runFor(2 * time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
}

// TestTaskQueryAlwaysFaultingEnds: a task that can never be read counts toward backoffLimit and the
// run ends Failed with a message that says so, instead of waiting forever.
func TestTaskQueryAlwaysFaultingEnds(t *testing.T) {
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](1)
	})
	h.fake.Task = func(string) (sms.TaskInfo, error) {
		return sms.TaskInfo{}, &sms.OtherFaultError{Type: "InvalidState", Message: "task store corrupt"}
	}
	h.runFor(time.Hour)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("could not be queried"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "a task that may still run is never issued again")
}

// TestGoneTaskIsCheckedForItsPiT: after an SMS restart the task is unknown; a PiT it made is found,
// otherwise the group is issued again (counted).
func TestGoneTaskIsCheckedForItsPiT(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reconcile()
	h.fake.Finish("smstask-1", h.clock.Now())
	h.fake.Task = func(string) (sms.TaskInfo, error) {
		return sms.TaskInfo{}, &sms.OtherFaultError{Type: "ManagedObjectNotFound"}
	}
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestSpentGroupsAreCheckedForTheirPiT: a task whose outcome is unknown (gone, unreadable, or silent
// about the group) may have made its PiT; a group with no attempt left is Synced by it, not Failed.
func TestSpentGroupsAreCheckedForTheirPiT(t *testing.T) {
	tests := map[string]func(string) (sms.TaskInfo, error){
		"gone": func(string) (sms.TaskInfo, error) {
			return sms.TaskInfo{}, &sms.OtherFaultError{Type: "ManagedObjectNotFound"}
		},
		"unreadable": func(string) (sms.TaskInfo, error) {
			return sms.TaskInfo{}, &sms.OtherFaultError{Type: "InvalidState", Message: "task store corrupt"}
		},
		"no result": func(string) (sms.TaskInfo, error) {
			return sms.TaskInfo{State: sms.TaskSuccess, Progress: 100}, nil
		},
	}
	for name, answer := range tests {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
				rs.Spec.BackoffLimit = ptr.To[int32](0)
			})
			h.reconcile()
			h.fake.Finish("smstask-1", h.clock.Now()) // its PiTs exist
			h.fake.Task = answer
			h.runFor(time.Hour)
			rs := h.get()
			h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "groups: %+v", rs.Status.Groups)
			h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-smstask-1-dg-0"))
			h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("its PiT was found"))
			h.g.Expect(h.fake.Calls()).To(HaveLen(1))
		})
	}
}

// TestTaskQueryFaultsBackOffOnce: a busy provider answering the queries of four tasks backs the run off
// once, not four times, and each task is next queried after its backoff, not at the run's next wake.
func TestTaskQueryFaultsBackOffOnce(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 4
	})
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(4))
	var queries atomic.Int32 // the tasks are queried at once
	h.fake.Task = func(string) (sms.TaskInfo, error) {
		queries.Add(1)
		return sms.TaskInfo{}, &sms.ProviderBusyError{}
	}
	h.clock.Step(time.Minute)
	h.reconcile()
	h.g.Expect(queries.Load()).To(BeEquivalentTo(4))
	rs := h.get()
	h.g.Expect(rs.Status.Retry.Attempts).To(BeEquivalentTo(1), "one backoff for one busy answer to four queries")
	for _, ref := range []string{"smstask-1", "smstask-2", "smstask-3", "smstask-4"} {
		due, ok := h.r.pollDue.Load(taskKey{client.ObjectKeyFromObject(h.vp), ref})
		h.g.Expect(ok).To(BeTrue())
		h.g.Expect(due.(taskTiming).due).To(BeTemporally(">", h.clock.Now()), "%s is queried after its backoff", ref)
	}
	h.reconcile() // woken before any backoff ended: nothing is queried
	h.g.Expect(queries.Load()).To(BeEquivalentTo(4))
}

// TestDeadlineLooksForPiTsFirst: when activeDeadlineSeconds passes, a task that ended since its last
// query has made its PiTs: those groups are Synced; the groups of a task still running fail, saying the
// task may still make the PiT.
func TestDeadlineLooksForPiTsFirst(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 2
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	})
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	first, second := h.get().Status.Groups[0].Task, h.get().Status.Groups[2].Task
	h.clock.Step(599 * time.Second) // no reconcile between the task's end and the deadline
	h.fake.Finish(first, h.clock.Now())
	h.clock.Step(10 * time.Second)
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Failed", "Failed"}))
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-" + first + "-dg-0"))
	h.g.Expect(rs.Status.Groups[2].Message).To(ContainSubstring(second + " ran; it may still make the PiT"))
	h.g.Expect(meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.DeadlineExceededReason))

	// Every task ended in time, only its query came late: the run succeeds.
	h = newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	})
	h.reconcile()
	h.clock.Step(599 * time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(10 * time.Second)
	h.reconcile()
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))

	// The task made its PiTs but ended without a result for its groups: they back off, Pending, when the
	// deadline passes.
	h = newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	})
	h.r.Backoff.Base, h.r.Backoff.Max = time.Hour, time.Hour
	h.reconcile()
	h.fake.FinishAll(h.clock.Now())
	h.fake.Task = func(string) (sms.TaskInfo, error) {
		return sms.TaskInfo{State: sms.TaskSuccess, Progress: 100}, nil
	}
	h.clock.Step(5 * time.Minute)
	h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Pending", "Pending"}), "backing off for an hour")
	h.clock.Step(6 * time.Minute)
	h.reconcile()
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestPiTNamedByTheArrayIsSynced: an array that names the PiT its own way (the API has the result's
// pitName localized by the provider) made it in our task: the group is Synced under that name, with a
// warning, and not synced again (each attempt would make another PiT).
func TestPiTNamedByTheArrayIsSynced(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		return h.fake.CreateTask(c.Groups, c.PitName+" (array 7)"), nil
	}
	h.runFor(time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(rs.Status.Groups[0].PitName).To(Equal("pit (array 7)"))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring(`The array named the PiT "pit (array 7)", not "pit"`))
}

// TestGroupAnsweredBusyInItsTaskBacksOffUncounted: a task's result that answers one group busy (a
// GroupErrorResult carrying ProviderBusy) backs that group off as a busy call would, counting no attempt:
// with backoffLimit 0 the run still succeeds, its other group synced once.
func TestGroupAnsweredBusyInItsTaskBacksOffUncounted(t *testing.T) {
	h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](0)
	})
	h.runFor(time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.fake.FinishFailing(h.fake.Calls()[0].Task, h.clock.Now(), map[sms.GroupID]error{h.group(1): &sms.ProviderBusyError{Message: "dg-1 busy"}})
	h.runFor(5 * time.Second)
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced))
	h.g.Expect(rs.Status.Groups[1].State).NotTo(Equal(replicationv1alpha1.GroupFailed), "backoffLimit 0: one counted attempt would fail it")
	h.g.Expect(rs.Status.Groups[1].Attempts).To(BeZero())
	h.g.Expect(rs.Status.Retry.LastFault.Type).To(Equal("ProviderBusy"))
	h.g.Expect(h.eventReasons()).To(ContainElement(ContainSubstring("Provider answered ProviderBusy for 1 groups")))

	h.runFor(2 * time.Minute)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.g.Expect(h.fake.CallsOf(h.group(1))).To(Equal(2))
}

// TestSyncOngoingForeignResultWithoutPitName: a foreign task whose result has no pitName is not ours;
// ours is issued after it ended.
func TestSyncOngoingForeignResultWithoutPitName(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	foreign := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1)}, "")
	first := true
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		if first {
			first = false
			return "", &sms.SyncOngoingError{TaskRef: foreign}
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.runFor(time.Second)
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupWaiting)))
	h.fake.Finish(foreign, h.clock.Now())
	h.runFor(5 * time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(rs.Status.Groups[0].PitName).To(Equal("pit"))
	h.g.Expect(rs.Status.Groups[0].PitID).To(HavePrefix("pit-smstask-"))
	h.g.Expect(rs.Status.Groups[0].PitID).NotTo(Equal("pit-" + foreign + "-dg-0"))
}

// TestBadGroupsFailAlone: unknown and non-TARGET groups fail with their state named before the first
// call; a call refused later (InvalidArgument, or the SmsReplicationFault InvalidReplicationState, which
// the API has for it) fails only the group the provider then refuses, and its batch-mates go on uncounted.
func TestBadGroupsFailAlone(t *testing.T) {
	for name, refusal := range map[string]error{
		"InvalidArgument":         &sms.InvalidArgumentError{Message: "group not in a valid state"},
		"InvalidReplicationState": &sms.ReplicationFaultError{Type: "InvalidReplicationState", Message: "replication group fd/dg-2 is FAILEDOVER, not TARGET"},
	} {
		t.Run(name, func(t *testing.T) { badGroupsFailAlone(t, refusal) })
	}
}

// TestProviderThatKnowsNoGroupFailsNone: a provider restarting (or failing over) answers from an empty
// inventory, so a call is refused and the check finds every group unknown: none fails for that, whether
// the provider restarts as the first call reaches it or is restarting when the run starts (the check
// before the first call). The refusals are counted and the run succeeds once the provider knows its
// groups again.
func TestProviderThatKnowsNoGroupFailsNone(t *testing.T) {
	for name, restartingAtStart := range map[string]bool{"restarts at the first call": false, "restarting at the start": true} {
		t.Run(name, func(t *testing.T) { providerKnowsNoGroup(t, restartingAtStart) })
	}
}

func providerKnowsNoGroup(t *testing.T, restarting bool) {
	h := newRunHarness(t, 3, nil)
	h.fake.Groups = func(groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
		var out []sms.ReplicationGroup
		for _, g := range groups {
			state := "TARGET"
			if restarting {
				state = sms.StateError // "unknown replication group"
			}
			out = append(out, sms.ReplicationGroup{Group: g, State: state})
		}
		return out, nil
	}
	first := true
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		if first { // a provider not restarting yet restarts as the first call reaches it
			first, restarting = false, true
		}
		if restarting {
			return "", &sms.ReplicationFaultError{Message: "unknown replication group fd/dg-0"}
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Pending", "Pending", "Pending"}), "none failed for being unknown")
	h.g.Expect(rs.Status.Groups[0].Attempts).To(BeEquivalentTo(1), "counted")

	restarting = false
	h.runFor(time.Minute)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix("GroupRejected")))
}

// TestGroupsGoneFromAProviderThatKnowsOthersAreRejected: a provider that knows none of a run's groups but
// knows other groups of their fault domain that discovery found (the run's ids retired by a reverse of
// replication) is not taken for one restarting: the groups fail at once, with no call, instead of being
// called until backoffLimit. Groups it knows in another fault domain only (a provider of several arrays
// reading them in again one at a time) leave the run's groups issued.
func TestGroupsGoneFromAProviderThatKnowsOthersAreRejected(t *testing.T) {
	for _, domain := range []string{"fd", "fd-other"} {
		t.Run(domain, func(t *testing.T) {
			h := newRunHarness(t, 2, nil)
			known := sms.GroupID{FaultDomainID: domain, DeviceGroupID: "dg-known"}
			h.g.Expect(k8sClient.Create(h.ctx, &replicationv1alpha1.ReplicationGroup{
				ObjectMeta: metav1.ObjectMeta{Namespace: h.vp.Namespace, Name: "known",
					Labels: map[string]string{replicationv1alpha1.ProviderLabel: replicationv1alpha1.LabelValue(h.vp.Name)}},
				Spec: replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: h.vp.Name},
					GroupID: replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: known.FaultDomainID},
						DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: known.DeviceGroupID}}},
			})).To(Succeed())
			h.fake.Groups = func(groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
				var out []sms.ReplicationGroup
				for _, g := range groups {
					state := sms.StateError // "unknown replication group"
					if g == known {
						state = replicationv1alpha1.TargetState
					}
					out = append(out, sms.ReplicationGroup{Group: g, State: state})
				}
				return out, nil
			}
			h.reconcile()
			if domain == "fd" {
				h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Failed", "Failed"}))
				h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
				h.g.Expect(h.fake.Calls()).To(BeEmpty(), "no sync call for groups the provider no longer has")
				h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("GroupRejected")))
				return
			}
			h.g.Expect(h.fake.Calls()).NotTo(BeEmpty(), "the groups are issued")
			h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix("GroupRejected")))
		})
	}
}

// TestGroupTheProviderCannotAnswerForIsNotRejected: a group the check's answer fails for a reason that
// says nothing about it (a per-group QueryExecutionFault) is not rejected as unknown: it is synced.
func TestGroupTheProviderCannotAnswerForIsNotRejected(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.fake.Groups = func(groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
		var out []sms.ReplicationGroup
		for _, g := range groups {
			state := "TARGET"
			if g == h.group(0) {
				state = sms.StateUnanswered
			}
			out = append(out, sms.ReplicationGroup{Group: g, State: state})
		}
		return out, nil
	}
	h.reconcile()
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
}

func badGroupsFailAlone(t *testing.T, refusal error) {
	h := newRunHarness(t, 5, nil)
	h.fake.SetGroupState(h.group(0), "SOURCE")
	h.fake.SetGroupState(h.group(1), "")
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		for _, g := range c.Groups {
			if g == h.group(2) {
				h.fake.SetGroupState(g, "FAILEDOVER")
				return "", refusal
			}
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.reconcile()
	h.fake.Sync = nil
	h.runFor(5 * time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(h.states()).To(Equal([]replicationv1alpha1.GroupState{
		replicationv1alpha1.GroupFailed, replicationv1alpha1.GroupFailed, replicationv1alpha1.GroupFailed,
		replicationv1alpha1.GroupSynced, replicationv1alpha1.GroupSynced,
	}))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("SOURCE"))
	h.g.Expect(rs.Status.Groups[1].Message).To(ContainSubstring("does not know"))
	h.g.Expect(rs.Status.Groups[2].Message).To(ContainSubstring("FAILEDOVER"))
	h.g.Expect(rs.Status.Groups[3].Attempts).To(BeZero(), "refused only because it shared the call")
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(BeZero())
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	// One event names both groups the check rejected: events of one reason on one object are merged into
	// the first, so one per group would show only the first group.
	var rejected []string
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "GroupRejected: ") {
			rejected = append(rejected, e)
		}
	}
	h.g.Expect(rejected).To(HaveLen(1))
	h.g.Expect(rejected[0]).To(And(ContainSubstring("2 of 5 groups"), ContainSubstring("fd/dg-0"), ContainSubstring("fd/dg-1")))
}

// TestWaveFillsEverySlotInTwoWrites: one reconcile issues a batch per free slot, concurrently, with one
// write before the calls and one after.
func TestWaveFillsEverySlotInTwoWrites(t *testing.T) {
	h := newRunHarness(t, 10, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 4
	})
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(4))
	h.g.Expect(h.patches).To(Equal(2))
	h.g.Expect(strings.Count(strings.Join(stateStrings(h.states()), ","), "Syncing")).To(Equal(8))
}

// TestOneBatchSubmittedEventPerRun: a run of several waves says once that it submitted batches; each
// further wave would cost the API server an event and say little more.
func TestOneBatchSubmittedEventPerRun(t *testing.T) {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 1
	})
	for range 3 {
		h.reconcile()
		h.fake.FinishAll(h.clock.Now())
		h.clock.Step(time.Second)
	}
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(HaveLen(3))
	submitted := 0
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "BatchSubmitted") {
			submitted++
		}
	}
	h.g.Expect(submitted).To(Equal(1), "events: %v", h.eventReasons())
}

// TestBackingOffSaysWhoFailed: a backoff because a sync call was not sent (its session's re-login was
// refused) says so, with the error, not "Provider answered": that sends on-call to the array. No event
// names a delay: repeats of one reason are folded into the first event's text.
func TestBackingOffSaysWhoFailed(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.fake.Sync = func(smsfake.SyncCall) (string, error) {
		return "", fmt.Errorf("%w: re-establishing expired session: %w", sms.ErrNotSent, &sms.LoginError{Err: errors.New("the password was refused")})
	}
	h.runFor(time.Minute)
	events := h.eventReasons()
	h.g.Expect(events).To(ContainElement(And(HavePrefix("BackingOff: Calling the provider failed (Unreachable: "),
		ContainSubstring("the password was refused"), ContainSubstring("status.retry.nextRetryTime"))))
	h.g.Expect(events).NotTo(ContainElement(Or(ContainSubstring("Provider answered"), ContainSubstring("retrying in"))))
}

// TestNoProgressSaysSo: a run whose provider stays busy reports Stalled=ProgressDeadlineExceeded but keeps trying.
func TestNoProgressSaysSo(t *testing.T) {
	h := progressDeadlineRun(t, 1)
	h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", &sms.ProviderBusyError{} }
	h.runFor(2 * time.Minute)
	rs := h.get()
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.ProgressDeadlineExceededReason))
	h.g.Expect(c.Message).To(ContainSubstring("ProviderBusy"))
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncRunning))
	h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("BackingOff: Provider answered ProviderBusy")))
	// The ReplicationSyncStuck alert (config/prometheus) fires on this gauge.
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(Equal(1.0))

	// Progress resumes: Stalled clears and the gauge drops to 0; a finished run removes its series.
	h.fake.Sync = nil
	h.runFor(15 * time.Second)
	rs = h.get()
	h.g.Expect(h.states()).To(Equal([]replicationv1alpha1.GroupState{replicationv1alpha1.GroupSyncing}))
	h.g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(BeZero())
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(metrics.RunWithoutProgress.DeleteLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name)).To(BeFalse(), "the series of a finished run is removed")
}

// TestLongTaskThatAdvancesIsNotStuck: a task that runs longer than progressDeadlineSeconds on an array that
// reports its progress is progress of the run (not Stalled, no ReplicationSyncStuck); one whose percent
// stands still for longer is not.
func TestLongTaskThatAdvancesIsNotStuck(t *testing.T) {
	h := progressDeadlineRun(t, 1)
	h.runFor(time.Second)
	rs := h.get()
	ref := rs.Status.Groups[0].Task
	h.g.Expect(ref).NotTo(BeEmpty())
	stalled := func() bool {
		return meta.IsStatusConditionTrue(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	}
	for percent := int32(5); percent <= 95; percent += 10 {
		h.fake.SetProgress(ref, percent)
		h.runFor(20 * time.Second)
		h.g.Expect(stalled()).To(BeFalse(), "at %d%%", percent)
	}
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(BeZero())

	h.runFor(3 * time.Minute) // held at 95 %
	h.g.Expect(stalled()).To(BeTrue())
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(Equal(1.0))

	// A manager that restarts more often than the deadline (nothing in memory) does not take the percent
	// it finds for an advance.
	for range 4 {
		h.r = &ReplicationSyncReconciler{Client: h.r.Client, APIReader: h.r.APIReader, Sessions: session.New(), Capacity: capacity.New(),
			Clock: h.clock, Dial: h.r.Dial, Backoff: h.r.Backoff, Recorder: h.r.Recorder}
		h.runFor(40 * time.Second)
		h.g.Expect(stalled()).To(BeTrue())
	}
}

// TestTaskWithoutPercentIsNotStuckWhileItsProvidersTasksRun: an array that reports no percent of progress
// (the API makes it optional). Its first long task is Stalled: nothing shows yet how long its tasks take.
// Once one took 3 minutes, a task of the next run counts as progress for as long, and as stuck once it
// runs longer by progressDeadlineSeconds.
func TestTaskWithoutPercentIsNotStuckWhileItsProvidersTasksRun(t *testing.T) {
	h := progressDeadlineRun(t, 1)
	stalled := func() bool {
		return meta.IsStatusConditionTrue(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	}
	h.runFor(3 * time.Minute)
	h.g.Expect(stalled()).To(BeTrue(), "no task of the provider has ended yet")
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))

	h.nextRun("next")
	h.runFor(150 * time.Second)
	h.g.Expect(h.get().Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSyncing))
	h.g.Expect(stalled()).To(BeFalse(), "its provider's last task ran 3 minutes")
	h.runFor(2 * time.Minute)
	h.g.Expect(stalled()).To(BeTrue(), "longer than that, and the deadline")

	// A task that shows a percent is judged by it alone: one standing still at 40 % is stuck after the
	// deadline, however long the provider's tasks took.
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.nextRun("frozen")
	h.runFor(time.Second)
	h.fake.SetProgress(h.get().Status.Groups[0].Task, 40)
	h.runFor(3 * time.Minute) // less than the provider's longest task
	h.g.Expect(stalled()).To(BeTrue(), "a percent standing still")
}

// TestMissingProviderCountsAsStuck: a run whose providerRef names no VasaProvider never starts; past
// progressDeadlineSeconds it is exported as without progress, so ReplicationSyncStuck fires for it too,
// while its Stalled condition keeps saying what is wrong.
func TestMissingProviderCountsAsStuck(t *testing.T) {
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ProviderRef.Name = "no-such-provider"
		rs.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	})
	h.clock.SetTime(h.get().CreationTimestamp.Time)
	h.runFor(30 * time.Second)
	rs := h.get()
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(BeZero())
	h.runFor(ProviderMissingGrace)
	rs = h.get()
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(Equal(1.0))
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.WaitingForProviderReason))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
}

// TestRunWaitingInAMovingLineIsNotStuck: a run that waits for a slot while older runs of its provider take
// every slot freed (the fifth share of a schedule's tick) is not without progress while their tasks end;
// once none ends for progressDeadlineSeconds, it is, also while the older run's calls are refused (busy)
// and it gives slots back without a task ending.
func TestRunWaitingInAMovingLineIsNotStuck(t *testing.T) {
	h := progressDeadlineRun(t, 32)
	provider, older := client.ObjectKeyFromObject(h.vp), h.vp.Namespace+"/share-1"
	limit := int(maxConcurrentTasks(h.vp))
	h.r.Capacity.Hold(provider, older, limit, limit)
	h.r.Capacity.Reserve(provider, older, time.Unix(0, 0), 60, limit) // it waits for more, ahead of the run
	stuck := func() bool {
		rs := h.get()
		return meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition) ||
			testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name)) != 0
	}
	for range 8 { // one of the older run's tasks ends every 30 s, and it takes the slot again
		h.runFor(30 * time.Second)
		h.g.Expect(stuck()).To(BeFalse())
		h.r.Capacity.TaskEnded(provider)
		h.r.Capacity.Hold(provider, older, limit-1, limit)
		h.r.Capacity.Reserve(provider, older, time.Unix(0, 0), 60, limit)
	}
	rs := h.get()
	h.g.Expect(meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition).Reason).To(Equal(replicationv1alpha1.WaitingForProviderCapacityReason))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())

	for range 4 { // the older run's calls are refused: slots given back, no task ended
		h.runFor(30 * time.Second)
		h.r.Capacity.Hold(provider, older, limit-1, limit)
		h.r.Capacity.Reserve(provider, older, time.Unix(0, 0), 60, limit)
	}
	h.g.Expect(stuck()).To(BeTrue())
}

func stateStrings(states []replicationv1alpha1.GroupState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// TestPiTQueryGroupFaultHoldsOnlyThatGroup: a per-group fault in the PiT answer keeps that group from
// being issued blind (counted, retried later) while the other groups proceed.
func TestPiTQueryGroupFaultHoldsOnlyThatGroup(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	failing := true
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		if failing && slices.Contains(groups, h.group(0)) {
			return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{h.group(0): &sms.OtherFaultError{Type: "SystemError", Message: "journal offline"}}}
		}
		return nil, nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupPending))
	h.g.Expect(rs.Status.Groups[0].Attempts).To(BeEquivalentTo(1))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("journal offline"))
	h.g.Expect(rs.Status.Groups[1].State).To(Equal(replicationv1alpha1.GroupSyncing))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(BeZero())

	failing = false
	h.runFor(5 * time.Second)
	h.expectEndsSyncedOnce(2)
}

// TestPiTQueryNotImplementedPerGroup: an array without PiT support that answers the PiT query with
// NotImplemented per group (not for the whole call) has its groups issued unchecked, as when the call
// is not implemented, instead of counting each as failed until the run fails.
func TestPiTQueryNotImplementedPerGroup(t *testing.T) {
	h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](0)
	})
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		refused := map[sms.GroupID]error{}
		for _, g := range groups {
			refused[g] = &sms.NotImplementedError{Message: "point-in-time replicas are not supported"}
		}
		return nil, &sms.GroupQueryError{Groups: refused}
	}
	h.runFor(5 * time.Second)
	for _, g := range h.get().Status.Groups {
		h.g.Expect(g.Attempts).To(BeZero())
	}
	h.expectEndsSyncedOnce(2)
}

// TestLastingPiTQueryFaultEndsTheRun: a fault to the whole PiT query before the call (an account
// without the privilege to query PiTs) counts toward backoffLimit, so the run fails naming it instead of
// retrying for good; nothing is called blind.
func TestLastingPiTQueryFaultEndsTheRun(t *testing.T) {
	h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](1)
	})
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) {
		return nil, &sms.OtherFaultError{Type: "NoPermission", Message: "Permission to perform this operation was denied."}
	}
	h.runFor(2 * time.Hour)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("Permission to perform this operation was denied"))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
}

// TestPiTQueryTooManyAsksInParts: a provider that takes at most 4 groups per PiT query (TooMany to a
// larger one) is asked again in parts of 4; the run syncs, and no group is counted for it.
func TestPiTQueryTooManyAsksInParts(t *testing.T) {
	h := newRunHarness(t, 10, nil)
	var asked []int
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		h.mu.Lock()
		asked = append(asked, len(groups))
		h.mu.Unlock()
		if len(groups) > 4 {
			return nil, &sms.TooManyError{MaxBatchSize: 4}
		}
		return nil, nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(h.fake.Calls()).NotTo(BeEmpty())
	for _, gs := range rs.Status.Groups {
		h.g.Expect(gs.Attempts).To(BeZero())
	}
	h.mu.Lock()
	h.g.Expect(slices.Max(asked[1:])).To(BeNumerically("<=", 4), "asked %v", asked)
	h.mu.Unlock()
	h.expectEndsSyncedOnce(10)
}

// TestPiTQuery503BacksOff: a 503 to the PiT query that may have come after SMS took it is no reason for
// doubt (a query starts no task): the run backs off without counting, then syncs.
func TestPiTQuery503BacksOff(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	failing := true
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) {
		if failing {
			return nil, &sms.ServiceUnavailableError{StatusCode: 503, MayHaveRun: true}
		}
		return nil, nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(backingOff(rs, h.clock.Now())).To(BeTrue())
	h.g.Expect(rs.Status.Groups[0].Attempts).To(BeZero())
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupPending))

	failing = false
	h.runFor(time.Minute)
	h.expectEndsSyncedOnce(2)
}

// TestPendingRunKeepsItsBackoff: a run whose group check got no answer is woken before its retry time
// (its VasaProvider turned Ready again, as a flapping one does): it calls nothing until then. Every run
// of a sick provider calling at each flip would hold a worker each until its call timed out.
func TestPendingRunKeepsItsBackoff(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	checks := 0
	h.fake.Groups = func([]sms.GroupID) ([]sms.ReplicationGroup, error) {
		checks++
		return nil, timeoutErr
	}
	h.reconcile()
	h.g.Expect(checks).To(Equal(1))
	rs := h.get()
	h.g.Expect(rs.Status.Phase).NotTo(Equal(replicationv1alpha1.SyncRunning))
	h.g.Expect(rs.Status.Retry.NextRetryTime.Time).To(BeTemporally(">", h.clock.Now()))

	res := h.reconcile() // woken early
	h.g.Expect(checks).To(Equal(1), "no call before the retry time")
	h.g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	h.g.Expect(meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition).Reason).To(Equal(replicationv1alpha1.BackingOffReason))

	h.fake.Groups = nil
	h.runFor(time.Minute)
	h.g.Expect(checks).To(Equal(1))
	h.expectEndsSyncedOnce(1)
}

// TestCallWithoutAnswerRechecksTheProvider: a run whose call got no answer asks for its VasaProvider's
// check now, once per outage. vCenter found unreachable, the VasaProvider turns NotReady and its other
// runs wait instead of each waiting out a call's timeout; the periodic check may be 5 minutes away.
func TestCallWithoutAnswerRechecksTheProvider(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	checks := make(chan event.GenericEvent, 1)
	h.r.ProviderEvents = checks
	h.fake.Groups = func([]sms.GroupID) ([]sms.ReplicationGroup, error) { return nil, timeoutErr }
	h.reconcile()
	h.g.Expect(checks).To(Receive())
	h.clock.Step(6 * time.Minute)
	h.reconcile()
	h.g.Expect(h.get().Status.Retry.Attempts).To(BeEquivalentTo(2))
	h.g.Expect(checks).NotTo(Receive(), "the same outage: asked once")
}

// TestTaskQueryWithoutAnswerEnds: a task query that never gets an answer (connection dropped) backs the
// run off and, past a bound, counts toward backoffLimit: the run ends instead of hanging.
func TestTaskQueryWithoutAnswerEnds(t *testing.T) {
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](1)
	})
	h.fake.Task = func(string) (sms.TaskInfo, error) { return sms.TaskInfo{}, timeoutErr }
	h.runFor(2 * time.Hour)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("could not be queried"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestOutageDoesNotFailASyncedGroup: vCenter stops answering while a task runs, and the task makes its
// PiT meanwhile. Neither the task nor the PiT can be read: the group is not Failed ("no PiT was made"
// would be false), and it is Synced once vCenter answers again, without a second call. Meanwhile, without
// activeDeadlineSeconds, nothing ends the run: it must say it is stuck (Stalled, and the gauge the
// ReplicationSyncStuck alert fires on).
func TestOutageDoesNotFailASyncedGroup(t *testing.T) {
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To[int32](1)
	})
	h.reconcile()
	h.fake.Finish(h.fake.Calls()[0].Task, h.clock.Now().Add(time.Second))
	h.fake.Task = func(string) (sms.TaskInfo, error) { return sms.TaskInfo{}, timeoutErr }
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) { return nil, timeoutErr }
	h.runFor(3 * time.Hour)
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupSyncing)))
	rs := h.get()
	h.g.Expect(rs.Spec.ActiveDeadlineSeconds).To(BeNil())
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c).NotTo(BeNil())
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.ProgressDeadlineExceededReason))
	h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(Equal(1.0))

	h.fake.Task, h.fake.PiTs = nil, nil
	h.runFor(time.Hour)
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupSynced)))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestSelectorMembershipFrozenAtStart: a run by selector takes the groups that match when it starts; a
// ReplicationGroup that matches later does not join it.
func TestSelectorMembershipFrozenAtStart(t *testing.T) {
	var ns string
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		ns = vp.Namespace
		for i := range 2 {
			NewWithT(t).Expect(k8sClient.Create(context.Background(), selectableGroup(ns, i))).To(Succeed())
		}
		rs.Spec.GroupIDs = nil
		rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "db"}})
	})
	h.discovered()
	h.reconcile()
	h.g.Expect(h.get().Status.Groups).To(HaveLen(2))
	h.g.Expect(k8sClient.Create(h.ctx, selectableGroup(ns, 2))).To(Succeed())
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(rs.Status.Groups).To(HaveLen(2))
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero())
}

// TestSelectorWaitsForTheFirstDiscovery: a run created together with its VasaProvider (kubectl apply -k,
// a GitOps bootstrap) selects its groups only once discovery has written them all, not from the few
// written so far; the first discovery's status wakes it.
func TestSelectorWaitsForTheFirstDiscovery(t *testing.T) {
	h, ns := selectorRun(t)
	h.g.Expect(k8sClient.Create(h.ctx, selectableGroup(ns, 0))).To(Succeed()) // the first discovery is half-way
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Groups).To(BeEmpty())
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.WaitingForDiscoveryReason))

	h.g.Expect(k8sClient.Create(h.ctx, selectableGroup(ns, 1))).To(Succeed())
	before := h.vp.DeepCopy()
	h.discovered()
	h.g.Expect(providerUsabilityChanged().Update(event.UpdateEvent{ObjectOld: before, ObjectNew: h.vp})).To(BeTrue(), "the first discovery wakes the run")
	h.reconcile()
	h.g.Expect(h.get().Status.Groups).To(HaveLen(2))
}

// TestSelectorWaitsForAFirstDiscoveryThatFails only until it ended: one write refused for good (or a
// listing without groups) must not hold the run for ever; it selects what was written.
func TestSelectorWaitsForAFirstDiscoveryThatFails(t *testing.T) {
	h, ns := selectorRun(t)
	h.g.Expect(k8sClient.Create(h.ctx, selectableGroup(ns, 0))).To(Succeed())
	now := metav1.NewTime(h.clock.Now())
	h.vp.Status.Discovery = &replicationv1alpha1.DiscoveryStatus{LastAttemptTime: &now, Message: "1 of 2 ReplicationGroup writes failed"}
	h.g.Expect(k8sClient.Status().Update(h.ctx, h.vp)).To(Succeed())
	h.reconcile()
	h.g.Expect(h.get().Status.Groups).To(HaveLen(1))
}

// selectorRun is a run harness whose run selects the groups labelled source-group db; it returns the
// namespace too.
func selectorRun(t *testing.T) (*runHarness, string) {
	var ns string
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		ns = vp.Namespace
		rs.Spec.GroupIDs = nil
		rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "db"}})
	})
	return h, ns
}

// selectableGroup is ReplicationGroup fd/dg-i of VasaProvider "vp", labelled source-group db.
func selectableGroup(ns string, i int) *replicationv1alpha1.ReplicationGroup {
	id := replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: fmt.Sprintf("dg-%d", i)}}
	obj := &replicationv1alpha1.ReplicationGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("rg-%d", i),
		Labels: map[string]string{replicationv1alpha1.ProviderLabel: "vp", replicationv1alpha1.SourceGroupLabel: "db"}}}
	obj.Spec.ProviderRef.Name, obj.Spec.GroupID = "vp", id
	return obj
}

// TestSelectorMatchingNothingSaysSo: a selector that matches no group ends the run with a reason, and
// the run's TTL applies as to any finished run. With discovery off, the reason says so.
func TestSelectorMatchingNothingSaysSo(t *testing.T) {
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.GroupIDs = nil
		rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "none"}})
		rs.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
	})
	h.discovered()
	res := h.reconcile()
	h.g.Expect(res.RequeueAfter).To(BeNumerically(">", 0), "back when its TTL may delete it")
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.NoGroupsSelectedReason))
	h.g.Expect(c.Message).To(ContainSubstring("groupSelector"))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())

	h.clock.Step(time.Minute + time.Second)
	h.reconcile()
	h.g.Expect(apierrors.IsNotFound(k8sClient.Get(h.ctx, h.key, &replicationv1alpha1.ReplicationSync{}))).To(BeTrue(), "deleted by its TTL")
}

// TestSelectorWithDiscoveryOffSaysSo: with discovery off a run selects at once, from the
// ReplicationGroups someone created; matching none, its reason says discovery is off.
func TestSelectorWithDiscoveryOffSaysSo(t *testing.T) {
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		vp.Spec.Discovery.Interval = &metav1.Duration{}
		rs.Spec.GroupIDs = nil
		rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "db"}})
	})
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.NoGroupsSelectedReason))
	h.g.Expect(c.Message).To(ContainSubstring("discovery is off"))
}

// TestTaskErrorIsDecidedLikeTheCallsFault: a task that ends in error carries a fault the provider met
// after SMS took the call, decided as that fault answered to the call: busy backs off and counts
// nothing; TooMany splits the batch (learning the size) and counts nothing.
func TestTaskErrorIsDecidedLikeTheCallsFault(t *testing.T) {
	for name, tc := range map[string]struct {
		fault    error
		maxBatch int
	}{
		"ProviderBusy": {&sms.ProviderBusyError{Message: "array busy"}, 4},
		"TooMany":      {&sms.TooManyError{MaxBatchSize: 2}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 4, nil)
			h.reconcile()
			h.g.Expect(h.fake.Calls()).To(HaveLen(1))
			h.fake.Fail(h.fake.Calls()[0].Task, tc.fault, h.clock.Now())
			h.runFor(time.Minute)
			for range 4 {
				h.fake.FinishAll(h.clock.Now())
				h.runFor(time.Minute)
			}
			rs := h.get()
			h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "%v", h.states())
			for _, g := range rs.Status.Groups {
				h.g.Expect(g.Attempts).To(BeZero(), "group %s: not a failure of the group", g.DeviceGroupID.ID)
			}
			calls := h.fake.Calls()
			h.g.Expect(calls[0].Groups).To(HaveLen(4))
			for _, c := range calls[1:] {
				h.g.Expect(len(c.Groups)).To(BeNumerically("<=", tc.maxBatch))
			}
		})
	}
}

// TestRunSentBackByABusyProviderWhileOthersFinishIsNotStuck: a run whose calls the provider refuses as
// busy while other runs' tasks on it end waits for the array's capacity as a run waits in line: not
// without progress, and its Stalled condition and series do not flip between the two.
func TestRunSentBackByABusyProviderWhileOthersFinishIsNotStuck(t *testing.T) {
	h := progressDeadlineRun(t, 1)
	h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", &sms.ProviderBusyError{} }
	provider := client.ObjectKeyFromObject(h.vp)
	for range 8 {
		h.runFor(30 * time.Second)
		rs := h.get()
		h.g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
		h.g.Expect(testutil.ToFloat64(metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name))).To(BeZero())
		h.r.Capacity.TaskEnded(provider) // another run's task on the provider
	}
	h.g.Expect(h.fake.Calls()).NotTo(BeEmpty())
}

// TestRunOutOfResourceWhileOthersFinishIsStuck: a run backing off for a fault of its own (out of
// resource) is not credited with other runs' tasks ending, as a run sent back as busy is.
func TestRunOutOfResourceWhileOthersFinishIsStuck(t *testing.T) {
	h := progressDeadlineRun(t, 1)
	h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", &sms.ProviderOutOfResourceError{} }
	provider := client.ObjectKeyFromObject(h.vp)
	for range 6 {
		h.runFor(30 * time.Second)
		h.r.Capacity.TaskEnded(provider)
	}
	rs := h.get()
	h.g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeTrue())
}

// progressDeadlineRun is a run of n groups whose progressDeadlineSeconds is one minute.
// TestStuckTaskIsNamed: a run whose task never ends, nor advances, past its progress deadline says in its
// Stalled condition which task it waits for and what its groups are doing, not only "Last fault: none".
func TestStuckTaskIsNamed(t *testing.T) {
	h := progressDeadlineRun(t, 2)
	h.runFor(2 * time.Minute)
	c := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.ProgressDeadlineExceededReason))
	h.g.Expect(c.Message).To(And(ContainSubstring("Waiting for SMS task "+h.fake.Calls()[0].Task+"."),
		ContainSubstring("0/2 groups synced, 0 failed, 2 syncing"), HaveSuffix("Last fault: none")))
}

func progressDeadlineRun(t *testing.T, n int) *runHarness {
	return newRunHarness(t, n, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	})
}

// TestCommitFailedByTheAPIServerIsRetried: the API server fails the write of the task refs (etcd's leader
// changing: a 500, not applied). The commit is tried again from a fresh read: on an array without PiT
// support the groups would otherwise be in doubt, and issued again once their window ended, a second sync.
func TestCommitFailedByTheAPIServerIsRetried(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	h.fake.NoPiTSupport = true
	h.onPatch = func(n int, _ client.Object) error {
		if n == 2 { // 1: claim, 2: commit
			return apierrors.NewInternalError(errors.New("etcdserver: leader changed"))
		}
		return nil
	}
	h.reconcile()
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupSyncing)))
	h.onPatch = nil
	h.fake.FinishAll(h.clock.Now())
	h.runFor(2 * window)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.g.Expect(h.fake.CallsOf(h.group(1))).To(Equal(1))
}

// TestWriteAppliedThoughItFailedEndsTheRunOnce: the write that ends the run was applied, but its caller
// saw it fail (client-go retried a 504 and the retry conflicted with the first try). The run's end is
// told once (its event), not dropped as the outcome of a lost write.
func TestWriteAppliedThoughItFailedEndsTheRunOnce(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.reconcile()
	h.fake.FinishAll(h.clock.Now())
	h.afterPatch = func(int, context.Context) error {
		h.afterPatch = nil
		return apierrors.NewConflict(schema.GroupResource{Group: "replication.vasa.io", Resource: "replicationsyncs"}, "run", errors.New("the object has been modified"))
	}
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	ended := 0
	for _, e := range h.events {
		if strings.HasPrefix(e, "Synced: All") {
			ended++
		}
	}
	h.g.Expect(ended).To(Equal(1), "%v", h.events)
}

// TestClaimAppliedThoughItFailedGoesOnToItsCalls: the API server stored the claim but answered a timeout.
// Read past the cache, the claim is there: the wave's calls go out as after any claim, instead of its
// groups waiting out the in-doubt window for calls never made and then counting as reissued.
func TestClaimAppliedThoughItFailedGoesOnToItsCalls(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	h.afterPatch = func(n int, _ context.Context) error {
		if n == 1 { // the claim
			return apierrors.NewTimeoutError("request did not complete within the allotted timeout", 1)
		}
		return nil
	}
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupSyncing)))
	h.afterPatch = nil
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.expectEndsSyncedOnce(2)
	for _, g := range h.get().Status.Groups {
		h.g.Expect(g.Reissues).To(BeZero())
	}
}

// TestUnreachableVCenterIsOneBackingOffEvent: vCenter stops answering a run's PiT queries for an hour. The
// run backs off with one BackingOff event for the outage, not one per retry, and calls once it is back.
func TestUnreachableVCenterIsOneBackingOffEvent(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) {
		return nil, &sms.UnreachableError{URL: "https://vc", Err: errors.New("connection refused")}
	}
	h.runFor(time.Hour)
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	backingOff := func() (n int) {
		for _, e := range h.eventReasons() {
			if strings.HasPrefix(e, replicationv1alpha1.BackingOffReason) {
				h.g.Expect(e).To(ContainSubstring("connection refused"))
				n++
			}
		}
		return n
	}
	h.g.Expect(h.get().Status.Retry.Attempts).To(BeNumerically(">", 3))
	h.g.Expect(backingOff()).To(Equal(1))

	h.fake.PiTs = nil
	h.runFor(time.Hour)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.g.Expect(backingOff()).To(Equal(1))
}
