package controllers

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// TestExistingPiTIsNeverSyncedAgain: a run whose groups already have a PiT of its name (a ReplicationSync
// deleted and re-created by GitOps, or the PiT of a manager that crashed before it wrote anything) makes
// those groups Synced to that PiT without a call; only the other groups are called.
func TestExistingPiTIsNeverSyncedAgain(t *testing.T) {
	h := newRunHarness(t, 3, nil)
	earlier := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1)}, h.get().Spec.PitName) // not a call of this run
	h.fake.Finish(earlier, h.clock.Now())
	h.reconcile()
	rs := h.get()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Syncing"}))
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-" + earlier + "-dg-0"))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("already existed"))
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(1))
	h.g.Expect(calls[0].Groups).To(Equal([]sms.GroupID{h.group(2)}))
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(BeEquivalentTo("Succeeded"))
	h.g.Expect([]int{h.fake.CallsOf(h.group(0)), h.fake.CallsOf(h.group(1)), h.fake.CallsOf(h.group(2))}).To(Equal([]int{0, 0, 1}))
}

// TestRunThatFoundOnlyOldPiTsSaysNoneWasMade: a run re-created from Git after its TTL deleted it (or a
// hook with a fixed pitName) finds the PiTs the first one made and makes none: its Ready message and its
// Synced event say so, not only that every group is synced.
func TestRunThatFoundOnlyOldPiTsSaysNoneWasMade(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	made := h.get().CreationTimestamp.Add(-6 * time.Hour).UTC()
	first := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1)}, h.get().Spec.PitName)
	h.fake.Finish(first, made)
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	want := "2 of them had it before this run was created (the oldest from " + made.Format(time.RFC3339) + "), so no new PiT was made"
	h.g.Expect(meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition).Message).To(ContainSubstring(want))
	h.g.Expect(h.eventReasons()).To(ContainElement(ContainSubstring(want)))
}

// TestSlotsFoundSyncedGoToTheNextGroups: a run created again after its first try (GitOps, the runbook after
// a vCenter was rebuilt) finds the PiTs of its first groups. The slot it reserved for them goes to the next
// Pending groups in the same reconcile, not after the run's next wake (a minute later).
func TestSlotsFoundSyncedGoToTheNextGroups(t *testing.T) {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 2, 1
	})
	earlier := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1), h.group(2), h.group(3)}, h.get().Spec.PitName)
	h.fake.Finish(earlier, h.clock.Now())
	h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Synced", "Synced", "Syncing", "Syncing"}))
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(1))
	h.g.Expect(calls[0].Groups).To(Equal([]sms.GroupID{h.group(4), h.group(5)}))
	h.g.Expect(h.r.Capacity.Waiting(client.ObjectKeyFromObject(h.vp))).To(BeZero(),
		"given one slot of the three it asked for, it found the rest synced: it waits for no slot, nor holds back younger runs")
}

// TestPiTQueryTooManyPerGroupAsksAlone: a provider that answers only the first group of a PiT query and
// a TooMany of their own for the others (too many replicas to return) is asked for those groups one by
// one, as the API reference has clients do: their PiTs are found, nothing is counted or called.
func TestPiTQueryTooManyPerGroupAsksAlone(t *testing.T) {
	h := newRunHarness(t, 4, nil)
	earlier := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1), h.group(2), h.group(3)}, h.get().Spec.PitName)
	h.fake.Finish(earlier, h.clock.Now())
	var asked []int
	h.fake.PiTs = func(_ string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		h.mu.Lock()
		asked = append(asked, len(groups))
		h.mu.Unlock()
		var pits []sms.PointInTime
		refused := map[sms.GroupID]error{}
		for i, g := range groups {
			if i > 0 {
				refused[g] = &sms.TooManyError{}
				continue
			}
			pits = append(pits, sms.PointInTime{Group: g, ID: "pit-" + g.DeviceGroupID, Name: pitName, TimeStamp: h.clock.Now()})
		}
		if len(refused) > 0 {
			return pits, &sms.GroupQueryError{Groups: refused}
		}
		return pits, nil
	}
	h.reconcile()
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(BeEquivalentTo("Succeeded"), "groups: %+v", rs.Status.Groups)
	for i, gs := range rs.Status.Groups {
		h.g.Expect(gs.Attempts).To(BeZero())
		h.g.Expect(gs.PitID).To(Equal(fmt.Sprintf("pit-dg-%d", i)))
	}
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.mu.Lock()
	defer h.mu.Unlock()
	h.g.Expect(asked).To(Equal([]int{4, 1, 1, 1}))
}

// TestGoneOngoingTaskIsNotCalledInALoop: after an SMS restart the array still runs a sync that SMS
// forgot; each call meets SyncOngoing naming the forgotten task, whose query answers
// ManagedObjectNotFound. The calls back off instead of following each other as fast as the provider
// answers, and the run syncs once the array's sync ended.
func TestGoneOngoingTaskIsNotCalledInALoop(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	forgotten := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1)}, "someone-else")
	var arrayDone atomic.Bool
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		if !arrayDone.Load() {
			return "", &sms.SyncOngoingError{TaskRef: forgotten}
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.fake.Task = func(ref string) (sms.TaskInfo, error) { // only the forgotten task is asked for
		return sms.TaskInfo{}, &sms.OtherFaultError{Type: "ManagedObjectNotFound", Message: "no task " + ref}
	}
	h.runFor(2 * time.Minute)
	// Backoff 1 s doubling to 10 s: about 15 calls in two minutes, not one per reconcile.
	h.g.Expect(len(h.fake.Calls())).To(BeNumerically("<=", 20), "calls while the forgotten task ran")
	h.g.Expect(h.get().Status.Groups[0].Attempts).To(BeZero(), "someone else's task is no failure of ours")

	arrayDone.Store(true)
	h.fake.Task = nil
	h.runFor(time.Minute)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(BeEquivalentTo("Succeeded"))
}

// TestScheduledRunMeetingAnEarlierRunsPiT: a run a schedule made for 12:00 finds a PiT of its name from
// 07:00 (its schedule moved to another time zone and rendered an earlier run's name; that run is gone).
// The PiT is not taken as this run's and no second PiT of the name is made: the group fails saying
// why. A PiT stamped a little before the scheduled time (the array's clock behind) is the run's own.
func TestScheduledRunMeetingAnEarlierRunsPiT(t *testing.T) {
	for name, c := range map[string]struct {
		age  time.Duration
		want replicationv1alpha1.GroupState
	}{
		"made five hours before":  {5 * time.Hour, replicationv1alpha1.GroupFailed},
		"a clock a minute behind": {time.Minute, replicationv1alpha1.GroupSynced},
	} {
		t.Run(name, func(t *testing.T) {
			due := time.Now().Truncate(time.Second)
			h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
				madeBySchedule(NewWithT(t), rs, due)
			})
			earlier := h.fake.CreateTask([]sms.GroupID{h.group(0)}, h.get().Spec.PitName)
			h.fake.Finish(earlier, due.Add(-c.age))
			h.runFor(time.Minute)
			rs := h.get()
			h.g.Expect(rs.Status.Groups[0].State).To(Equal(c.want))
			h.g.Expect(h.fake.Calls()).To(BeEmpty())
			if c.want == replicationv1alpha1.GroupFailed {
				h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
				h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("before this run was scheduled"))
				h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("PiTNameTaken")))
			}
		})
	}
}

// TestScheduledRunsLastLookIgnoresAnEarlierRunsPiT: a schedule's run whose group could not be checked
// before its deadline takes a last look for PiTs when the deadline passes; a PiT of its name from
// before it was scheduled (an earlier run's) does not make the group Synced there either.
func TestScheduledRunsLastLookIgnoresAnEarlierRunsPiT(t *testing.T) {
	due := time.Now().Truncate(time.Second)
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		madeBySchedule(NewWithT(t), rs, due)
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
		rs.Spec.BackoffLimit = ptr.To[int32](20)
	})
	deadline := h.get().CreationTimestamp.Add(time.Minute)
	h.fake.PiTs = func(_ string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		if h.clock.Now().Before(deadline) { // every check before the deadline
			return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{groups[0]: &sms.OtherFaultError{Type: "SystemError", Message: "journal offline"}}}
		}
		return []sms.PointInTime{{Group: groups[0], ID: "pit-old", Name: pitName, TimeStamp: due.Add(-5 * time.Hour)}}, nil
	}
	h.runFor(2 * time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(rs.Status.Groups[0].PitID).To(BeEmpty())
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
}

// TestScheduledRunFindsItsOwnPiTOnASlowClock: a schedule's run whose task can never be read finds the
// group's PiT stamped 6 minutes before the scheduled time by an array whose clock is behind. The group was
// checked before its call, so the PiT is the call's: Synced, as the task's answer would have made it.
func TestScheduledRunFindsItsOwnPiTOnASlowClock(t *testing.T) {
	due := time.Now().Truncate(time.Second)
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		madeBySchedule(NewWithT(t), rs, due)
		rs.Spec.BackoffLimit = ptr.To[int32](0)
	})
	h.reconcile()
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupSyncing)))
	h.fake.Finish(h.fake.Calls()[0].Task, due.Add(-6*time.Minute)) // stamped by the array's clock
	h.fake.Task = func(string) (sms.TaskInfo, error) {
		return sms.TaskInfo{}, &sms.OtherFaultError{Type: "InvalidState", Message: "task store corrupt"}
	}
	h.runFor(time.Hour)
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced), rs.Status.Groups[0].Message)
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
}

// TestInDoubtGroupMeetingAPiTFromBeforeItsRunSaysItMayBeItsOwn: a schedule's run whose call got no
// answer finds the group's PiT stamped 6 minutes before the scheduled time: an earlier run's, or its own
// on an array whose clock is behind; nothing tells which. The group fails without a second call, and its
// message does not claim that no PiT was made.
func TestInDoubtGroupMeetingAPiTFromBeforeItsRunSaysItMayBeItsOwn(t *testing.T) {
	due := time.Now().Truncate(time.Second)
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		shortWindow(vp, rs)
		madeBySchedule(NewWithT(t), rs, due)
	})
	answerOnce(h.fake, timeoutErr)
	h.reconcile()
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupIssuing)))
	h.fake.FinishAll(due.Add(-6 * time.Minute)) // stamped by the array's clock
	h.runFor(2 * window)
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(And(ContainSubstring("or this run's own"), Not(ContainSubstring("No PiT was made"))))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
}

// TestPreClaimedGroupMeetingAnEarlierRunsPiT: a schedule's run of more batches than slots pre-claims its
// next batch (Issuing, never checked nor called); an earlier run's PiT of its name for that batch's group
// fails the group, as for a group checked Pending. Taken as this run's, it would report a recovery point
// that was not made.
func TestPreClaimedGroupMeetingAnEarlierRunsPiT(t *testing.T) {
	due := time.Now().Truncate(time.Second)
	h := newRunHarness(t, 2, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 1
		madeBySchedule(NewWithT(t), rs, due)
	})
	earlier := h.fake.CreateTask([]sms.GroupID{h.group(1)}, h.get().Spec.PitName)
	h.fake.Finish(earlier, due.Add(-5*time.Hour))
	h.reconcile()
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced))
	h.g.Expect(rs.Status.Groups[1].State).To(Equal(replicationv1alpha1.GroupFailed), rs.Status.Groups[1].Message)
	h.g.Expect(rs.Status.Groups[1].Message).To(ContainSubstring("before this run was scheduled"))
	h.g.Expect(h.fake.CallsOf(h.group(1))).To(BeZero())
}
