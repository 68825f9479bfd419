package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// groupNamePrefixMax keeps object names at most 63 characters: a readable prefix, "-" and a 10-character
// hash, so they fit wherever a name becomes a label value too.
const groupNamePrefixMax = 52

// groupObjectName derives a ReplicationGroup's name from its provider and ids: stable, DNS-safe and
// unique per (provider, fault domain, device group), with the readable part first.
func groupObjectName(provider string, id sms.GroupID) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + id.FaultDomainID + "\x00" + id.DeviceGroupID))
	hash := hex.EncodeToString(sum[:])[:10]
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(provider + "-" + id.DeviceGroupID) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	prefix := b.String()
	if len(prefix) > groupNamePrefixMax {
		prefix = prefix[:groupNamePrefixMax]
	}
	prefix = strings.Trim(prefix, "-")
	if prefix == "" {
		return "rg-" + hash
	}
	return prefix + "-" + hash
}

// groupLabels are the labels discovery puts on a ReplicationGroup; it owns them all.
func groupLabels(provider string, st *replicationv1alpha1.ReplicationGroupStatus, id sms.GroupID) map[string]string {
	l := map[string]string{
		replicationv1alpha1.ProviderLabel:    replicationv1alpha1.LabelValue(provider),
		replicationv1alpha1.FaultDomainLabel: replicationv1alpha1.LabelValue(id.FaultDomainID),
	}
	if st.State != "" {
		l[replicationv1alpha1.StateLabel] = replicationv1alpha1.LabelValue(st.State)
	}
	if st.SourceGroupName != "" {
		l[replicationv1alpha1.SourceGroupLabel] = replicationv1alpha1.LabelValue(st.SourceGroupName)
	}
	return l
}

// observedGroup is what one discovery learned about one group.
type observedGroup struct {
	info sms.GroupInfo
	// pit is the newest PiT answer; nil when the PiT query failed as a whole (keep what is stored).
	pit *sms.NewestPiT
}

// desiredGroup is the ReplicationGroup the provider's answer describes. stored is the object as it is now
// (nil when there is none): its newest PiT is kept when the PiT query failed, and its last sync unless an
// existing run (last) finished later.
func desiredGroup(vp *replicationv1alpha1.VasaProvider, obs observedGroup, last *replicationv1alpha1.LastSync, stored *replicationv1alpha1.ReplicationGroup) *replicationv1alpha1.ReplicationGroup {
	id := obs.info.Group
	st := replicationv1alpha1.ReplicationGroupStatus{
		State:                obs.info.State,
		Name:                 obs.info.Name,
		ReplicationAgreement: obs.info.Agreement,
		LastSync:             newestLastSync(last, stored),
	}
	if src := obs.info.Source; src != nil && apiHolds(*src) {
		st.SourceGroupID = apiGroupID(*src)
	}
	switch {
	case obs.info.Name != "":
		st.SourceGroupName = obs.info.Name
	case obs.info.Source != nil:
		st.SourceGroupName = obs.info.Source.DeviceGroupID
	}
	switch {
	case obs.pit == nil:
		if stored != nil {
			st.NewestPiT = stored.Status.NewestPiT.DeepCopy()
		}
	case obs.pit.Err != "" || obs.pit.PiT != nil && obs.pit.PiT.TimeStamp.IsZero():
		st.Message = "The provider failed the point-in-time replica query of this group: " + obs.pit.Err
		if obs.pit.Err == "" {
			st.Message = "The provider answered a point-in-time replica of this group without a time"
		}
		if stored != nil {
			st.NewestPiT = stored.Status.NewestPiT.DeepCopy()
		}
	case obs.pit.PiT != nil:
		st.NewestPiT = &replicationv1alpha1.PointInTime{
			Name:      obs.pit.PiT.Name,
			ID:        obs.pit.PiT.ID,
			TimeStamp: wholeSecond(obs.pit.PiT.TimeStamp),
			Summary:   obs.pit.Summary,
		}
	}
	var created metav1.Time // when discovery first saw the group (recordDiscoveryMetrics)
	if stored != nil {
		created = stored.CreationTimestamp
	}
	return &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{
			CreationTimestamp: created,
			Name:              groupObjectName(vp.Name, id),
			Namespace:         vp.Namespace,
			Labels:            groupLabels(vp.Name, &st, id),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(vp, replicationv1alpha1.GroupVersion.WithKind("VasaProvider"))},
		},
		Spec: replicationv1alpha1.ReplicationGroupSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: vp.Name},
			GroupID:     *apiGroupID(id),
		},
		Status: st,
	}
}

// wholeSecond is t as the API stores it: metav1.Time keeps whole seconds in UTC. Comparing the desired
// object with the stored one needs the same precision, or every discovery would write every object.
func wholeSecond(t time.Time) metav1.Time {
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// apiHolds reports whether both ids of a provider's group fit the API's id fields.
func apiHolds(id sms.GroupID) bool {
	return replicationv1alpha1.HoldsID(id.FaultDomainID) && replicationv1alpha1.HoldsID(id.DeviceGroupID)
}

func apiGroupID(id sms.GroupID) *replicationv1alpha1.ReplicationGroupID {
	return &replicationv1alpha1.ReplicationGroupID{
		FaultDomainID: replicationv1alpha1.FaultDomainID{ID: id.FaultDomainID},
		DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: id.DeviceGroupID},
	}
}

// groupLabelKeys are the labels discovery owns; any other (a user's, an admission policy's) is kept.
var groupLabelKeys = []string{replicationv1alpha1.ProviderLabel, replicationv1alpha1.FaultDomainLabel,
	replicationv1alpha1.StateLabel, replicationv1alpha1.SourceGroupLabel}

// groupUpToDate reports whether stored already says what desired says, in the parts discovery owns:
// its labels, its controller reference, spec and status. Anything else a user changed in those is put
// back by the next write; labels and owners of others are not compared, or a mutating admission policy
// that adds a label would have every discovery rewrite every object.
func groupUpToDate(stored, desired *replicationv1alpha1.ReplicationGroup) bool {
	for _, k := range groupLabelKeys {
		sv, sok := stored.Labels[k]
		dv, dok := desired.Labels[k]
		if sok != dok || sv != dv {
			return false
		}
	}
	ours := metav1.GetControllerOfNoCopy(desired)
	return slices.ContainsFunc(stored.OwnerReferences, func(o metav1.OwnerReference) bool { return equality.Semantic.DeepEqual(o, *ours) }) &&
		equality.Semantic.DeepEqual(stored.Spec, desired.Spec) &&
		equality.Semantic.DeepEqual(stored.Status, desired.Status)
}

// keepOthers adds to desired, about to replace stored, the labels discovery does not own and the owner
// references other than a controller's.
func keepOthers(desired, stored *replicationv1alpha1.ReplicationGroup) {
	for k, v := range stored.Labels {
		if !slices.Contains(groupLabelKeys, k) {
			desired.Labels[k] = v
		}
	}
	for _, o := range stored.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			desired.OwnerReferences = append(desired.OwnerReferences, o)
		}
	}
}

// newestLastSync is the later of the last sync found among the existing runs and the stored one. The
// stored one outlives its run, which a TTL or a schedule's history limit deletes, so that the field the
// runbooks rely on stays, and the object is not rewritten only to clear it.
func newestLastSync(fromRuns *replicationv1alpha1.LastSync, stored *replicationv1alpha1.ReplicationGroup) *replicationv1alpha1.LastSync {
	if stored == nil || stored.Status.LastSync == nil {
		return fromRuns
	}
	kept := stored.Status.LastSync
	if fromRuns == nil || kept.CompletionTime != nil &&
		(fromRuns.CompletionTime == nil || kept.CompletionTime.After(fromRuns.CompletionTime.Time)) {
		return kept.DeepCopy()
	}
	return fromRuns
}

// lastSyncs returns, per group, the newest finished ReplicationSync of provider that had the group in its
// status, with the group's final state there.
func lastSyncs(provider string, runs []replicationv1alpha1.ReplicationSync) map[sms.GroupID]*replicationv1alpha1.LastSync {
	out := map[sms.GroupID]*replicationv1alpha1.LastSync{}
	for i := range runs {
		rs := &runs[i]
		done := rs.Status.CompletionTime
		if rs.Spec.ProviderRef.Name != provider || done == nil {
			continue
		}
		for _, g := range rs.Status.Groups {
			if g.State != replicationv1alpha1.GroupSynced && g.State != replicationv1alpha1.GroupFailed {
				continue
			}
			id := sms.GroupID{FaultDomainID: g.FaultDomainID.ID, DeviceGroupID: g.DeviceGroupID.ID}
			if cur := out[id]; cur != nil && (cur.CompletionTime.After(done.Time) || cur.CompletionTime.Equal(done) && cur.Name > rs.Name) {
				continue
			}
			t := wholeSecond(done.Time)
			out[id] = &replicationv1alpha1.LastSync{Name: rs.Name, PitName: rs.Spec.PitName, State: g.State, CompletionTime: &t}
			if g.State == replicationv1alpha1.GroupSynced && g.TimeStamp != nil {
				pit := wholeSecond(g.TimeStamp.Time)
				out[id].PitTime = &pit
			}
		}
	}
	return out
}
