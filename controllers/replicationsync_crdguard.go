package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The claim is what keeps a group to one call across a crash: a ReplicationSync CRD older than the
// manager (a chart upgraded without its CRDs, docs/upgrade.md) has the API server drop claimTime from
// every write, without an error, and an unanswered call's group would then be issued again at once
// instead of after the in-doubt window. So the claim's write is read back before any call.

// claimsNotStored returns the groups the wave claims in this reconcile whose claim time the stored
// object (rs, as the claim's write answered it) lacks.
func claimsNotStored(rs *replicationv1alpha1.ReplicationSync, wave []syncBatch) []int {
	var out []int
	for _, b := range wave {
		if !b.armed.IsZero() || b.covered {
			continue
		}
		for _, i := range b.groups {
			if i < len(rs.Status.Groups) && rs.Status.Groups[i].ClaimTime == nil {
				out = append(out, i)
			}
		}
	}
	return out
}

// claimsPruned calls nothing and puts the groups whose claims were dropped back to Pending (nothing was
// called), with the run Stalled until the CRDs are applied; it tries again every ProviderWaitInterval.
func (r *ReplicationSyncReconciler) claimsPruned(ctx context.Context, run *syncRun, before, stored *replicationv1alpha1.ReplicationSync, lost []int) (ctrl.Result, error) {
	msg := fmt.Sprintf("The API server dropped status.groups[].claimTime from the claim of %d groups: the ReplicationSync CRD in the cluster is older than this operator. Nothing was called; apply the CRDs of this release (docs/upgrade.md)", len(lost))
	ctrl.LoggerFrom(ctx).Error(nil, msg)
	r.event(stored, corev1.EventTypeWarning, replicationv1alpha1.CRDOutdatedReason, "Sync", "%s", msg)
	r.holdSlotsAfterLostClaim(run, before)
	revert := stored.DeepCopy()
	for _, i := range lost {
		g := &revert.Status.Groups[i]
		g.State, g.Provider = replicationv1alpha1.GroupPending, ""
	}
	updateSummary(revert)
	markCRDOutdated(revert, msg)
	if err := r.patchStatus(ctx, stored, revert); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Releasing the claim the API server did not store; its groups wait out the in-doubt window instead")
	}
	return ctrl.Result{RequeueAfter: ProviderWaitInterval}, nil
}
