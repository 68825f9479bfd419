package controllers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// maxNamedGroups bounds how many failed groups a message names.
const maxNamedGroups = 10

// maxMessageBytes bounds a provider message (or a condition message built from them) written to
// status, so a verbose array cannot get the status patch rejected.
const maxMessageBytes = 1024

// truncatedMarker ends a message cut to maxMessageBytes.
const truncatedMarker = "... [truncated]"

// groupMessagesBytes bounds the messages of all status.groups together. A message per group of
// maxMessageBytes would add 1 MB to a 1000-group run, which with its ids (api MaxGroupIDBytes) no
// longer fits etcd's 1.5 MiB for one object: every status write would be refused and the run stuck.
const groupMessagesBytes = 256 << 10

// minGroupMessageBytes keeps a group message readable however many groups share the budget.
const minGroupMessageBytes = 200

// truncateMessage cuts s to at most maxMessageBytes (on a UTF-8 boundary), ending with truncatedMarker.
func truncateMessage(s string) string { return cutMessage(s, maxMessageBytes, truncatedMarker) }

// groupMessage cuts s to the share of groupMessagesBytes one of rs's groups may use.
func groupMessage(rs *replicationv1alpha1.ReplicationSync, s string) string {
	n := max(len(rs.Status.Groups), 1)
	return cutMessage(s, min(maxMessageBytes, max(minGroupMessageBytes, groupMessagesBytes/n)), truncatedMarker)
}

// initSyncStatus fills the per-group status from the spec on the first reconcile.
func initSyncStatus(rs *replicationv1alpha1.ReplicationSync) {
	if rs.Status.Phase == "" {
		rs.Status.Phase = replicationv1alpha1.SyncPending
	}
	if rs.Spec.GroupSelector != nil || len(rs.Status.Groups) == len(rs.Spec.GroupIDs) {
		return // a run by selector has its membership frozen into status when it starts
	}
	groups := make([]replicationv1alpha1.GroupStatus, len(rs.Spec.GroupIDs))
	for i, id := range rs.Spec.GroupIDs {
		groups[i] = replicationv1alpha1.GroupStatus{ReplicationGroupID: id, State: replicationv1alpha1.GroupPending}
		if i < len(rs.Status.Groups) && rs.Status.Groups[i].ReplicationGroupID == id {
			groups[i] = rs.Status.Groups[i]
		}
	}
	rs.Status.Groups = groups
}

// isFinished reports whether the run has ended.
func isFinished(rs *replicationv1alpha1.ReplicationSync) bool {
	return rs.Status.Phase == replicationv1alpha1.SyncSucceeded || rs.Status.Phase == replicationv1alpha1.SyncFailed
}

// isFinalGroup reports whether a group reached a final state.
func isFinalGroup(g replicationv1alpha1.GroupStatus) bool {
	return g.State == replicationv1alpha1.GroupSynced || g.State == replicationv1alpha1.GroupFailed
}

// allGroupsFinal reports whether every group is Synced or Failed.
func allGroupsFinal(rs *replicationv1alpha1.ReplicationSync) bool {
	for _, g := range rs.Status.Groups {
		if !isFinalGroup(g) {
			return false
		}
	}
	return true
}

// updateSummary derives summary and syncedDisplay from the groups.
func updateSummary(rs *replicationv1alpha1.ReplicationSync) {
	s := replicationv1alpha1.SyncSummary{Total: int32(len(rs.Status.Groups))}
	for _, g := range rs.Status.Groups {
		switch g.State {
		case replicationv1alpha1.GroupSynced:
			s.Synced++
		case replicationv1alpha1.GroupFailed:
			s.Failed++
		default:
			s.Pending++
		}
	}
	rs.Status.Summary = &s
	rs.Status.SyncedDisplay = fmt.Sprintf("%d/%d", s.Synced, s.Total)
}

// groupName renders a group as faultDomain/deviceGroup.
func groupName(id replicationv1alpha1.ReplicationGroupID) string {
	return id.FaultDomainID.ID + "/" + id.DeviceGroupID.ID
}

// failedGroupsMessage names the failed groups (up to maxNamedGroups) with their last error.
func failedGroupsMessage(rs *replicationv1alpha1.ReplicationSync) string {
	var names []string
	failed := 0
	for _, g := range rs.Status.Groups {
		if g.State != replicationv1alpha1.GroupFailed {
			continue
		}
		failed++
		if len(names) < maxNamedGroups {
			n := groupName(g.ReplicationGroupID)
			if g.Message != "" {
				n += " (" + g.Message + ")"
			}
			names = append(names, n)
		}
	}
	msg := fmt.Sprintf("%d of %d groups failed: %s", failed, len(rs.Status.Groups), strings.Join(names, ", "))
	if failed > len(names) {
		msg += fmt.Sprintf(" and %d more", failed-len(names))
	}
	return msg
}

// markInProgress sets the conditions of a run that still has work to do.
func markInProgress(rs *replicationv1alpha1.ReplicationSync, reason, message string) {
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, true, reason, message)
	setSyncStalledCondition(rs, false, reason, "")
}

// markProviderChanged sets the conditions of a run whose VasaProvider reaches another vCenter than the
// one its groups in flight were issued to: Stalled at once, as nothing but a human can bring it back.
func markProviderChanged(rs *replicationv1alpha1.ReplicationSync, message string) {
	reason := replicationv1alpha1.ProviderChangedReason
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, false, reason, "")
	setSyncStalledCondition(rs, true, reason, message)
}

// markScheduleGone sets the conditions of a schedule's run that is not started because its schedule is
// gone (replicationsync_schedulegone.go): Stalled, as only a human can say what to do with it.
func markScheduleGone(rs *replicationv1alpha1.ReplicationSync, message string) {
	reason := replicationv1alpha1.ScheduleGoneReason
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, false, reason, "")
	setSyncStalledCondition(rs, true, reason, message)
}

// markCRDOutdated sets the conditions of a run whose claims the API server does not store: Stalled, as
// only applying the CRDs brings it back; Reconciling, as it tries again.
func markCRDOutdated(rs *replicationv1alpha1.ReplicationSync, message string) {
	reason := replicationv1alpha1.CRDOutdatedReason
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, true, reason, message)
	setSyncStalledCondition(rs, true, reason, message)
}

// markProviderMissing sets the conditions of a run whose VasaProvider is NotFound and returns how much
// of ProviderMissingGrace is left. The grace starts when Stalled first gets reason WaitingForProvider with
// a message (the provider merely not Ready leaves the message empty): that reason change is stamped as
// Stalled's lastTransitionTime, so the grace survives a restart. After it Stalled is True; the run keeps
// retrying and clears Stalled when the provider is back.
func markProviderMissing(rs *replicationv1alpha1.ReplicationSync, message string, now time.Time) time.Duration {
	reason := replicationv1alpha1.WaitingForProviderReason
	prev := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	tracked := prev != nil && prev.Reason == reason && prev.Message != ""
	var since time.Time
	if tracked {
		since = prev.LastTransitionTime.Time
	}
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, true, reason, message)
	if !tracked {
		setSyncStalledCondition(rs, false, reason, message)
		meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition).LastTransitionTime = metav1.NewTime(now)
		return ProviderMissingGrace
	}
	if prev.Status == metav1.ConditionTrue {
		setSyncStalledCondition(rs, true, reason, prev.Message)
		return 0
	}
	left := ProviderMissingGrace - now.Sub(since)
	if left > 0 {
		setSyncStalledCondition(rs, false, reason, message)
		return left
	}
	setSyncStalledCondition(rs, true, reason, fmt.Sprintf("%s for more than %s: re-create it or delete this sync (still retrying)", message, ProviderMissingGrace))
	return 0
}

// markSucceeded sets the conditions of a run in which every group synced.
func markSucceeded(rs *replicationv1alpha1.ReplicationSync) {
	setSyncReadyCondition(rs, true, replicationv1alpha1.SucceededReason, succeededMessage(rs))
	setSyncReconcilingCondition(rs, false, replicationv1alpha1.SucceededReason, "")
	setSyncStalledCondition(rs, false, replicationv1alpha1.SucceededReason, "")
}

// succeededMessage says that every group synced, and how many had their PiT before the run was created:
// a run re-created from Git (after its TTL deleted it), or a hook with a fixed pitName, finds the PiTs of
// the first and makes none, which a plain "synced" would hide.
func succeededMessage(rs *replicationv1alpha1.ReplicationSync) string {
	msg := fmt.Sprintf("All %d groups synced to PiT %q", len(rs.Status.Groups), rs.Spec.PitName)
	created := rs.CreationTimestamp.Add(-pitClockSkew)
	var before int
	for _, g := range rs.Status.Groups {
		if g.TimeStamp != nil && g.TimeStamp.Time.Before(created) {
			before++
		}
	}
	if before == 0 {
		return msg
	}
	return fmt.Sprintf("%s; %d of them had it before this run was created (the oldest from %s), so no new PiT was made for them: give a run a new pitName for a new recovery point",
		msg, before, oldestPiTTime(rs).UTC().Format(time.RFC3339))
}

// oldestPiTTime is the oldest PiT time among the run's groups (zero when none has one).
func oldestPiTTime(rs *replicationv1alpha1.ReplicationSync) time.Time {
	var oldest time.Time
	for _, g := range rs.Status.Groups {
		if g.TimeStamp != nil && (oldest.IsZero() || g.TimeStamp.Time.Before(oldest)) {
			oldest = g.TimeStamp.Time
		}
	}
	return oldest
}

// markFailed sets the conditions of a run that ended without every group synced.
func markFailed(rs *replicationv1alpha1.ReplicationSync, reason, message string) {
	setSyncReadyCondition(rs, false, reason, message)
	setSyncReconcilingCondition(rs, false, reason, "")
	setSyncStalledCondition(rs, true, reason, message)
}

func setSyncReadyCondition(rs *replicationv1alpha1.ReplicationSync, ready bool, reason, message string) {
	setStatusCondition(&rs.Status.Conditions, rs.Generation, replicationv1alpha1.ReadyCondition, conditionStatus(ready), reason, truncateMessage(message))
}

func setSyncReconcilingCondition(rs *replicationv1alpha1.ReplicationSync, reconciling bool, reason, message string) {
	setStatusCondition(&rs.Status.Conditions, rs.Generation, replicationv1alpha1.ReconcilingCondition, conditionStatus(reconciling), reason, truncateMessage(message))
}

func setSyncStalledCondition(rs *replicationv1alpha1.ReplicationSync, stalled bool, reason, message string) {
	setStatusCondition(&rs.Status.Conditions, rs.Generation, replicationv1alpha1.StalledCondition, conditionStatus(stalled), reason, truncateMessage(message))
}

// resetRetry clears the provider-wide backoff after a successful call; lastFault stays for the record.
func resetRetry(rs *replicationv1alpha1.ReplicationSync) {
	if rs.Status.Retry == nil {
		return
	}
	rs.Status.Retry.Attempts = 0
	rs.Status.Retry.NextRetryTime = nil
}

// deadline returns when activeDeadlineSeconds expires, counted from creation so that it bounds the
// whole run, the time Pending included (startTime only when there is no creation time); ok is false
// without a deadline.
func deadline(rs *replicationv1alpha1.ReplicationSync) (time.Time, bool) {
	if rs.Spec.ActiveDeadlineSeconds == nil {
		return time.Time{}, false
	}
	start := rs.CreationTimestamp.Time
	if start.IsZero() && rs.Status.StartTime != nil {
		start = rs.Status.StartTime.Time
	}
	return start.Add(seconds(*rs.Spec.ActiveDeadlineSeconds)), true
}

// backoffLimit returns spec.backoffLimit or the Job default 6.
func backoffLimit(rs *replicationv1alpha1.ReplicationSync) int32 {
	if rs.Spec.BackoffLimit == nil {
		return 6
	}
	return *rs.Spec.BackoffLimit
}
