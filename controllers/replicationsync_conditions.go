package controllers

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// What a Running run says about itself (conditions) and when it runs next.

const (
	// idleWake is the longest a run with work left sleeps: every unfinished group has a next action.
	idleWake = time.Minute
	// capacityWake is the longest a run waiting in line for a slot sleeps; a freed slot wakes it first.
	// The ledger keeps a waiter's place while it asks again within that.
	capacityWake = capacity.MaxAskInterval
)

// markRunning sets the Reconciling reason of a run with work left, and Stalled when it has made no
// progress for progressDeadlineSeconds (it keeps trying).
func (r *ReplicationSyncReconciler) markRunning(run *syncRun) {
	rs := run.rs
	counts := map[replicationv1alpha1.GroupState]int{}
	for _, g := range rs.Status.Groups {
		counts[g.State]++
	}
	// The reason depends on what the run holds, not on the step that wrote it: a wave's commit and the
	// reconcile after it (which finds the slots full) must say the same, or every wave costs a second
	// write that only flips the reason.
	reason := replicationv1alpha1.WaitingForTaskReason
	unanswered := counts[replicationv1alpha1.GroupIssuing] - len(r.armedIndexes(rs, run.preclaimed))
	inLine := run.waitingForCapacity && counts[replicationv1alpha1.GroupSyncing] == 0
	switch {
	case unanswered > 0 && len(run.wave) == 0:
		reason = replicationv1alpha1.InDoubtReason
	case unanswered > 0:
		reason = replicationv1alpha1.SubmittingReason
	case inLine:
		reason = replicationv1alpha1.WaitingForProviderCapacityReason
	}
	updateSummary(rs)
	s := rs.Status.Summary
	msg := fmt.Sprintf("%d/%d groups synced, %d failed, %d syncing, %d waiting for another task, %d in doubt or being issued",
		s.Synced, s.Total, s.Failed, counts[replicationv1alpha1.GroupSyncing], counts[replicationv1alpha1.GroupWaiting], counts[replicationv1alpha1.GroupIssuing])
	if inLine {
		// No running count here: a changing message would rewrite the status of every waiting run.
		msg += fmt.Sprintf("; waiting in line for a free slot of VasaProvider %q (maxConcurrentTasks %d)", run.vp.Name, maxConcurrentTasks(run.vp))
		// A line that moves is no lack of progress: the fifth share of a tick waits for the first four.
		run.lineMoved = r.Capacity.LineMoved(run.key)
	}
	markInProgress(rs, reason, msg)
	r.checkProgress(run)
}

// markBackingOff says the run waits for status.retry.nextRetryTime.
func (r *ReplicationSyncReconciler) markBackingOff(run *syncRun) {
	retry := run.rs.Status.Retry
	msg := fmt.Sprintf("Last fault %s, %d in a row; next call at %s", retry.LastFault.Type, retry.Attempts, retry.NextRetryTime.UTC().Format(time.RFC3339))
	markInProgress(run.rs, replicationv1alpha1.BackingOffReason, msg)
	r.Capacity.StopWaiting(run.key, run.owner()) // asks for no slot until then: younger runs go first
	// Sent back as busy, between waits in line: judged alike, or its Stalled condition and
	// run_without_progress would flip with each step. Not after other faults (out of resource for its
	// own container, unreachable): other runs' tasks ending says nothing of those.
	if retry.LastFault != nil && retry.LastFault.Type == "ProviderBusy" {
		run.lineMoved = r.Capacity.LineMoved(run.key)
	}
	run.wakeAt(retry.NextRetryTime.Time)
	r.checkProgress(run)
}

// checkProgress turns Stalled on (reason ProgressDeadlineExceeded) for a run without progress for
// progressDeadlineSeconds, and exports it for the stuck-run alert.
func (r *ReplicationSyncReconciler) checkProgress(run *syncRun) {
	rs := run.rs
	idle, stuck := trackProgress(run)
	if !stuck {
		return
	}
	setSyncStalledCondition(rs, true, replicationv1alpha1.ProgressDeadlineExceededReason,
		fmt.Sprintf("No group synced or failed and no task started for %s (progressDeadlineSeconds %d); still trying. %s%sLast fault: %s",
			idle.Round(time.Second), progressDeadlineSeconds(rs), sentence(reconcilingMessage(rs)), sentence(tasksRunning(rs)), lastFaultText(rs)))
}

// reconcilingMessage is what the run's Reconciling condition says it works on, while it is True.
func reconcilingMessage(rs *replicationv1alpha1.ReplicationSync) string {
	if c := trueCondition(rs, replicationv1alpha1.ReconcilingCondition); c != nil {
		return c.Message
	}
	return ""
}

// trueCondition is the first of the run's conditions of types that is True and says something, or nil.
func trueCondition(rs *replicationv1alpha1.ReplicationSync, types ...string) *metav1.Condition {
	for _, t := range types {
		if c := meta.FindStatusCondition(rs.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue && c.Message != "" {
			return c
		}
	}
	return nil
}

// tasksRunning names the tasks a stuck run waits for, for a look at them in vCenter.
func tasksRunning(rs *replicationv1alpha1.ReplicationSync) string {
	tasks := slices.Sorted(maps.Keys(tasksOf(rs)))
	switch len(tasks) {
	case 0:
		return ""
	case 1:
		return "Waiting for SMS task " + tasks[0]
	}
	return fmt.Sprintf("Waiting for %d SMS tasks, %s and others", len(tasks), tasks[0])
}

// sentence ends a non-empty s with ". ".
func sentence(s string) string {
	if s == "" {
		return ""
	}
	return s + ". "
}

// trackProgress reports how long the run has gone without progress (since its start, or its creation if
// it never started; for a run waiting in line for a slot, since the line last moved, if later) and
// whether that passed progressDeadlineSeconds. It sets run_without_progress, on which the
// ReplicationSyncStuck alert fires, and plans a wake for the deadline.
func trackProgress(run *syncRun) (time.Duration, bool) {
	rs := run.rs
	since := rs.Status.LastProgressTime
	if since == nil {
		since = rs.Status.StartTime
	}
	if since == nil {
		since = &rs.CreationTimestamp
	}
	from := since.Time
	if run.lineMoved.After(from) {
		from = run.lineMoved
	}
	limit := time.Duration(progressDeadlineSeconds(rs)) * time.Second
	idle := run.now.Sub(from)
	if idle < limit {
		metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name).Set(0)
		run.wakeAt(from.Add(limit))
		return idle, false
	}
	metrics.RunWithoutProgress.WithLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name).Set(1)
	return idle, true
}

// waitForProvider keeps looking for a VasaProvider that is missing, not Ready or reaching another vCenter.
// One that stays NotFound beyond ProviderMissingGrace, or reaches another vCenter, also sets Stalled=True:
// a human has to re-create or restore it (or the sync). run_without_progress still counts, so that
// ReplicationSyncStuck fires for it like for any stuck run.
func (r *ReplicationSyncReconciler) waitForProvider(run *syncRun, msg string) ctrl.Result {
	trackProgress(run)
	wait := ProviderWaitInterval
	switch {
	case run.providerChanged:
		markProviderChanged(run.rs, msg)
		r.releaseSlots(run.owner()) // its tasks run on the other vCenter: they leave the VasaProvider's slots to others
	case run.providerMissing:
		if left := markProviderMissing(run.rs, msg, run.now); left > 0 {
			wait = min(wait, left)
		}
	case run.providerSlow:
		markInProgress(run.rs, replicationv1alpha1.WaitingForProviderReason, msg)
		wait = slowProviderRetry
	default:
		markInProgress(run.rs, replicationv1alpha1.WaitingForProviderReason, msg)
	}
	run.wakeAt(run.now.Add(wait))
	return r.requeue(run)
}

// waitForDiscovery says the run waits for its VasaProvider's first discovery to end; that discovery's
// status write wakes it (providerUsabilityChanged), and it looks again every ProviderWaitInterval.
func (r *ReplicationSyncReconciler) waitForDiscovery(run *syncRun, msg string) ctrl.Result {
	markInProgress(run.rs, replicationv1alpha1.WaitingForDiscoveryReason, msg)
	r.checkProgress(run) // Stalled past progressDeadlineSeconds
	run.wakeAt(run.now.Add(ProviderWaitInterval))
	return r.requeue(run)
}

// requeue asks for the run's next reconcile at its wake time, idleWake at the latest, and never after
// the deadline. The delay counts from now, not from run.now: a commit's write may lie in between.
func (r *ReplicationSyncReconciler) requeue(run *syncRun) ctrl.Result {
	wake := run.now.Add(idleWake)
	if run.waitingForCapacity {
		wake = run.now.Add(capacityWake)
	}
	if !run.wake.IsZero() && run.wake.Before(wake) {
		wake = run.wake
	}
	if dl, ok := deadline(run.rs); ok && dl.Before(wake) {
		wake = dl
	}
	return ctrl.Result{RequeueAfter: max(wake.Sub(clockNow(r.Clock)), time.Millisecond)}
}

// deadlinePassed reports whether activeDeadlineSeconds has passed.
func (r *ReplicationSyncReconciler) deadlinePassed(run *syncRun) bool {
	d, ok := deadline(run.rs)
	return ok && !run.now.Before(d)
}

// backingOff reports whether status.retry holds new calls until a later time.
func backingOff(rs *replicationv1alpha1.ReplicationSync, now time.Time) bool {
	retry := rs.Status.Retry
	return retry != nil && retry.NextRetryTime != nil && backoff.Remaining(retry.NextRetryTime.Time, now) > 0
}

// lastFaultText is the run's last fault with its time: it stays after calls succeed again, and may be old.
func lastFaultText(rs *replicationv1alpha1.ReplicationSync) string {
	if rs.Status.Retry == nil || rs.Status.Retry.LastFault == nil {
		return "none"
	}
	f := rs.Status.Retry.LastFault
	if f.Time == nil {
		return f.Type + ": " + f.Message
	}
	return fmt.Sprintf("%s at %s: %s", f.Type, f.Time.UTC().Format(time.RFC3339), f.Message)
}

// progressDeadlineSeconds returns spec.progressDeadlineSeconds or its default 600.
func progressDeadlineSeconds(rs *replicationv1alpha1.ReplicationSync) int32 {
	if rs.Spec.ProgressDeadlineSeconds == nil {
		return 600
	}
	return *rs.Spec.ProgressDeadlineSeconds
}

func allIndexes(rs *replicationv1alpha1.ReplicationSync) []int {
	out := make([]int, len(rs.Status.Groups))
	for i := range out {
		out[i] = i
	}
	return out
}

func groupIDs(rs *replicationv1alpha1.ReplicationSync, idx []int) []sms.GroupID {
	out := make([]sms.GroupID, len(idx))
	for n, i := range idx {
		out[n] = toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)
	}
	return out
}

func toSMSGroup(id replicationv1alpha1.ReplicationGroupID) sms.GroupID {
	return sms.GroupID{FaultDomainID: id.FaultDomainID.ID, DeviceGroupID: id.DeviceGroupID.ID}
}
