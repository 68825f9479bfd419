package controllers

import (
	"context"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// inventorySample is how many of a provider's other groups are asked for to tell a provider answering
// from an empty inventory from one that no longer has the run's groups.
const inventorySample = 10

// inventoryLoaded reports whether the provider knows groups of the run's fault domains now, judged by up
// to inventorySample of its other groups there that discovery found, newest first. A provider that knows
// none of a run's groups is taken for one restarting or failing over (an empty inventory), whose refusals
// pass, unless it knows these: then the run's ids are gone from it (retired by a reverse of replication,
// say) and it is no use calling them until backoffLimit. Only the same fault domains count: a provider
// of several arrays may read them in again one at a time. Without discovery there is nothing to ask, and
// nothing is assumed.
func (r *ReplicationSyncReconciler) inventoryLoaded(ctx context.Context, run *syncRun, provider string) bool {
	// Read only, so not copied out of the cache: a provider may have 5,000 groups.
	list := &replicationv1alpha1.ReplicationGroupList{}
	if err := r.List(ctx, list, client.InNamespace(run.rs.Namespace), client.UnsafeDisableDeepCopy,
		client.MatchingLabels{replicationv1alpha1.ProviderLabel: replicationv1alpha1.LabelValue(run.vp.Name)}); err != nil {
		return false
	}
	own, domains := map[sms.GroupID]bool{}, map[string]bool{}
	for _, g := range run.rs.Status.Groups {
		own[toSMSGroup(g.ReplicationGroupID)] = true
		domains[g.FaultDomainID.ID] = true
	}
	groups := slices.DeleteFunc(list.Items, func(rg replicationv1alpha1.ReplicationGroup) bool {
		return own[toSMSGroup(rg.Spec.GroupID)] || !domains[rg.Spec.GroupID.FaultDomainID.ID]
	})
	slices.SortFunc(groups, func(a, b replicationv1alpha1.ReplicationGroup) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	var ids []sms.GroupID
	for _, rg := range groups[:min(len(groups), inventorySample)] {
		ids = append(ids, toSMSGroup(rg.Spec.GroupID))
	}
	if len(ids) == 0 {
		return false
	}
	states, err := queryGroups(ctx, run.cl, provider, ids)
	return err == nil && knowsAny(states)
}
