package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/batching"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The run of a ReplicationSync is a state machine derived from status.phase:
//
//	Pending  --provider Ready-->  Running  --all groups final-->  Succeeded | Failed
//	Pending/Running --activeDeadlineSeconds--> Failed (DeadlineExceeded)
//	Running --NotImplemented/InvalidArgument--> Failed (Stalled)
//
// Each state has one function below. Inside Running, each group moves
// Pending -> Syncing (task recorded) -> Synced | Pending (retry) | Failed (beyond backoffLimit).

// maxSubmitRounds bounds the SMS calls one reconcile makes before it yields (TooMany splits,
// PiT-only batches and per-call group faults continue in the same reconcile).
const maxSubmitRounds = 20

// maxConsecutiveReroutes is how many InactiveProvider re-routes in a row a group gets for free; each
// further one counts as an attempt (with backoff), so two providers pointing at each other end in Failed.
const maxConsecutiveReroutes = 3

// syncOngoingPrefix marks groups that wait for someone else's task (SyncOngoing): its failure is not ours.
const syncOngoingPrefix = "Waiting for the ongoing sync task "

// syncRun is what one reconcile knows about a ReplicationSync.
type syncRun struct {
	rs  *replicationv1alpha1.ReplicationSync
	now time.Time

	vp  *replicationv1alpha1.VasaProvider
	key types.NamespacedName // the VasaProvider's key in Sessions
	cl  sms.Client

	providerMissing bool // connectProvider found no VasaProvider (NotFound)
}

func (run *syncRun) owner() string { return client.ObjectKeyFromObject(run.rs).String() }

// faultOutcome says how a fault changes the run.
type faultOutcome int

const (
	// outcomeContinue: groups were updated (split, re-routed, retried); more calls may follow now.
	outcomeContinue faultOutcome = iota
	// outcomeBackOff: provider-wide backoff; no new calls until status.retry.nextRetryTime.
	outcomeBackOff
	// outcomeStalled: terminal fault; the run failed.
	outcomeStalled
)

// step dispatches to the function of the current phase.
func (r *ReplicationSyncReconciler) step(ctx context.Context, run *syncRun) (ctrl.Result, error) {
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

// pending waits for the provider; once it is Ready the run starts.
func (r *ReplicationSyncReconciler) pending(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	if r.deadlinePassed(run) {
		return r.deadlineExceeded(ctx, run)
	}
	if msg, ok := r.connectProvider(ctx, run); !ok {
		return r.waitForProvider(run, msg), nil
	}
	start := metav1.NewTime(run.now)
	run.rs.Status.StartTime = &start
	run.rs.Status.Phase = replicationv1alpha1.SyncRunning
	ctrl.LoggerFrom(ctx).Info("Starting sync", "groups", len(run.rs.Spec.GroupIDs), "pitName", run.rs.Spec.PitName)
	return r.running(ctx, run)
}

// running polls the tasks in flight, then issues the next batch unless backing off or at capacity.
func (r *ReplicationSyncReconciler) running(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	if r.deadlinePassed(run) {
		return r.deadlineExceeded(ctx, run)
	}
	if msg, ok := r.connectProvider(ctx, run); !ok {
		return r.waitForProvider(run, msg), nil
	}
	r.adoptUnpersisted(ctx, run)
	r.primeTasks(ctx, run)
	defer r.accountTasks(run)

	stalled, err := r.pollTasks(ctx, run)
	if err != nil {
		return r.unreachable(ctx, run, err), nil
	}
	if stalled {
		return r.finished(ctx, run)
	}
	if allGroupsFinal(rs) {
		return r.finish(ctx, run)
	}
	// Free the slots of the tasks that just finished, so this reconcile can issue the next batches.
	r.accountTasks(run)

	inFlight := len(syncingTasks(rs)) > 0
	if rs.Status.Retry != nil && rs.Status.Retry.NextRetryTime != nil && rs.Status.Retry.NextRetryTime.After(run.now) {
		return r.backingOff(run, inFlight), nil
	}

	outcome, err := r.submit(ctx, run)
	if err != nil {
		return r.unreachable(ctx, run, err), nil
	}
	switch outcome {
	case submitStalled:
		return r.finished(ctx, run)
	case submitIssued:
		markInProgress(rs, replicationv1alpha1.SubmittingReason, r.progressMessage(run))
		return ctrl.Result{RequeueAfter: SubmitInterval}, nil
	case submitBackOff:
		return r.backingOff(run, len(syncingTasks(rs)) > 0), nil
	case submitNoCapacity:
		markInProgress(rs, replicationv1alpha1.WaitingForProviderCapacityReason,
			fmt.Sprintf("VasaProvider %q has %d tasks in flight (maxConcurrentTasks %d)", run.vp.Name, r.Sessions.InFlight(run.key), maxConcurrentTasks(run.vp)))
		return r.requeueWithinDeadline(run, r.pollEvery(run)), nil
	}
	if allGroupsFinal(rs) {
		return r.finish(ctx, run)
	}
	markInProgress(rs, replicationv1alpha1.WaitingForTaskReason, r.progressMessage(run))
	return r.requeueWithinDeadline(run, r.pollEvery(run)), nil
}

// waitForProvider keeps looking for a VasaProvider that is missing or not Ready. One that stays NotFound
// beyond ProviderMissingGrace also sets Stalled=True: a human has to re-create it (or the sync).
func (r *ReplicationSyncReconciler) waitForProvider(run *syncRun, msg string) ctrl.Result {
	wait := ProviderWaitInterval
	if !run.providerMissing {
		markInProgress(run.rs, replicationv1alpha1.WaitingForProviderReason, msg)
	} else if left := markProviderMissing(run.rs, msg, run.now); left > 0 {
		wait = min(wait, left)
	}
	return r.requeueWithinDeadline(run, wait)
}

// backingOff waits for status.retry.nextRetryTime, polling tasks in flight meanwhile.
func (r *ReplicationSyncReconciler) backingOff(run *syncRun, inFlight bool) ctrl.Result {
	rs := run.rs
	wait := backoff.Remaining(rs.Status.Retry.NextRetryTime.Time, run.now)
	msg := fmt.Sprintf("Last fault %s, %d in a row; next call at %s",
		rs.Status.Retry.LastFault.Type, rs.Status.Retry.Attempts, rs.Status.Retry.NextRetryTime.UTC().Format(time.RFC3339))
	markInProgress(rs, replicationv1alpha1.BackingOffReason, msg)
	if inFlight {
		wait = min(wait, r.pollEvery(run))
	}
	return r.requeueWithinDeadline(run, max(wait, time.Millisecond))
}

// unreachableFault is the lastFault type recorded when a call failed without a provider fault.
const unreachableFault = "Unreachable"

// unreachable backs off after an SMS call failed without a provider fault (vCenter unreachable, a
// session that cannot be re-established): the run keeps its groups as they are, says why in its
// conditions and retries within activeDeadlineSeconds. Returning the error would leave the retry to
// controller-runtime's rate limiter, which knows nothing of the deadline.
func (r *ReplicationSyncReconciler) unreachable(ctx context.Context, run *syncRun, err error) ctrl.Result {
	ctrl.LoggerFrom(ctx).Error(err, "Calling the provider failed, backing off")
	metrics.ProviderFaultsTotal.WithLabelValues(run.rs.Namespace, run.rs.Spec.ProviderRef.Name, unreachableFault).Inc()
	recordFault(run.rs, unreachableFault, err.Error(), run.now)
	r.startBackOff(run, 0)
	return r.backingOff(run, len(syncingTasks(run.rs)) > 0)
}

// finish ends a run whose groups are all final: Succeeded if all synced, else Failed.
func (r *ReplicationSyncReconciler) finish(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	updateSummary(rs)
	if rs.Status.Summary.Failed == 0 {
		rs.Status.Phase = replicationv1alpha1.SyncSucceeded
		markSucceeded(rs)
		r.event(rs, corev1.EventTypeNormal, "Synced", "Sync", "All %d groups synced to PiT %q", len(rs.Status.Groups), rs.Spec.PitName)
	} else {
		rs.Status.Phase = replicationv1alpha1.SyncFailed
		msg := failedGroupsMessage(rs)
		markFailed(rs, replicationv1alpha1.FailedReason, msg)
		r.event(rs, corev1.EventTypeWarning, "Failed", "Sync", "%s", msg)
	}
	r.completed(ctx, run)
	return r.finished(ctx, run)
}

// deadlineExceeded fails every unfinished group when activeDeadlineSeconds passed.
func (r *ReplicationSyncReconciler) deadlineExceeded(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	msg := fmt.Sprintf("activeDeadlineSeconds (%d) passed", *run.rs.Spec.ActiveDeadlineSeconds)
	r.stall(run, replicationv1alpha1.DeadlineExceededReason, msg)
	r.completed(ctx, run)
	return r.finished(ctx, run)
}

// finished is the terminal state: nothing runs again; the object is deleted after its TTL.
func (r *ReplicationSyncReconciler) finished(ctx context.Context, run *syncRun) (ctrl.Result, error) {
	rs := run.rs
	for i := range rs.Status.Conditions {
		// A spec edit after the end (e.g. ttlSecondsAfterFinished) is observed too.
		rs.Status.Conditions[i].ObservedGeneration = rs.Generation
	}
	if rs.Spec.TTLSecondsAfterFinished == nil || rs.Status.CompletionTime == nil {
		return ctrl.Result{}, nil
	}
	expires := rs.Status.CompletionTime.Add(time.Duration(*rs.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := expires.Sub(run.now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if rs.Status.CompletionTime.Time.Equal(run.now) {
		// Finished in this very reconcile: let the final status be written (and seen) first.
		return ctrl.Result{RequeueAfter: SubmitInterval}, nil
	}
	uid := rs.UID
	if err := r.Delete(ctx, rs, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting finished ReplicationSync after its TTL: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleted finished sync after its TTL", "ttlSecondsAfterFinished", *rs.Spec.TTLSecondsAfterFinished)
	return ctrl.Result{}, nil
}

// stall ends the run without a human fixing something first: unfinished groups fail with the reason.
func (r *ReplicationSyncReconciler) stall(run *syncRun, reason, message string) {
	rs := run.rs
	for i := range rs.Status.Groups {
		if !isFinalGroup(rs.Status.Groups[i]) {
			r.groupFailed(run, i, message)
		}
	}
	rs.Status.Phase = replicationv1alpha1.SyncFailed
	markFailed(rs, reason, message)
	r.event(rs, corev1.EventTypeWarning, "Failed", "Sync", "%s", message)
}

// completed stamps completionTime, releases the provider slots and records the run's metrics.
func (r *ReplicationSyncReconciler) completed(ctx context.Context, run *syncRun) {
	rs := run.rs
	now := metav1.NewTime(run.now)
	rs.Status.CompletionTime = &now
	// Also on the provider's key, which exists before priming even when this run never connected: a
	// later Prime from an older list must not bring the finished run's tasks back.
	r.Sessions.SetTasks(providerKey(rs), run.owner(), nil)
	r.Sessions.ForgetOwner(run.owner())
	provider := rs.Spec.ProviderRef.Name
	result := "succeeded"
	if rs.Status.Phase == replicationv1alpha1.SyncFailed {
		result = "failed"
	}
	metrics.SyncsTotal.WithLabelValues(rs.Namespace, provider, result).Inc()
	if rs.Status.StartTime != nil {
		metrics.SyncDurationSeconds.WithLabelValues(rs.Namespace, provider, result).Observe(run.now.Sub(rs.Status.StartTime.Time).Seconds())
	}
	if result == "succeeded" {
		metrics.LastSuccessTimestampSeconds.WithLabelValues(rs.Namespace, provider).Set(float64(run.now.Unix()))
	}
	ctrl.LoggerFrom(ctx).Info("Sync finished", "phase", rs.Status.Phase, "synced", rs.Status.SyncedDisplay)
}

// connectProvider loads the VasaProvider and its session; it returns why not when it cannot.
func (r *ReplicationSyncReconciler) connectProvider(ctx context.Context, run *syncRun) (string, bool) {
	rs := run.rs
	name := rs.Spec.ProviderRef.Name
	vp := &replicationv1alpha1.VasaProvider{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rs.Namespace, Name: name}, vp); err != nil {
		if apierrors.IsNotFound(err) {
			run.providerMissing = true
			return fmt.Sprintf("VasaProvider %q not found in namespace %s", name, rs.Namespace), false
		}
		return fmt.Sprintf("Reading VasaProvider %q: %v", name, err), false
	}
	if ready, msg := providerReady(vp); !ready {
		return fmt.Sprintf("VasaProvider %q is not Ready: %s", name, msg), false
	}
	if vp.Status.ProviderRef == nil || vp.Status.ProviderRef.Value == "" {
		return fmt.Sprintf("VasaProvider %q has no providerRef yet", name), false
	}
	run.vp, run.key = vp, client.ObjectKeyFromObject(vp)
	r.Sessions.LoadLearnedBatchSize(run.key, vp.Status.LearnedMaxBatchSize)
	cl, err := providerClient(ctx, r.reader(), r.Sessions, r.Dial, vp)
	if err != nil {
		_, msg := classifyConnectError(vp, err)
		return fmt.Sprintf("VasaProvider %q: %s", name, msg), false
	}
	run.cl = cl
	return "", true
}

// adoptUnpersisted puts groups back on the tasks issued for them by an earlier reconcile whose status
// patch failed: issuing them again would start a second sync (and a second PiT).
func (r *ReplicationSyncReconciler) adoptUnpersisted(ctx context.Context, run *syncRun) {
	m, ok := r.memory.Load(run.owner())
	if !ok {
		return
	}
	groups := run.rs.Status.Groups
	for i, t := range m.(*syncMemory).unpersisted {
		if i >= len(groups) || groups[i].State != replicationv1alpha1.GroupPending {
			continue
		}
		g := &groups[i]
		g.State, g.Task, g.Provider, g.Message = replicationv1alpha1.GroupSyncing, t.task, t.provider, ""
		ctrl.LoggerFrom(ctx).Info("Adopting a task whose ref was not persisted", "task", t.task, "group", groupName(g.ReplicationGroupID))
	}
}

// primeTasks rebuilds the provider's in-flight accounting from the status of every unfinished
// ReplicationSync using it, once per process and provider (after a restart nothing is in memory).
// It lists with the API reader when there is one: a cached list may still show a sync Running that
// finished since. Prime takes effect once and never overwrites an owner already set in this process.
func (r *ReplicationSyncReconciler) primeTasks(ctx context.Context, run *syncRun) {
	if r.Sessions.Primed(run.key) {
		return
	}
	list := &replicationv1alpha1.ReplicationSyncList{}
	// No field selector: the provider index exists only in the cache, so filter here.
	if err := r.reader().List(ctx, list, client.InNamespace(run.key.Namespace)); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ReplicationSyncs to count tasks in flight")
		return
	}
	tasks := map[string][]string{}
	for i := range list.Items {
		rs := &list.Items[i]
		if rs.Spec.ProviderRef.Name != run.key.Name || isFinished(rs) {
			continue
		}
		if refs := taskRefs(syncingTasks(rs)); len(refs) > 0 {
			tasks[client.ObjectKeyFromObject(rs).String()] = refs
		}
	}
	// This reconcile's object is fresher than the list.
	tasks[run.owner()] = taskRefs(syncingTasks(run.rs))
	r.Sessions.Prime(run.key, tasks)
}

// accountTasks records this sync's tasks in flight as its status now shows them: once polling has
// freed the slots of finished tasks (before the next batch is issued), and again when the reconcile ends.
func (r *ReplicationSyncReconciler) accountTasks(run *syncRun) {
	if isFinished(run.rs) {
		r.Sessions.ForgetOwner(run.owner())
	} else {
		r.Sessions.SetTasks(run.key, run.owner(), taskRefs(syncingTasks(run.rs)))
	}
	metrics.TasksInFlight.WithLabelValues(run.key.Namespace, run.key.Name).Set(float64(r.Sessions.InFlight(run.key)))
}

// pollTasks reads every task recorded in Syncing groups and applies the finished ones.
// It reports whether a terminal fault stalled the run.
func (r *ReplicationSyncReconciler) pollTasks(ctx context.Context, run *syncRun) (bool, error) {
	log := ctrl.LoggerFrom(ctx)
	tasks := syncingTasks(run.rs)
	for _, ref := range taskRefs(tasks) {
		idx := tasks[ref]
		if _, seen := r.taskSeen.Load(ref); !seen {
			r.taskSeen.Store(ref, run.now)
		}
		info, err := run.cl.TaskInfo(ctx, ref)
		if err != nil {
			var f sms.Fault
			if !errors.As(err, &f) {
				return false, fmt.Errorf("querying task %s: %w", ref, err)
			}
			if !taskGone(f) {
				// Busy, unavailable or anything else: the task may still run. Keep its groups Syncing
				// (issuing them again could create a second PiT) and ask again later.
				r.taskQueryFault(ctx, run, ref, f)
				continue
			}
			// The provider no longer knows the task: issue again (the PiT check comes first).
			log.Info("Task is gone, groups will be re-checked", "task", ref, "fault", f.FaultType())
			for _, i := range idx {
				r.groupPending(run, i, fmt.Sprintf("Task %s is gone (%s)", ref, f.FaultType()))
			}
			r.taskSeen.Delete(ref)
			continue
		}
		switch info.State {
		case sms.TaskSuccess:
			r.applyResults(ctx, run, ref, idx, info.Results)
		case sms.TaskError:
			taskErr := info.Err
			if taskErr == nil {
				taskErr = &sms.ReplicationFaultError{Message: "task " + ref + " failed without a fault"}
			}
			if r.applyFault(ctx, run, idx, taskErr) == outcomeStalled {
				r.taskSeen.Delete(ref)
				return true, nil
			}
		default:
			continue
		}
		r.taskSeen.Delete(ref)
	}
	return false, nil
}

// applyResults applies the per-group results of a finished task.
func (r *ReplicationSyncReconciler) applyResults(ctx context.Context, run *syncRun, ref string, idx []int, results []sms.GroupResult) {
	rs := run.rs
	var retried []int
	defer func() {
		if len(retried) > 0 {
			recordFault(rs, groupErrorFault, fmt.Sprintf("Task %s: %s", ref, rs.Status.Groups[retried[0]].Message), run.now)
			r.backOffGroups(ctx, run, retried)
		}
	}()
	byGroup := make(map[sms.GroupID]sms.GroupResult, len(results))
	for _, res := range results {
		byGroup[res.Group] = res
	}
	for _, i := range idx {
		g := &rs.Status.Groups[i]
		foreign := strings.HasPrefix(g.Message, syncOngoingPrefix)
		res, ok := byGroup[toSMSGroup(g.ReplicationGroupID)]
		switch {
		case ok && res.Succeeded && (res.PitName == "" || res.PitName == rs.Spec.PitName):
			r.groupSynced(run, i, res.PitID, res.PitName, res.TimeStamp, strings.Join(res.Warnings, "; "))
		case foreign:
			r.groupPending(run, i, fmt.Sprintf("Ongoing task %s finished; issuing ours", ref))
		case !ok:
			retried = r.appendRetried(retried, run, i, fmt.Sprintf("Task %s returned no result for the group", ref))
		case res.Succeeded:
			retried = r.appendRetried(retried, run, i, fmt.Sprintf("Task %s created PiT %q, not %q", ref, res.PitName, rs.Spec.PitName))
		default:
			msg := strings.Join(res.Errors, "; ")
			if msg == "" {
				msg = "the provider reported an error without a message"
			}
			retried = r.appendRetried(retried, run, i, msg)
		}
	}
}

// submitOutcome says what submit did.
type submitOutcome int

const (
	submitNothing submitOutcome = iota
	submitIssued
	submitBackOff
	submitNoCapacity
	submitStalled
)

// submit issues the next batch of Pending groups: PiT check first, then SyncReplicationGroup_Task.
// It returns after the first task issued, so the reconcile persists its ref before anything waits.
func (r *ReplicationSyncReconciler) submit(ctx context.Context, run *syncRun) (submitOutcome, error) {
	rs := run.rs
	for round := 0; round < maxSubmitRounds; round++ {
		size := r.batchSize(run)
		rs.Status.BatchSize = size
		batch := nextBatch(rs, int(size), run.vp.Status.ProviderRef.Value)
		if len(batch) == 0 {
			return submitNothing, nil
		}
		slot, ok := r.Sessions.Reserve(run.key, run.owner(), int(maxConcurrentTasks(run.vp)))
		if !ok {
			return submitNoCapacity, nil
		}
		provider := groupProvider(rs.Status.Groups[batch[0]], run.vp.Status.ProviderRef.Value)

		remaining, err := r.checkPiTs(ctx, run, provider, batch)
		if err != nil {
			slot.Release()
			var f sms.Fault
			if !errors.As(err, &f) {
				return submitNothing, fmt.Errorf("querying PiTs at %s: %w", provider, err)
			}
			if o := r.applyFault(ctx, run, batch, err); o != outcomeContinue {
				return outcomeToSubmit(o), nil
			}
			continue
		}
		if len(remaining) == 0 {
			slot.Release()
			continue
		}

		task, err := run.cl.SyncReplicationGroups(ctx, provider, groupIDs(rs, remaining), rs.Spec.PitName)
		if err != nil {
			slot.Release()
			var f sms.Fault
			if !errors.As(err, &f) {
				return submitNothing, fmt.Errorf("syncing %d groups at %s: %w", len(remaining), provider, err)
			}
			if o := r.applyFault(ctx, run, remaining, err); o != outcomeContinue {
				return outcomeToSubmit(o), nil
			}
			continue
		}
		slot.Commit(task)
		r.taskSeen.Store(task, run.now)
		mem := r.memoryOf(run.owner())
		for _, i := range remaining {
			g := &rs.Status.Groups[i]
			g.State, g.Task, g.Provider, g.Message = replicationv1alpha1.GroupSyncing, task, provider, ""
			mem.unpersisted[i] = issuedTask{task: task, provider: provider}
			delete(mem.reroutes, i)
		}
		resetRetry(rs)
		r.event(rs, corev1.EventTypeNormal, "BatchSubmitted", "Sync", "Submitted %d groups to %s as task %s", len(remaining), provider, task)
		ctrl.LoggerFrom(ctx).V(1).Info("Submitted batch", "task", task, "groups", len(remaining), "provider", provider)
		return submitIssued, nil
	}
	return submitIssued, nil // yield; the next reconcile continues
}

func outcomeToSubmit(o faultOutcome) submitOutcome {
	if o == outcomeStalled {
		return submitStalled
	}
	return submitBackOff
}

// checkPiTs marks the groups whose PiT with pitName already exists as Synced (never a second PiT) and
// returns the others. A provider without the query (NotImplemented) cannot tell: all are returned.
func (r *ReplicationSyncReconciler) checkPiTs(ctx context.Context, run *syncRun, provider string, batch []int) ([]int, error) {
	rs := run.rs
	pits, err := run.cl.PointInTimeReplicas(ctx, provider, groupIDs(rs, batch), rs.Spec.PitName)
	if err != nil {
		var ni *sms.NotImplementedError
		if errors.As(err, &ni) {
			return batch, nil
		}
		return nil, err
	}
	found := make(map[sms.GroupID]sms.PointInTime, len(pits))
	for _, p := range pits {
		if p.Name == "" || p.Name == rs.Spec.PitName {
			found[p.Group] = p
		}
	}
	var remaining []int
	for _, i := range batch {
		if p, ok := found[toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)]; ok {
			rs.Status.Groups[i].Provider = provider
			r.groupSynced(run, i, p.ID, p.Name, p.TimeStamp, "PiT already existed")
			continue
		}
		remaining = append(remaining, i)
	}
	return remaining, nil
}

// applyFault applies an SMS fault answered for (or by the task of) the groups at idx.
func (r *ReplicationSyncReconciler) applyFault(ctx context.Context, run *syncRun, idx []int, err error) faultOutcome {
	rs := run.rs
	log := ctrl.LoggerFrom(ctx)
	faultType, faultMsg := "Unknown", err.Error()
	var f sms.Fault
	if errors.As(err, &f) {
		faultType = f.FaultType()
	}
	metrics.ProviderFaultsTotal.WithLabelValues(rs.Namespace, rs.Spec.ProviderRef.Name, faultType).Inc()
	recordFault(rs, faultType, faultMsg, run.now)

	var (
		tooMany  *sms.TooManyError
		busy     *sms.ProviderBusyError
		oor      *sms.ProviderOutOfResourceError
		unavail  *sms.ProviderUnavailableError
		inactive *sms.InactiveProviderError
		ongoing  *sms.SyncOngoingError
		notImpl  *sms.NotImplementedError
		invalid  *sms.InvalidArgumentError
	)
	switch {
	case errors.As(err, &tooMany) && len(idx) > 1:
		// The batch that got TooMany must shrink even when the provider names a size it already had:
		// otherwise the same batch is issued again and again. A single group that gets TooMany cannot
		// shrink: it is counted as a failure of that group below.
		size := int32(max(1, min(tooMany.EffectiveBatchSize(), len(idx)-1)))
		for _, i := range idx {
			r.groupPending(run, i, "")
		}
		r.learnBatchSize(ctx, run, size)
		return outcomeContinue
	case errors.As(err, &busy), errors.As(err, &oor), errors.As(err, &unavail):
		for _, i := range idx {
			r.groupPending(run, i, "")
		}
		retry := rs.Status.Retry
		next := r.startBackOff(run, 0)
		r.event(rs, corev1.EventTypeNormal, "ProviderBusy", "BackOff", "Provider answered %s; retrying in %s", faultType, next.Sub(run.now).Round(time.Millisecond))
		log.Info("Provider busy, backing off", "fault", faultType, "attempts", retry.Attempts, "nextRetryTime", next)
		return outcomeBackOff
	case errors.As(err, &inactive):
		if retried := r.reroute(ctx, run, idx, inactive); len(retried) > 0 {
			r.backOffGroups(ctx, run, retried)
			return outcomeBackOff
		}
		return outcomeContinue
	case errors.As(err, &ongoing):
		for _, i := range idx {
			g := &rs.Status.Groups[i]
			g.State, g.Task, g.Message = replicationv1alpha1.GroupSyncing, ongoing.TaskRef, syncOngoingPrefix+ongoing.TaskRef
		}
		log.Info("A sync of these groups is already running, waiting for it", "task", ongoing.TaskRef, "groups", len(idx))
		return outcomeContinue
	case errors.As(err, &notImpl):
		r.stall(run, replicationv1alpha1.NotImplementedReason, fmt.Sprintf("The provider does not implement SyncReplicationGroup: %s", faultMsg))
		r.completed(ctx, run)
		return outcomeStalled
	case errors.As(err, &invalid):
		r.stall(run, replicationv1alpha1.InvalidArgumentReason, fmt.Sprintf("The provider rejected the request: %s", faultMsg))
		r.completed(ctx, run)
		return outcomeStalled
	}
	var retried []int
	for _, i := range idx {
		if strings.HasPrefix(rs.Status.Groups[i].Message, syncOngoingPrefix) {
			r.groupPending(run, i, "Ongoing task failed; issuing ours")
			continue
		}
		retried = r.appendRetried(retried, run, i, faultMsg)
	}
	if len(retried) > 0 {
		// A counted failure is retried after a backoff, not in this reconcile: backoffLimit bounds
		// attempts spread over time, not a burst of calls.
		r.backOffGroups(ctx, run, retried)
		return outcomeBackOff
	}
	return outcomeContinue
}

// groupErrorFault is the lastFault type recorded for per-group errors of a task result.
const groupErrorFault = "GroupErrorResult"

// appendRetried counts a provider-side failure of group i (groupError) and appends i to retried when
// the group is to be issued again.
func (r *ReplicationSyncReconciler) appendRetried(retried []int, run *syncRun, i int, message string) []int {
	r.groupError(run, i, message)
	if run.rs.Status.Groups[i].State == replicationv1alpha1.GroupPending {
		retried = append(retried, i)
	}
	return retried
}

// backOffGroups delays the next call after a counted failure of the groups at idx (which are Pending
// again): status.retry.nextRetryTime holds every new call until then (the BackingOff state). The delay
// grows with the groups' attempts.
func (r *ReplicationSyncReconciler) backOffGroups(ctx context.Context, run *syncRun, idx []int) {
	var attempts int32
	for _, i := range idx {
		attempts = max(attempts, run.rs.Status.Groups[i].Attempts)
	}
	next := r.startBackOff(run, attempts)
	ctrl.LoggerFrom(ctx).Info("Groups failed, backing off before issuing them again", "groups", len(idx), "attempts", attempts, "nextRetryTime", next)
}

// startBackOff counts one more consecutive fault in status.retry (lastFault recorded by the caller)
// and sets nextRetryTime from the backoff policy, with at least minAttempts as the exponent.
func (r *ReplicationSyncReconciler) startBackOff(run *syncRun, minAttempts int32) time.Time {
	rs := run.rs
	if rs.Status.Retry == nil {
		rs.Status.Retry = &replicationv1alpha1.RetryStatus{}
	}
	retry := rs.Status.Retry
	retry.Attempts++
	next := metav1.NewTime(r.Backoff.Next(max(retry.Attempts, minAttempts), run.now))
	retry.NextRetryTime = &next
	return next.Time
}

// taskGone reports whether a fault answered for a task query means the provider no longer knows the task.
func taskGone(f sms.Fault) bool {
	var other *sms.OtherFaultError
	return errors.As(f, &other) && other.Type == "ManagedObjectNotFound"
}

// taskQueryFault records a fault answered for a task query that does not mean the task is gone.
// Provider-wide faults (busy, out of resource, unavailable) also hold new calls for a backoff.
func (r *ReplicationSyncReconciler) taskQueryFault(ctx context.Context, run *syncRun, ref string, f sms.Fault) {
	rs := run.rs
	metrics.ProviderFaultsTotal.WithLabelValues(rs.Namespace, rs.Spec.ProviderRef.Name, f.FaultType()).Inc()
	recordFault(rs, f.FaultType(), f.Error(), run.now)
	var (
		busy    *sms.ProviderBusyError
		oor     *sms.ProviderOutOfResourceError
		unavail *sms.ProviderUnavailableError
	)
	if errors.As(f, &busy) || errors.As(f, &oor) || errors.As(f, &unavail) {
		r.startBackOff(run, 0)
	}
	ctrl.LoggerFrom(ctx).Info("Querying the task failed, polling it again later", "task", ref, "fault", f.FaultType())
}

// reroute moves the groups of the fault domains named by an InactiveProvider fault to the active
// provider. The other groups of the batch were refused only because they shared the call: they stay
// Pending without an attempt counted, unless nothing could be moved (then the fault is theirs). It returns
// the groups whose counted failure leaves them to be issued again.
func (r *ReplicationSyncReconciler) reroute(ctx context.Context, run *syncRun, idx []int, fault *sms.InactiveProviderError) []int {
	rs := run.rs
	active := map[string]string{}
	for _, m := range fault.Mapping {
		for _, fd := range m.FaultDomainIDs {
			active[fd] = m.ActiveProviderRef
		}
	}
	var moved, stay, retried []int
	mem := r.memoryOf(run.owner())
	for _, i := range idx {
		g := &rs.Status.Groups[i]
		current := groupProvider(*g, run.vp.Status.ProviderRef.Value)
		if to, ok := active[g.FaultDomainID.ID]; ok && to != "" && to != current {
			g.Provider, g.State, g.Task = to, replicationv1alpha1.GroupPending, ""
			g.Message = fmt.Sprintf("Re-routed from inactive provider %s to %s", current, to)
			moved = append(moved, i)
			mem.reroutes[i]++
			if n := mem.reroutes[i]; n > maxConsecutiveReroutes {
				retried = r.appendRetried(retried, run, i, fmt.Sprintf("Re-routed %d times in a row between inactive providers (last from %s to %s)", n, current, to))
			}
			continue
		}
		stay = append(stay, i)
	}
	for _, i := range stay {
		if len(moved) == 0 {
			retried = r.appendRetried(retried, run, i, fmt.Sprintf("Provider is inactive for fault domain %s and named no other active provider", rs.Status.Groups[i].FaultDomainID.ID))
			continue
		}
		r.groupPending(run, i, "")
	}
	ctrl.LoggerFrom(ctx).Info("Re-routed groups to the active provider", "groups", len(moved))
	return retried
}

// learnBatchSize remembers a TooMany size in memory and on the VasaProvider's status.
func (r *ReplicationSyncReconciler) learnBatchSize(ctx context.Context, run *syncRun, size int32) {
	if !r.Sessions.Learn(run.key, size) {
		return
	}
	metrics.LearnedBatchSize.WithLabelValues(run.key.Namespace, run.key.Name).Set(float64(size))
	r.event(run.rs, corev1.EventTypeNormal, "BatchSizeReduced", "Sync", "Provider %s accepts at most %d groups per call; splitting batches", run.vp.Name, size)
	ctrl.LoggerFrom(ctx).Info("Learned the provider's batch size", "vasaProvider", run.key.Name, "batchSize", size)
	before := run.vp.DeepCopy()
	run.vp.Status.LearnedMaxBatchSize = size
	if err := r.Status().Patch(ctx, run.vp, client.MergeFrom(before)); err != nil {
		// Memory has it; the VasaProvider reconciler writes it on its next check.
		ctrl.LoggerFrom(ctx).Error(err, "Recording the learned batch size on the VasaProvider")
	}
}

// groupSynced marks a group Synced with its PiT.
func (r *ReplicationSyncReconciler) groupSynced(run *syncRun, i int, pitID, pitName string, ts time.Time, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.PitID, g.Message = replicationv1alpha1.GroupSynced, pitID, truncateMessage(message)
	g.PitName = pitName
	if g.PitName == "" {
		g.PitName = run.rs.Spec.PitName
	}
	if !ts.IsZero() {
		t := metav1.NewTime(ts)
		g.TimeStamp = &t
	}
	metrics.GroupsTotal.WithLabelValues(run.rs.Namespace, run.rs.Spec.ProviderRef.Name, "synced").Inc()
}

// groupError counts a provider-side failure of a group: Pending for a retry, or Failed beyond backoffLimit.
func (r *ReplicationSyncReconciler) groupError(run *syncRun, i int, message string) {
	g := &run.rs.Status.Groups[i]
	g.Attempts++
	if g.Attempts > backoffLimit(run.rs) {
		r.groupFailed(run, i, message)
		return
	}
	r.groupPending(run, i, message)
}

// groupFailed marks a group Failed.
func (r *ReplicationSyncReconciler) groupFailed(run *syncRun, i int, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Message = replicationv1alpha1.GroupFailed, truncateMessage(message)
	metrics.GroupsTotal.WithLabelValues(run.rs.Namespace, run.rs.Spec.ProviderRef.Name, "failed").Inc()
}

// groupPending puts a group back to Pending, to be issued again.
func (r *ReplicationSyncReconciler) groupPending(run *syncRun, i int, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Task, g.Message = replicationv1alpha1.GroupPending, "", truncateMessage(message)
}

// batchSize is min(spec.maxBatchSize, provider spec.maxBatchSize, learned), each only when > 0.
func (r *ReplicationSyncReconciler) batchSize(run *syncRun) int32 {
	return batching.Size(run.rs.Spec.MaxBatchSize, run.vp.Spec.MaxBatchSize, r.Sessions.LearnedBatchSize(run.key))
}

// nextBatch returns the indexes of the next Pending groups, in spec order, all for the same provider,
// at most size of them (size <= 0: no limit).
func nextBatch(rs *replicationv1alpha1.ReplicationSync, size int, defaultProvider string) []int {
	var batch []int
	provider := ""
	for i, g := range rs.Status.Groups {
		if g.State != replicationv1alpha1.GroupPending {
			continue
		}
		p := groupProvider(g, defaultProvider)
		if len(batch) == 0 {
			provider = p
		} else if p != provider {
			continue
		}
		batch = append(batch, i)
	}
	if chunks := batching.Chunks(batch, size); len(chunks) > 0 {
		return chunks[0]
	}
	return nil
}

// groupProvider is the SMS provider a group is issued to: its re-routed provider or the default.
func groupProvider(g replicationv1alpha1.GroupStatus, defaultProvider string) string {
	if g.Provider != "" {
		return g.Provider
	}
	return defaultProvider
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

// providerKey is the Sessions key of the sync's VasaProvider.
func providerKey(rs *replicationv1alpha1.ReplicationSync) types.NamespacedName {
	return types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.ProviderRef.Name}
}

func maxConcurrentTasks(vp *replicationv1alpha1.VasaProvider) int32 {
	if vp.Spec.MaxConcurrentTasks <= 0 {
		return 4
	}
	return vp.Spec.MaxConcurrentTasks
}

// deadlinePassed reports whether activeDeadlineSeconds has passed.
func (r *ReplicationSyncReconciler) deadlinePassed(run *syncRun) bool {
	d, ok := deadline(run.rs)
	return ok && !run.now.Before(d)
}

// requeueWithinDeadline requeues after d, or at the deadline if that comes first.
func (r *ReplicationSyncReconciler) requeueWithinDeadline(run *syncRun, d time.Duration) ctrl.Result {
	if dl, ok := deadline(run.rs); ok {
		if until := dl.Sub(run.now); until < d {
			d = max(until, time.Millisecond)
		}
	}
	return ctrl.Result{RequeueAfter: d}
}

// pollEvery is the adaptive poll interval for this sync's youngest task in flight.
func (r *ReplicationSyncReconciler) pollEvery(run *syncRun) time.Duration {
	initial, maxd := r.PollInitial, r.PollMax
	if initial <= 0 {
		initial = DefaultPollInitial
	}
	if maxd <= 0 {
		maxd = DefaultPollMax
	}
	age := time.Duration(-1)
	for ref := range syncingTasks(run.rs) {
		if v, ok := r.taskSeen.Load(ref); ok {
			if a := run.now.Sub(v.(time.Time)); age < 0 || a < age {
				age = a
			}
		}
	}
	if age < 0 {
		age = 0
	}
	return pollInterval(age, initial, maxd)
}

// progressMessage summarizes the run for the Reconciling condition.
func (r *ReplicationSyncReconciler) progressMessage(run *syncRun) string {
	updateSummary(run.rs)
	s := run.rs.Status.Summary
	return fmt.Sprintf("%d/%d groups synced, %d failed, %d tasks in flight", s.Synced, s.Total, s.Failed, len(syncingTasks(run.rs)))
}
