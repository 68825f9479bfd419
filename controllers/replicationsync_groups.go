package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The transitions of one group of a run, and nothing else: every change of status.groups[i].state is
// made by a function of this file.
//
//	Pending --claim--> Issuing --task ref--> Syncing --result--> Synced | Pending (counted) | Failed
//	Issuing --no answer--> Issuing (in doubt) --PiT found--> Synced
//	                                          --window passed--> Pending (re-issued once per claim)
//	Syncing --task gone--> Issuing (in doubt, claimed anew)
//	Issuing --SyncOngoing--> Waiting --that task ended--> Pending
//	Issuing (re-issued) --SyncOngoing without a task, or Waiting and its task gone--> Issuing (in doubt)
//	any unfinished --deadline, NotImplemented, bad group--> Failed

// groupIssuing claims group i for a call to provider at claim.
func (run *syncRun) groupIssuing(i int, provider string, claim time.Time) {
	g := &run.rs.Status.Groups[i]
	t := metav1.NewMicroTime(claim)
	g.State, g.Provider, g.Task, g.ClaimTime, g.Message = replicationv1alpha1.GroupIssuing, provider, "", &t, ""
}

// groupInDoubt puts group i, whose task SMS forgot, back in doubt: Issuing, claimed now. The in-doubt
// window counts from claimTime, and the task was known to SMS until its last query: counted from the
// original claim, the window of a task that ran longer than it would have passed already, and the group
// would be called again at once, while the array most likely still runs its sync.
func (run *syncRun) groupInDoubt(i int, message string) {
	g := &run.rs.Status.Groups[i]
	t := metav1.NewMicroTime(run.now)
	g.State, g.Task, g.ClaimTime, g.Message, g.PollFaults = replicationv1alpha1.GroupIssuing, "", &t, groupMessage(run.rs, message), 0
}

// groupSyncing records our task for group i; claimTime stays, to measure the task's duration.
func (run *syncRun) groupSyncing(i int, task string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Task, g.Message, g.Reroutes, g.PollFaults = replicationv1alpha1.GroupSyncing, task, "", 0, 0
	run.progressed()
}

// groupWaiting parks group i on someone else's task.
func (run *syncRun) groupWaiting(i int, task string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Task, g.ClaimTime, g.PollFaults = replicationv1alpha1.GroupWaiting, task, nil, 0
	g.Message = "Waiting for the ongoing sync task " + task + "; ours is issued after it"
}

// groupSynced marks group i Synced with its PiT.
func (run *syncRun) groupSynced(i int, pitID, pitName string, ts time.Time, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.PitID, g.Message, g.ClaimTime, g.PollFaults = replicationv1alpha1.GroupSynced, pitID, groupMessage(run.rs, message), nil, 0
	g.PitName = pitName
	if g.PitName == "" {
		g.PitName = run.rs.Spec.PitName
	}
	if !ts.IsZero() {
		t := metav1.NewTime(ts)
		g.TimeStamp = &t
	}
	run.progressed()
}

// groupPending puts group i back to Pending, to be issued again (after the PiT check).
func (run *syncRun) groupPending(i int, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Task, g.ClaimTime, g.Message, g.PollFaults = replicationv1alpha1.GroupPending, "", nil, groupMessage(run.rs, message), 0
}

// groupFailed marks group i Failed.
func (run *syncRun) groupFailed(i int, message string) {
	g := &run.rs.Status.Groups[i]
	g.State, g.Message, g.ClaimTime = replicationv1alpha1.GroupFailed, groupMessage(run.rs, message), nil
	run.progressed()
}

// groupSyncedByPiT makes group i Synced by a PiT found by the run's name, unless an earlier run made it
// (pitOfAnEarlierRun): then the group fails saying so, and it reports false. A group on a task of this
// run (Syncing) was checked before its call: a PiT of its name found since is the call's, whatever the
// array's clock says. Not so an Issuing one: it may be pre-claimed, never checked nor called.
func (run *syncRun) groupSyncedByPiT(i int, p sms.PointInTime, message string) bool {
	called := run.rs.Status.Groups[i].State == replicationv1alpha1.GroupSyncing
	if due, ok := pitOfAnEarlierRun(run.rs, p); ok && !called {
		msg := pitNameTakenMessage(p, due)
		if run.rs.Status.Groups[i].State == replicationv1alpha1.GroupIssuing {
			// In doubt: its call may have made the PiT on an array whose clock is behind.
			msg = inDoubtPiTNameTakenMessage(p, due)
		}
		run.groupFailed(i, msg)
		return false
	}
	run.groupSynced(i, p.ID, p.Name, p.TimeStamp, message)
	return true
}

// pitClockSkew is how much earlier than its run's scheduled time a PiT of the run's name may be stamped
// and still be the run's own: the array's clock may be behind the cluster's.
const pitClockSkew = 5 * time.Minute

// pitOfAnEarlierRun reports whether p, a PiT of the run's name, was made before a schedule made the run
// (it returns the scheduled time): the schedule rendered the name of an earlier run again, one since
// deleted by its history limit or TTL, as after a change of timeZone (07:00 in New York has the name
// 07:00 UTC had that morning). A run made otherwise may meet its own PiT from before it was created (an
// object re-applied from Git), so only a schedule's runs are checked; a summary answer has no time of
// its own.
func pitOfAnEarlierRun(rs *replicationv1alpha1.ReplicationSync, p sms.PointInTime) (time.Time, bool) {
	due, ok := scheduledTimeOf(rs)
	return due, ok && p.ID != "" && p.TimeStamp.Before(due.Add(-pitClockSkew))
}

// pitNameTakenMessage says why a group whose PiT name an earlier run used fails: syncing it would make a
// second PiT of that name, and taking the earlier PiT as this run's would report a recovery point that
// was not made.
func pitNameTakenMessage(p sms.PointInTime, due time.Time) string {
	return fmt.Sprintf("A PiT named %q exists from %s, before this run was scheduled (%s): the schedule gave this run the name of an earlier run (after a change of schedule or timeZone), or the same schedule runs in another cluster whose clock is ahead. No PiT was made. Put the zone offset in the schedule's pitNameTemplate (e.g. -0700) so that names do not repeat, and run each schedule in one cluster only",
		p.Name, p.TimeStamp.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
}

// inDoubtPiTNameTakenMessage is pitNameTakenMessage for a group whose call may have reached the array
// (in doubt) or not (pre-claimed): the PiT is an earlier run's, or this run's own stamped by a clock that
// is behind. Synced, an earlier run's PiT would report a recovery point that was not made.
func inDoubtPiTNameTakenMessage(p sms.PointInTime, due time.Time) string {
	return fmt.Sprintf("A PiT named %q exists from %s, before this run was scheduled (%s): an earlier run's (the schedule gave this run its name again, after a change of schedule or timeZone), or this run's own, whose call got no answer, if the array's clock is more than %s behind. Compare the array's clock; the group is not synced again either way, and the schedule's next run makes a PiT of another name",
		p.Name, p.TimeStamp.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339), pitClockSkew)
}

// groupCountFailure counts a provider-side failure of group i: Pending for a retry, or Failed beyond
// backoffLimit. It reports whether the group is to be retried.
func (run *syncRun) groupCountFailure(i int, message string) bool {
	g := &run.rs.Status.Groups[i]
	g.Attempts++
	if g.Attempts > backoffLimit(run.rs) {
		run.groupFailed(i, message)
		return false
	}
	run.groupPending(i, message)
	return true
}

// applyGroupResult applies a finished task's result for group i (ours: state Syncing).
func (run *syncRun) applyGroupResult(i int, res sms.GroupResult) (retry bool) {
	pitName := run.rs.Spec.PitName
	switch {
	case res.Succeeded && (res.PitName == "" || res.PitName == pitName):
		run.groupSynced(i, res.PitID, res.PitName, res.TimeStamp, strings.Join(res.Warnings, "; "))
		return false
	case res.Succeeded:
		// Our task made it, under a name of the array's (the API has the result's pitName localized by the
		// provider): counting it failed would sync again and make a PiT more per attempt.
		renamed := fmt.Sprintf("The array named the PiT %q, not %q: a PiT check by name (after a lost answer, or for a re-created run) cannot find such PiTs", res.PitName, pitName)
		run.groupSynced(i, res.PitID, res.PitName, res.TimeStamp, strings.Join(append([]string{renamed}, res.Warnings...), "; "))
		return false
	default:
		msg := strings.Join(res.Errors, "; ")
		if msg == "" {
			msg = "the provider reported an error without a message"
		}
		return run.groupCountFailure(i, msg)
	}
}
