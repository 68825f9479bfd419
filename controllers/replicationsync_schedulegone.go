package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// A schedule's run that was never started is started only while the schedule that made it exists. A
// copy restored or applied without its status (a Velero restore drops status and owner references; a
// move to another cluster by `kubectl get -o yaml | kubectl apply` keeps references to the old UIDs)
// would otherwise sync its groups again under an old PiT name: on an array without PiT support, a second
// sync that nothing shows. A run restored with its status has started and is left to the run protocol.

// scheduleGone says why the schedule that made rs, a run not yet started, is gone ("" when rs was not
// made by a schedule, or its schedule exists). The schedule is read from the cache, and past it when
// the cache does not have it.
func (r *ReplicationSyncReconciler) scheduleGone(ctx context.Context, rs *replicationv1alpha1.ReplicationSync) (string, error) {
	due, ok := scheduledTimeOf(rs)
	if !ok {
		return "", nil
	}
	made := fmt.Sprintf("This run was made by a ReplicationSyncSchedule for %s", due.UTC().Format(time.RFC3339))
	owner := metav1.GetControllerOf(rs)
	if owner == nil || owner.Kind != "ReplicationSyncSchedule" || !sameGroup(owner.APIVersion) {
		return made + ", but it has no controller reference to that schedule (restored or copied without it, or orphaned when the schedule was deleted)", nil
	}
	made = fmt.Sprintf("This run was made by ReplicationSyncSchedule %s for %s", owner.Name, due.UTC().Format(time.RFC3339))
	key := types.NamespacedName{Namespace: rs.Namespace, Name: owner.Name}
	sched := &replicationv1alpha1.ReplicationSyncSchedule{}
	err := r.Get(ctx, key, sched)
	if apierrors.IsNotFound(err) || err == nil && sched.UID != owner.UID {
		err = r.reader().Get(ctx, key, sched) // the cache may not have seen the schedule, or its re-creation, yet
	}
	switch {
	case apierrors.IsNotFound(err):
		return made + ", which no longer exists", nil
	case err != nil:
		return "", fmt.Errorf("reading ReplicationSyncSchedule %s, which made the run: %w", owner.Name, err)
	case sched.UID != owner.UID:
		return made + ", which was deleted; the schedule of that name now is another object (re-created or restored)", nil
	case !sched.DeletionTimestamp.IsZero():
		return made + ", which is being deleted with its runs", nil
	}
	return "", nil
}

// sameGroup reports whether apiVersion is of the operator's API group, in any version: an owner reference
// keeps the version it was written with, and the UID identifies the schedule.
func sameGroup(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == replicationv1alpha1.GroupVersion.Group
}

// holdRunOfGoneSchedule keeps a run whose schedule is gone Pending, calling nothing, and says so once
// (Stalled, a Warning event). Not Failed, as a restore is no failure to page about, and out of the
// deadline and the stuck-run alert for the same reason: the schedules' and groups' RPO alerts still
// count the syncs it does not make. Only a human can say whether to run it, and an edit of the object
// reconciles it again: no requeue.
func (r *ReplicationSyncReconciler) holdRunOfGoneSchedule(ctx context.Context, run *syncRun, why string) ctrl.Result {
	rs := run.rs
	msg := why + ": restored or copied without its status, it would sync its groups again under an old PiT name, so it is not started. Delete it; to sync its groups now, make a new run (kubectl vasa sync --from-schedule <schedule>)"
	if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition); c == nil || c.Reason != replicationv1alpha1.ScheduleGoneReason {
		ctrl.LoggerFrom(ctx).Info("Not starting a run whose schedule is gone", "why", why)
		run.afterStore(func() {
			r.event(rs, corev1.EventTypeWarning, replicationv1alpha1.ScheduleGoneReason, "Sync", "%s", msg)
		})
	}
	markScheduleGone(rs, msg)
	metrics.RunWithoutProgress.DeleteLabelValues(rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name) // set while it waited, if it did
	return ctrl.Result{}
}
