package controllers

import (
	"context"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// maxUnlistedAsked bounds how many stored groups one discovery asks about by id (ten calls).
const maxUnlistedAsked = 10 * sms.NewestPiTBatchSize

// withUnlisted adds to the provider's listing what it says, asked by id, of the stored groups the listing
// left out. A provider inactive for some of the fault domains it fronts (VASA high availability) lists
// only the other domains' groups, and refuses a query naming theirs with InactiveProvider, which the
// client follows to the active provider: unasked, those groups would count as gone and be deleted an
// interval later, their lastSync lost. A group no provider knows stays out (its misses count); one the
// provider could not answer for now is kept as it is. An answer listing no group is left alone
// (keepAllGroups).
func withUnlisted(ctx context.Context, cl sms.Discovery, vp *replicationv1alpha1.VasaProvider, infos []sms.GroupInfo, stored []replicationv1alpha1.ReplicationGroup) []sms.GroupInfo {
	if len(infos) == 0 {
		return infos
	}
	listed := make(map[sms.GroupID]bool, len(infos))
	for _, in := range infos {
		listed[in.Group] = true
	}
	var unlisted []sms.GroupID
	for i := range stored {
		if id := toSMSGroup(stored[i].Spec.GroupID); !listed[id] && len(unlisted) < maxUnlistedAsked {
			unlisted = append(unlisted, id)
		}
	}
	if len(unlisted) == 0 {
		return infos
	}
	answered, err := cl.ReplicationGroupInfos(ctx, vp.Status.ProviderRef.Value, unlisted)
	asked := make(map[sms.GroupID]bool, len(unlisted))
	for _, id := range unlisted {
		asked[id] = true
	}
	found := 0
	for _, in := range answered {
		if asked[in.Group] && (in.Err == "" || in.Unanswered) {
			infos = append(infos, in)
			asked[in.Group] = false
			found++
		}
	}
	log := ctrl.LoggerFrom(ctx).V(1)
	if err != nil {
		log = log.WithValues("error", err.Error())
	}
	log.Info("Asked about stored groups the provider did not list", "vasaProvider", klog.KObj(vp), "asked", len(unlisted), "found", found)
	return infos
}
