package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
)

// TestScheduledRunTTLWaitsForTheScheduleToRecordSuccess: a succeeded run of a schedule with
// ttlSecondsAfterFinished 0 is not deleted before the schedule has recorded its success, so
// lastSuccessfulTime (and the RPO alert) cannot miss it; a failed run, or a success the schedule never
// records within scheduleSuccessHoldMax, is deleted on its TTL as before.
func TestScheduledRunTTLWaitsForTheScheduleToRecordSuccess(t *testing.T) {
	tests := map[string]struct {
		phase replicationv1alpha1.SyncPhase
		// scheduleSees: the schedule reconciles after the run finished.
		scheduleSees bool
		// after is how long after completion the run's reconcile happens.
		after    time.Duration
		wantKept bool
	}{
		"succeeded, schedule not caught up: kept":                       {phase: replicationv1alpha1.SyncSucceeded, after: time.Second, wantKept: true},
		"succeeded, schedule caught up: deleted":                        {phase: replicationv1alpha1.SyncSucceeded, scheduleSees: true, after: time.Second},
		"failed: deleted":                                               {phase: replicationv1alpha1.SyncFailed, after: time.Second},
		"succeeded, schedule never catches up: deleted after the bound": {phase: replicationv1alpha1.SyncSucceeded, after: scheduleSuccessHoldMax + time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("fast-ttl", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
			})
			times := h.nextRuns(1)
			h.reconcileAt(times[0].Add(time.Second))
			g.Expect(h.runs()).To(HaveLen(1))
			completed := times[0].Add(2 * time.Minute)
			h.finish(h.runs()[0], tc.phase, completed)
			if tc.scheduleSees {
				h.reconcileAt(completed.Add(time.Second))
				g.Expect(h.get().Status.LastSuccessfulTime).NotTo(BeNil())
			}

			run := h.runs()[0]
			r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Capacity: capacity.New()}
			res, err := r.advance(h.ctx, &syncRun{rs: &run, now: completed.Add(tc.after)})
			g.Expect(err).NotTo(HaveOccurred())
			gone := apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(&run), &replicationv1alpha1.ReplicationSync{}))
			if tc.wantKept {
				g.Expect(gone).To(BeFalse(), "kept until the schedule records the success")
				g.Expect(res.RequeueAfter).To(Equal(scheduleSuccessHoldPoll))

				// The schedule records it; the next look deletes the run, and the success stays recorded.
				h.reconcileAt(completed.Add(3 * time.Second))
				g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", completed)))
				_, err = r.advance(h.ctx, &syncRun{rs: &run, now: completed.Add(4 * time.Second)})
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(&run), &replicationv1alpha1.ReplicationSync{}))).To(BeTrue())
		})
	}
}
