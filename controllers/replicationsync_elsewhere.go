package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// PiTs made elsewhere: a PiT of the run's name for a group the run never called, made while the run
// existed, was made by another writer of the same PiT names: the same schedules applied to two clusters,
// two VasaProviders for one provider, or a ReplicationSync of this name deleted while its sync ran. The
// claims keep the runs of one API server from calling twice; between two writers only the PiT check and
// SyncOngoing stand, and a call between the other's task ending and this run's check makes a second
// PiT (on an array without PiT support, a second sync each time). The run takes the PiT, as before,
// and says so, so that the setup can be fixed before it costs a double sync.

// pitMadeElsewhere is a group of the run and the time of a PiT of its name that another writer made.
type pitMadeElsewhere struct {
	group replicationv1alpha1.ReplicationGroupID
	at    time.Time
}

// noCallCounted reports whether no call of the run for g is on record: no failure counted, no re-issue,
// no reroute. A task that ended in error with a fault counted as nothing (the provider busy) leaves none
// either; such a task is taken to have made no PiT.
func noCallCounted(g replicationv1alpha1.GroupStatus) bool {
	return g.Attempts == 0 && g.Reissues == 0 && g.Reroutes == 0
}

// noteMadeElsewhere records that group i has a PiT of the run's name stamped at, if the run has no call
// for it on record and the PiT is younger than the run: one from before is an earlier object's of the
// same name (re-applied from Git). It is told once the status that takes the PiT is stored, whichever
// write stores it (a relay's too).
func (r *ReplicationSyncReconciler) noteMadeElsewhere(run *syncRun, i int, at time.Time) {
	g := run.rs.Status.Groups[i]
	if !noCallCounted(g) || at.IsZero() || at.Before(run.rs.CreationTimestamp.Time) {
		return
	}
	if len(run.madeElsewhere) == 0 {
		run.afterStore(func() { r.reportMadeElsewhere(run) })
	}
	run.madeElsewhere = append(run.madeElsewhere, pitMadeElsewhere{group: g.ReplicationGroupID, at: at})
}

// reportMadeElsewhere says which groups had a PiT of the run's name that another writer made (a Warning
// event).
func (r *ReplicationSyncReconciler) reportMadeElsewhere(run *syncRun) {
	found := run.madeElsewhere
	run.madeElsewhere = nil
	if len(found) == 0 {
		return
	}
	rs := run.rs
	first := found[0]
	r.event(rs, corev1.EventTypeWarning, replicationv1alpha1.PiTMadeElsewhereReason, "Sync",
		"%d groups have a PiT named %q that this run did not call for, made while it existed (first %s at %s): another writer syncs them under the same PiT names, such as the same schedules in a second cluster, a second VasaProvider for this provider, or an earlier ReplicationSync of this name. Two writers can sync a group twice; run the syncs of a provider's groups from one cluster and one VasaProvider (docs/runbooks.md, \"After restoring the cluster, or with more than one cluster\")",
		len(found), rs.Spec.PitName, groupName(first.group), first.at.UTC().Format(time.RFC3339))
}
