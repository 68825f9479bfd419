package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// setScheduleInterval exports the interval the RPO alert divides by while next is the next scheduled
// time: the gap the next run closes or the one before it, whichever is larger, never the gap after it
// (with "0 8,9 * * *" that would be 1h all night and page by 11:00).
func setScheduleInterval(sched *replicationv1alpha1.ReplicationSyncSchedule, schedule *cronschedule.Schedule, next time.Time) {
	if gap := schedule.RPOInterval(next); gap > 0 {
		metrics.ScheduleIntervalSeconds.WithLabelValues(sched.Namespace, sched.Name).Set(gap.Seconds())
	}
}

// setScheduleReadyMetric exports the Ready condition as stored, so that a schedule that cannot parse
// its cron expression (and so has no interval for the RPO alert) or whose runs are rejected alerts too.
func setScheduleReadyMetric(sched *replicationv1alpha1.ReplicationSyncSchedule) {
	ready := 0.0
	if meta.IsStatusConditionTrue(sched.Status.Conditions, replicationv1alpha1.ReadyCondition) {
		ready = 1
	}
	metrics.ScheduleReady.WithLabelValues(sched.Namespace, sched.Name).Set(ready)
}

// forgetScheduleMetrics drops the series of a deleted schedule.
func forgetScheduleMetrics(namespace, name string) {
	metrics.ScheduleLastSuccessTimestampSeconds.DeleteLabelValues(namespace, name)
	metrics.ScheduleIntervalSeconds.DeleteLabelValues(namespace, name)
	metrics.ScheduleMissedRunsTotal.DeleteLabelValues(namespace, name)
	metrics.ScheduleReady.DeleteLabelValues(namespace, name)
}
