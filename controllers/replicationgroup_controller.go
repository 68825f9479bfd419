package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

const (
	// DefaultDiscoveryInterval is spec.discovery.interval's default.
	DefaultDiscoveryInterval = 5 * time.Minute
	// discoveryWriters bounds the concurrent writes of one discovery. The manager's client has no rate
	// limit of its own (controller-runtime turns client-go's off); the API server's priority and fairness
	// queues them.
	discoveryWriters = 8
	// discoveryWorkers is how many providers are discovered at once: a provider whose SMS hangs holds one
	// worker until its listing times out, not every other provider's discovery.
	discoveryWorkers = 4
)

// ReplicationGroup discovery event reasons.
const (
	// GroupsDiscoveredReason: a discovery created or deleted ReplicationGroups.
	GroupsDiscoveredReason = "GroupsDiscovered"
	// DiscoveryFailedReason: a discovery could not list the provider's groups.
	DiscoveryFailedReason = "DiscoveryFailed"
	// PiTQueryFailedReason: the newest PiTs could not be read; the stored ones were kept.
	PiTQueryFailedReason = "PiTQueryFailed"
	// NoGroupsReportedReason: the provider listed no group at all while ReplicationGroups of it exist;
	// they were all kept.
	NoGroupsReportedReason = "NoGroupsReported"
	// MostGroupsMissingReason: the provider listed fewer than half of the groups stored for it; none of
	// the missing ones was deleted.
	MostGroupsMissingReason = "MostGroupsMissing"
	// DiscoveryNotRecordedReason: the API server drops status.discovery (a VasaProvider CRD older than
	// the manager).
	DiscoveryNotRecordedReason = "DiscoveryNotRecorded"
	// GroupIDsNotHeldReason: the provider listed groups whose ids no ReplicationGroup (and no
	// ReplicationSync) can hold.
	GroupIDsNotHeldReason = "GroupIDsNotHeld"
	// GroupsUnansweredReason: the provider answered groups it listed with an error, or not at all; their
	// ReplicationGroups were kept as they were.
	GroupsUnansweredReason = "GroupsUnanswered"
	// GroupsRemovedReason: a discovery deleted ReplicationGroups the provider no longer reports, and with
	// them their RPO series (their alerts resolve).
	GroupsRemovedReason = "GroupsRemoved"
)

// errProviderNotReady is returned inside a discovery that has no provider to ask yet.
var errProviderNotReady = errors.New("no session to vCenter (the VasaProvider's next check says why in its Ready condition)")

// ReplicationGroupReconciler discovers a VasaProvider's replication groups on spec.discovery.interval and
// keeps one ReplicationGroup per group. It reconciles VasaProviders: one discovery per provider at a time.
type ReplicationGroupReconciler struct {
	client.Client
	// APIReader reads Secrets uncached; nil means mgr.GetAPIReader().
	APIReader client.Reader
	// Sessions is shared with the other reconcilers.
	Sessions Sessions
	// Dial opens SMS sessions; nil means sms.Dial.
	Dial DialFunc
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// Recorder records events on the VasaProvider; nil records none.
	Recorder events.EventRecorder
	// AfterSync overrides discoveryAfterSync when > 0.
	AfterSync time.Duration
	// AnswerBudget overrides discoveryAnswerBudget when > 0.
	AnswerBudget time.Duration

	// absences keeps when the current run of misses of each stored group began.
	absences perProvider[time.Time]
	// listed keeps how many groups each provider's last complete answer listed (types.NamespacedName to
	// int), to tell an inventory still loading from one that lost groups.
	listed sync.Map
	// pitResume keeps, for a provider whose last discovery ran out of time reading PiTs, the group the
	// next one starts at (types.NamespacedName to sms.GroupID; see pitOrder).
	pitResume sync.Map
	// pitSeries names the groups that have a newest-PiT series, to drop those whose object is gone
	// however it went (a user's delete included).
	pitSeries perProvider[struct{}]
	// lastDiscovery keeps when each provider's last discovery began and how long it took
	// (types.NamespacedName to discoveryRun), to space the next (discoverySpacing).
	lastDiscovery sync.Map
}

// discoveryRun is when a discovery began, how long it took, of which generation of the VasaProvider,
// and whether it failed.
type discoveryRun struct {
	began      time.Time
	took       time.Duration
	generation int64
	// failures is how many discoveries in a row failed, this one included (0: it completed).
	failures int
}

// spacing is the least time from the start of run to the next discovery's. A failed one spaces the next
// by twice its duration alone: a quick failure is retried with its backoff (discoveryRetry), a slow one
// (a listing of 5,000 groups timing out) does not run again back to back.
func (run discoveryRun) spacing(interval time.Duration) time.Duration {
	if run.failures > 0 {
		return min(interval, 2*run.took)
	}
	return discoverySpacing(interval, run.took)
}

// discoveryRetry is how long after the last of failures discoveries in a row failed the next is tried:
// 5 s, doubling with each failure, at most the interval. The retry is asked for, not left to the
// controller's backoff for a returned error: that logged every failure of an outage at Error with a stack
// trace, when status, an event and the discovery's own log line already say it.
func discoveryRetry(failures int, interval time.Duration) time.Duration {
	retry := discoveryFirstRetry
	for range min(failures, 20) - 1 {
		retry *= 2
	}
	return min(retry, interval)
}

// discoveryFirstRetry is how long after a first failure a discovery is tried again.
const discoveryFirstRetry = 5 * time.Second

// discoverySpacing is the least time from one discovery's start to the next one's: discoveryAfterSync,
// and twice what the last took, at most the interval. Syncs that finish a minute apart each queue a
// discovery after them; unspaced, a provider of 5,000 groups, whose discovery takes a minute, would be
// listed and its PiTs read back to back, beside the sync tasks it runs. A small one is discovered again
// within discoveryAfterSync, so that a sync's PiTs show at once.
func discoverySpacing(interval, took time.Duration) time.Duration {
	return min(interval, max(discoveryAfterSync, 2*took))
}

// untilDiscoveryDue is how long the next discovery of vp must wait for its spacing (0: due now). One of
// a changed spec (another vCenter or provider) is due at once.
func (r *ReplicationGroupReconciler) untilDiscoveryDue(vp *replicationv1alpha1.VasaProvider, interval time.Duration, now time.Time) time.Duration {
	last, _ := r.lastDiscovery.Load(client.ObjectKeyFromObject(vp))
	run, ok := last.(discoveryRun)
	if !ok || run.generation != vp.Generation {
		return 0
	}
	return max(0, run.began.Add(run.spacing(interval)).Sub(now))
}

// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationgroups,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders/finalizers,verbs=update
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs,verbs=get;list;watch

// vasaproviders/finalizers: ReplicationGroups carry a controller reference with blockOwnerDeletion to
// their VasaProvider, which clusters with the OwnerReferencesPermissionEnforcement admission plugin
// (OpenShift, hardened clusters) allow only with update on the owner's finalizers.

// Reconcile runs one discovery of a VasaProvider and schedules the next.
func (r *ReplicationGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vp := &replicationv1alpha1.VasaProvider{}
	if err := r.Get(ctx, req.NamespacedName, vp); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forgetDiscoveryMetrics(req.NamespacedName)
			r.absences.forget(req.NamespacedName)
			r.listed.Delete(req.NamespacedName)
			r.pitResume.Delete(req.NamespacedName)
			r.lastDiscovery.Delete(req.NamespacedName)
		}
		// The ReplicationGroups go with the VasaProvider: it owns them.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	interval := discoveryInterval(vp)
	if interval == 0 {
		// Off: nothing refreshes the groups' series, and a frozen newest PiT would page for every group.
		r.forgetDiscoveryMetrics(client.ObjectKeyFromObject(vp))
		r.forgetDiscoveryStatus(ctx, vp)
	} else {
		metrics.DiscoveryIntervalSeconds.WithLabelValues(vp.Namespace, vp.Name).Set(interval.Seconds())
	}
	switch {
	case interval == 0, !vp.DeletionTimestamp.IsZero():
		return ctrl.Result{}, nil
	case vp.Status.ObservedGeneration != vp.Generation:
		// The spec changed (another vCenter or provider) and status.providerRef may still name the old
		// provider: asking it with the new session could list another array's groups as this one's. The
		// providerResolved watch brings the VasaProvider back when its reconciler caught up.
		return ctrl.Result{}, nil
	}
	if !meta.IsStatusConditionTrue(vp.Status.Conditions, replicationv1alpha1.ReadyCondition) || vp.Status.ProviderRef == nil {
		// The Ready watch brings the provider back here when it connects.
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	began := clockNow(r.Clock)
	if wait := r.untilDiscoveryDue(vp, interval, began); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	outcome := r.discover(ctx, vp)
	if sessionReplaced(outcome.err) {
		outcome = r.discover(ctx, vp) // its session was renewed meanwhile: nothing went wrong
	}
	outcome.took = clockNow(r.Clock).Sub(began)
	failures := 0
	if outcome.err != nil {
		last, _ := r.lastDiscovery.Load(client.ObjectKeyFromObject(vp))
		prev, _ := last.(discoveryRun)
		failures = prev.failures + 1
	}
	r.lastDiscovery.Store(client.ObjectKeyFromObject(vp), discoveryRun{began: began, took: outcome.took, generation: vp.Generation, failures: failures})
	was := discoveryMessage(vp)
	r.recordDiscovery(ctx, vp, outcome)
	// News when the message changed, and a first failure of this process (its message may be stored).
	logDiscoveryTrouble(ctx, vp, outcome, was != discoveryMessage(vp) || failures == 1)
	if err := outcome.err; err != nil {
		r.event(vp, "Warning", DiscoveryFailedReason, "Discovering replication groups failed: %v", err)
		return ctrl.Result{RequeueAfter: discoveryRetry(failures, interval)}, nil
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// discoveryInterval is spec.discovery.interval with its default; 0 means off.
func discoveryInterval(vp *replicationv1alpha1.VasaProvider) time.Duration {
	if iv := vp.Spec.Discovery.Interval; iv != nil {
		return max(iv.Duration, 0)
	}
	return DefaultDiscoveryInterval
}

// discover asks the provider for its groups and their newest PiTs and brings the ReplicationGroups in
// line: create the new, update the changed, delete the gone (missed for an interval); nothing
// is written for an unchanged group. An answer without any group deletes nothing (see keepAllGroups).
func (r *ReplicationGroupReconciler) discover(ctx context.Context, vp *replicationv1alpha1.VasaProvider) discoveryOutcome {
	log := ctrl.LoggerFrom(ctx)
	cl, err := providerClient(ctx, r.Client, r.APIReader, r.Sessions, r.Dial, vp)
	if err != nil {
		return discoveryOutcome{err: fmt.Errorf("%w: %w", errProviderNotReady, err)}
	}
	ref := vp.Status.ProviderRef.Value
	budget := cmp.Or(r.AnswerBudget, discoveryAnswerBudget)
	callCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	infos, err := cl.AllReplicationGroups(callCtx, ref)
	if err != nil {
		return discoveryOutcome{err: err}
	}
	stored := &replicationv1alpha1.ReplicationGroupList{}
	if err := r.List(ctx, stored, client.InNamespace(vp.Namespace),
		client.MatchingLabels{replicationv1alpha1.ProviderLabel: replicationv1alpha1.LabelValue(vp.Name)}); err != nil {
		return discoveryOutcome{err: fmt.Errorf("listing ReplicationGroups: %w", err)}
	}
	infos = withUnlisted(callCtx, cl, vp, infos, stored.Items, clockNow(r.Clock))
	ids := make([]sms.GroupID, 0, len(infos))
	observed := make(map[string]observedGroup, len(infos))
	failed := map[string]bool{} // groups the provider failed: keep their objects as they are
	var unheld []string
	var failedWith string
	for _, in := range infos {
		name := groupObjectName(vp.Name, in.Group)
		switch {
		case !apiHolds(in.Group):
			unheld = append(unheld, fmt.Sprintf("%q/%q", in.Group.FaultDomainID, in.Group.DeviceGroupID))
			continue
		case in.Err != "":
			failed[name] = true
			failedWith = cmp.Or(failedWith, fmt.Sprintf("%q/%q: %s", in.Group.FaultDomainID, in.Group.DeviceGroupID, in.Err))
			continue
		}
		ids = append(ids, in.Group)
		observed[name] = observedGroup{info: in}
	}
	if len(unheld) > 0 {
		r.event(vp, "Warning", GroupIDsNotHeldReason, "%d replication groups have ids the API cannot hold (blank, or longer than %d characters), so they get no ReplicationGroup and cannot be synced: %s",
			len(unheld), replicationv1alpha1.IDMaxLength, strings.Join(unheld[:min(len(unheld), 5)], ", "))
	}
	var notes []string
	if len(failed) > 0 {
		// Said in status and as a warning: a discovery that completes would otherwise read as having
		// refreshed every group, and a group the provider never answers for is never created.
		notes = append(notes, fmt.Sprintf("The provider answered for %d groups with an error or not at all; their ReplicationGroups are kept as they were (first: %s)", len(failed), failedWith))
		r.event(vp, "Warning", GroupsUnansweredReason, "%s", notes[0])
	}
	order := r.pitOrder(client.ObjectKeyFromObject(vp), ids, clockNow(r.Clock), discoveryInterval(vp))
	pits, err := cl.NewestPointInTimes(callCtx, ref, order)
	ranOut := err != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	if ranOut {
		err = fmt.Errorf("%w (this discovery's %s for the provider's answers ran out; the next one resumes where it stopped)", err, budget)
	}
	r.resumePiTs(client.ObjectKeyFromObject(vp), order, pits, ranOut)
	var pitErr error // logged once the status says whether it is news (logDiscoveryTrouble)
	switch {
	case pitQueryUnsupported(err):
		// An array without PiT support, as the design expects some: said in status.discovery.message, not
		// as a warning every discovery that would drown the real failures.
		notes = append(notes, noPiTSupportNote)
		log.V(1).Info("The provider does not implement QueryPointInTimeReplica", "vasaProvider", klog.KObj(vp), "error", err.Error())
	case err != nil:
		// Said in status too: events expire within the hour, and a discovery that completes otherwise
		// would read as having refreshed every group's PiT.
		notes = append(notes, "The newest PiTs were not all read, the stored ones are kept: "+err.Error())
		r.event(vp, "Warning", PiTQueryFailedReason, "Reading the newest PiTs failed, the stored ones are kept: %v", err)
		pitErr = err
	}
	for i := range pits {
		name := groupObjectName(vp.Name, pits[i].Group)
		if o, ok := observed[name]; ok {
			o.pit = &pits[i]
			observed[name] = o
		}
	}

	// Read only (lastSyncs copies what it keeps): without a copy of every run's status, which with
	// thousands of runs of 1000 groups would be hundreds of MiB per discovery.
	runs := &replicationv1alpha1.ReplicationSyncList{}
	if err := r.List(ctx, runs, client.InNamespace(vp.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return discoveryOutcome{err: fmt.Errorf("listing ReplicationSyncs: %w", err), pitErr: pitErr}
	}
	last := lastSyncs(vp.Name, runs.Items)

	key := client.ObjectKeyFromObject(vp)
	if len(infos) == 0 && len(stored.Items) > 0 {
		r.absences.forget(key) // an answer not trusted breaks the run of misses: they count again from zero
		r.recordDiscoveryMetrics(vp, groupPlan{}, stored.Items, 0)
		return discoveryOutcome{incomplete: r.keepAllGroups(vp, len(stored.Items)), keptAll: len(stored.Items), pitErr: pitErr}
	}
	plan := planWrites(vp, observed, failed, last, stored.Items)
	listed := len(observed) + len(failed)
	if missing := missingGroups(observed, failed, stored.Items); missing > 1 && 2*missing > len(stored.Items) {
		// Most of the groups gone at once is a provider failing over or partly unavailable, far more
		// likely than an array that removed them: deleting them would lose their lastSync and shrink
		// every selector. The groups listed are written; the misses are not counted.
		r.event(vp, "Warning", MostGroupsMissingReason,
			"The provider listed %d of the %d ReplicationGroups stored for it; the %d missing are kept, and their misses not counted. If the array really removed them, delete them: kubectl delete rg -n %s <names>",
			len(stored.Items)-missing, len(stored.Items), missing, vp.Namespace)
		r.absences.forget(key)
	} else {
		// A provider that lists more groups than last time, and fewer than are stored, is still loading
		// its inventory (restarted, failed over): its misses count, but nothing is deleted until an
		// answer that does not grow. Deleting would re-create the groups a discovery later and lose their
		// lastSync. An array that gains groups as it loses some lists as many as are stored, or more.
		prev, _ := r.listed.Load(key)
		loading := prev != nil && listed > prev.(int) && listed < len(stored.Items)
		plan.planRemovals(observed, failed, stored.Items, r.absences.of(key), clockNow(r.Clock), discoveryInterval(vp), loading)
		r.absences.set(key, plan.absent)
	}
	r.listed.Store(key, listed)
	writeErr := r.apply(ctx, plan)
	if n := len(plan.create) + len(plan.remove); n > 0 {
		r.event(vp, "Normal", GroupsDiscoveredReason, "Discovered %d replication groups: %d new, %d updated, %d gone",
			len(observed), len(plan.create), len(plan.update), len(plan.remove))
	}
	if len(plan.remove) > 0 {
		// A Warning: the groups' RPO alerts resolve with their series, which must not pass unnoticed
		// when the array still replicates them (a fault domain dropped from the provider, say).
		r.event(vp, "Warning", GroupsRemovedReason, "Deleting %d ReplicationGroups the provider has not reported for at least %s (%s); their RPO alerts resolve with them. If the array still replicates them, check what the provider reports",
			len(plan.remove), discoveryInterval(vp), removedNames(plan.remove))
	}
	log.V(1).Info("Discovered replication groups", "vasaProvider", klog.KObj(vp), "groups", len(observed),
		"created", len(plan.create), "updated", len(plan.update), "deleted", len(plan.remove), "missing", len(plan.absent))
	// The series follow the provider's answer even when some objects could not be written; the last
	// success does not move then.
	r.recordDiscoveryMetrics(vp, plan, keptGroups(stored.Items, observed, plan.remove), listed)
	return discoveryOutcome{listed: listed, note: truncateMessage(strings.Join(notes, "; ")), err: writeErr, pitErr: pitErr}
}

// missingGroups counts the stored ReplicationGroups the provider's answer did not list at all.
func missingGroups(observed map[string]observedGroup, failed map[string]bool, stored []replicationv1alpha1.ReplicationGroup) int {
	n := 0
	for i := range stored {
		if _, ok := observed[stored[i].Name]; !ok && !failed[stored[i].Name] {
			n++
		}
	}
	return n
}

// keepAllGroups handles an answer that lists no group at all while n ReplicationGroups of the provider
// exist. A provider that restarts or has just failed over answers so until it has read the array again,
// so nothing is deleted, and the misses are not counted either: a provider that really has no group
// left keeps its objects until someone deletes them by hand, which the event says. It returns the
// event's message.
func (r *ReplicationGroupReconciler) keepAllGroups(vp *replicationv1alpha1.VasaProvider, n int) string {
	msg := fmt.Sprintf("The provider reported no replication groups; the %d ReplicationGroups of it are kept. If it really has none, delete them: kubectl delete rg -n %s -l %s=%s",
		n, vp.Namespace, replicationv1alpha1.ProviderLabel, replicationv1alpha1.LabelValue(vp.Name))
	r.event(vp, "Warning", NoGroupsReportedReason, "%s", msg)
	return msg
}

func (r *ReplicationGroupReconciler) event(vp *replicationv1alpha1.VasaProvider, kind, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vp, nil, kind, reason, "Discover", format, args...)
	}
}

// SetupWithManager registers the discovery. It is triggered by a VasaProvider's creation, a change of its
// spec, its Ready condition or its provider, and by a ReplicationSync of the provider that finished (its
// PiTs and the groups' last sync show within discoveryAfterSync instead of an interval later); then it
// runs on its interval.
func (r *ReplicationGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&replicationv1alpha1.VasaProvider{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, readyChanged(), providerResolved()))).
		Watches(&replicationv1alpha1.ReplicationSync{}, discoverAfterSyncs(cmp.Or(r.AfterSync, discoveryAfterSync))).
		Named("replicationgroup-discovery").
		// A failed discovery lists every group again: retried after 5 s at first, then less often, at
		// most 5 minutes apart (the default interval, whatever the VasaProvider's).
		WithOptions(controller.Options{
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Second, DefaultDiscoveryInterval),
			MaxConcurrentReconciles: discoveryWorkers,
		}).
		Complete(r)
}

// discoveryAnswerBudget bounds the time one discovery attempt waits for the provider's answers in all
// (a discovery that met a renewed session makes a second attempt): listing
// (itself at most 5 minutes), the groups asked about by id, and the newest PiTs, up to 50 calls of up to
// 30 s each at 5,000 groups. Past it, the PiTs not read yet keep their stored values and the discovery
// completes with what it read (its status message says so), rather than hold a discovery worker, and
// every RPO series of the provider, for up to half an hour.
const discoveryAnswerBudget = 10 * time.Minute

// discoveryAfterSync is how long after a ReplicationSync finished its provider is discovered; the syncs
// finishing meanwhile share that discovery. One discovery per finished sync ran them back to back while
// many finished (the shares of a schedule run, thousands of small syncs), and each lists every group of
// the provider and reads every ReplicationSync of the namespace.
const discoveryAfterSync = 30 * time.Second

// discoverAfterSyncs queues the discovery of a ReplicationSync's provider delay after the sync finished.
// The queue keeps the earliest time of an item already waiting, so later syncs join it.
func discoverAfterSyncs(delay time.Duration) handler.Funcs {
	finished := syncFinished()
	return handler.Funcs{UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if !finished.Update(e) {
			return
		}
		for _, req := range providerOfSync(ctx, e.ObjectNew) {
			q.AddAfter(req, delay)
		}
	}}
}

// providerOfSync maps a ReplicationSync to its VasaProvider.
func providerOfSync(_ context.Context, o client.Object) []reconcile.Request {
	rs, ok := o.(*replicationv1alpha1.ReplicationSync)
	if !ok || rs.Spec.ProviderRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.ProviderRef.Name}}}
}

// syncFinished passes only the update that gives a ReplicationSync its completionTime.
func syncFinished() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldRS, ok1 := e.ObjectOld.(*replicationv1alpha1.ReplicationSync)
			newRS, ok2 := e.ObjectNew.(*replicationv1alpha1.ReplicationSync)
			return ok1 && ok2 && oldRS.Status.CompletionTime == nil && newRS.Status.CompletionTime != nil
		},
	}
}

// readyChanged passes updates that flip a VasaProvider's Ready condition.
func readyChanged() predicate.Funcs {
	return vasaProviderUpdate(func(before, after *replicationv1alpha1.VasaProvider) bool {
		return readyStatus(before.Status.Conditions) != readyStatus(after.Status.Conditions)
	})
}

// providerResolved passes updates that change which provider a VasaProvider's status names, or that
// catch its status up with a spec change.
func providerResolved() predicate.Funcs {
	return vasaProviderUpdate(func(before, after *replicationv1alpha1.VasaProvider) bool {
		return before.Status.ObservedGeneration != after.Status.ObservedGeneration ||
			!equality.Semantic.DeepEqual(before.Status.ProviderRef, after.Status.ProviderRef)
	})
}

func readyStatus(conds []metav1.Condition) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conds, replicationv1alpha1.ReadyCondition); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}
