package controllers

import (
	corev1 "k8s.io/api/core/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// countStored counts what one status write stored, from before to after: groups that reached a final
// state (vasa_sync_groups_total) and groups issued again while in doubt (vasa_sync_in_doubt_reissues_total,
// Event InDoubtReissued). Counted from the write, not where a step decides: a decision whose write is
// lost is taken again by the next reconcile, and would otherwise count twice. A write the API server
// applied but whose answer was lost (a timeout) is not counted: the next reconcile reads it as stored.
func (r *ReplicationSyncReconciler) countStored(before, after *replicationv1alpha1.ReplicationSync) {
	ns, provider := after.Namespace, after.Spec.ProviderRef.Name
	for i, g := range after.Status.Groups {
		var was replicationv1alpha1.GroupStatus
		if i < len(before.Status.Groups) && before.Status.Groups[i].ReplicationGroupID == g.ReplicationGroupID {
			was = before.Status.Groups[i]
		}
		if g.State != was.State {
			switch g.State {
			case replicationv1alpha1.GroupSynced:
				metrics.GroupsTotal.WithLabelValues(ns, provider, "synced").Inc()
			case replicationv1alpha1.GroupFailed:
				metrics.GroupsTotal.WithLabelValues(ns, provider, "failed").Inc()
			}
		}
		// A re-issue past backoffLimit fails the group instead (reissue): that is no call.
		if g.Reissues > was.Reissues && g.State != replicationv1alpha1.GroupFailed {
			metrics.InDoubtReissuesTotal.WithLabelValues(ns, provider).Inc()
			r.event(after, corev1.EventTypeWarning, "InDoubtReissued", "Sync",
				"Group %s issued again (re-issue %d): its sync call got no answer and no PiT %q appeared within the in-doubt window",
				groupName(g.ReplicationGroupID), g.Reissues, after.Spec.PitName)
		}
	}
}
