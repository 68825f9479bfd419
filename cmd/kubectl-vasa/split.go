package main

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/runsplit"
)

// A selector may match more groups than one run holds, such as every group of a 5,000-group array. The
// operator refuses such a run when it starts; with --split the plugin resolves the selector itself and
// creates one run per share (runsplit), all of the same PiT name.

// splitSync turns rs, whose selector matched ids, into one run per share: named <name>-<n>, labelled
// with SyncSetLabel and annotated with ShareAnnotation, with the ids in groupIds instead of the selector.
func splitSync(rs *replicationv1alpha1.ReplicationSync, ids []replicationv1alpha1.ReplicationGroupID) []*replicationv1alpha1.ReplicationSync {
	shares := runsplit.Split(ids)
	out := make([]*replicationv1alpha1.ReplicationSync, len(shares))
	for i, share := range shares {
		p := rs.DeepCopy()
		p.Name = rs.Name + "-" + strconv.Itoa(i+1)
		runsplit.MakeShare(p, rs.Name, runsplit.Share{N: i + 1, Of: len(shares)}, share)
		out[i] = p
	}
	return out
}

// tooManyError says that the ids rs's selector matched do not fit in one run, and what to do.
func tooManyError(rs *replicationv1alpha1.ReplicationSync, ids []replicationv1alpha1.ReplicationGroupID) error {
	return fmt.Errorf("nothing created: the selector %s matches %d groups of provider %s (%d bytes of ids), more than one ReplicationSync holds (%d groups, %d bytes): "+
		"add --split to create %d ReplicationSyncs of the same PiT name, or narrow the selector",
		metav1.FormatLabelSelector(rs.Spec.GroupSelector.LabelSelector()), len(ids), rs.Spec.ProviderRef.Name, replicationv1alpha1.GroupIDBytes(ids),
		replicationv1alpha1.MaxGroupsPerRun, replicationv1alpha1.MaxGroupIDBytes, len(runsplit.Split(ids)))
}
