package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
)

const (
	// scheduleRequeueSlack is added to the wait for the next scheduled time so the reconcile lands just after it.
	scheduleRequeueSlack = 100 * time.Millisecond
	// statusConflictRequeue is the wait before retrying when the schedule changed between read and status patch.
	statusConflictRequeue = time.Second
	// runRejectedRetry is how often a run the API server refused to create is tried again (sooner when its
	// starting deadline ends first): the controller's own backoff reaches 16 minutes, past many deadlines,
	// while a quota or a policy may be fixed at any time.
	runRejectedRetry = time.Minute
	// runCreateRetry is how often a run whose create failed otherwise (an admission webhook down,
	// throttling, a timeout) is tried again, sooner when its starting deadline ends first.
	runCreateRetry = 10 * time.Second

	// defaultSuccessfulHistoryLimit and defaultFailedHistoryLimit are CronJob's defaults (the CRD sets them too).
	defaultSuccessfulHistoryLimit = 3
	defaultFailedHistoryLimit     = 1

	// maxObjectNameLength is the longest object name (DNS subdomain).
	maxObjectNameLength = 253
)

// DefaultMaxConcurrentScheduleReconciles bounds parallel ReplicationSyncSchedule reconciles. Schedules on the
// same tick (every one at "0 2 * * *") are all due at once; one at a time, those last in line could pass a
// short startingDeadlineSeconds before their run is created.
const DefaultMaxConcurrentScheduleReconciles = 8

// Event reasons of ReplicationSyncSchedule (MissedSchedule is replicationv1alpha1.MissedScheduleReason).
const (
	// EventRunCreated: a ReplicationSync was created for a scheduled time.
	EventRunCreated = "RunCreated"
	// EventRunReplaced: an active ReplicationSync was deleted because concurrencyPolicy is Replace.
	EventRunReplaced = "RunReplaced"
	// EventRunCutShort: the creation of a run shared over several ReplicationSyncs was cut short and could
	// not be completed.
	EventRunCutShort = "RunCutShort"
	// EventGroupsLeftOut: groups the selector matched have ids a share's groupIds cannot name.
	EventGroupsLeftOut = "GroupsLeftOut"
	// EventFailedDelete: a finished run beyond the history limit could not be deleted (CronJob's reason).
	EventFailedDelete = "FailedDelete"
)

// ReplicationSyncScheduleReconciler stamps out ReplicationSyncs on a cron schedule, as the CronJob
// controller stamps out Jobs.
type ReplicationSyncScheduleReconciler struct {
	client.Client
	// Scheme resolves the schedule's kind for owner references.
	Scheme *runtime.Scheme
	// Recorder emits events.k8s.io Events.
	Recorder events.EventRecorder
	// Clock tells the time; tests use a fake one.
	Clock clock.PassiveClock
	// APIReader reads past the cache where a stale read would adopt someone else's object;
	// SetupWithManager defaults it to the manager's API reader.
	APIReader client.Reader
	// MaxConcurrentReconciles bounds parallel reconciles; 0 means DefaultMaxConcurrentScheduleReconciles.
	MaxConcurrentReconciles int

	// templates remembers validTemplate's outcomes.
	templates templateChecks
}

// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncschedules/status,verbs=patch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncschedules/finalizers,verbs=update
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager watches schedules (spec changes only: status writes are our own) and the
// ReplicationSyncs they own (created, deleted, or changed phase).
func (r *ReplicationSyncScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	concurrency := r.MaxConcurrentReconciles
	if concurrency <= 0 {
		concurrency = DefaultMaxConcurrentScheduleReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("replicationsyncschedule").
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		For(&replicationv1alpha1.ReplicationSyncSchedule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Every owner: a run made by hand from the schedule is owned, not controlled, by it, and its end
		// must count for lastSuccessfulTime at once.
		Owns(&replicationv1alpha1.ReplicationSync{}, builder.WithPredicates(runPhaseChanged()), builder.MatchEveryOwner).
		Complete(r)
}

// runPhaseChanged lets through ReplicationSync updates that change the phase; creates and deletes always pass.
func runPhaseChanged() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldRun, okOld := e.ObjectOld.(*replicationv1alpha1.ReplicationSync)
			newRun, okNew := e.ObjectNew.(*replicationv1alpha1.ReplicationSync)
			if !okOld || !okNew {
				return true
			}
			return oldRun.Status.Phase != newRun.Status.Phase || !oldRun.DeletionTimestamp.Equal(newRun.DeletionTimestamp)
		},
	}
}

// scheduleScope is what one reconcile of a schedule works with.
type scheduleScope struct {
	sched *replicationv1alpha1.ReplicationSyncSchedule
	now   time.Time
	// active, succeeded and failed are the ReplicationSyncs the schedule controls, by phase.
	active, succeeded, failed []*replicationv1alpha1.ReplicationSync
	// names holds the names of all of them, deleting ones included.
	names map[string]bool
	// old are the finished runs beyond the history limits, deleted once the status is stored.
	old []*replicationv1alpha1.ReplicationSync
	// owned holds them and the runs made by hand from the template (owned, not controlled).
	owned []*replicationv1alpha1.ReplicationSync
	// sets tallies them (and the runs made by hand from the template) by set of shares.
	sets runSets
	// latestRun is the latest scheduled time among them.
	latestRun time.Time
	// unrecordedSince is, when a run exists whose start status does not record (the status write after
	// its create failed, or the create's answer was lost), the watermark status recorded before it.
	unrecordedSince time.Time
	// afterPatch runs once the status is stored, so events and counters match what status says.
	afterPatch []func()
	// awaitingDiscovery: the due run waits for its provider's first discovery, which no watch reports.
	awaitingDiscovery bool
}

// Reconcile creates the ReplicationSync that is due, reports runs that were missed, enforces the
// concurrency policy and history limits, and requeues for the next scheduled time.
func (r *ReplicationSyncScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	log := ctrl.LoggerFrom(ctx)
	sched := &replicationv1alpha1.ReplicationSyncSchedule{}
	if err := r.Get(ctx, req.NamespacedName, sched); err != nil {
		if apierrors.IsNotFound(err) {
			forgetScheduleMetrics(req.Namespace, req.Name)
			r.templates.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting ReplicationSyncSchedule %s: %w", req.NamespacedName, err)
	}
	if !sched.DeletionTimestamp.IsZero() {
		// The garbage collector deletes the owned ReplicationSyncs.
		return ctrl.Result{}, nil
	}

	before := sched.DeepCopy()
	s := &scheduleScope{sched: sched, now: clockNow(r.Clock), names: map[string]bool{}}
	defer func() {
		err := r.patchStatus(ctx, before, sched)
		switch {
		case err == nil:
			for _, f := range s.afterPatch {
				f()
			}
			setScheduleReadyMetric(sched)
			hold, err := r.deleteOldRuns(ctx, s.old, s.now)
			if err != nil {
				// Not returned: the controller's backoff would then run the schedule (up to 16 minutes late)
				// for as long as the deletes fail. Tried again within a minute; the runs are only kept longer.
				log.Error(err, "Could not delete a finished run beyond the history limit", "schedule", klog.KObj(sched))
				r.Recorder.Eventf(sched, nil, corev1.EventTypeWarning, EventFailedDelete, "Delete",
					"Could not delete a finished run beyond the history limit; trying again within a minute: %v", err)
				hold = runRejectedRetry
			}
			if hold > 0 && (result.RequeueAfter == 0 || hold < result.RequeueAfter) {
				result.RequeueAfter = hold
			}
		case apierrors.IsConflict(err) && reterr == nil:
			log.V(1).Info("Schedule changed since it was read, retrying", "schedule", klog.KObj(sched))
			result = ctrl.Result{RequeueAfter: statusConflictRequeue}
		default:
			reterr = errors.Join(reterr, fmt.Errorf("patching status of ReplicationSyncSchedule %s: %w", req.NamespacedName, err))
			result = ctrl.Result{}
		}
	}()

	observeSchedule(sched, s.now)
	sched.Status.ObservedGeneration = sched.Generation
	if err := r.observeRuns(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	s.old = oldRuns(s) // deleted after the status patch

	schedule, err := cronschedule.Parse(sched.Spec.Schedule, ptr.Deref(sched.Spec.TimeZone, ""))
	if err != nil {
		// No interval: the interval of the expression before the edit would keep the RPO alert on a
		// schedule that no longer exists (the NotReady alert covers this one).
		metrics.ScheduleIntervalSeconds.DeleteLabelValues(sched.Namespace, sched.Name)
		return r.reconcileInvalid(ctx, s, replicationv1alpha1.InvalidScheduleReason, err)
	}
	// Also while stalled or suspended: a broken template or a forgotten suspend must reach the RPO alert.
	setScheduleInterval(sched, schedule, schedule.Next(s.now))
	tmpl, err := r.validTemplate(s, schedule)
	if err != nil {
		return r.reconcileInvalid(ctx, s, replicationv1alpha1.InvalidTemplateReason, err)
	}
	if ptr.Deref(sched.Spec.Suspend, false) {
		return r.reconcileSuspended(ctx, s)
	}
	return r.reconcileScheduled(ctx, s, schedule, tmpl)
}

// patchStatus writes the status once, if it changed, failing on a concurrent change so that counters
// (missedRuns) are never computed twice from a stale read.
func (r *ReplicationSyncScheduleReconciler) patchStatus(ctx context.Context, before, after *replicationv1alpha1.ReplicationSyncSchedule) error {
	if equality.Semantic.DeepEqual(before.Status, after.Status) {
		return nil
	}
	return r.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// observeRuns lists the ReplicationSyncs the schedule controls and derives status.active,
// status.lastSuccessfulTime, the success metric and (if it lags) status.lastScheduleTime from them.
// A succeeded run made by hand from the template (owned by the schedule, not controlled) counts for
// lastSuccessfulTime too: its PiT is a recovery point like any other.
func (r *ReplicationSyncScheduleReconciler) observeRuns(ctx context.Context, s *scheduleScope) error {
	sched := s.sched
	list := &replicationv1alpha1.ReplicationSyncList{}
	if err := r.List(ctx, list, client.InNamespace(sched.Namespace),
		client.MatchingLabels{replicationv1alpha1.ScheduleLabel: replicationv1alpha1.ScheduleLabelValue(sched.Name)}); err != nil {
		return fmt.Errorf("listing ReplicationSyncs of schedule %s: %w", klog.KObj(sched), err)
	}
	sets := runSets{}
	for i := range list.Items {
		if run := &list.Items[i]; metav1.IsControlledBy(run, sched) || ownedBy(run, sched) {
			sets.add(run) // a run made from the template by hand (owned, not controlled) counts for the RPO
			s.owned = append(s.owned, run)
		}
	}
	s.sets = sets
	for i := range list.Items {
		run := &list.Items[i]
		if !metav1.IsControlledBy(run, sched) {
			continue
		}
		s.names[run.Name] = true
		// A set whose creation was cut short is not started yet: the next reconcile completes it.
		if t, ok := scheduledTimeOf(run); ok && t.After(s.latestRun) && sets.complete(run) {
			s.latestRun = t
		}
		switch {
		case run.Status.Phase == replicationv1alpha1.SyncSucceeded:
			s.succeeded = append(s.succeeded, run)
		case run.Status.Phase == replicationv1alpha1.SyncFailed:
			s.failed = append(s.failed, run)
		case run.DeletionTimestamp.IsZero():
			// Runs being deleted (e.g. replaced) no longer count as active.
			s.active = append(s.active, run)
		}
	}
	for _, runs := range [][]*replicationv1alpha1.ReplicationSync{s.active, s.succeeded, s.failed} {
		slices.SortFunc(runs, compareRuns)
	}

	// A run exists whose start was not recorded (a crash between creating it and storing status, or a
	// create whose answer was lost).
	if last := sched.Status.LastScheduleTime; !s.latestRun.IsZero() && (last == nil || s.latestRun.After(last.Time)) {
		s.unrecordedSince = s.recorded()
		sched.Status.LastScheduleTime = &metav1.Time{Time: s.latestRun}
	}
	sched.Status.Active = nil
	for _, run := range s.active {
		sched.Status.Active = append(sched.Status.Active, runReference(run))
	}
	// A schedule that records no recovery point yet but a success (upgraded from a release without the
	// field) takes recovery points only of that success or later: a run it kept from before (a months-old
	// run by hand) would set one older than the success it counted from.
	var recordedSuccess time.Time
	if last := sched.Status.LastSuccessfulTime; sched.Status.LastRecoveryPointTime == nil && last != nil {
		recordedSuccess = last.Time
	}
	finished, recoveryPoints := sets.successes(recordedSuccess)
	sched.Status.LastSuccessfulTime = newestOf(sched.Status.LastSuccessfulTime, finished)
	sched.Status.LastRecoveryPointTime = newestOf(sched.Status.LastRecoveryPointTime, recoveryPoints)
	// A schedule that never succeeded counts from its creation, so that its RPO alert fires too. One whose
	// successes predate lastRecoveryPointTime (an older operator) counts from its last success.
	since := sched.CreationTimestamp.Time
	if t := sched.Status.LastRecoveryPointTime; t != nil {
		since = t.Time
	} else if t := sched.Status.LastSuccessfulTime; t != nil {
		since = t.Time
	}
	metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(sched.Namespace, sched.Name).Set(float64(since.Unix()))
	return nil
}

// ownedBy reports whether run names the schedule among its owners (a run made by hand from the
// template, e.g. `kubectl vasa sync --from-schedule` or the Argo CD action, is owned but not controlled).
func ownedBy(run *replicationv1alpha1.ReplicationSync, sched *replicationv1alpha1.ReplicationSyncSchedule) bool {
	return slices.ContainsFunc(run.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == sched.UID })
}

// oldRuns returns, oldest first, the finished runs beyond the newest successfulHistoryLimit succeeded
// and failedHistoryLimit failed ones, as observed at the reconcile's start. A run shared over several
// ReplicationSyncs goes as a whole, once all of them finished; it failed if one of them did.
func oldRuns(s *scheduleScope) []*replicationv1alpha1.ReplicationSync {
	spec := s.sched.Spec
	var succeeded, failed []*setTally
	var old []*replicationv1alpha1.ReplicationSync
	seen := map[string]bool{}
	for _, run := range slices.Concat(s.succeeded, s.failed) {
		key, _ := runSet(run)
		set := s.sets[key]
		if seen[key] || set == nil || set.succeeded+set.failed < len(set.runs) {
			continue // counted, or not finished
		}
		if !set.complete() && !s.started(run) {
			continue // cut short, and may still be completed
		}
		seen[key] = true
		if set.failed > 0 || !set.complete() {
			failed = append(failed, set)
		} else {
			succeeded = append(succeeded, set)
		}
	}
	for _, h := range []struct {
		sets  []*setTally
		limit int32
	}{
		{succeeded, ptr.Deref(spec.SuccessfulHistoryLimit, defaultSuccessfulHistoryLimit)},
		{failed, ptr.Deref(spec.FailedHistoryLimit, defaultFailedHistoryLimit)},
	} {
		slices.SortFunc(h.sets, func(a, b *setTally) int { return compareRuns(a.runs[0], b.runs[0]) })
		excess := len(h.sets) - int(max(h.limit, 0))
		for _, set := range h.sets[:max(excess, 0)] {
			for _, run := range set.runs {
				if run.DeletionTimestamp.IsZero() {
					old = append(old, run)
				}
			}
		}
	}
	return old
}

// deleteOldRuns deletes the runs oldRuns found; it runs once the status that counts their outcomes
// (lastSuccessfulTime) is stored, or a success would be lost with its run. A run its groups' lastSync
// does not show yet stays (lastSyncHold), with the other shares of its set, which go as a whole; it
// returns when to look again.
func (r *ReplicationSyncScheduleReconciler) deleteOldRuns(ctx context.Context, old []*replicationv1alpha1.ReplicationSync, now time.Time) (time.Duration, error) {
	var again time.Duration
	held := map[string]bool{}
	for _, run := range old {
		hold, err := lastSyncHold(ctx, r.Client, run, now)
		if err != nil {
			return 0, err
		}
		if hold > 0 {
			key, _ := runSet(run)
			held[key] = true
			if again == 0 || hold < again {
				again = hold
			}
		}
	}
	for _, run := range old {
		if key, _ := runSet(run); held[key] {
			continue
		}
		if err := r.deleteRun(ctx, run); err != nil {
			return 0, err
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Deleted finished ReplicationSync beyond the history limit",
			"replicationSync", klog.KObj(run), "phase", run.Status.Phase)
	}
	return again, nil
}

func (r *ReplicationSyncScheduleReconciler) deleteRun(ctx context.Context, run *replicationv1alpha1.ReplicationSync) error {
	err := r.Delete(ctx, run, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ReplicationSync %s: %w", klog.KObj(run), err)
	}
	return nil
}

// reconcileInvalid: the schedule or its template is invalid; nothing runs until the spec changes.
func (r *ReplicationSyncScheduleReconciler) reconcileInvalid(ctx context.Context, s *scheduleScope, reason string, err error) (ctrl.Result, error) {
	ctrl.LoggerFrom(ctx).Info("Schedule cannot run", "schedule", klog.KObj(s.sched), "reason", reason, "problem", err.Error())
	markScheduleStalled(s.sched, reason, err.Error(), s.now)
	return ctrl.Result{}, nil
}

// reconcileSuspended: no new runs; active ones go on. Runs due meanwhile count as missed on resume,
// as for a CronJob.
func (r *ReplicationSyncScheduleReconciler) reconcileSuspended(_ context.Context, s *scheduleScope) (ctrl.Result, error) {
	s.sched.Status.NextScheduleTime = nil
	markScheduleReady(s.sched, replicationv1alpha1.SuspendedReason,
		fmt.Sprintf("Suspended: no new runs start (%d active)", len(s.active)), s.now)
	return ctrl.Result{}, nil
}

// reconcileScheduled starts the run that is due, if any, reports the ones that were missed, and
// requeues for the next scheduled time.
func (r *ReplicationSyncScheduleReconciler) reconcileScheduled(ctx context.Context, s *scheduleScope, schedule *cronschedule.Schedule, tmpl *pitname.Template) (ctrl.Result, error) {
	sched, st := s.sched, &s.sched.Status
	watermark := s.watermark()
	w := schedule.Window(watermark, s.now)

	// Runs due before a change of schedule or timeZone was observed are not counted as missed; those
	// after it, on the grid of w (an @every grid runs from the watermark, not from the change).
	countFrom, counted := watermark, w
	if t := st.ScheduleChangeTime; t != nil && t.After(watermark) {
		countFrom, counted = t.Time, schedule.Window(schedule.GridAtOrBefore(watermark, t.Time), s.now)
	}
	missed := missedRuns{count: counted.Skipped, last: counted.LastSkipped, superseded: counted.Skipped, tooMany: counted.TooMany}
	if lost := s.unrecordedMissed(schedule); lost.Skipped > 0 {
		missed.count += lost.Skipped
		missed.superseded += lost.Skipped
		missed.tooMany = missed.tooMany || lost.TooMany
		if missed.last.IsZero() {
			missed.last = lost.LastSkipped
		}
	}
	due := w.MostRecent
	if deadline := sched.Spec.StartingDeadlineSeconds; !due.IsZero() && deadline != nil &&
		s.now.After(due.Add(seconds(*deadline))) {
		if due.After(countFrom) {
			missed.count++
			missed.last = due
			missed.deadline = deadline
		}
		due = time.Time{}
	}
	if missed.count > 0 {
		r.recordMissed(ctx, s, missed)
	}

	var message string
	requeueAt := w.Next
	// A run whose create failed, not one whose create answered an error but was done all the same.
	stillRejected := due.IsZero() && s.unrecordedSince.IsZero() && scheduleReadyReason(sched) == replicationv1alpha1.RunRejectedReason
	// A run skipped for want of a usable PiT name says so in Ready until the next run, whatever wakes the
	// schedule meanwhile, unless the spec changed since (a template found invalid as a whole and then
	// fixed has the same reason).
	ready := meta.FindStatusCondition(st.Conditions, replicationv1alpha1.ReadyCondition)
	stillUnnamed := due.IsZero() && ready != nil && ready.Reason == replicationv1alpha1.InvalidTemplateReason &&
		ready.ObservedGeneration == sched.Generation
	if !due.IsZero() {
		started, waiting, err := r.startRun(ctx, s, schedule, tmpl, due)
		if err != nil {
			var invalid *pitNameError
			if errors.As(err, &invalid) {
				// This run's name only: the next run's may do, so it is tried when due. This one is missed now,
				// with its cause; left to the next run, it would be counted then as overtaken.
				r.recordMissed(ctx, s, missedRuns{count: 1, last: due, unnamed: invalid.err})
				res, err := r.reconcileInvalid(ctx, s, replicationv1alpha1.InvalidTemplateReason, invalid.err)
				if !w.Next.IsZero() {
					res.RequeueAfter = w.Next.Sub(s.now)
					st.NextScheduleTime = &metav1.Time{Time: w.Next}
				}
				return res, err
			}
			// Every other error too: returned, it would leave Ready as it was and retry on the controller's
			// backoff, which reaches 16 minutes, past the run's starting deadline.
			rejected := runNotCreated(err)
			r.recordRunRejected(s, due, rejected)
			retry := rejected.retryIn()
			if deadline := sched.Spec.StartingDeadlineSeconds; deadline != nil {
				// Halfway to the deadline, so the retry comes before it, not at it: a wake-up at the deadline
				// finds the run missed.
				retry = min(retry, max(due.Add(seconds(*deadline)).Sub(s.now)/2, time.Second))
			}
			ctrl.LoggerFrom(ctx).Info("The run's ReplicationSync was not created", "scheduledTime", due, "error", err.Error(), "retryIn", retry)
			return ctrl.Result{RequeueAfter: retry}, nil
		}
		if !started {
			message = waiting
			if s.awaitingDiscovery {
				requeueAt = s.now.Add(discoveryWaitRecheck)
			}
			if deadline := sched.Spec.StartingDeadlineSeconds; deadline != nil {
				// Wake up when the waiting run turns into a missed one.
				if expiry := due.Add(seconds(*deadline)); requeueAt.IsZero() || expiry.Before(requeueAt) {
					requeueAt = expiry
				}
			}
		}
	}

	st.NextScheduleTime = nil
	if !w.Next.IsZero() {
		st.NextScheduleTime = &metav1.Time{Time: w.Next}
	}
	if sched.Spec.ConcurrencyPolicy == replicationv1alpha1.ReplaceConcurrent {
		if err := r.replaceEarlierRuns(ctx, s); err != nil {
			r.recordRunNotReplaced(s, err)
			retry := retryIn(refused(err))
			if !w.Next.IsZero() {
				retry = min(retry, max(w.Next.Sub(s.now), 0)+scheduleRequeueSlack)
			}
			return ctrl.Result{RequeueAfter: retry}, nil
		}
	}

	if !w.Next.IsZero() && message == "" {
		message = "Next run at " + w.Next.Format(time.RFC3339)
	}
	if message == "" {
		message = "The schedule fires no more runs"
	}
	if stillUnnamed {
		return ctrl.Result{RequeueAfter: max(requeueAt.Sub(s.now), 0) + scheduleRequeueSlack}, nil
	}
	if stillRejected {
		// The run the API server refused was missed past its startingDeadlineSeconds, and none was created
		// since: the schedule stays Ready=False (and its alert fires) until a run is created.
		markScheduleRejectedRunMissed(sched, message, s.now)
		return ctrl.Result{RequeueAfter: max(requeueAt.Sub(s.now), 0) + scheduleRequeueSlack}, nil
	}
	markScheduleReady(sched, replicationv1alpha1.ScheduledReason, message, s.now)
	if requeueAt.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(requeueAt.Sub(s.now), 0) + scheduleRequeueSlack}, nil
}

// started reports whether the run's start is recorded in status.lastScheduleTime.
func (s *scheduleScope) started(run *replicationv1alpha1.ReplicationSync) bool {
	t, ok := scheduledTimeOf(run)
	last := s.sched.Status.LastScheduleTime
	return !ok || (last != nil && !t.After(last.Time))
}

// watermark is the latest scheduled time already accounted for: started (status or an existing
// run, which covers a crash between creating a run and storing status) or reported missed. A new
// schedule starts counting at its creation, as a CronJob does.
func (s *scheduleScope) watermark() time.Time {
	w := s.recorded()
	if s.latestRun.After(w) {
		w = s.latestRun
	}
	return w
}

// recorded is the watermark as status records it.
func (s *scheduleScope) recorded() time.Time {
	w := s.sched.CreationTimestamp.Time
	for _, t := range []*metav1.Time{s.sched.Status.LastScheduleTime, s.sched.Status.LastMissedTime} {
		if t != nil && t.After(w) {
			w = t.Time
		}
	}
	return w
}

// unrecordedMissed are the runs missed before a run whose start status did not record: the reconcile
// that created it counted them, but its status write, which would have stored them, failed.
// Runs due before a change of schedule or timeZone are not counted, as in reconcileScheduled.
func (s *scheduleScope) unrecordedMissed(schedule *cronschedule.Schedule) cronschedule.Window {
	since := s.unrecordedSince
	if since.IsZero() {
		return cronschedule.Window{}
	}
	if t := s.sched.Status.ScheduleChangeTime; t != nil && t.After(since) {
		if !t.Time.Before(s.latestRun) {
			return cronschedule.Window{}
		}
		since = schedule.GridAtOrBefore(since, t.Time)
	}
	return schedule.Window(since, s.latestRun)
}
