package controllers

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// A group Waiting for someone else's long task has no claim of ours to count the task's age from. Its
// age counts from when this process first saw it, so its queries back off and follow its progress like
// those of our tasks: a few to find its pace, then pollMax apart at most, not every pollInitial.
func TestWaitingOnALongForeignTaskIsPolledBoundedly(t *testing.T) {
	const span = 5 * time.Minute
	tests := map[string]struct {
		progress func(elapsed time.Duration) int32
	}{
		// A 40-min task started 10 min before we saw it: a percent every 24 s.
		"running":       {func(elapsed time.Duration) int32 { return 25 + int32(elapsed/(24*time.Second)) }},
		"queued at 0 %": {func(time.Duration) int32 { return 0 }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 1, nil)
			foreign := h.fake.CreateTask([]sms.GroupID{h.group(0)}, "someone-else")
			var ended atomic.Bool
			h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
				if !ended.Load() {
					return "", &sms.SyncOngoingError{TaskRef: foreign}
				}
				return h.fake.CreateTask(c.Groups, c.PitName), nil
			}
			seen := h.clock.Now()
			var queries atomic.Int32
			h.fake.Task = func(ref string) (sms.TaskInfo, error) {
				h.g.Expect(ref).To(Equal(foreign))
				queries.Add(1)
				return sms.TaskInfo{Ref: ref, State: sms.TaskRunning, Progress: tt.progress(h.clock.Now().Sub(seen))}, nil
			}
			h.runFor(span)
			h.g.Expect(h.states()).To(Equal([]replicationv1alpha1.GroupState{replicationv1alpha1.GroupWaiting}))
			// Doubling from pollInitial reaches pollMax within 7 queries; then one per pollMax.
			h.g.Expect(int(queries.Load())).To(BeNumerically("<=", int(span/DefaultPollMax)+10),
				"a foreign task is queried like ours, not every pollInitial")

			// Its age counts from when we saw it, not from its start: it teaches no task duration.
			h.fake.Task = nil
			h.fake.Finish(foreign, h.clock.Now())
			ended.Store(true)
			h.runFor(time.Minute)
			h.g.Expect(h.fake.Calls()).To(HaveLen(2), "ours is issued after the foreign task ended")
			h.g.Expect(h.r.Capacity.TaskDuration(client.ObjectKeyFromObject(h.vp))).To(BeZero())
		})
	}
}

// TestTaskTimingIsPerProvider: task refs are per vCenter, so what is known of a task is kept by
// provider and ref; and a claim from a clock that ran ahead counts from now, not from the future.
func TestTaskTimingIsPerProvider(t *testing.T) {
	g := NewWithT(t)
	r := &ReplicationSyncReconciler{}
	rs := testSync(1)
	now := time.Now()
	a := &syncRun{rs: rs, now: now, key: types.NamespacedName{Namespace: "ns", Name: "vcenter-a"}}
	b := &syncRun{rs: rs, now: now, key: types.NamespacedName{Namespace: "ns", Name: "vcenter-b"}}
	r.keepTiming(a, "SmsTask-5", taskTiming{issued: now.Add(-time.Minute), due: now.Add(time.Hour)})
	g.Expect(r.timingOf(b, "SmsTask-5", []int{0}).due).To(BeZero(), "another vCenter's task of the same name")
	r.forgetTiming(b, "SmsTask-5")
	g.Expect(r.timingOf(a, "SmsTask-5", []int{0}).due).To(Equal(now.Add(time.Hour)))

	ahead := metav1.NewMicroTime(now.Add(time.Hour))
	rs.Status.Groups[0].ClaimTime = &ahead
	g.Expect(r.timingOf(b, "SmsTask-5", []int{0}).issued).To(Equal(now))
}

// TestInheritedTaskTeachesNoDurationFromItsClaim: a task issued by an earlier process counts from its
// claim, which may predate a manager's outage; without the provider's own times it teaches no duration
// (it would widen the in-doubt window and skew the polls of every later task).
func TestInheritedTaskTeachesNoDurationFromItsClaim(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.newProcess()
	h.clock.Step(10 * time.Minute) // the manager was down
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.r.Capacity.TaskDuration(client.ObjectKeyFromObject(h.vp))).To(BeZero())
	h.g.Expect(h.r.Capacity.TypicalTaskDuration(client.ObjectKeyFromObject(h.vp))).To(BeZero())
}

// TestDeletedRunForgetsItsTaskTimings: a run deleted while its tasks run never sees them end, so what
// it cached about them goes with it; what another run cached stays.
func TestDeletedRunForgetsItsTaskTimings(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	other := &syncRun{rs: testSync(1), key: client.ObjectKeyFromObject(h.vp)}
	other.rs.Name = "other"
	h.r.keepTiming(other, "SmsTask-other", taskTiming{issued: h.clock.Now()})
	timings := func() (n int) {
		h.r.pollDue.Range(func(any, any) bool { n++; return true })
		return n
	}
	h.g.Expect(timings()).To(Equal(2))

	h.g.Expect(k8sClient.Delete(h.ctx, h.get())).To(Succeed())
	h.g.Eventually(func() error { return h.r.Get(h.ctx, h.key, &replicationv1alpha1.ReplicationSync{}) }).Should(MatchError(ContainSubstring("not found")))
	h.reconcile()
	h.g.Expect(timings()).To(Equal(1))
	_, kept := h.r.pollDue.Load(taskKey{other.key, "SmsTask-other"})
	h.g.Expect(kept).To(BeTrue())
}
