package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// maxUnlistedAsked bounds how many stored groups one discovery asks about by id: 50 calls, as many as
// its PiT queries of 5,000 groups.
const maxUnlistedAsked = 50 * sms.NewestPiTBatchSize

// withUnlisted adds to the provider's listing what it says, asked by id, of the stored groups the listing
// left out. A provider inactive for some of the fault domains it fronts (VASA high availability) lists
// only the other domains' groups, and refuses a query naming theirs with InactiveProvider, which the
// client follows to the active provider: unasked, those groups would count as gone and be deleted an
// interval later, their lastSync lost. A group no provider knows stays out (its misses count), whether
// the answer says so or leaves it out (LeftOut: unlisted and unanswered, it would otherwise be kept, and
// its RPO alert fire, for good). One the provider could not answer for now (its call failed) is kept as
// it is (Unanswered), and so is one past maxUnlistedAsked;
// those asked start at another batch every interval (rotated). A provider that lists nothing is asked
// too: one that has not read its array yet (restarting) knows none of them either, and keepAllGroups
// takes over.
func withUnlisted(ctx context.Context, cl sms.Discovery, vp *replicationv1alpha1.VasaProvider, infos []sms.GroupInfo, stored []replicationv1alpha1.ReplicationGroup, now time.Time) []sms.GroupInfo {
	listed := make(map[sms.GroupID]bool, len(infos))
	for _, in := range infos {
		listed[in.Group] = true
	}
	var unlisted []sms.GroupID
	for i := range stored {
		if id := toSMSGroup(stored[i].Spec.GroupID); !listed[id] {
			unlisted = append(unlisted, id)
		}
	}
	if len(unlisted) == 0 {
		return infos
	}
	unlisted = rotated(unlisted, now, discoveryInterval(vp))
	asked, unasked := unlisted[:min(len(unlisted), maxUnlistedAsked)], unlisted[min(len(unlisted), maxUnlistedAsked):]
	answered, err := cl.ReplicationGroupInfos(ctx, vp.Status.ProviderRef.Value, asked)
	wanted := make(map[sms.GroupID]bool, len(asked))
	for _, id := range asked {
		wanted[id] = true
	}
	kept := 0
	for _, in := range answered {
		if wanted[in.Group] && (in.Err == "" || in.Unanswered && !in.LeftOut) {
			infos = append(infos, in)
			wanted[in.Group] = false
			kept++
		}
	}
	for _, id := range unasked {
		infos = append(infos, sms.GroupInfo{Group: id, Unanswered: true,
			Err: fmt.Sprintf("the provider did not list it, and this discovery asked about %d such groups by id, not all", maxUnlistedAsked)})
	}
	log := ctrl.LoggerFrom(ctx).V(1)
	if err != nil {
		log = log.WithValues("error", err.Error())
	}
	log.Info("Asked about stored groups the provider did not list", "vasaProvider", klog.KObj(vp), "asked", len(asked), "kept", kept, "notAsked", len(unasked))
	return infos
}
