package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

const (
	// lastSyncHoldMax bounds, from its completion, how long a finished run waits for a discovery to
	// record it: a provider that is not Ready, or whose discovery fails, never keeps runs forever. A
	// provider whose discovery takes longer (5,000 groups on a slow array) keeps them for four times its
	// last discovery's duration: one may have begun just before the run finished and not seen it, and
	// the next starts up to twice that after it (discoverySpacing) and takes as long again.
	lastSyncHoldMax = 5 * time.Minute
	// lastSyncHoldPoll is how often a held run looks again once its discovery is due.
	lastSyncHoldPoll = 10 * time.Second
)

// lastSyncHold is how long to put off deleting a finished run (its TTL, its schedule's history limit)
// until a discovery has recorded it in the lastSync of its groups' ReplicationGroups. lastSync is built
// from the runs that exist when a discovery runs, discoveryAfterSync after a run finished: a run deleted
// sooner (ttlSecondsAfterFinished: 0) would never show there. No hold when the provider's discovery is
// off or the groups have no ReplicationGroup. Zero means delete now.
func lastSyncHold(ctx context.Context, c client.Reader, rs *replicationv1alpha1.ReplicationSync, now time.Time) (time.Duration, error) {
	done := rs.Status.CompletionTime
	if done == nil {
		return 0, nil
	}
	vp := &replicationv1alpha1.VasaProvider{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.ProviderRef.Name}, vp); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("getting VasaProvider %s/%s: %w", rs.Namespace, rs.Spec.ProviderRef.Name, err)
	}
	limit := done.Add(lastSyncHoldMax)
	if d := vp.Status.Discovery; d != nil && d.LastDuration != nil {
		limit = laterOf(limit, done.Add(4*d.LastDuration.Duration))
	}
	if !now.Before(limit) {
		return 0, nil
	}
	if discoveryInterval(vp) == 0 || !vp.DeletionTimestamp.IsZero() {
		return 0, nil
	}
	recorded := wholeSecond(done.Time)
	for _, g := range rs.Status.Groups {
		if !isFinalGroup(g) {
			continue
		}
		rg := &replicationv1alpha1.ReplicationGroup{}
		key := client.ObjectKey{Namespace: rs.Namespace, Name: groupObjectName(vp.Name, toSMSGroup(g.ReplicationGroupID))}
		if err := c.Get(ctx, key, rg); err != nil {
			if apierrors.IsNotFound(err) {
				continue // not discovered: nothing to record the run in
			}
			return 0, fmt.Errorf("getting ReplicationGroup %s: %w", key, err)
		}
		if last := rg.Status.LastSync; last == nil || last.CompletionTime == nil || last.CompletionTime.Before(&recorded) {
			due := done.Add(discoveryAfterSync + time.Second).Sub(now)
			return min(max(due, lastSyncHoldPoll), limit.Sub(now)), nil
		}
	}
	return 0, nil
}
