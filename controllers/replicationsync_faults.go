package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// maxConsecutiveReroutes is how many InactiveProvider re-routes in a row a group gets for free; each
// further one counts as an attempt, so two providers pointing at each other end in Failed.
const maxConsecutiveReroutes = 3

// faultSource is what answered a fault about a run's groups.
type faultSource int

const (
	// fromCall: their sync call.
	fromCall faultSource = iota
	// fromTask: their task, which ended in error.
	fromTask
	// fromPiTQuery: the PiT query before their call.
	fromPiTQuery
)

// applyFault applies the decision for a fault answered for the groups at idx by source.
func (r *ReplicationSyncReconciler) applyFault(ctx context.Context, run *syncRun, idx []int, err error, source faultSource) {
	rs := run.rs
	d := decideSyncFault(err, len(idx))
	if errors.Is(err, sms.ErrEmptyTaskRef) { // the client's (a JSON answer with an empty body) or a SOAP answer without one
		d.fault = faultEmptyTaskRef
	}
	switch {
	case source == fromTask && d.action == actionInDoubt:
		d.action = actionCount // a task that ended in error made no PiT
	case source == fromPiTQuery && d.action == actionInDoubt:
		d.action = actionBackOff // a query starts no task: nothing is in doubt
	case source == fromPiTQuery && d.action == actionSplit:
		d.action = actionCount // the sync's batch size is not the query's
	case source == fromTask && d.action == actionProviderMoved:
		d.action = actionCount // a task that ran and failed: its fault names some object of the array's
	}
	r.recordFault(run, d.fault, err.Error())
	if sessionUnusable(err) {
		r.notifyProvider(run.vp)
	}
	switch d.action {
	case actionInDoubt:
		// The groups stay Issuing with their claim: inDoubtStep resolves them.
		msg := "No answer to the sync call, in doubt: "
		if d.fault != faultNoAnswer {
			msg = "The sync call may have started a task, in doubt: "
		}
		for _, i := range idx {
			rs.Status.Groups[i].Message = groupMessage(rs, msg+err.Error())
		}
		ctrl.LoggerFrom(ctx).Info("A sync call's outcome is unknown: its groups are in doubt", "groups", len(idx), "fault", d.fault, "error", err.Error())
		run.wakeAt(run.now.Add(time.Second))
	case actionRetry:
		for _, i := range idx {
			run.groupPending(i, "")
		}
		if errors.Is(err, sms.ErrNoTimeLeft) {
			ctrl.LoggerFrom(ctx).Info("A sync call was not sent: it could no longer be answered within its claim's in-doubt window; issuing its groups again", "groups", len(idx))
		}
		run.wakeAt(run.now)
	case actionSplit:
		for _, i := range idx {
			run.groupPending(i, "")
		}
		r.learnBatchSize(ctx, run, d.batchSize)
		run.wakeAt(run.now)
	case actionBackOff:
		for _, i := range idx {
			run.groupPending(i, "")
		}
		next, started := r.backOffOnce(run, 0) // not once per batch of a wave that saw the fault
		if !started {
			break
		}
		ctrl.LoggerFrom(ctx).Info("The provider refused sync calls for now, backing off", "fault", d.fault, "nextRetryTime", next)
		// Reason BackingOff as the Reconciling condition's: busy, out of resource, unavailable or no answer.
		r.event(rs, corev1.EventTypeNormal, replicationv1alpha1.BackingOffReason, "BackOff", "%s", backOffNote(d.fault, err))
	case actionReroute:
		var inactive *sms.InactiveProviderError
		errors.As(err, &inactive)
		if retried := r.reroute(ctx, run, idx, inactive); len(retried) > 0 {
			r.backOffGroups(ctx, run, retried)
		}
		run.wakeAt(run.now)
	case actionWait:
		var ongoing *sms.SyncOngoingError
		errors.As(err, &ongoing)
		r.waitForOngoing(ctx, run, idx, ongoing.TaskRef)
	case actionCount, actionCheckGroups:
		r.countFailures(ctx, run, idx, err, d.action == actionCheckGroups)
	case actionFailRun:
		r.failRun(ctx, run, replicationv1alpha1.NotImplementedReason,
			fmt.Sprintf("The provider does not implement SyncReplicationGroup (%v): this array's VASA provider cannot sync replication groups, and nothing is retried; sync them with the array's own tools", err))
	case actionProviderMoved:
		for _, i := range idx {
			rs.Status.Groups[i].Provider = "" // the VasaProvider's provider, whatever it was re-routed to
			run.groupPending(i, "")
		}
		r.providerMoved(ctx, run, err)
	}
}

// providerMoved has the VasaProvider look its provider up again (by name or uid, not by the moId vCenter
// no longer knows) and backs the run off until then.
func (r *ReplicationSyncReconciler) providerMoved(ctx context.Context, run *syncRun, err error) {
	r.notifyProvider(run.vp)
	next := r.startBackOff(run, 0)
	ctrl.LoggerFrom(ctx).Info("vCenter no longer knows the provider, looking it up again", "error", err.Error(), "nextRetryTime", next)
}

// waitForOngoing parks the groups on someone else's task; without a task ref there is nothing to wait
// on, so they are issued again after a backoff (SyncOngoing means our call started nothing). A group
// issued again after an unanswered call goes back in doubt instead (ownSyncMayRun).
func (r *ReplicationSyncReconciler) waitForOngoing(ctx context.Context, run *syncRun, idx []int, task string) {
	if task == "" {
		why := "A sync of the group is already running (the provider named no task)"
		r.issueAfterOngoing(run, idx, why, why)
		return
	}
	for _, i := range idx {
		run.groupWaiting(i, task)
	}
	run.wakeAt(r.nextPoll(run, run.now))
	ctrl.LoggerFrom(ctx).Info("A sync of these groups is already running, waiting for it", "task", task, "groups", len(idx))
}

// issueAfterOngoing handles groups a running sync kept from being issued when there is no task to wait
// for (SMS named none, or forgot it): a group whose running sync may be its own earlier call's goes back
// in doubt (ongoingMayBeOurs, told why); the others go back to Pending with message pending and are issued
// after a backoff, started once: the other batches of a wave, or tasks of a round of polls, so answered
// find it running.
func (r *ReplicationSyncReconciler) issueAfterOngoing(run *syncRun, idx []int, why, pending string) {
	idx = ongoingMayBeOurs(run, idx, why)
	for _, i := range idx {
		run.groupPending(i, pending)
	}
	if len(idx) > 0 {
		r.backOffOnce(run, 0)
	}
}

// ongoingMayBeOurs puts back in doubt the groups whose running sync may be our own unanswered call's
// (ownSyncMayRun), and returns the others. A check for its PiT followed by a call could both miss that
// sync ending in between, and the call would make a second PiT, unannounced; in doubt, the PiT is looked
// for until the window passes, and only then is the group issued again, as a re-issue that shows.
func ongoingMayBeOurs(run *syncRun, idx []int, why string) (others []int) {
	for _, i := range idx {
		if !ownSyncMayRun(run.rs.Status.Groups[i]) {
			others = append(others, i)
			continue
		}
		run.groupInDoubt(i, why+", maybe from our earlier call whose outcome is unknown; in doubt until its PiT appears or the in-doubt window passes")
		run.wakeAt(run.now)
	}
	return others
}

// ownSyncMayRun reports whether a sync of the group from an earlier call of ours may still run: it was
// issued again because that call's outcome stayed unknown, so a running sync the provider reports is more
// likely that call's than anyone else's.
func ownSyncMayRun(g replicationv1alpha1.GroupStatus) bool { return g.Reissues > 0 }

// countFailures counts a provider-side failure of each group. Groups waiting for someone else's task
// are issued again without counting. After InvalidArgument (check), the provider is asked which
// groups it cannot sync: those fail alone, naming their state.
func (r *ReplicationSyncReconciler) countFailures(ctx context.Context, run *syncRun, idx []int, err error, check bool) {
	rs := run.rs
	if check && len(idx) > 0 {
		provider := groupProvider(rs.Status.Groups[idx[0]], run.vp.Status.ProviderRef.Value)
		// A provider that knows none of the batch is more likely restarting or failing over (it answers
		// from an empty inventory) than rid of every group: none fails for it; the batch is counted.
		if states, qerr := queryGroups(ctx, run.cl, provider, groupIDs(rs, idx)); qerr == nil && (knowsAny(states) || r.inventoryLoaded(ctx, run, provider)) {
			var left []int
			for _, i := range idx {
				if msg, bad := unsyncable(states, rs.Status.Groups[i]); bad {
					run.groupFailed(i, msg)
					continue
				}
				left = append(left, i)
			}
			if len(left) < len(idx) {
				for _, i := range left {
					run.groupPending(i, "") // refused only because they shared the call
				}
				run.wakeAt(run.now)
				return
			}
		}
	}
	var retried []int
	for _, i := range idx {
		if rs.Status.Groups[i].State == replicationv1alpha1.GroupWaiting {
			run.groupPending(i, "The ongoing sync task failed; issuing ours")
			continue
		}
		if run.groupCountFailure(i, err.Error()) {
			retried = append(retried, i)
		}
	}
	if len(retried) > 0 {
		// Retried after a backoff, not now: backoffLimit bounds attempts spread over time.
		r.backOffGroups(ctx, run, retried)
	}
}

// knowsAny reports whether the provider answered a state of its own (not an error) for any group.
func knowsAny(states map[sms.GroupID]string) bool {
	for _, state := range states {
		if state != sms.StateError && state != sms.StateUnanswered {
			return true
		}
	}
	return false
}

// unsyncable reports why the provider cannot sync a group (unknown to it, or not a replication target).
// A group the provider could not answer for now is not found bad: its sync call says.
func unsyncable(states map[sms.GroupID]string, g replicationv1alpha1.GroupStatus) (string, bool) {
	state, ok := states[toSMSGroup(g.ReplicationGroupID)]
	switch {
	case !ok:
		return "The provider does not know the group", true
	case state == sms.StateUnanswered:
		return "", false
	case state == sms.StateError:
		return "The provider answered an error for the group (is the id right?)", true
	case state != replicationv1alpha1.TargetState:
		return fmt.Sprintf("The group is in state %s at this provider; a sync needs a replication target (TARGET)", state), true
	}
	return "", false
}

// checkGroups fails, before the first call, the groups the provider cannot sync; the others proceed.
// A provider that cannot answer the query (NotImplemented), or knows none of the groups, is not checked.
func (r *ReplicationSyncReconciler) checkGroups(ctx context.Context, run *syncRun) error {
	rs := run.rs
	provider := run.vp.Status.ProviderRef.Value
	states, err := queryGroups(ctx, run.cl, provider, groupIDs(rs, allIndexes(rs)))
	if err != nil {
		if !sms.Answered(err) {
			return err
		}
		ctrl.LoggerFrom(ctx).Info("The provider did not answer the group check; issuing every group", "fault", sms.FaultTypeOf(err))
		return nil
	}
	if !knowsAny(states) && !r.inventoryLoaded(ctx, run, provider) {
		// As for a refused batch (countFailures): a provider restarting or failing over answers from an
		// empty inventory. Its groups are issued; a refusal then counts against backoffLimit.
		ctrl.LoggerFrom(ctx).Info("The provider knows none of the run's groups (restarting or failing over?); issuing every group")
		return nil
	}
	var rejected []string
	for i, g := range rs.Status.Groups {
		if msg, bad := unsyncable(states, g); bad && g.State == replicationv1alpha1.GroupPending {
			run.groupFailed(i, msg)
			rejected = append(rejected, fmt.Sprintf("%s: %s", groupName(g.ReplicationGroupID), msg))
		}
	}
	if len(rejected) > 0 {
		// One event for the run: events of one reason on one object are merged, keeping the first note.
		r.event(rs, corev1.EventTypeWarning, "GroupRejected", "Sync", "%d of %d groups cannot be synced (their status says why): %s",
			len(rejected), len(rs.Status.Groups), firstOf(rejected, 5))
	}
	return nil
}

// firstOf joins the first n items, saying how many more there are.
func firstOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:n], "; "), len(items)-n)
}

// reroute moves the groups of the fault domains an InactiveProvider fault names to their active
// provider. The other groups of the batch were refused only because they shared the call: they go back
// to Pending uncounted, unless nothing could be moved (then the fault is theirs). It returns the groups
// whose counted failure leaves them to be issued again.
func (r *ReplicationSyncReconciler) reroute(ctx context.Context, run *syncRun, idx []int, fault *sms.InactiveProviderError) []int {
	rs := run.rs
	active := fault.ActiveProviders()
	var moved, stay, retried []int
	for _, i := range idx {
		g := &rs.Status.Groups[i]
		current := groupProvider(*g, run.vp.Status.ProviderRef.Value)
		to, ok := active[g.FaultDomainID.ID]
		if !ok || to == "" || to == current {
			stay = append(stay, i)
			continue
		}
		moved = append(moved, i)
		run.groupPending(i, fmt.Sprintf("Re-routed from inactive provider %s to %s", current, to))
		g.Provider = to
		g.Reroutes++
		if g.Reroutes > maxConsecutiveReroutes && run.groupCountFailure(i, fmt.Sprintf("Re-routed %d times in a row between inactive providers (last from %s to %s)", g.Reroutes, current, to)) {
			retried = append(retried, i)
		}
	}
	for _, i := range stay {
		if len(moved) == 0 {
			if run.groupCountFailure(i, fmt.Sprintf("Provider is inactive for fault domain %s and named no other active provider", rs.Status.Groups[i].FaultDomainID.ID)) {
				retried = append(retried, i)
			}
			continue
		}
		run.groupPending(i, "")
	}
	ctrl.LoggerFrom(ctx).Info("Re-routed groups to the active provider", "groups", len(moved))
	return retried
}

// backOffGroups delays the next call after a counted failure of the groups at idx; the delay grows
// with the groups' attempts.
func (r *ReplicationSyncReconciler) backOffGroups(ctx context.Context, run *syncRun, idx []int) {
	var attempts int32
	for _, i := range idx {
		attempts = max(attempts, run.rs.Status.Groups[i].Attempts)
	}
	next := r.startBackOff(run, attempts)
	ctrl.LoggerFrom(ctx).Info("Groups failed, backing off before issuing them again", "groups", len(idx), "attempts", attempts, "nextRetryTime", next)
}

// groupsBusy records that a task's results answered the groups at idx (Pending again, uncounted) with
// the transient fault f, and backs off unless another backoff of this task's groups does.
func (r *ReplicationSyncReconciler) groupsBusy(run *syncRun, idx []int, f sms.Fault, task string, backOff bool) {
	r.recordFault(run, f.FaultType(), fmt.Sprintf("Task %s: %s", task, run.rs.Status.Groups[idx[0]].Message))
	if !backOff {
		return
	}
	if _, started := r.backOffOnce(run, 0); started { // not once per task that answered so
		r.event(run.rs, corev1.EventTypeNormal, replicationv1alpha1.BackingOffReason, "BackOff", "Provider answered %s for %d groups of task %s; %s",
			f.FaultType(), len(idx), task, backingOffUntilStatusSays)
	}
}

// backOffOnce starts the run's backoff (startBackOff) unless it backs off already: one step for the
// provider per reconcile, however many batches, tasks or groups met the fault. It reports whether it
// started one, and until when.
func (r *ReplicationSyncReconciler) backOffOnce(run *syncRun, minAttempts int32) (time.Time, bool) {
	if backingOff(run.rs, run.now) {
		return time.Time{}, false
	}
	return r.startBackOff(run, minAttempts), true
}

// startBackOff counts one more consecutive fault in status.retry and sets nextRetryTime from the
// backoff policy (with jitter), with at least minAttempts as the exponent.
func (r *ReplicationSyncReconciler) startBackOff(run *syncRun, minAttempts int32) time.Time {
	rs := run.rs
	if rs.Status.Retry == nil {
		rs.Status.Retry = &replicationv1alpha1.RetryStatus{}
	}
	retry := rs.Status.Retry
	retry.Attempts++
	next := replicationv1alpha1.NewRetryTime(r.Backoff.Next(max(retry.Attempts, minAttempts), run.now))
	retry.NextRetryTime = &next
	run.wakeAt(next.Time)
	return next.Time
}

// callFailed backs off after a call that failed without a provider fault (vCenter unreachable, a
// session that cannot be re-established): groups stay as they are, the conditions say why, and the
// retry stays within activeDeadlineSeconds (controller-runtime's rate limiter knows no deadline).
func (r *ReplicationSyncReconciler) callFailed(ctx context.Context, run *syncRun, err error) ctrl.Result {
	if sessionReplaced(err) {
		run.wakeAt(run.now) // not sent: called again with the new session
		return r.requeue(run)
	}
	// Once per outage at Error, and as an Event: every run retries on its own backoff while vCenter is
	// unreachable.
	first := run.rs.Status.Retry == nil || run.rs.Status.Retry.Attempts == 0
	if first {
		ctrl.LoggerFrom(ctx).Error(err, "Calling the provider failed, backing off")
	} else {
		ctrl.LoggerFrom(ctx).V(1).Info("Calling the provider failed again, backing off", "error", err.Error(), "attempts", run.rs.Status.Retry.Attempts)
	}
	if objectNotFound(err) || sessionUnusable(err) || (first && !sms.Answered(err)) {
		// Look the provider up again: it was re-registered or unregistered, its session is unusable, or
		// vCenter stopped answering. Its Ready condition would say Connected until its next check, minutes
		// away, and meanwhile each of its runs would wait out a call's timeout of its own.
		r.notifyProvider(run.vp)
	}
	r.recordFault(run, faultUnreachable, err.Error())
	r.startBackOff(run, 0)
	if first { // once the status holds the first attempt: a write lost to a conflict would tell it twice
		rs := run.rs
		run.afterStore(func() {
			r.event(rs, corev1.EventTypeNormal, replicationv1alpha1.BackingOffReason, "BackOff", "Could not reach the provider (%v); %s", err, backingOffUntilStatusSays)
		})
	}
	r.markBackingOff(run)
	return r.requeue(run)
}

// recordFault notes a fault in status.retry.lastFault and the faults metric.
func (r *ReplicationSyncReconciler) recordFault(run *syncRun, fault, message string) {
	rs := run.rs
	metrics.ProviderFaultsTotal.WithLabelValues(rs.Namespace, rs.Spec.ProviderRef.Name, fault).Inc()
	if rs.Status.Retry == nil {
		rs.Status.Retry = &replicationv1alpha1.RetryStatus{}
	}
	t := metav1.NewTime(run.now)
	rs.Status.Retry.LastFault = &replicationv1alpha1.FaultRecord{Type: fault, Message: truncateMessage(message), Time: &t}
}

// faultType names err for status and metrics.
func faultType(err error) string {
	if sms.Answered(err) {
		return sms.FaultTypeOf(err)
	}
	return faultUnreachable
}

// backingOffUntilStatusSays ends a BackingOff event. The event names no delay: repeated events of one
// reason are folded into the first, whose note kubectl describe keeps showing as the backoff grows.
const backingOffUntilStatusSays = "backing off (status.retry.nextRetryTime says when it calls again)"

// backOffNote is the BackingOff event of a call refused for now: the provider's fault, or, for a call not
// sent or not answered (no fault of the provider's), what went wrong, so that on-call does not look for
// the cause at the array.
func backOffNote(fault string, err error) string {
	var f sms.Fault
	if !errors.As(err, &f) {
		return fmt.Sprintf("Calling the provider failed (%s: %s); %s", fault, truncateMessage(err.Error()), backingOffUntilStatusSays)
	}
	return fmt.Sprintf("Provider answered %s; %s", fault, backingOffUntilStatusSays)
}
