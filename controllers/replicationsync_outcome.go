package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// Groups whose task's outcome is unknown: the task could not be read, or ended without a result for them.
// Such a task may have made the group's PiT, so a group whose attempts are spent is Failed only after the
// provider showed no PiT of our name for it. (A task SMS forgot puts its groups in doubt instead: its
// sync may still run on the array; see inDoubtStep.)

// countUnknownOutcome counts a failure of each group idx whose task's outcome is unknown; a group whose
// attempts are spent and whose PiT the provider shows is Synced instead. It returns the groups to retry.
func (r *ReplicationSyncReconciler) countUnknownOutcome(ctx context.Context, run *syncRun, idx []int, message string) []int {
	var spent []int
	for _, i := range idx {
		if run.rs.Status.Groups[i].Attempts+1 > backoffLimit(run.rs) {
			spent = append(spent, i)
		}
	}
	_, _ = r.syncByPiT(ctx, run, spent, message+"; its PiT was found")
	var retried []int
	for _, i := range idx {
		if run.rs.Status.Groups[i].State != replicationv1alpha1.GroupSynced && run.groupCountFailure(i, message) {
			retried = append(retried, i)
		}
	}
	return retried
}

// syncByPiT asks for the PiTs of our name of the groups idx (lastLookForPiTs) and marks those found
// Synced with message (groupSyncedByPiT); it returns the others, and among them those whose provider
// gave no answer at all.
func (r *ReplicationSyncReconciler) syncByPiT(ctx context.Context, run *syncRun, idx []int, message string) (left, unanswered []int) {
	found, unanswered := r.lastLookForPiTs(ctx, run, idx)
	for _, i := range idx {
		if p, ok := found[toSMSGroup(run.rs.Status.Groups[i].ReplicationGroupID)]; ok {
			run.groupSyncedByPiT(i, p, message)
			continue
		}
		left = append(left, i)
	}
	return left, unanswered
}

// lastLookForPiTs asks the providers of the groups idx for their PiTs of our name, before they are
// Failed. A provider that cannot answer finds none; those of its groups that got no answer at all
// (vCenter unreachable) are returned too.
func (r *ReplicationSyncReconciler) lastLookForPiTs(ctx context.Context, run *syncRun, idx []int) (map[sms.GroupID]sms.PointInTime, []int) {
	out := map[sms.GroupID]sms.PointInTime{}
	var unanswered []int
	if len(idx) == 0 {
		return out, nil
	}
	byProvider := map[string][]int{}
	for _, i := range idx {
		p := groupProvider(run.rs.Status.Groups[i], run.vp.Status.ProviderRef.Value)
		byProvider[p] = append(byProvider[p], i)
	}
	for provider, groups := range byProvider {
		found, _, err := findPiTs(ctx, run.cl, provider, groupIDs(run.rs, groups), run.rs.Spec.PitName)
		if err != nil {
			ctrl.LoggerFrom(ctx).Info("Could not look for the PiTs of groups about to fail", "provider", provider, "error", err.Error())
			if !sms.Answered(err) {
				unanswered = append(unanswered, groups...)
			}
			continue
		}
		for g, p := range found {
			out[g] = p
		}
	}
	return out, unanswered
}
