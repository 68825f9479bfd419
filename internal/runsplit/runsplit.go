// Package runsplit shares out more replication groups than one ReplicationSync holds over several runs.
//
// One run holds at most v1alpha1.MaxGroupsPerRun groups and v1alpha1.MaxGroupIDBytes bytes of ids,
// so that its status fits in one object. A selector may match more, such as every group of a
// 5,000-group array: a schedule's tick and `kubectl vasa sync --split` then create one run per share,
// all of the same PiT name.
package runsplit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
)

// Nameable returns the ids a share can name in groupIds, and the others, each in the order given. A
// provider may report ids with white space around them or control characters: a ReplicationGroup holds
// them, and a selector run syncs them, but groupIds, where a share names its groups, refuses them
// (pitname.Sendable).
func Nameable(ids []replicationv1alpha1.ReplicationGroupID) (named, left []replicationv1alpha1.ReplicationGroupID) {
	for _, id := range ids {
		if pitname.Sendable(id.FaultDomainID.ID) && pitname.Sendable(id.DeviceGroupID.ID) {
			named = append(named, id)
		} else {
			left = append(left, id)
		}
	}
	return named, left
}

// Fits reports whether one run can hold ids.
func Fits(ids []replicationv1alpha1.ReplicationGroupID) bool {
	return len(ids) <= replicationv1alpha1.MaxGroupsPerRun && replicationv1alpha1.GroupIDBytes(ids) <= replicationv1alpha1.MaxGroupIDBytes
}

// Split cuts ids into the fewest even shares (contiguous, sizes differing by at most one) that each fit
// in a run.
func Split(ids []replicationv1alpha1.ReplicationGroupID) [][]replicationv1alpha1.ReplicationGroupID {
	for parts := max(1, (len(ids)+replicationv1alpha1.MaxGroupsPerRun-1)/replicationv1alpha1.MaxGroupsPerRun); parts < len(ids); parts++ {
		if out, ok := cut(ids, parts); ok {
			return out
		}
	}
	// A share per group: admission bounds each id, so any one group fits.
	out := make([][]replicationv1alpha1.ReplicationGroupID, len(ids))
	for i := range ids {
		out[i] = ids[i : i+1 : i+1]
	}
	return out
}

// Into cuts ids into exactly parts even shares; ok is false when one would be empty or would not fit.
func Into(ids []replicationv1alpha1.ReplicationGroupID, parts int) ([][]replicationv1alpha1.ReplicationGroupID, bool) {
	if parts < 1 || len(ids) < parts {
		return nil, false
	}
	return cut(ids, parts)
}

// cut shares ids evenly over parts; ok is false when one share does not fit (long ids).
func cut(ids []replicationv1alpha1.ReplicationGroupID, parts int) ([][]replicationv1alpha1.ReplicationGroupID, bool) {
	out := make([][]replicationv1alpha1.ReplicationGroupID, 0, parts)
	for i := range parts {
		lo, hi := i*len(ids)/parts, (i+1)*len(ids)/parts
		share := ids[lo:hi:hi]
		if !Fits(share) {
			return nil, false
		}
		out = append(out, share)
	}
	return out, true
}

// MakeShare turns rs into share of the set named set: labelled with SyncSetLabel, annotated with
// ShareAnnotation, with ids in groupIds instead of a selector, and no TTL. A share deleted after its TTL
// while others still run would hide the run's outcome from a schedule it belongs to; the schedule's
// history limits delete whole sets instead.
func MakeShare(rs *replicationv1alpha1.ReplicationSync, set string, share Share, ids []replicationv1alpha1.ReplicationGroupID) {
	if rs.Labels == nil {
		rs.Labels = map[string]string{}
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Labels[replicationv1alpha1.SyncSetLabel] = replicationv1alpha1.LabelValue(set)
	rs.Annotations[replicationv1alpha1.ShareAnnotation] = share.String()
	rs.Spec.GroupSelector = nil
	rs.Spec.GroupIDs = slices.Clone(ids)
	rs.Spec.TTLSecondsAfterFinished = nil
}

// Share is the place of one run among the shares of a set: number N of Of.
type Share struct{ N, Of int }

// String is the value of ShareAnnotation, "N/Of".
func (s Share) String() string { return strconv.Itoa(s.N) + "/" + strconv.Itoa(s.Of) }

// ParseShare reads a ShareAnnotation value.
func ParseShare(v string) (Share, error) {
	n, of, ok := strings.Cut(v, "/")
	s := Share{}
	var err1, err2 error
	s.N, err1 = strconv.Atoi(n)
	s.Of, err2 = strconv.Atoi(of)
	if !ok || err1 != nil || err2 != nil || s.N < 1 || s.N > s.Of {
		return Share{}, fmt.Errorf("share %q: want N/OF with 1 <= N <= OF", v)
	}
	return s, nil
}
