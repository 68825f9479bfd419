package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

const (
	// DefaultPollInitial is the least wait before querying again a task past the provider's typical
	// duration without progress, or one first seen already running.
	DefaultPollInitial = 250 * time.Millisecond
	// DefaultPollMax caps the interval between two queries of a task (not the wait for its first query).
	DefaultPollMax = 30 * time.Second
	// ProviderWaitInterval is how often a sync waiting for its provider looks again (VasaProvider
	// changes also wake it up).
	ProviderWaitInterval = time.Minute
	// ProviderMissingGrace is how long a sync waits for a VasaProvider that does not exist before it also
	// reports Stalled=True (reason WaitingForProvider); it keeps retrying after.
	ProviderMissingGrace = 5 * time.Minute
	// DefaultMaxConcurrentSyncReconciles bounds parallel ReplicationSync reconciles. A reconcile mostly
	// waits (for the provider, the API server, a fast task it issued): 2,000 one-group syncs on 2 cores
	// finished in 20.1 s with 16 and 18.9 s with 32 (make bench-e2e BENCH=Goals/many-2000).
	DefaultMaxConcurrentSyncReconciles = 32
	// wakeupBuffer bounds the wake-ups of waiting runs not yet taken by the controller.
	wakeupBuffer = 4096
	// conflictRetry is how soon a reconcile whose write lost to another writer runs again.
	conflictRetry = 50 * time.Millisecond

	// replicationSyncProviderIndex indexes ReplicationSyncs by spec.providerRef.name.
	replicationSyncProviderIndex = "replicationsync.providerRef"
)

// ReplicationSyncReconciler runs ReplicationSyncs: a state machine derived from status
// (replicationsync_machine.go) around claim -> call -> commit.
type ReplicationSyncReconciler struct {
	client.Client
	// APIReader reads Secret values and, after a lost commit, the ReplicationSync uncached; nil means
	// mgr.GetAPIReader(), set by SetupWithManager.
	APIReader client.Reader
	// Sessions is shared with the VasaProviderReconciler.
	Sessions Sessions
	// Capacity is shared with the VasaProviderReconciler, which writes what it learns to status.
	Capacity *capacity.Ledger
	// ProviderEvents wakes the VasaProviderReconciler when Capacity learned something; nil means none.
	ProviderEvents chan<- event.GenericEvent
	// Dial opens SMS sessions; nil means sms.Dial.
	Dial DialFunc
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// Recorder records events; nil means none.
	Recorder events.EventRecorder
	// Backoff is the backoff for provider-wide faults and retried groups.
	Backoff backoff.Policy
	// PollInitial and PollMax bound the task poll interval; 0 means the defaults.
	PollInitial, PollMax time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles; 0 means DefaultMaxConcurrentSyncReconciles.
	MaxConcurrentReconciles int

	// replaced tells a cache read that is behind this process's own writes (replicationsync_stale.go).
	replaced replacedVersions
	// inProgress counts the reconciles running, and the release of pre-claims at a stop (Drain).
	inProgress atomic.Int64
	// armed are the batches this process pre-claimed and has not called (replicationsync_preclaim.go).
	armedMu  sync.Mutex
	armed    map[types.NamespacedName]*armedRun
	stopping bool // the manager stops: nothing more is armed
	// pollDue caches, per task in flight, when it was issued and is next worth querying (taskKey ->
	// taskTiming, replicationsync_tasktiming.go); losing it costs an early query, nothing else.
	pollDue sync.Map
	// claimsVerified is when a dry run last showed that the API server keeps claim times
	// (replicationsync_crdguard.go); nil before the first.
	claimsVerified atomic.Pointer[time.Time]
	// peers are the runs of each PiT name (replicationsync_peers.go).
	peers pitPeers
	// calls times the runs' calls per provider (replicationsync_callwatch.go).
	calls callWatch
	// inFlightMu orders the exports of vasa_sync_tasks_in_flight (exportInFlight).
	inFlightMu sync.Mutex
}

// maxConcurrentReconciles is MaxConcurrentReconciles, or its default.
func (r *ReplicationSyncReconciler) maxConcurrentReconciles() int {
	if r.MaxConcurrentReconciles <= 0 {
		return DefaultMaxConcurrentSyncReconciles
	}
	return r.MaxConcurrentReconciles
}

// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs/status,verbs=patch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile advances one ReplicationSync by one step of its state machine. A step that claims a wave
// writes twice: the claim (groups Issuing) before any call, the task refs after.
func (r *ReplicationSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.inProgress.Add(1)
	defer r.inProgress.Add(-1)
	// The cache is enough: every write names the resourceVersion it was planned on, so a stale read
	// costs a conflict and a retry, never a second call.
	rs := &replicationv1alpha1.ReplicationSync{}
	if err := r.Get(ctx, req.NamespacedName, rs); err != nil {
		if apierrors.IsNotFound(err) {
			// Its tasks no longer count against the provider (they may still run, but no one waits for
			// them; re-creating the sync finds their PiTs).
			r.releaseSlots(req.String())
			metrics.ForgetRun(req.Namespace, req.Name)
			r.replaced.forget(req.NamespacedName)
			r.disarm(req.NamespacedName)
			r.forgetTimingsOf(req.NamespacedName)
			// Its watch event took it out of r.peers, but a reconcile that read it before may have put it back.
			r.peers.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	switch r.replaced.check(req.NamespacedName, rs.ResourceVersion) {
	case cacheBehind:
		return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
	case cacheLate:
		*rs = replicationv1alpha1.ReplicationSync{} // decoded over the cached copy, fields the newer version omits would stay
		if err := r.reader().Get(ctx, req.NamespacedName, rs); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err) // gone: its watch event forgets it
		}
	}
	if !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	r.peers.know(rs)
	// The provider and PiT name on every line: what on-call greps for.
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("replicationSync", klog.KObj(rs),
		"vasaProvider", klog.KRef(rs.Namespace, rs.Spec.ProviderRef.Name), "pitName", rs.Spec.PitName))

	before := rs.DeepCopy()
	run := &syncRun{rs: rs, now: clockNow(r.Clock)}
	defer run.releasePeers()
	defer r.rearm(run)
	res, err := r.advance(ctx, run)
	var refused []syncBatch // a first wave the provider refused whole (TooMany), planned again below
	// The writes of claims, and of a refused wave's groups back to Pending, are not cut short by a manager
	// stopping: one the API server applied, while this process took it for failed, would leave the groups
	// Issuing without a call, in doubt for the next manager. Each gets commitGrace of its own: a refused
	// wave's calls, and the writes before them, must not leave the write after them without time.
	writes := &writeBudgets{parent: ctx}
	defer writes.release()
	for {
		if len(run.wave) == 0 {
			run.releasePeers() // no claim to write: peers need not wait for this write
			if refused != nil {
				return r.writeStatus(writes.next(), run, before, res, err)
			}
			return r.writeStatus(ctx, run, before, res, err)
		}
		// Claim: the wave's groups are Issuing in status before any call. Losing the write means another
		// writer (a second manager, a user) changed the object: call nothing, re-read, plan again. Batches
		// pre-claimed by an earlier commit, or covered by the claim of a refused wave, are in status already.
		// A manager that is stopping claims nothing new; a claim written goes on to its calls and commit.
		claimed := before
		if slices.ContainsFunc(run.wave, func(b syncBatch) bool { return b.armed.IsZero() && !b.covered }) {
			if ctx.Err() != nil && refused == nil {
				return ctrl.Result{}, nil
			}
			wctx := writes.next()
			if kept, werr := r.claimsKept(wctx, before, rs, run.wave); werr != nil || !kept {
				if werr != nil {
					r.holdSlotsAfterLostClaim(run, before)
					return r.lostWrite(before, werr)
				}
				return r.claimsDropped(wctx, run, before)
			}
			if werr := r.patchStatus(wctx, before, rs); werr != nil {
				r.holdSlotsAfterLostClaim(run, before)
				return r.lostWrite(before, werr)
			}
			r.reportMadeElsewhere(run) // the groups the PiT check settled are stored: a lost commit must not lose it
			claimed = rs.DeepCopy()
		}
		run.releasePeers() // the claims are written: a peer reading this run now sees them
		r.takeArmed(run)
		if len(run.wave) == 0 {
			return r.writeStatus(ctx, run, claimed, res, err)
		}
		wave := run.wave
		results := r.callWave(ctx, run)
		if refused == nil && allTooMany(results) {
			// The provider named its batch size and started nothing (a run's first call): plan the wave
			// again at that size now, under the claim already written where it covers the new batches.
			refused, before, run.wave = wave, claimed, nil
			res, err = r.advance(ctx, run)
			coverByClaim(rs, claimed, refused, run.wave, r.freshClaimsSince(run))
			continue
		}
		started := startedBatches(rs, wave)
		r.pollSoonEnded(ctx, run, started)
		if ctx.Err() == nil { // a stopping manager leaves its next batches Pending, to the next one
			r.preclaim(run, started)
		}
		r.settle(ctx, run)
		// The refused wave's groups not called again go back to Pending in this write, also when it is
		// merged into a fresher object.
		return r.commit(ctx, req, claimed, rs, run, slices.Concat(refused, wave))
	}
}

// callWave makes the calls of run.wave, whose claims are written, and applies what they answered.
func (r *ReplicationSyncReconciler) callWave(ctx context.Context, run *syncRun) []callResult {
	rs := run.rs
	run.calledAt = clockNow(r.Clock)
	results := issueWave(ctx, run.cl, func(idx []int) []sms.GroupID { return groupIDs(rs, idx) }, rs.Spec.PitName, run.wave, sendDeadlines(run))
	run.now = clockNow(r.Clock)
	run.wake = time.Time{}
	r.wakeForTasks(run) // the tasks already in flight keep their due polls
	r.applyCallResults(ctx, run, results)
	r.wakeForGroupsInDoubt(run)
	return results
}

// commit writes what the wave's calls returned, with a context that outlives a manager shutdown for
// commitGrace. On a conflict it re-reads and applies the answers to the groups still claimed by this
// wave (same claimTime), so a concurrent write never loses a task ref.
func (r *ReplicationSyncReconciler) commit(ctx context.Context, req ctrl.Request, claimed, rs *replicationv1alpha1.ReplicationSync, run *syncRun, wave []syncBatch) (ctrl.Result, error) {
	stopping := ctx // done when the manager stops: the relay starts no round after that
	writes := &writeBudgets{parent: stopping}
	defer writes.release()
	ctx = writes.next()
	base, want := claimed, rs
	retry := commitRetry
	for {
		var err error
		if want == rs {
			// The relay may take the run further while this is written (the pre-claims written are armed;
			// a merged retry arms none).
			written, moved, werr := r.writeAndRelay(ctx, stopping, base, run, &wave)
			if werr == nil && moved {
				// What the relay did goes out next, with a budget of its own: its calls took part of this one.
				ctx, base = writes.next(), written
				continue
			}
			if err = werr; err == nil {
				*rs = *written
			}
		} else {
			err = r.patchStatus(ctx, base, want)
		}
		if err == nil {
			run.stored()
		} else {
			endMayBeStored(run, err)
		}
		if err == nil && isFinished(want) {
			run.rs = want
			return r.finished(ctx, run) // the wave's tasks ended in it: ttlSecondsAfterFinished counts now
		}
		if err == nil {
			return r.requeue(run), nil
		}
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		// A conflict, or a write the API server failed (a 5xx, a 429, no answer: etcd's leader changing) is
		// tried again from a fresh read. Given up, the claim would stay in status: the groups in doubt until
		// their PiT or their window, and on an array without PiT support issued again, a second sync.
		if !retriableWrite(err) || ctx.Err() != nil || (!apierrors.IsConflict(err) && !pause(ctx, retry.Step(), err)) {
			// The claim stays in status: the groups are in doubt and resolved by their PiT or window.
			return ctrl.Result{}, fmt.Errorf("recording the task refs of %d calls: %w", len(wave), err)
		}
		fresh, gerr := r.readFresh(ctx, req.NamespacedName)
		if gerr != nil {
			return ctrl.Result{}, errors.Join(err, gerr)
		}
		base, want = fresh, fresh.DeepCopy()
		if !mergeWaveOutcome(want, claimed, rs, wave, run.preclaimed) {
			// What waited for the write (a finished run's event and count) belongs to the run-level
			// outcome the merge left out; the reconcile that writes that outcome does it.
			run.onStored = nil
		}
	}
}

// mergeWaveOutcome puts the wave's outcome into a fresher object. When no one wrote status since the
// claim (the conflict came from a write of metadata or spec, such as a GitOps tool's annotation), the
// whole outcome goes: phase, conditions, retry and the other groups' results too; it then reports true.
// Else only the wave's groups still in the state this wave claimed them in (Issuing at the same
// claimTime) are copied. Either way a group this commit pre-claimed for the next wave goes back to
// Pending: a merged write arms nothing.
func mergeWaveOutcome(fresh, claimed, outcome *replicationv1alpha1.ReplicationSync, wave, preclaimed []syncBatch) bool {
	if len(fresh.Status.Groups) != len(outcome.Status.Groups) {
		return false
	}
	again := groupsIn(preclaimed)
	if equality.Semantic.DeepEqual(fresh.Status, claimed.Status) {
		fresh.Status = *outcome.Status.DeepCopy()
		for i := range again {
			if g := &fresh.Status.Groups[i]; g.State == replicationv1alpha1.GroupIssuing {
				g.State, g.ClaimTime, g.Provider = replicationv1alpha1.GroupPending, nil, ""
			}
		}
		updateSummary(fresh)
		return true
	}
	for _, b := range wave {
		for _, i := range b.groups {
			f, c, o := fresh.Status.Groups[i], claimed.Status.Groups[i], outcome.Status.Groups[i]
			claim := claimTimeOf(c)
			if !b.armed.IsZero() {
				claim = b.armed // armed by a write after claimed was read (the relay called it)
			}
			if f.State != replicationv1alpha1.GroupIssuing || !claimTimeOf(f).Truncate(time.Microsecond).Equal(claim.Truncate(time.Microsecond)) {
				continue
			}
			if again[i] {
				o.State, o.ClaimTime, o.Provider = replicationv1alpha1.GroupPending, nil, ""
			}
			fresh.Status.Groups[i] = o
		}
	}
	fresh.Status.BatchSize = outcome.Status.BatchSize
	if outcome.Status.LastProgressTime != nil {
		fresh.Status.LastProgressTime = outcome.Status.LastProgressTime
	}
	updateSummary(fresh)
	return false
}

// writeStatus writes a reconcile's status if it changed, based on the resourceVersion it was read at.
func (r *ReplicationSyncReconciler) writeStatus(ctx context.Context, run *syncRun, before *replicationv1alpha1.ReplicationSync, res ctrl.Result, stepErr error) (ctrl.Result, error) {
	rs := run.rs
	if !equality.Semantic.DeepEqual(before.Status, rs.Status) {
		start := clockNow(r.Clock)
		if err := r.patchStatus(ctx, before, rs); err != nil {
			endMayBeStored(run, err)
			return r.lostWrite(before, err)
		}
		if res.RequeueAfter > 0 {
			// The step planned its wake before this write, which took part of the wait (a poll due in
			// 100 ms would otherwise come a write late).
			res.RequeueAfter = max(res.RequeueAfter-clockNow(r.Clock).Sub(start), time.Millisecond)
		}
	}
	run.stored()
	if stepErr != nil {
		return ctrl.Result{}, stepErr
	}
	return res, nil
}

// endMayBeStored records the end of a run (its metrics and event) whose write failed but may have been
// applied (mayHaveBeenApplied): the next reconcile would read the run as finished and record nothing, and
// its ReplicationSyncFailed alert would never fire. Not applied, the end is recorded again when it is
// decided again: never missed, at worst twice.
func endMayBeStored(run *syncRun, err error) {
	if isFinished(run.rs) && mayHaveBeenApplied(err) {
		run.stored()
	}
}

// patchStatus writes the change from before to rs (replicationsync_patch.go), refused when the object
// changed since before was read.
func (r *ReplicationSyncReconciler) patchStatus(ctx context.Context, before, rs *replicationv1alpha1.ReplicationSync) error {
	patch, err := statusPatch(before, rs)
	if err != nil {
		return err
	}
	if err := r.Status().Patch(ctx, rs, patch); err != nil && !r.landedAfterAll(ctx, rs, err) {
		if mayHaveBeenApplied(err) {
			r.countStored(ctx, before, rs) // at worst counted again by the write that stores it: a re-issue is never silent
		}
		return err
	}
	r.replaced.replaced(client.ObjectKeyFromObject(rs), before.ResourceVersion)
	r.countStored(ctx, before, rs)
	return nil
}

// lostWrite handles a status write planned on before that failed: a conflict is retried soon, past the
// cache while it shows before's version; a gone object is done with; anything else goes to the rate
// limiter.
func (r *ReplicationSyncReconciler) lostWrite(before *replicationv1alpha1.ReplicationSync, err error) (ctrl.Result, error) {
	switch {
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		r.replaced.lost(client.ObjectKeyFromObject(before), before.ResourceVersion)
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, fmt.Errorf("patching ReplicationSync status: %w", err)
}

// holdSlotsAfterLostClaim gives back the slots reserved for a wave whose claim was not written.
func (r *ReplicationSyncReconciler) holdSlotsAfterLostClaim(run *syncRun, before *replicationv1alpha1.ReplicationSync) {
	r.Capacity.Hold(run.key, run.owner(), slotsHeld(before, r.batchSize(run), r.armedIndexes(before, nil)), int(maxConcurrentTasks(run.vp)))
}

// reader reads past the cache.
func (r *ReplicationSyncReconciler) reader() client.Reader {
	return pastTheCache(r.APIReader, r.Client)
}

// pastTheCache is apiReader, the manager's uncached reader, or c where a test left it unset.
func pastTheCache(apiReader client.Reader, c client.Client) client.Reader {
	if apiReader != nil {
		return apiReader
	}
	return c
}

func (r *ReplicationSyncReconciler) event(obj *replicationv1alpha1.ReplicationSync, eventType, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, format, args...)
	}
}

// SetupWithManager registers the controller, the provider index and the VasaProvider watch.
func (r *ReplicationSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &replicationv1alpha1.ReplicationSync{}, replicationSyncProviderIndex,
		func(o client.Object) []string {
			return []string{o.(*replicationv1alpha1.ReplicationSync).Spec.ProviderRef.Name}
		}); err != nil {
		return fmt.Errorf("indexing ReplicationSyncs by provider: %w", err)
	}
	if r.Capacity == nil {
		r.Capacity = capacity.New()
	}
	if r.APIReader == nil {
		// Never the cached client: a Secret read through it starts an informer that holds the values of
		// every Secret in the watched namespaces.
		r.APIReader = mgr.GetAPIReader()
	}
	// A slot freed on a provider wakes the oldest runs waiting for one at once (no polling).
	wakeups := make(chan event.GenericEvent, wakeupBuffer)
	r.Capacity.SetWake(func(owner string) {
		ns, name, _ := strings.Cut(owner, "/")
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		select {
		case wakeups <- event.GenericEvent{Object: obj}:
		default: // full: the run's own requeue (capacityWake at the latest) comes soon enough
		}
	})
	if err := mgr.Add(manager.RunnableFunc(r.releaseArmedOnStop)); err != nil {
		return fmt.Errorf("adding the release of pre-claims at shutdown: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&replicationv1alpha1.ReplicationSync{}, builder.WithPredicates(registerPeers(&r.peers), predicate.GenerationChangedPredicate{})).
		Watches(&replicationv1alpha1.VasaProvider{}, handler.EnqueueRequestsFromMapFunc(r.syncsForProvider),
			builder.WithPredicates(providerUsabilityChanged())).
		WatchesRawSource(source.Channel(wakeups, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.maxConcurrentReconciles()}).
		Named("replicationsync").
		Complete(r)
}

// providerUsabilityChanged passes VasaProvider events that can change what a waiting run does or says:
// its spec, its Ready condition (and why), its provider reference or the end of its first discovery. Status the runs
// themselves taught it (learned batch size, task durations), a periodic re-check or a later discovery must
// not wake every run of the provider.
func providerUsabilityChanged() predicate.Predicate {
	return vasaProviderUpdate(func(before, after *replicationv1alpha1.VasaProvider) bool {
		readyBefore, whyBefore := providerReady(before)
		readyAfter, whyAfter := providerReady(after)
		return before.Generation != after.Generation || readyBefore != readyAfter || whyBefore != whyAfter ||
			!equality.Semantic.DeepEqual(before.Status.ProviderRef, after.Status.ProviderRef) ||
			firstDiscoveryPending(before) != firstDiscoveryPending(after)
	})
}

// syncsForProvider maps a VasaProvider to the unfinished ReplicationSyncs that use it.
func (r *ReplicationSyncReconciler) syncsForProvider(ctx context.Context, o client.Object) []reconcile.Request {
	list := &replicationv1alpha1.ReplicationSyncList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{replicationSyncProviderIndex: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ReplicationSyncs for VasaProvider", "vasaProvider", klog.KObj(o))
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if isFinished(&list.Items[i]) {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
