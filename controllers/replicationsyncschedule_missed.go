package controllers

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// missedRuns describes the runs a reconcile found were not started.
type missedRuns struct {
	// count of missed runs (estimated only past many thousands), the latest at last.
	count int
	last  time.Time
	// superseded of them were overtaken by a later scheduled time.
	superseded int
	// tooMany: more than cronschedule.MaxMissed, counted without being listed.
	tooMany bool
	// deadline is startingDeadlineSeconds when the most recent run missed it, else nil.
	deadline *int64
	// unnamed is why the most recent run got no usable PiT name, when that is why it was skipped.
	unnamed error
}

func (m missedRuns) message() string {
	var causes []string
	if m.superseded > 0 {
		causes = append(causes, "overtaken by a later scheduled time (the operator was down, the schedule suspended, or concurrencyPolicy Forbid held it back)")
	}
	if m.unnamed != nil {
		causes = append(causes, "skipped without a usable PiT name: "+m.unnamed.Error())
	}
	if m.deadline != nil {
		causes = append(causes, fmt.Sprintf("not started within startingDeadlineSeconds (%ds)", *m.deadline))
	}
	last := m.last.Format(time.RFC3339)
	if m.tooMany {
		return fmt.Sprintf("More than %d runs were missed (%d), the latest scheduled for %s. Check the operator's downtime and clock, or set startingDeadlineSeconds; %s",
			cronschedule.MaxMissed, m.count, last, strings.Join(causes, "; "))
	}
	return fmt.Sprintf("%d run(s) missed, the latest scheduled for %s: %s", m.count, last, strings.Join(causes, "; "))
}

// recordMissed adds missed runs to status; the Warning event and the counter follow once the
// status is stored, so a retried reconcile never reports them twice.
func (r *ReplicationSyncScheduleReconciler) recordMissed(ctx context.Context, s *scheduleScope, m missedRuns) {
	sched, st := s.sched, &s.sched.Status
	st.MissedRuns = int32(min(int64(st.MissedRuns)+int64(m.count), math.MaxInt32))
	st.LastMissedTime = &metav1.Time{Time: m.last}
	msg := m.message()
	ctrl.LoggerFrom(ctx).Info("Runs missed", "schedule", klog.KObj(sched), "missed", m.count, "lastMissed", m.last, "tooMany", m.tooMany)
	s.afterPatch = append(s.afterPatch, func() {
		metrics.ScheduleMissedRunsTotal.WithLabelValues(sched.Namespace, sched.Name).Add(float64(m.count))
		r.Recorder.Eventf(sched, nil, corev1.EventTypeWarning, replicationv1alpha1.MissedScheduleReason, "Schedule", "%s", msg)
	})
}

// observeSchedule records the schedule and timeZone the status describes, and when they changed: only
// such a change makes runs due before it not missed (other edits, suspending and resuming leave the runs
// missed while the operator was down counted).
func observeSchedule(sched *replicationv1alpha1.ReplicationSyncSchedule, now time.Time) {
	current := sched.Spec.Schedule + " " + ptr.Deref(sched.Spec.TimeZone, "")
	if was := sched.Status.ObservedSchedule; was != "" && was != current {
		sched.Status.ScheduleChangeTime = &metav1.Time{Time: now}
	}
	sched.Status.ObservedSchedule = current
}
