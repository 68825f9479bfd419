package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/utils/ptr"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// TestScheduleEditMissesNothing: editing "0 * * * *" to "*/5 * * * *" at :31 does not count the new
// schedule's :05 to :25 as missed (they were never meant to run); runs missed after the edit still count.
func TestScheduleEditMissesNothing(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("edited", nil)
	hour := h.nextRuns(1)[0]
	missedBefore := testutil.ToFloat64(metrics.ScheduleMissedRunsTotal.WithLabelValues(h.ns, "edited"))

	h.reconcileAt(hour.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, hour.Add(2*time.Minute))
	h.reconcileAt(hour.Add(3 * time.Minute))
	h.events()

	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "*/5 * * * *" })
	edit := hour.Add(31 * time.Minute)
	h.reconcileAt(edit)
	s := h.get()
	g.Expect(s.Status.MissedRuns).To(BeZero())
	g.Expect(s.Status.LastMissedTime).To(BeNil())
	g.Expect(s.Status.ScheduleChangeTime).To(HaveField("Time", BeTemporally("==", edit)))
	g.Expect(h.events()).NotTo(ContainElement(ContainSubstring(replicationv1alpha1.MissedScheduleReason)))
	g.Expect(testutil.ToFloat64(metrics.ScheduleMissedRunsTotal.WithLabelValues(h.ns, "edited")) - missedBefore).To(BeZero())
	// As for a CronJob, the latest time due still starts.
	g.Expect(h.runs()[len(h.runs())-1].Name).To(Equal(runName("edited", hour.Add(30*time.Minute))))

	// Reconciled again: still nothing missed.
	h.reconcileAt(edit.Add(time.Second))
	g.Expect(h.get().Status.MissedRuns).To(BeZero())

	// After the edit, missing runs counts again: :35 and :40 are overtaken by :45.
	h.finish(h.runs()[len(h.runs())-1], replicationv1alpha1.SyncSucceeded, edit.Add(time.Minute))
	h.reconcileAt(hour.Add(46 * time.Minute))
	s = h.get()
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(2))
	g.Expect(s.Status.LastMissedTime).To(HaveField("Time", BeTemporally("==", hour.Add(40*time.Minute))))
	g.Expect(testutil.ToFloat64(metrics.ScheduleMissedRunsTotal.WithLabelValues(h.ns, "edited")) - missedBefore).To(BeEquivalentTo(2))
}

// TestEveryEditCountsMissedRunsOnItsGrid: edited to "@every 10m" 10 s after a run, and reconciled again
// only 65 minutes later, the schedule counts the runs it missed at their scheduled times (on the grid from
// the last run), not 10 s after them.
func TestEveryEditCountsMissedRunsOnItsGrid(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("every", func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "@every 1h" })
	tick := h.nextRuns(1)[0]
	h.reconcileAt(tick.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, tick.Add(2*time.Second))

	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "@every 10m" })
	h.reconcileAt(tick.Add(10 * time.Second))
	g.Expect(h.get().Status.ScheduleChangeTime).NotTo(BeNil())
	h.reconcileAt(tick.Add(65 * time.Minute))
	s := h.get()
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(5), "+10m to +50m, overtaken by +60m")
	g.Expect(s.Status.LastMissedTime).To(HaveField("Time", BeTemporally("==", tick.Add(50*time.Minute))))
	g.Expect(h.runs()[len(h.runs())-1].Name).To(Equal(runName("every", tick.Add(time.Hour))))
}

// TestOtherEditsKeepMissedRuns: an edit that leaves the schedule as it was (a history limit), seen after
// the operator was down for three hours, leaves the runs missed meanwhile counted.
func TestOtherEditsKeepMissedRuns(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("other", nil)
	hour := h.nextRuns(1)[0]
	h.reconcileAt(hour.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, hour.Add(2*time.Minute))
	h.reconcileAt(hour.Add(3 * time.Minute))

	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.SuccessfulHistoryLimit = ptr.To[int32](5) })
	h.reconcileAt(hour.Add(3*time.Hour + time.Minute))
	s := h.get()
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(2), "the runs at +1h and +2h were overtaken")
	g.Expect(s.Status.ScheduleChangeTime).To(BeNil())
}
