package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// The run of a ReplicationSync is a state machine derived from status.phase, one function per state:
//
//	Pending  --provider Ready, groups checked-->  Running  --every group final-->  Succeeded | Failed
//	Pending/Running --activeDeadlineSeconds--> Failed (DeadlineExceeded)
//	Running --NotImplemented--> Failed (Stalled)
//
// Inside Running every group follows replicationsync_groups.go. No function here calls the provider:
// the steps in replicationsync_steps.go and replicationsync_wave.go do, through replicationsync_calls.go.

// syncRun is what one reconcile knows about a ReplicationSync.
type syncRun struct {
	rs  *replicationv1alpha1.ReplicationSync
	now time.Time

	vp  *replicationv1alpha1.VasaProvider
	key types.NamespacedName // the VasaProvider
	cl  syncProvider

	providerMissing    bool      // connectProvider found no VasaProvider (NotFound)
	providerChanged    bool      // connectProvider found the VasaProvider reaching another vCenter (sameVCenter)
	providerSlow       bool      // providerToCall found its runs' calls slow (callWatch)
	waitingForCapacity bool      // the provider had no free slot for this run's Pending groups
	lineMoved          time.Time // when the line this run waits in for a slot last moved (markRunning)
	armedOnly          bool      // the wave may take armed batches only: no claim can be written before its calls
	relayRounds        int       // rounds of polls the relay made during this reconcile's writes
	// peersUnlocked ends this run's turn among the runs of its PiT name (pitPeers.lock), taken when it
	// read them before a call; nil when it holds none. peerClaims is what it read then.
	peersUnlocked func()
	peerClaims    map[replicationv1alpha1.ReplicationGroupID]peerGroup
	// wave holds the batches claimed in this reconcile: written as Issuing, then called at calledAt.
	wave     []syncBatch
	calledAt time.Time
	// preclaimed are the batches the commit claims for the next waves (replicationsync_preclaim.go).
	preclaimed []syncBatch
	// unarmed are the armed batches this reconcile put back to Pending, to be claimed afresh: armed
	// again at its end (rearm), as long as no write stored them Pending.
	unarmed []syncBatch
	// wake is when this run wants its next reconcile (zero: no wish).
	wake time.Time
	// madeElsewhere are the groups found with a PiT of the run's name that another writer made
	// (replicationsync_elsewhere.go), told in an event.
	madeElsewhere []pitMadeElsewhere
	// onStored are what the end of the run tells outside its status (metrics, events): done once the
	// status that says so is stored, so that a write lost to a conflict, and done again by the next
	// reconcile, counts the run once.
	onStored []func()
}

// releasePeers ends the run's turn among the runs of its PiT name, if it holds it: its claims are
// written, or it claims nothing.
func (run *syncRun) releasePeers() {
	if run.peersUnlocked != nil {
		run.peersUnlocked()
		run.peersUnlocked, run.peerClaims = nil, nil
	}
}

// afterStore defers f until the reconcile's status write succeeded.
func (run *syncRun) afterStore(f func()) { run.onStored = append(run.onStored, f) }

// stored runs what waited for the status write.
func (run *syncRun) stored() {
	for _, f := range run.onStored {
		f()
	}
	run.onStored = nil
}

func (run *syncRun) owner() string { return client.ObjectKeyFromObject(run.rs).String() }

// progressed stamps lastProgressTime: a group synced or failed, a task started (or taskAdvanced).
func (run *syncRun) progressed() {
	t := metav1.NewTime(run.now)
	run.rs.Status.LastProgressTime = &t
}

// taskAdvanced counts a task whose progress moved as progress of the run, at most once per half
// progressDeadlineSeconds: a long task on an array that reports its progress is not stuck, and recording
// every step would cost a status write per poll.
func (run *syncRun) taskAdvanced() {
	half := time.Duration(progressDeadlineSeconds(run.rs)) * time.Second / 2
	if last := run.rs.Status.LastProgressTime; last == nil || run.now.Sub(last.Time) >= half {
		run.progressed()
	}
}

// wakeAt asks for a reconcile at t at the latest.
func (run *syncRun) wakeAt(t time.Time) {
	if run.wake.IsZero() || t.Before(run.wake) {
		run.wake = t
	}
}

// advance runs the function of the current state.
func (r *ReplicationSyncReconciler) advance(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	initSyncStatus(rs)
	rs.Status.ObservedGeneration = rs.Generation
	defer updateSummary(rs)

	switch rs.Status.Phase {
	case replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed:
		return r.finished(ctx, run)
	case replicationv1alpha1.SyncRunning:
		return r.running(ctx, run)
	default:
		return r.pending(ctx, run)
	}
}

// pending waits for the provider, fails the groups it cannot sync (unknown, not a replication target)
// and starts the run; a schedule's run whose schedule is gone is held, never started.
func (r *ReplicationSyncReconciler) pending(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	if why, err := r.scheduleGone(ctx, run.rs); err != nil {
		return ctrl.Result{}, err
	} else if why != "" {
		return r.holdRunOfGoneSchedule(ctx, run, why), nil
	}
	if r.deadlinePassed(run) {
		return r.deadlineExceeded(ctx, run)
	}
	if msg, ok := r.providerToCall(ctx, run); !ok {
		return r.waitForProvider(run, msg), nil
	}
	if msg, wait := awaitFirstDiscovery(run); wait {
		return r.waitForDiscovery(run, msg), nil
	}
	if done, err := r.selectMembers(ctx, run); err != nil {
		return ctrl.Result{}, err
	} else if done {
		return r.finished(ctx, run) // its TTL
	}
	if backingOff(run.rs, run.now) {
		// Woken early (its VasaProvider Ready again, flapping): calling now would send every run of a
		// sick provider at it at once, each holding a worker until its call times out.
		r.markBackingOff(run)
		return r.requeue(run), nil
	}
	if err := r.checkGroups(ctx, run); err != nil {
		return r.callFailed(ctx, run, err), nil
	}
	start := metav1.NewTime(run.now)
	run.rs.Status.StartTime = &start
	run.rs.Status.Phase = replicationv1alpha1.SyncRunning
	run.progressed()
	ctrl.LoggerFrom(ctx).Info("Starting sync", "groups", len(run.rs.Status.Groups))
	return r.running(ctx, run)
}

// selectMembers freezes the groups a selector matches into status.groups, once, when the run starts:
// re-applying from Git or a group discovered later never changes a run's membership. A selector that
// matches nothing (or too much, or does not parse) ends the run with a reason that says so (done).
func (r *ReplicationSyncReconciler) selectMembers(ctx context.Context, run *syncRun) (bool, error) {
	rs := run.rs
	if rs.Spec.GroupSelector == nil || len(rs.Status.Groups) > 0 {
		return false, nil
	}
	// Uncached: a run that saw the first discovery complete (awaitFirstDiscovery) finds every group it
	// wrote, even one the cache has not had word of yet.
	ids, err := selectGroups(ctx, r.reader(), rs)
	switch {
	case errors.Is(err, errNoGroupsSelected), errors.Is(err, errTooManyGroupsSelected), errors.Is(err, errInvalidGroupSelector):
		r.failRun(ctx, run, replicationv1alpha1.NoGroupsSelectedReason, err.Error()+discoveryTrouble(run.vp)+": fix spec.groupSelector in a new ReplicationSync")
		return true, nil
	case err != nil:
		return true, fmt.Errorf("selecting the groups of the run: %w", err)
	}
	rs.Status.Groups = make([]replicationv1alpha1.GroupStatus, len(ids))
	for i, id := range ids {
		rs.Status.Groups[i] = replicationv1alpha1.GroupStatus{ReplicationGroupID: id, State: replicationv1alpha1.GroupPending}
	}
	ctrl.LoggerFrom(ctx).Info("Selected the run's groups", "groups", len(ids), "discoveryTrouble", discoveryTrouble(run.vp))
	return false, nil
}

// running polls the tasks, resolves groups in doubt and claims the next wave.
func (r *ReplicationSyncReconciler) running(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	if r.deadlinePassed(run) {
		return r.deadlineExceeded(ctx, run)
	}
	if msg, ok := r.providerToCall(ctx, run); !ok {
		return r.waitForProvider(run, msg), nil
	}
	r.primeSlots(ctx, run)
	defer r.holdSlots(run)

	if err := r.pollStep(ctx, run); err != nil {
		return r.callFailed(ctx, run, err), nil
	}
	if isFinished(rs) {
		return r.finished(ctx, run)
	}
	if err := r.inDoubtStep(ctx, run); err != nil {
		return r.callFailed(ctx, run, err), nil
	}
	if allGroupsFinal(rs) {
		return r.finish(ctx, run)
	}
	r.holdSlots(run) // free the slots of tasks that just ended before claiming new ones
	if backingOff(rs, run.now) {
		r.markBackingOff(run)
		return r.requeue(run), nil
	}
	if err := r.waveStep(ctx, run); err != nil {
		return r.callFailed(ctx, run, err), nil
	}
	if isFinished(rs) {
		return r.finished(ctx, run)
	}
	if allGroupsFinal(rs) {
		return r.finish(ctx, run)
	}
	r.markRunning(run)
	return r.requeue(run), nil
}

// settle brings the conditions up to date after a wave's answers were applied.
func (r *ReplicationSyncReconciler) settle(ctx context.Context, run *syncRun) {
	rs := run.rs
	switch {
	case isFinished(rs):
		_, _ = r.finished(ctx, run)
	case allGroupsFinal(rs):
		_, _ = r.finish(ctx, run)
	case backingOff(rs, run.now):
		r.markBackingOff(run)
	default:
		r.markRunning(run)
	}
	r.holdSlots(run)
	updateSummary(rs)
}

// finish ends a run whose groups are all final: Succeeded if all synced, else Failed.
func (r *ReplicationSyncReconciler) finish(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	updateSummary(rs)
	if rs.Status.Summary.Failed == 0 {
		rs.Status.Phase = replicationv1alpha1.SyncSucceeded
		markSucceeded(rs)
		run.afterStore(func() {
			r.event(rs, corev1.EventTypeNormal, "Synced", "Sync", "%s", succeededMessage(rs))
		})
	} else {
		rs.Status.Phase = replicationv1alpha1.SyncFailed
		msg := failedGroupsMessage(rs)
		markFailed(rs, replicationv1alpha1.FailedReason, msg)
		run.afterStore(func() { r.event(rs, corev1.EventTypeWarning, "Failed", "Sync", "%s", msg) })
	}
	r.completed(ctx, run)
	return r.finished(ctx, run)
}

// deadlineExceeded fails every unfinished group when activeDeadlineSeconds passed. A task may have ended
// since it was last queried, or a group's PiT exist with its task unknown (gone, unanswered): a started
// run takes a last look first (lastLook), and groups found synced are not failed.
func (r *ReplicationSyncReconciler) deadlineExceeded(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	msg := fmt.Sprintf("activeDeadlineSeconds (%d) passed", *rs.Spec.ActiveDeadlineSeconds)
	cause := lastWait(rs)
	if rs.Status.Phase == replicationv1alpha1.SyncRunning {
		if _, ok := r.connectProvider(ctx, run); ok {
			r.lastLook(ctx, run)
			if allGroupsFinal(rs) {
				return r.finish(ctx, run) // every group ended after all
			}
		}
	}
	armed := r.armedIndexes(rs, nil) // claimed by this process and never called
	for i, g := range rs.Status.Groups {
		_, uncalled := armed[i]
		switch {
		case g.State == replicationv1alpha1.GroupSyncing || g.State == replicationv1alpha1.GroupWaiting:
			run.groupFailed(i, fmt.Sprintf("%s while task %s ran; it may still make the PiT", msg, g.Task))
		case g.State == replicationv1alpha1.GroupIssuing && !uncalled:
			run.groupFailed(i, msg+" while the outcome of its sync call was unknown; it may still make the PiT")
		case !isFinalGroup(g):
			run.groupFailed(i, msg) // the cause once, in the run's conditions, not in every group
		}
	}
	r.failRun(ctx, run, replicationv1alpha1.DeadlineExceededReason, msg+cause)
	return r.finished(ctx, run)
}

// lastWait is what the run last waited on, from its conditions: a VasaProvider not Ready or missing, a
// backoff and its fault, the line for the provider's slots, tasks. A run failed by its deadline keeps
// its cause, which its failure would otherwise overwrite.
func lastWait(rs *replicationv1alpha1.ReplicationSync) string {
	if c := trueCondition(rs, replicationv1alpha1.ReconcilingCondition, replicationv1alpha1.StalledCondition); c != nil {
		return fmt.Sprintf("; the run was %s: %s", c.Reason, c.Message)
	}
	return ""
}

// lastLook queries every task in flight, due or not, then asks for the PiTs of every unfinished group:
// those whose PiT exists are Synced.
func (r *ReplicationSyncReconciler) lastLook(ctx context.Context, run *syncRun) {
	rs := run.rs
	for ref := range tasksOf(rs) {
		r.forgetTiming(run, ref) // due now
	}
	if err := r.pollStep(ctx, run); err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not query the run's tasks at its deadline", "error", err.Error())
	}
	var open []int
	for i, g := range rs.Status.Groups {
		if !isFinalGroup(g) {
			open = append(open, i)
		}
	}
	_, _ = r.syncByPiT(ctx, run, open, "PiT found when activeDeadlineSeconds passed")
}

// failRun ends the run at once: every unfinished group fails with the reason.
func (r *ReplicationSyncReconciler) failRun(ctx context.Context, run *syncRun, reason, message string) {
	rs := run.rs
	for i := range rs.Status.Groups {
		if !isFinalGroup(rs.Status.Groups[i]) {
			run.groupFailed(i, message)
		}
	}
	rs.Status.Phase = replicationv1alpha1.SyncFailed
	markFailed(rs, reason, message)
	run.afterStore(func() { r.event(rs, corev1.EventTypeWarning, "Failed", "Sync", "%s", message) })
	r.completed(ctx, run)
}

// finished is the terminal state: nothing runs again; the object is deleted after its TTL.
func (r *ReplicationSyncReconciler) finished(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	for i := range rs.Status.Conditions {
		// A spec edit after the end (e.g. ttlSecondsAfterFinished) is observed too.
		rs.Status.Conditions[i].ObservedGeneration = rs.Generation
	}
	run.wave = nil
	r.releaseSlots(run.owner()) // also when another manager ended the run
	r.disarm(client.ObjectKeyFromObject(rs))
	if rs.Spec.TTLSecondsAfterFinished == nil || rs.Status.CompletionTime == nil {
		return ctrl.Result{}, nil
	}
	expires := rs.Status.CompletionTime.Add(time.Duration(*rs.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := expires.Sub(run.now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if rs.Status.CompletionTime.Time.Equal(run.now) {
		// Finished in this very reconcile: let the final status be written (and seen) first.
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	hold, err := r.scheduleSuccessHold(ctx, rs, expires, run.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if hold > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("Keeping finished sync past its TTL until its schedule records the success", "recheckIn", hold)
		return ctrl.Result{RequeueAfter: hold}, nil
	}
	if hold, err = lastSyncHold(ctx, r.Client, rs, run.now); err != nil {
		return ctrl.Result{}, err
	}
	if hold > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("Keeping finished sync past its TTL until discovery records it as its groups' lastSync", "recheckIn", hold)
		return ctrl.Result{RequeueAfter: hold}, nil
	}
	uid := rs.UID
	if err := r.Delete(ctx, rs, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting finished ReplicationSync after its TTL: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleted finished sync after its TTL", "ttlSecondsAfterFinished", *rs.Spec.TTLSecondsAfterFinished)
	return ctrl.Result{}, nil
}

// completed stamps completionTime, releases the provider slots and records the run's metrics.
func (r *ReplicationSyncReconciler) completed(ctx context.Context, run *syncRun) {
	rs := run.rs
	now := metav1.NewTime(run.now)
	rs.Status.CompletionTime = &now
	for _, g := range rs.Status.Groups { // final by now, but a group keeps the ref of its last task
		if g.Task != "" {
			r.forgetTiming(run, g.Task)
		}
	}
	r.releaseSlots(run.owner())
	metrics.ForgetRun(rs.Namespace, rs.Name)
	provider := rs.Spec.ProviderRef.Name
	result := metrics.ResultSucceeded
	if rs.Status.Phase == replicationv1alpha1.SyncFailed {
		result = metrics.ResultFailed
	}
	at, log := run.now, ctrl.LoggerFrom(ctx)
	run.afterStore(func() {
		metrics.SyncsTotal.WithLabelValues(rs.Namespace, provider, result).Inc()
		if rs.Status.StartTime != nil {
			metrics.SyncDurationSeconds.WithLabelValues(rs.Namespace, provider, result).Observe(at.Sub(rs.Status.StartTime.Time).Seconds())
		}
		if result == metrics.ResultSucceeded {
			metrics.LastSuccessTimestampSeconds.WithLabelValues(rs.Namespace, provider).Set(float64(at.Unix()))
		}
		kv := []any{"phase", rs.Status.Phase, "synced", rs.Status.SyncedDisplay}
		if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition); c != nil {
			// The run's lasting record once its TTL deletes it: why it ended, and what failed.
			kv = append(kv, "reason", c.Reason)
			if c.Status != metav1.ConditionTrue {
				kv = append(kv, "failed", rs.Status.Summary.Failed, "message", c.Message) // at most maxMessageBytes
			}
		}
		log.Info("Sync finished", kv...)
	})
}
