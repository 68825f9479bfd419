package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
)

const (
	// DefaultPollInitial is the first interval between task polls.
	DefaultPollInitial = 2 * time.Second
	// DefaultPollMax caps the interval between task polls.
	DefaultPollMax = 30 * time.Second
	// SubmitInterval is the pause between two batches of one sync: each batch is persisted by the
	// reconcile that issued it, then the next reconcile issues the next one.
	SubmitInterval = 10 * time.Millisecond
	// ProviderWaitInterval is how often a sync waiting for its provider looks again (VasaProvider
	// changes also wake it up).
	ProviderWaitInterval = time.Minute
	// ProviderMissingGrace is how long a sync waits for a VasaProvider that does not exist before it also
	// reports Stalled=True (reason WaitingForProvider); it keeps retrying after.
	ProviderMissingGrace = 5 * time.Minute
	// MaxConcurrentSyncReconciles bounds parallel ReplicationSync reconciles.
	MaxConcurrentSyncReconciles = 4

	// replicationSyncProviderIndex indexes ReplicationSyncs by spec.providerRef.name.
	replicationSyncProviderIndex = "replicationsync.providerRef"
)

// ReplicationSyncReconciler runs ReplicationSyncs: a state machine derived from status
// (see replicationsync_phases.go).
type ReplicationSyncReconciler struct {
	client.Client
	// APIReader reads ReplicationSyncs uncached, so a reconcile never acts on a status older than the
	// one the previous reconcile wrote (which could issue a batch twice). nil means the cached client.
	APIReader client.Reader
	// Sessions is shared with the VasaProviderReconciler.
	Sessions Sessions
	// Dial opens SMS sessions; nil means sms.Dial.
	Dial DialFunc
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// Recorder records events; nil means none.
	Recorder events.EventRecorder
	// Backoff is the provider-wide backoff for busy, out-of-resource and unavailable faults.
	Backoff backoff.Policy
	// PollInitial and PollMax bound the adaptive task poll interval; 0 means the defaults.
	PollInitial, PollMax time.Duration

	// taskSeen remembers when this process first saw each in-flight task, for the adaptive poll interval.
	taskSeen sync.Map // string -> time.Time
	// memory holds what this process knows about a sync beyond its status.
	memory sync.Map // owner (namespace/name) -> *syncMemory
}

// syncMemory is what this process remembers about one ReplicationSync between reconciles. Reconciles
// of one object never run concurrently, so its maps need no lock.
type syncMemory struct {
	// unpersisted maps a group index to the task issued for it whose ref no status patch has written
	// yet (the patch failed): the next reconcile adopts it instead of issuing the group again.
	unpersisted map[int]issuedTask
	// reroutes counts a group's consecutive InactiveProvider re-routes since it was last issued.
	reroutes map[int]int32
}

// issuedTask is a task ref returned for a group, with the provider it was issued to.
type issuedTask struct {
	task, provider string
}

// memoryOf returns the memory of one sync, creating it.
func (r *ReplicationSyncReconciler) memoryOf(owner string) *syncMemory {
	m, _ := r.memory.LoadOrStore(owner, &syncMemory{unpersisted: map[int]issuedTask{}, reroutes: map[int]int32{}})
	return m.(*syncMemory)
}

// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile advances one ReplicationSync by one step of its state machine.
func (r *ReplicationSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, reterr error) {
	rs := &replicationv1alpha1.ReplicationSync{}
	if err := r.reader().Get(ctx, req.NamespacedName, rs); err != nil {
		if apierrors.IsNotFound(err) {
			// The sync is gone: its tasks no longer count against the provider (they may still run, but
			// no one waits for them; re-creating the sync finds their PiTs).
			r.Sessions.ForgetOwner(req.String())
			r.memory.Delete(req.String())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("replicationSync", klog.KObj(rs)))

	before := rs.DeepCopy()
	defer func() {
		// An error or a result, never both: the status patch may add an error to a step's result.
		if reterr != nil {
			res = ctrl.Result{}
		}
	}()
	defer func() {
		if !equality.Semantic.DeepEqual(before.Status, rs.Status) {
			// One status write per reconcile. It also persists a task ref issued in this reconcile before
			// anyone waits on it: the reconcile that issues a batch returns right after the call.
			if err := r.Status().Patch(ctx, rs, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
				// Task refs issued in this reconcile stay in memory for the next one to adopt.
				reterr = errors.Join(reterr, fmt.Errorf("patching ReplicationSync status: %w", err))
				return
			}
		}
		r.persisted(rs)
	}()

	run := &syncRun{rs: rs, now: clockNow(r.Clock)}
	return r.step(ctx, run)
}

// persisted drops what memory held only until status recorded it.
func (r *ReplicationSyncReconciler) persisted(rs *replicationv1alpha1.ReplicationSync) {
	owner := client.ObjectKeyFromObject(rs).String()
	if isFinished(rs) {
		r.memory.Delete(owner)
		return
	}
	if m, ok := r.memory.Load(owner); ok {
		clear(m.(*syncMemory).unpersisted)
	}
}

func (r *ReplicationSyncReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
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
	return ctrl.NewControllerManagedBy(mgr).
		For(&replicationv1alpha1.ReplicationSync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&replicationv1alpha1.VasaProvider{}, handler.EnqueueRequestsFromMapFunc(r.syncsForProvider)).
		WithOptions(controller.Options{MaxConcurrentReconciles: MaxConcurrentSyncReconciles}).
		Named("replicationsync").
		Complete(r)
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
