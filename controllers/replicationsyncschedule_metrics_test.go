package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// rpoMissed evaluates the ReplicationSyncScheduleRPOMissed alert's expression at now:
// (time() - vasa_sync_schedule_last_success_timestamp_seconds) / vasa_sync_schedule_interval_seconds > 2.
func rpoMissed(g *WithT, ns, name string, now time.Time) bool {
	last := testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(ns, name))
	interval := testutil.ToFloat64(metrics.ScheduleIntervalSeconds.WithLabelValues(ns, name))
	g.Expect(interval).To(BeNumerically(">", 0), "the schedule reports its interval")
	return (float64(now.Unix())-last)/interval > 2
}

// TestScheduleRPOMissedWithoutAnySuccess: a schedule whose runs never succeed counts from its creation,
// so its RPO alert fires two intervals after that instead of never.
func TestScheduleRPOMissedWithoutAnySuccess(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	created := h.create("never-ok", nil).CreationTimestamp.Time
	times := h.nextRuns(3)

	h.reconcileAt(times[0].Add(5 * time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	h.finish(h.runs()[0], replicationv1alpha1.SyncFailed, times[0].Add(time.Minute))
	h.reconcileAt(times[0].Add(2 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(BeNil())
	g.Expect(testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "never-ok"))).
		To(BeEquivalentTo(created.Unix()))
	g.Expect(rpoMissed(g, h.ns, "never-ok", created.Add(2*time.Hour-time.Minute))).To(BeFalse(), "within two intervals of its creation")
	g.Expect(rpoMissed(g, h.ns, "never-ok", created.Add(2*time.Hour+time.Minute))).To(BeTrue(), "two intervals without any success")

	// The first success replaces the creation time.
	h.reconcileAt(times[1].Add(5 * time.Second))
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	completed := times[1].Add(3 * time.Minute)
	h.finish(runs[1], replicationv1alpha1.SyncSucceeded, completed)
	h.reconcileAt(completed.Add(time.Second))
	g.Expect(testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "never-ok"))).
		To(BeEquivalentTo(completed.Unix()))
	g.Expect(rpoMissed(g, h.ns, "never-ok", created.Add(2*time.Hour+time.Minute))).To(BeFalse())
}
