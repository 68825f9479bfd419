package controllers

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The claim is what keeps a group to one call across a crash: a ReplicationSync CRD older than the
// manager (a chart upgraded without its CRDs, docs/upgrade.md) has the API server drop claimTime from
// every write, without an error (or, older still, refuse the state Issuing), and an unanswered call's
// group would then be issued again at once instead of after the in-doubt window. So this process's first
// claim is tried as a dry run, and written only when the API server keeps its claim times; until then no
// claim is written and nothing is called. The answer holds for crdRecheck: the CRDs may be applied from
// an older release while the manager runs (a GitOps application of the CRDs synced to an older tag).

// crdRecheck is how long a dry run's answer that the API server keeps claim times holds.
const crdRecheck = 10 * time.Minute

// claimsKept reports whether the API server keeps the claim times of the wave rs claims over before,
// asking it with a dry run of the claim's write once per crdRecheck.
func (r *ReplicationSyncReconciler) claimsKept(ctx context.Context, before, rs *replicationv1alpha1.ReplicationSync, wave []syncBatch) (bool, error) {
	now := clockNow(r.Clock)
	if at := r.claimsVerified.Load(); at != nil && now.Sub(*at) < crdRecheck {
		return true, nil
	}
	patch, err := statusPatch(before, rs)
	if err != nil {
		return false, err
	}
	probe := rs.DeepCopy()
	if err := r.Status().Patch(ctx, probe, patch, client.DryRunAll); err != nil {
		if stateRefused(err) {
			return false, nil // the CRDs from before claims lack the state Issuing as well as claimTime
		}
		return false, err
	}
	// vcenterInstanceUuid came later than claimTime: without it a run adopts whatever vCenter it reaches.
	if len(claimsNotStored(probe, wave)) > 0 || rs.Status.VCenterInstanceUUID != "" && probe.Status.VCenterInstanceUUID == "" {
		return false, nil
	}
	r.claimsVerified.Store(&now)
	return true, nil
}

// claimsNotStored returns the groups the wave claims in this reconcile whose claim time rs (as the API
// server answered a write of the claim) lacks.
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

// claimsDropped writes no claim and calls nothing: the run (as it was before the claim) is Stalled until
// the CRDs are applied, and tries again every ProviderWaitInterval.
func (r *ReplicationSyncReconciler) claimsDropped(ctx context.Context, run *syncRun, before *replicationv1alpha1.ReplicationSync) (ctrl.Result, error) {
	msg := "The API server drops status fields of a claim (status.groups[].claimTime, status.vcenterInstanceUuid) or refuses its state Issuing: the ReplicationSync CRD in the cluster is older than this operator. Nothing is called until the CRDs of this release are applied (docs/upgrade.md)"
	r.holdSlotsAfterLostClaim(run, before)
	after := before.DeepCopy()
	markCRDOutdated(after, msg)
	if equality.Semantic.DeepEqual(after.Status, before.Status) {
		return ctrl.Result{RequeueAfter: ProviderWaitInterval}, nil // said so already
	}
	ctrl.LoggerFrom(ctx).Error(nil, msg)
	r.event(after, corev1.EventTypeWarning, replicationv1alpha1.CRDOutdatedReason, "Sync", "%s", msg)
	if err := r.patchStatus(ctx, before, after); err != nil {
		return r.lostWrite(before, err)
	}
	return ctrl.Result{RequeueAfter: ProviderWaitInterval}, nil
}

// stateRefused reports whether the API server refused a write for a group state its CRD does not list.
func stateRefused(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type == metav1.CauseTypeFieldValueNotSupported && strings.HasPrefix(c.Field, "status.groups[") && strings.HasSuffix(c.Field, "].state") {
			return true
		}
	}
	return false
}
