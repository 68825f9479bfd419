package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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

// exported reads a schedule's series of a gauge vector without creating it; nil when it is not exported.
func exported(vec *prometheus.GaugeVec, ns, name string) *float64 {
	ch := make(chan prometheus.Metric, 1000)
	vec.Collect(ch)
	close(ch)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range pb.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels[metrics.LabelNamespace] == ns && labels[metrics.LabelSchedule] == name {
			return ptr.To(pb.GetGauge().GetValue())
		}
	}
	return nil
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

// TestManualRunCountsForTheRPO: a run made by hand from the template (owned by the schedule, not
// controlled, as `kubectl vasa sync --from-schedule` and the Argo CD action make it) that succeeded is a
// recovery point: lastSuccessfulTime and the RPO metric follow it. A run that only carries the label does
// not count.
func TestManualRunCountsForTheRPO(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	sched := h.create("manual-ok", nil)
	times := h.nextRuns(1)
	manual := func(name string, owned bool) replicationv1alpha1.ReplicationSync {
		return h.manualRun(sched, name, name, owned)
	}
	labelled := manual("labelled-only", false)
	h.finish(labelled, replicationv1alpha1.SyncSucceeded, times[0].Add(-30*time.Minute))
	h.reconcileAt(times[0].Add(-29 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(BeNil(), "a label alone does not tie a run to this schedule")

	owned := manual("owned", true)
	h.finish(owned, replicationv1alpha1.SyncSucceeded, times[0].Add(-20*time.Minute))
	h.reconcileAt(times[0].Add(-19 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", times[0].Add(-20*time.Minute))))
	g.Expect(testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "manual-ok"))).
		To(BeEquivalentTo(times[0].Add(-20 * time.Minute).Unix()))
	g.Expect(h.get().Status.Active).To(BeEmpty(), "a manual run is not the schedule's active run")

	// Shares of one manual run (kubectl vasa sync --from-schedule --split) count once all succeeded.
	var shares []replicationv1alpha1.ReplicationSync
	for n := 1; n <= 2; n++ {
		share := manual(fmt.Sprintf("shared-%d", n), true)
		share.Labels[replicationv1alpha1.SyncSetLabel] = "shared"
		share.Annotations = map[string]string{replicationv1alpha1.ShareAnnotation: fmt.Sprintf("%d/2", n)}
		g.Expect(k8sClient.Update(h.ctx, &share)).To(Succeed())
		shares = append(shares, share)
	}
	h.finish(shares[0], replicationv1alpha1.SyncSucceeded, times[0].Add(-10*time.Minute))
	h.reconcileAt(times[0].Add(-9 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", times[0].Add(-20*time.Minute))), "one share is not the run")
	h.finish(shares[1], replicationv1alpha1.SyncSucceeded, times[0].Add(-5*time.Minute))
	h.reconcileAt(times[0].Add(-4 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", times[0].Add(-5*time.Minute))))
}

// TestRPOCountsFromTheRecoveryPoint: the RPO metric counts from a succeeded run's oldest PiT, not from its
// end: a run that took hours recovers to its first group's PiT; a later run by hand that found only old
// PiTs makes no newer recovery point; a PiT stamped after its run ended (an array's clock ahead) counts
// as the run's end; a run whose provider reported no times recovers to its start.
func TestRPOCountsFromTheRecoveryPoint(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	sched := h.create("recovery", nil)
	t0 := h.nextRuns(1)[0].Add(-12 * time.Hour)
	metric := func() float64 {
		return testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "recovery"))
	}
	succeed := func(name string, started, done time.Time, pits ...time.Time) {
		run := h.manualRun(sched, name, name, true)
		run.Status.StartTime = &metav1.Time{Time: started}
		for i, p := range pits {
			run.Status.Groups = append(run.Status.Groups, replicationv1alpha1.GroupStatus{
				ReplicationGroupID: replicationv1alpha1.ReplicationGroupID{
					FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: fmt.Sprintf("dg-%d", i)}},
				State: replicationv1alpha1.GroupSynced, PitName: name, TimeStamp: &metav1.Time{Time: p}})
		}
		h.finish(run, replicationv1alpha1.SyncSucceeded, done)
		h.reconcileAt(done.Add(time.Minute))
	}

	succeed("long", t0, t0.Add(3*time.Hour), t0.Add(time.Minute), t0.Add(170*time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", t0.Add(3*time.Hour))))
	g.Expect(h.get().Status.LastRecoveryPointTime).To(HaveField("Time", BeTemporally("==", t0.Add(time.Minute))))
	g.Expect(metric()).To(BeEquivalentTo(t0.Add(time.Minute).Unix()))

	succeed("old-pits", t0.Add(4*time.Hour), t0.Add(4*time.Hour+time.Minute), t0.Add(-24*time.Hour))
	g.Expect(h.get().Status.LastSuccessfulTime).To(HaveField("Time", BeTemporally("==", t0.Add(4*time.Hour+time.Minute))))
	g.Expect(metric()).To(BeEquivalentTo(t0.Add(time.Minute).Unix()), "old PiTs are no newer recovery point")

	succeed("clock-ahead", t0.Add(5*time.Hour), t0.Add(5*time.Hour+time.Minute), t0.Add(7*time.Hour))
	g.Expect(metric()).To(BeEquivalentTo(t0.Add(5*time.Hour + time.Minute).Unix()))

	succeed("no-times", t0.Add(6*time.Hour), t0.Add(7*time.Hour))
	g.Expect(metric()).To(BeEquivalentTo(t0.Add(6 * time.Hour).Unix()))

	// An array's clock two minutes behind stamps the run's PiT before the run started: its start.
	succeed("clock-behind", t0.Add(8*time.Hour), t0.Add(8*time.Hour+time.Minute), t0.Add(8*time.Hour-2*time.Minute))
	g.Expect(metric()).To(BeEquivalentTo(t0.Add(8 * time.Hour).Unix()))
}

// TestRecoveryPointAfterAnUpgrade: a schedule that recorded a success but no recovery point (an older
// operator) keeps counting from that success while the only succeeded run it still has is months older
// (a run by hand that no history limit deletes); its next success sets the recovery point.
func TestRecoveryPointAfterAnUpgrade(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	sched := h.create("upgraded", nil)
	now := h.nextRuns(1)[0].Add(-time.Hour)
	metric := func() float64 {
		return testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "upgraded"))
	}
	old := h.manualRun(sched, "months-old", "months-old", true)
	old.Status.StartTime = &metav1.Time{Time: now.Add(-90 * 24 * time.Hour)}
	h.finish(old, replicationv1alpha1.SyncSucceeded, now.Add(-90*24*time.Hour+time.Minute))
	s := h.get()
	s.Status.LastSuccessfulTime = &metav1.Time{Time: now.Add(-30 * time.Minute)}
	g.Expect(k8sClient.Status().Update(h.ctx, s)).To(Succeed())

	h.reconcileAt(now)
	g.Expect(h.get().Status.LastRecoveryPointTime).To(BeNil())
	g.Expect(metric()).To(BeEquivalentTo(now.Add(-30 * time.Minute).Unix()))

	next := h.manualRun(sched, "after", "after", true)
	next.Status.StartTime = &metav1.Time{Time: now.Add(time.Minute)}
	h.finish(next, replicationv1alpha1.SyncSucceeded, now.Add(2*time.Minute))
	h.reconcileAt(now.Add(3 * time.Minute))
	g.Expect(h.get().Status.LastRecoveryPointTime).To(HaveField("Time", BeTemporally("==", now.Add(time.Minute))))
	g.Expect(metric()).To(BeEquivalentTo(now.Add(time.Minute).Unix()))
}

// TestScheduleRPOIntervalIsTheGapBeingClosed: with runs at 08:00 and 09:00, the night after the 09:00
// run is a 23-hour gap. The interval says so, so the RPO alert does not fire at 11:00, nor at 08:30
// while the 08:00 run still runs; it fires once two such gaps pass without a success.
func TestScheduleRPOIntervalIsTheGapBeingClosed(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("office", func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "0 8,9 * * *" })
	times := h.nextRuns(4)
	i := 0
	for times[i].Hour() != 9 {
		i++
	}
	nine, eight := times[i], times[i+1]
	g.Expect(eight.Sub(nine)).To(Equal(23 * time.Hour))

	h.reconcileAt(nine.Add(time.Second))
	runs := h.runs()
	g.Expect(runs).To(HaveLen(1))
	h.finish(runs[0], replicationv1alpha1.SyncSucceeded, nine.Add(2*time.Minute))
	h.reconcileAt(nine.Add(3 * time.Minute))
	g.Expect(testutil.ToFloat64(metrics.ScheduleIntervalSeconds.WithLabelValues(h.ns, "office"))).To(BeEquivalentTo(23 * 3600))
	g.Expect(rpoMissed(g, h.ns, "office", nine.Add(3*time.Hour))).To(BeFalse(), "the next run is at 08:00 tomorrow")

	// 08:00: the run starts and is still running half an hour later.
	h.reconcileAt(eight.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(2))
	g.Expect(testutil.ToFloat64(metrics.ScheduleIntervalSeconds.WithLabelValues(h.ns, "office"))).To(BeEquivalentTo(23*3600), "the 08:00 run closes the 23-hour gap")
	g.Expect(rpoMissed(g, h.ns, "office", eight.Add(30*time.Minute))).To(BeFalse())
	g.Expect(rpoMissed(g, h.ns, "office", nine.Add(47*time.Hour))).To(BeTrue(), "two gaps without a success")
}

// TestScheduleRPOAlertCoversStalledAndSuspended: a schedule whose cron expression parses exports its
// interval even when its template is invalid or it is suspended, so its RPO alert fires two intervals
// after the last success. A schedule whose expression does not parse has no interval; its Ready gauge
// drops to 0 instead, and returns to 1 once the spec is fixed.
func TestScheduleRPOAlertCoversStalledAndSuspended(t *testing.T) {
	tests := map[string]struct {
		mutate       func(*replicationv1alpha1.ReplicationSyncSchedule)
		wantInterval bool
		wantReady    float64
	}{
		"suspended": {
			mutate:       func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Suspend = ptr.To(true) },
			wantInterval: true, wantReady: 1,
		},
		"stalled: invalid template": {
			mutate:       func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Template.PitNameTemplate = "nightly" },
			wantInterval: true, wantReady: 0,
		},
		"stalled: invalid schedule": {
			mutate:    func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "5-1 * * * *" },
			wantReady: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			created := h.create("quiet", tc.mutate).CreationTimestamp.Time
			h.reconcileAt(created.Add(time.Minute))
			g.Expect(h.runs()).To(BeEmpty())
			g.Expect(exported(metrics.ScheduleReady, h.ns, "quiet")).To(HaveValue(Equal(tc.wantReady)))
			if tc.wantInterval {
				g.Expect(rpoMissed(g, h.ns, "quiet", created.Add(2*time.Hour+time.Minute))).To(BeTrue())
			} else {
				g.Expect(metrics.ScheduleIntervalSeconds.DeleteLabelValues(h.ns, "quiet")).To(BeFalse(), "no interval without a parsable schedule")
			}

			h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = "0 * * * *"
				s.Spec.Template.PitNameTemplate = ""
				s.Spec.Suspend = nil
			})
			h.reconcileAt(created.Add(2 * time.Minute))
			g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "quiet"))).To(Equal(1.0))
			g.Expect(testutil.ToFloat64(metrics.ScheduleIntervalSeconds.WithLabelValues(h.ns, "quiet"))).To(Equal(3600.0))

			// Edited to an expression that does not parse: the old interval goes too.
			h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "5-1 * * * *" })
			h.reconcileAt(created.Add(3 * time.Minute))
			g.Expect(exported(metrics.ScheduleIntervalSeconds, h.ns, "quiet")).To(BeNil())
		})
	}
}
