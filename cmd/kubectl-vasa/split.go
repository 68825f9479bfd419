package main

import (
	"fmt"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// What one run holds is bounded (replicationv1alpha1.MaxGroupsPerRun groups, MaxGroupIDChars characters
// of ids), so that its status fits in one object. A selector matching more, such as every group of a
// 5,000-group array, is refused by the operator when the run starts; with --split the plugin resolves it
// itself and creates several runs of the same PiT name instead, each with its share of the ids.

// selectedIDs returns the ids of the groups of provider among matched, in the order the operator gives
// a run chosen by a selector.
func selectedIDs(matched []replicationv1alpha1.ReplicationGroup, provider string) []replicationv1alpha1.ReplicationGroupID {
	out := make([]replicationv1alpha1.ReplicationGroupID, 0, len(matched))
	for i := range matched {
		if matched[i].Spec.ProviderRef.Name == provider {
			out = append(out, matched[i].Spec.GroupID)
		}
	}
	slices.SortFunc(out, replicationv1alpha1.CompareGroupIDs)
	return slices.Compact(out)
}

// fitsOneRun reports whether one ReplicationSync can hold ids.
func fitsOneRun(ids []replicationv1alpha1.ReplicationGroupID) bool {
	return len(ids) <= replicationv1alpha1.MaxGroupsPerRun && replicationv1alpha1.GroupIDChars(ids) <= replicationv1alpha1.MaxGroupIDChars
}

// splitIDs cuts ids into the fewest runs that each fit, sharing the groups evenly, in order.
func splitIDs(ids []replicationv1alpha1.ReplicationGroupID) [][]replicationv1alpha1.ReplicationGroupID {
	parts := max(1, (len(ids)+replicationv1alpha1.MaxGroupsPerRun-1)/replicationv1alpha1.MaxGroupsPerRun)
	for ; parts < len(ids); parts++ {
		if out, ok := cut(ids, parts); ok {
			return out
		}
	}
	return cut1(ids)
}

// cut shares ids evenly over parts runs; ok is false when one of them does not fit (long ids).
func cut(ids []replicationv1alpha1.ReplicationGroupID, parts int) ([][]replicationv1alpha1.ReplicationGroupID, bool) {
	out := make([][]replicationv1alpha1.ReplicationGroupID, 0, parts)
	for i := range parts {
		part := ids[i*len(ids)/parts : (i+1)*len(ids)/parts]
		if !fitsOneRun(part) {
			return nil, false
		}
		out = append(out, part)
	}
	return out, true
}

// cut1 puts each group in a run of its own: every single id fits (admission bounds each id).
func cut1(ids []replicationv1alpha1.ReplicationGroupID) [][]replicationv1alpha1.ReplicationGroupID {
	out := make([][]replicationv1alpha1.ReplicationGroupID, len(ids))
	for i := range ids {
		out[i] = ids[i : i+1]
	}
	return out
}

// splitSync turns rs, whose selector matched ids, into one run per share of splitIDs: named
// <name>-<n>, labelled with SyncSetLabel, with the ids in groupIds instead of the selector.
func splitSync(rs *replicationv1alpha1.ReplicationSync, ids []replicationv1alpha1.ReplicationGroupID) []*replicationv1alpha1.ReplicationSync {
	parts := splitIDs(ids)
	out := make([]*replicationv1alpha1.ReplicationSync, len(parts))
	for i, part := range parts {
		p := rs.DeepCopy()
		p.Name = rs.Name + "-" + strconv.Itoa(i+1)
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[replicationv1alpha1.SyncSetLabel] = replicationv1alpha1.LabelValue(rs.Name)
		p.Spec.GroupSelector = nil
		p.Spec.GroupIDs = slices.Clone(part)
		out[i] = p
	}
	return out
}

// tooManyError says that the ids rs's selector matched do not fit in one run, and what to do. A
// schedule's run is not split: each share would count as a run of the schedule, and one share's success
// as the schedule's.
func tooManyError(rs *replicationv1alpha1.ReplicationSync, ids []replicationv1alpha1.ReplicationGroupID, schedule string) error {
	sel := metav1.FormatLabelSelector(rs.Spec.GroupSelector)
	what := fmt.Sprintf("nothing created: the selector %s matches %d groups of provider %s (%d characters of ids), more than one ReplicationSync holds (%d groups, %d characters)",
		sel, len(ids), rs.Spec.ProviderRef.Name, replicationv1alpha1.GroupIDChars(ids), replicationv1alpha1.MaxGroupsPerRun, replicationv1alpha1.MaxGroupIDChars)
	if schedule != "" {
		return fmt.Errorf("%s: the runs of schedule %s stop with NoGroupsSelected for the same reason; narrow its selector, or sync these groups now with 'kubectl vasa sync --provider %s -l %s --split'",
			what, schedule, rs.Spec.ProviderRef.Name, sel)
	}
	return fmt.Errorf("%s: add --split to create %d ReplicationSyncs of the same PiT name, or narrow the selector", what, len(splitIDs(ids)))
}
