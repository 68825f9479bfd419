package controllers

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
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
