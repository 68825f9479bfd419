package controllers

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// taskGone answers every task query as SMS does after a restart that forgot its tasks.
func taskGone(string) (sms.TaskInfo, error) {
	return sms.TaskInfo{}, &sms.OtherFaultError{Type: "ManagedObjectNotFound", Message: "task unknown"}
}

// TestGoneTaskIsInDoubtWhileTheArraySyncs: SMS forgot our task, but the array still runs its sync. A PiT
// check made now, and a call made after it, could both miss a sync that ends in between: a second PiT.
// So nothing is called while the in-doubt window lasts; the PiT the array makes later ends the group.
func TestGoneTaskIsInDoubtWhileTheArraySyncs(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.fake.Task = taskGone
	h.runFor(time.Minute) // within the in-doubt window (DefaultInDoubtWindow: 2m)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "no call while the array may still run the forgotten sync")
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupIssuing)))
	h.g.Expect(h.get().Status.Groups[0].Message).To(ContainSubstring("is gone"))

	h.fake.Finish("smstask-1", h.clock.Now()) // the array's sync ends: its PiTs exist
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "groups: %+v", rs.Status.Groups)
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-smstask-1-dg-0"))
	h.g.Expect(rs.Status.Groups[0].Reissues).To(BeZero())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestGoneTaskWithoutPiTIsIssuedAgainAfterTheWindow: a forgotten task whose sync never made a PiT (the
// array aborted it) is issued again once the in-doubt window has passed, as a re-issue that shows.
func TestGoneTaskWithoutPiTIsIssuedAgainAfterTheWindow(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.reconcile()
	h.fake.Task = taskGone
	h.runFor(DefaultInDoubtWindow - time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.runFor(10 * time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(h.get().Status.Groups[0].Reissues).To(BeEquivalentTo(1))
	h.g.Expect(h.eventReasons()).To(ContainElement(ContainSubstring("InDoubtReissued")))
}

// TestGoneLongTaskWaitsAWindowFromWhenItWasGone: SMS forgets a task that ran longer than the in-doubt
// window (a long sync, or one polled again only after a manager's outage). Counted from the claim, its
// window has passed already: the PiT check and the second call would come at once, while the array most
// likely still runs the sync, and a sync ending between the two makes a second PiT. The window counts from
// when SMS was found to have forgotten the task.
func TestGoneLongTaskWaitsAWindowFromWhenItWasGone(t *testing.T) {
	h := newRunHarness(t, 2, shortWindow)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.runFor(2 * window) // the task runs on, polled
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupSyncing)))

	h.fake.Task = taskGone
	h.runFor(window - time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "no call while the array may still run the forgotten sync")
	h.g.Expect(h.states()).To(Equal(all(2, replicationv1alpha1.GroupIssuing)))

	h.fake.Finish("smstask-1", h.clock.Now()) // the array's sync ends: its PiTs exist
	h.runFor(window)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "groups: %+v", rs.Status.Groups)
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-smstask-1-dg-0"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestGoneOngoingTasksBackOffOnce: after an SMS restart, groups waiting on four forgotten tasks find them
// gone in one round of queries. The run backs off once for that round, not once per task: four in a row
// would start it at the fourth step of the backoff (here 8 s, in production 40 s) for one event.
func TestGoneOngoingTasksBackOffOnce(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 4
	})
	forgotten := map[sms.GroupID]string{}
	for i := range 4 {
		forgotten[h.group(i)] = h.fake.CreateTask([]sms.GroupID{h.group(i)}, "someone-else")
	}
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		return "", &sms.SyncOngoingError{TaskRef: forgotten[c.Groups[0]]}
	}
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(4))
	h.g.Expect(h.states()).To(Equal(all(4, replicationv1alpha1.GroupWaiting)))
	h.fake.Task = taskGone
	h.clock.Step(time.Minute)
	h.reconcile()
	rs := h.get()
	h.g.Expect(h.states()).To(Equal(all(4, replicationv1alpha1.GroupPending)))
	h.g.Expect(rs.Status.Retry.Attempts).To(BeEquivalentTo(1), "one backoff for one round of queries")
	h.g.Expect(rs.Status.Retry.NextRetryTime.Time).To(BeTemporally("~", h.clock.Now().Add(time.Second), 10*time.Millisecond))
}

// TestOngoingWithoutTaskBacksOffOnce: a wave of four batches each answered SyncOngoing without a task
// ref backs the run off once, not once per batch.
func TestOngoingWithoutTaskBacksOffOnce(t *testing.T) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 4
	})
	h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", &sms.SyncOngoingError{} }
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(4))
	rs := h.get()
	h.g.Expect(h.states()).To(Equal(all(4, replicationv1alpha1.GroupPending)))
	h.g.Expect(rs.Status.Retry.Attempts).To(BeEquivalentTo(1), "one backoff for one wave")
}

// TestReissueMeetingOngoingSyncStaysInDoubt: a group issued again after an unanswered call meets the
// first call's sync still running (SyncOngoing, with or without its task, which SMS may then forget).
// That sync is most likely ours: the group goes back in doubt, and its PiT ends it. Issued again after
// a backoff instead, its PiT check and call could both miss that sync ending in between: a third call,
// unannounced, and a second PiT.
func TestReissueMeetingOngoingSyncStaysInDoubt(t *testing.T) {
	for name, namesTask := range map[string]bool{"no task named": false, "its task named, then gone": true} {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 1, shortWindow)
			var first string
			var calls atomic.Int32
			h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
				switch calls.Add(1) {
				case 1:
					first = h.fake.CreateTask(c.Groups, c.PitName)
					return "", timeoutErr
				case 2:
					if namesTask {
						return "", &sms.SyncOngoingError{TaskRef: first}
					}
					return "", &sms.SyncOngoingError{}
				default:
					return h.fake.CreateTask(c.Groups, c.PitName), nil
				}
			}
			h.runFor(window + 2*time.Second)
			h.g.Expect(h.fake.Calls()).To(HaveLen(2), "re-issued once after the window")
			if namesTask {
				h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupWaiting)))
				h.fake.Task = taskGone
			}
			h.runFor(window - 5*time.Second)
			h.g.Expect(h.fake.Calls()).To(HaveLen(2), "no call while our first sync may still run")
			h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupIssuing)))

			h.fake.Task = nil
			h.fake.Finish(first, h.clock.Now()) // the first call's sync ends: its PiT exists
			h.runFor(window / 2)
			rs := h.get()
			h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "groups: %+v", rs.Status.Groups)
			h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-" + first + "-dg-0"))
			h.g.Expect(h.fake.Calls()).To(HaveLen(2))
		})
	}
}
