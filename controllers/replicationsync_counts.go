package controllers

import (
	"context"
	"errors"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// countStored counts what one status write stored, from before to after: groups that reached a final
// state (vasa_sync_groups_total) and groups issued again while in doubt (announceReissues). Counted from
// the write, not where a step decides: a decision whose write is refused is taken again by the next
// reconcile, and would otherwise count twice. A write that failed but may have been applied
// (mayHaveBeenApplied) counts too: the next reconcile would read it as stored and count nothing.
func (r *ReplicationSyncReconciler) countStored(ctx context.Context, before, after *replicationv1alpha1.ReplicationSync) {
	ns, provider := after.Namespace, after.Spec.ProviderRef.Name
	for i, g := range after.Status.Groups {
		was := groupBefore(before, i, g)
		if g.State != was.State {
			switch g.State {
			case replicationv1alpha1.GroupSynced:
				metrics.GroupsTotal.WithLabelValues(ns, provider, "synced").Inc()
			case replicationv1alpha1.GroupFailed:
				metrics.GroupsTotal.WithLabelValues(ns, provider, "failed").Inc()
			}
		}
	}
	r.announceReissues(ctx, before, after)
}

// announceReissues counts and announces the groups a write issues again while in doubt
// (vasa_sync_in_doubt_reissues_total, Event InDoubtReissued). For a write that failed but may have been
// applied, a re-issue not stored is announced again when the next reconcile decides it anew: a second
// call is never silent, at worst told twice.
func (r *ReplicationSyncReconciler) announceReissues(ctx context.Context, before, after *replicationv1alpha1.ReplicationSync) {
	var reissued []string
	for i, g := range after.Status.Groups {
		// A re-issue past backoffLimit fails the group instead (reissue): that is no call.
		if g.Reissues > groupBefore(before, i, g).Reissues && g.State != replicationv1alpha1.GroupFailed {
			metrics.InDoubtReissuesTotal.WithLabelValues(after.Namespace, after.Spec.ProviderRef.Name).Inc()
			r.event(after, corev1.EventTypeWarning, "InDoubtReissued", "Sync",
				"Group %s issued again (re-issue %d): its sync call got no answer and no PiT %q appeared within the in-doubt window",
				groupName(g.ReplicationGroupID), g.Reissues, after.Spec.PitName)
			reissued = append(reissued, groupName(g.ReplicationGroupID))
		}
	}
	if len(reissued) > 0 { // one line per write, however many groups
		ctrl.LoggerFrom(ctx).Info("Issuing in-doubt groups again: no PiT appeared within the in-doubt window",
			"groups", len(reissued), "first", reissued[:min(len(reissued), 5)])
	}
}

// groupBefore is group i of before if it is g's group, else the zero status.
func groupBefore(before *replicationv1alpha1.ReplicationSync, i int, g replicationv1alpha1.GroupStatus) replicationv1alpha1.GroupStatus {
	if i < len(before.Status.Groups) && before.Status.Groups[i].ReplicationGroupID == g.ReplicationGroupID {
		return before.Status.Groups[i]
	}
	return replicationv1alpha1.GroupStatus{}
}

// mayHaveBeenApplied reports whether a write that failed may have been applied all the same: the API
// server did not answer, or answered a timeout or an internal error (etcd's "request timed out" comes so,
// after the write may have reached etcd). A refusal (conflict, invalid, forbidden, not found, too many
// requests) was not applied.
func mayHaveBeenApplied(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return status.Status().Code >= http.StatusInternalServerError
}
