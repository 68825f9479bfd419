package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

const (
	// scheduleSuccessHoldMax bounds how long past its TTL a succeeded run waits for its schedule to
	// record the success, so a schedule that is stuck or gone never keeps runs forever.
	scheduleSuccessHoldMax = 10 * time.Minute
	// scheduleSuccessHoldPoll is how often a held run looks again: this controller does not watch
	// schedules, and the schedule's reconcile usually records a success within milliseconds.
	scheduleSuccessHoldPoll = 2 * time.Second
)

// +kubebuilder:rbac:groups=replication.vasa.io,resources=replicationsyncschedules,verbs=get;list;watch

// scheduleSuccessHold is how long to put off the TTL deletion of a finished run: a succeeded run owned by
// a ReplicationSyncSchedule stays until that schedule's status.lastSuccessfulTime has caught up with its
// completionTime, for at most scheduleSuccessHoldMax past expires. Deleted earlier (e.g. with
// ttlSecondsAfterFinished: 0), the success would never be counted and the RPO alert would fire falsely.
// Zero means delete now.
func (r *ReplicationSyncReconciler) scheduleSuccessHold(ctx context.Context, rs *replicationv1alpha1.ReplicationSync, expires, now time.Time) (time.Duration, error) {
	if rs.Status.Phase != replicationv1alpha1.SyncSucceeded || rs.Status.CompletionTime == nil {
		return 0, nil
	}
	limit := expires.Add(scheduleSuccessHoldMax)
	if !now.Before(limit) {
		return 0, nil
	}
	// Status times are stored to the second.
	completed := rs.Status.CompletionTime.Truncate(time.Second)
	for _, owner := range rs.OwnerReferences {
		if owner.Kind != "ReplicationSyncSchedule" || owner.APIVersion != replicationv1alpha1.GroupVersion.String() {
			continue
		}
		caught, err := r.scheduleRecorded(ctx, rs.Namespace, owner.Name, owner.UID, completed)
		if err != nil {
			return 0, err
		}
		if !caught {
			return min(scheduleSuccessHoldPoll, limit.Sub(now)), nil
		}
	}
	return 0, nil
}

// scheduleRecorded reports whether the schedule has recorded a success at or after completed; a schedule
// that is gone (or replaced by one of the same name) has nothing to record.
func (r *ReplicationSyncReconciler) scheduleRecorded(ctx context.Context, namespace, name string, uid types.UID, completed time.Time) (bool, error) {
	sched := &replicationv1alpha1.ReplicationSyncSchedule{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sched); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("getting ReplicationSyncSchedule %s/%s: %w", namespace, name, err)
	}
	if sched.UID != uid || !sched.DeletionTimestamp.IsZero() {
		return true, nil
	}
	last := sched.Status.LastSuccessfulTime
	return last != nil && !last.Time.Before(completed), nil
}
