package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The steps of a Running run: each calls the provider through replicationsync_calls.go and applies
// what came back through the group transitions and the fault policy.

// maxPollFaults is how many faulted task queries in a row count as one failed attempt of the task's groups.
const maxPollFaults = 5

// pollStep queries the tasks of Syncing and Waiting groups and applies those that ended. It returns an
// error only when the provider could not be asked (no fault answered).
func (r *ReplicationSyncReconciler) pollStep(ctx context.Context, run *syncRun) error {
	tasks := tasksOf(run.rs)
	if len(tasks) == 0 {
		return nil
	}

	refs := make([]string, 0, len(tasks))
	for ref := range tasks {
		if t := r.timingOf(run, ref, tasks[ref]); t.due.After(run.now) {
			run.wakeAt(t.due) // not expected to have ended yet
			continue
		}
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	polls := pollTasks(ctx, run.cl, refs)
	var unreachable error
	for _, ref := range refs {
		idx, p := tasks[ref], polls[ref]
		if sessionReplaced(p.err) {
			run.wakeAt(run.now) // not sent: queried again with the new session
			continue
		}
		if p.err != nil {
			r.taskQueryFault(ctx, run, ref, idx, p.err)
			if !sms.Answered(p.err) {
				// No answer at all: the run also backs off as a whole (callFailed).
				unreachable = cmpErr(unreachable, fmt.Errorf("querying task %s: %w", ref, p.err))
			}
			continue
		}
		for _, i := range idx {
			run.rs.Status.Groups[i].PollFaults = 0
		}
		t := r.timingOf(run, ref, idx)
		switch p.info.State {
		case sms.TaskSuccess, sms.TaskError:
			r.taskEnded(ctx, run, ref, idx, p.info, t)
			r.forgetTiming(run, ref)
		default:
			switch {
			case len(t.samples) > 0 && p.info.Progress > t.last().Percent && p.info.Progress < 100:
				// Against a percent this process saw: after a restart (nothing in memory) any percent
				// would count, and a manager restarting more often than the deadline would hide a
				// task stuck for good.
				run.taskAdvanced()
			case len(t.samples) == 0 && p.info.Progress <= 0 && run.rs.Status.Groups[idx[0]].State == replicationv1alpha1.GroupSyncing &&
				run.now.Sub(t.issued) < r.Capacity.TaskDuration(run.key):
				// Ours, showing no percent (the API makes progress optional), and younger than the
				// provider's longest recent task: running as its tasks run. Counted from our claim, which
				// a restart keeps; stuck once it runs longer, by progressDeadlineSeconds. A task that
				// shows a percent is judged by it alone: one standing still is not hidden.
				run.taskAdvanced()
			}
			t = r.repoll(run, t, p.info.Progress)
			r.keepTiming(run, ref, t)
			run.wakeAt(t.due)
		}
	}
	return unreachable
}

// wakeForTasks asks for a reconcile when the next task in flight is due (at once for one this process
// does not know).
func (r *ReplicationSyncReconciler) wakeForTasks(run *syncRun) {
	for ref, idx := range tasksOf(run.rs) {
		run.wakeAt(laterOf(r.timingOf(run, ref, idx).due, run.now))
	}
}

// wakeForGroupsInDoubt asks again for the wake-ups of the groups in doubt (inDoubtStep's), for a step
// that forgot the run's wake-ups (a wave's calls or polls changed what is due): nothing after it looks at
// them again. Called once the wave's calls were applied: a group of the wave still Issuing is in doubt.
func (r *ReplicationSyncReconciler) wakeForGroupsInDoubt(run *syncRun) {
	var issuing []int
	for i, g := range run.rs.Status.Groups {
		if g.State == replicationv1alpha1.GroupIssuing {
			issuing = append(issuing, i)
		}
	}
	if len(issuing) == 0 {
		return
	}
	armed := r.armedIndexes(run.rs, nil)
	window := r.inDoubtWindow(run)
	for _, i := range issuing {
		if _, ok := armed[i]; ok {
			continue
		}
		if until := claimTimeOf(run.rs.Status.Groups[i]).Add(window); run.now.Before(until) {
			wakeForInDoubt(run, until, window)
		}
	}
}

// wakeForInDoubt wakes the run for a group in doubt until then: to look for its PiT again every eighth
// of the window (1 s to 30 s apart), and to issue it again when the window ends.
func wakeForInDoubt(run *syncRun, until time.Time, window time.Duration) {
	run.wakeAt(until)
	run.wakeAt(run.now.Add(min(max(window/8, time.Second), 30*time.Second)))
}

// taskEnded applies a task that ended: ours (Syncing groups) or someone else's (Waiting groups). Only
// ours teaches the provider's task durations (t is what this process knew of it).
func (r *ReplicationSyncReconciler) taskEnded(ctx context.Context, run *syncRun, ref string, idx []int, info sms.TaskInfo, t taskTiming) {
	rs := run.rs
	if rs.Status.Groups[idx[0]].State == replicationv1alpha1.GroupWaiting {
		results := resultsByGroup(info.Results)
		for _, i := range idx {
			res, ok := results[toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)]
			if info.State == sms.TaskSuccess && ok && res.Succeeded && res.PitName == rs.Spec.PitName {
				r.noteMadeElsewhere(run, i, res.TimeStamp)
				run.groupSynced(i, res.PitID, res.PitName, res.TimeStamp, "Synced by the ongoing task "+ref)
				continue
			}
			// A result without our pitName is not ours: we never issued our sync.
			run.groupPending(i, "The ongoing sync task "+ref+" ended; issuing ours")
		}
		run.wakeAt(run.now)
		return
	}
	r.Capacity.TaskEnded(run.key)
	r.learnFromTask(run, info, t)
	if info.State == sms.TaskError {
		err := info.Err
		if err == nil {
			err = &sms.ReplicationFaultError{Message: "task " + ref + " failed without a fault"}
		}
		r.applyFault(ctx, run, idx, err, fromTask)
		return
	}
	results := resultsByGroup(info.Results)
	var retried, silent, busy []int
	var busyWith sms.Fault
	for _, i := range idx {
		res, ok := results[toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)]
		switch {
		case !ok:
			silent = append(silent, i)
		case !res.Succeeded && sms.IsTransient(res.Err) && (busyWith != nil || errors.As(res.Err, &busyWith)):
			// The provider answered this group busy (out of resource, unavailable): as to a call, a
			// backoff that counts no attempt.
			run.groupPending(i, fmt.Sprint(res.Err))
			busy = append(busy, i)
		case run.applyGroupResult(i, res):
			retried = append(retried, i)
		}
	}
	retried = append(retried, r.countUnknownOutcome(ctx, run, silent, "Task "+ref+" returned no result for the group")...)
	if len(busy) > 0 {
		r.groupsBusy(run, busy, busyWith, ref, len(retried) == 0)
	}
	if len(retried) > 0 {
		r.recordFault(run, faultGroupError, fmt.Sprintf("Task %s: %s", ref, rs.Status.Groups[retried[0]].Message))
		r.backOffGroups(ctx, run, retried)
	}
}

// learnFromTask teaches the ledger how long a task of ours took and, from the first sample of it that
// showed progress, which share of it was queued. The first sample, because a rounded-down percent
// weighs least there: at 98 % it moves the learned share by a third. A share learned too large makes
// predicted polls come early, each costing one more.
func (r *ReplicationSyncReconciler) learnFromTask(run *syncRun, info sms.TaskInfo, t taskTiming) {
	issued := t.issued
	if t.inherited {
		issued = time.Time{} // its claim may predate its call by a manager's outage: the provider's times only
	}
	d, ok := taskDuration(info, issued, run.now)
	if !ok {
		return
	}
	r.Capacity.ObserveQueuedShare(run.key, t.first().Age, d, t.first().Percent)
	if r.Capacity.ObserveTask(run.key, d) {
		r.notifyProvider(run.vp)
	}
}

// taskDuration is how long a task took: by the provider's own times when it reports them, else from our
// claim to now (which also counts our polling delay, so it errs long).
func taskDuration(info sms.TaskInfo, claim, now time.Time) (time.Duration, bool) {
	if !info.StartTime.IsZero() && info.CompletionTime.After(info.StartTime) {
		return info.CompletionTime.Sub(info.StartTime), true
	}
	if claim.IsZero() {
		return 0, false
	}
	return now.Sub(claim), true
}

// taskQueryFault applies a fault answered to a task query (decideTaskQueryFault).
func (r *ReplicationSyncReconciler) taskQueryFault(ctx context.Context, run *syncRun, ref string, idx []int, err error) {
	rs := run.rs
	waiting := rs.Status.Groups[idx[0]].State == replicationv1alpha1.GroupWaiting
	switch d := decideTaskQueryFault(err); d {
	case pollGone:
		r.forgetTiming(run, ref)
		r.recordFault(run, faultTaskGone, fmt.Sprintf("Task %s is gone: %v", ref, err))
		if waiting {
			// Gone from SMS is not ended on the array (an SMS restart forgets tasks the array still
			// runs): ours goes after a backoff, or each call would meet SyncOngoing naming it again at
			// once, for as long as the array runs it.
			why := "The ongoing sync task " + ref + " is gone from SMS"
			r.issueAfterOngoing(run, idx, why, why+"; issuing ours after a backoff")
			return
		}
		// SMS forgot our task (a restart), but the array may still run its sync: a PiT checked for now
		// and a call made after it could both miss a sync that ends in between, and make a second PiT.
		// So the groups are in doubt, as after a call without an answer: the PiT is looked for until the
		// in-doubt window from now (groupInDoubt) has passed, and only then is the group issued again.
		ctrl.LoggerFrom(ctx).Info("Task is gone, its groups are in doubt until their PiT appears or the in-doubt window passes", "task", ref)
		for _, i := range idx {
			run.groupInDoubt(i, "Task "+ref+" is gone (the SMS service no longer knows it); in doubt until its PiT appears or the in-doubt window passes")
		}
		run.wakeAt(run.now)
	default:
		r.recordFault(run, faultType(err), fmt.Sprintf("Querying task %s: %v", ref, err))
		if d == pollBackOff {
			r.backOffOnce(run, 0) // not once per task that saw the fault, nor again while backing off
		}
		// Busy, restarting, unreachable or any other fault: the task may still run, so its groups stay
		// on it; but a task that cannot be read forever must not hold the run forever.
		var spent []int
		for _, i := range idx {
			g := &rs.Status.Groups[i]
			g.PollFaults++
			if g.PollFaults%maxPollFaults != 0 {
				continue
			}
			g.Attempts++
			if g.Attempts > backoffLimit(rs) {
				spent = append(spent, i)
			}
		}
		spent, unanswered := r.syncByPiT(ctx, run, spent, fmt.Sprintf("Task %s could not be queried; its PiT was found", ref))
		// A group whose PiT query got no answer either (vCenter unreachable) stays on its task, queried
		// again after the backoff: Failed would say no PiT was made, which nobody could see. The
		// run's activeDeadlineSeconds bounds the wait; its progress deadline raises the alert.
		spent = slices.DeleteFunc(spent, func(i int) bool { return slices.Contains(unanswered, i) })
		for _, i := range spent {
			run.groupFailed(i, fmt.Sprintf("Task %s could not be queried %d times in a row (%v); it may still run and make the PiT", ref, rs.Status.Groups[i].PollFaults, err))
		}
		// Queried again after a backoff, not by every reconcile of the run in between (other tasks wake
		// it): each of those queries would count a fault, and backoffLimit would be spent in minutes.
		faults := int32(0)
		for _, i := range idx {
			faults = max(faults, rs.Status.Groups[i].PollFaults)
		}
		t := r.timingOf(run, ref, idx)
		t.due = r.Backoff.Next(faults, run.now)
		r.keepTiming(run, ref, t)
		run.wakeAt(t.due)
	}
}

// inDoubtStep resolves groups left Issuing by a call without an answer, a crash before its task ref was
// written, or a task SMS forgot: a PiT of our name makes them Synced; after the in-doubt window, with no
// PiT, they are issued again. A group the provider cannot answer for is never issued again
// (inDoubtUnanswered); while the run backs off, the provider is not asked.
func (r *ReplicationSyncReconciler) inDoubtStep(ctx context.Context, run *syncRun) error {
	rs := run.rs
	if backingOff(rs, run.now) {
		return nil
	}
	byProvider, providers := groupsByProvider(rs, replicationv1alpha1.GroupIssuing, run.vp.Status.ProviderRef.Value)
	armed := r.armedIndexes(rs, nil) // claimed by this process, not called: not in doubt
	window := r.inDoubtWindow(run)
	for _, provider := range providers {
		idx := slices.DeleteFunc(byProvider[provider], func(i int) bool { _, ok := armed[i]; return ok })
		if len(idx) == 0 {
			continue
		}
		found, unknown, err := findPiTs(ctx, run.cl, provider, groupIDs(rs, idx), rs.Spec.PitName)
		if err != nil && !pitQueryUnsupported(err) {
			if !sms.Answered(err) {
				return err
			}
			r.inDoubtUnanswered(ctx, run, idx, func(int) error { return err })
			continue
		}
		var unanswered []int
		for _, i := range idx {
			g := &rs.Status.Groups[i]
			id := toSMSGroup(g.ReplicationGroupID)
			if p, ok := found[id]; ok {
				run.groupSyncedByPiT(i, p, "The outcome of its sync call was unknown; its PiT was found")
				continue
			}
			if qerr, ok := unknown[id]; ok && !pitQueryUnsupported(qerr) {
				unanswered = append(unanswered, i)
				continue
			}
			if until := claimTimeOf(*g).Add(window); run.now.Before(until) {
				wakeForInDoubt(run, until, window)
				continue
			}
			r.reissue(ctx, run, i, window)
		}
		if len(unanswered) > 0 {
			r.inDoubtUnanswered(ctx, run, unanswered, func(i int) error {
				return unknown[toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)]
			})
		}
	}
	return nil
}

// inDoubtUnanswered applies the faults answered instead of the PiTs of the in-doubt groups at idx (errOf
// gives each group's: the whole query's, or its own). Not knowing whether their PiT exists, nothing is
// issued again, whatever the window, until the provider can say. InactiveProvider moves a group to the
// active provider of its fault domain, which is asked next (the PiT is the array's);
// ManagedObjectNotFound has the VasaProvider look its provider up again; a busy or restarting provider
// backs the run off. Any other fault counts toward the group's backoffLimit, so a provider that can
// never say ends it Failed, its outcome unknown, instead of holding the run for good. One step of
// backoff per reconcile, however many faults.
func (r *ReplicationSyncReconciler) inDoubtUnanswered(ctx context.Context, run *syncRun, idx []int, errOf func(i int) error) {
	rs := run.rs
	r.recordFault(run, faultType(errOf(idx[0])), errOf(idx[0]).Error())
	var attempts int32
	backOff, notified := false, false
	for _, i := range idx {
		err := errOf(i)
		g := &rs.Status.Groups[i]
		var inactive *sms.InactiveProviderError
		switch d := decideSyncFault(err, 1); {
		case d.action == actionProviderMoved:
			g.Provider = "" // the PiTs, the array's, are asked for at its new moId
			if !notified {
				r.notifyProvider(run.vp)
				notified = true
			}
			backOff = true
		case d.action == actionBackOff || d.action == actionInDoubt:
			backOff = true
		case errors.As(err, &inactive) && r.rerouteInDoubt(run, i, inactive):
			run.wakeAt(run.now)
		default:
			g.Attempts++
			attempts = max(attempts, g.Attempts)
			msg := "The outcome of its sync call is unknown and the provider could not say whether its PiT exists: " + err.Error()
			if g.Attempts > backoffLimit(rs) {
				run.groupFailed(i, msg)
				continue
			}
			g.Message = groupMessage(rs, msg)
		}
	}
	if backOff || attempts > 0 {
		r.backOffOnce(run, attempts)
	}
	ctrl.LoggerFrom(ctx).Info("The provider could not say whether in-doubt groups have their PiT; nothing is issued again until it can",
		"groups", len(idx), "error", errOf(idx[0]).Error())
}

// rerouteInDoubt moves in-doubt group i, when an InactiveProvider fault names another active provider
// for its fault domain, to that provider, keeping it in doubt with its claim. It reports whether it
// moved; a group moved maxConsecutiveReroutes times in a row stays.
func (r *ReplicationSyncReconciler) rerouteInDoubt(run *syncRun, i int, fault *sms.InactiveProviderError) bool {
	g := &run.rs.Status.Groups[i]
	current := groupProvider(*g, run.vp.Status.ProviderRef.Value)
	to := fault.ActiveProviders()[g.FaultDomainID.ID]
	if to == "" || to == current || g.Reroutes >= maxConsecutiveReroutes {
		return false
	}
	g.Provider, g.Message = to, groupMessage(run.rs, fmt.Sprintf("In doubt; asking active provider %s for its PiT (%s is inactive)", to, current))
	g.Reroutes++
	return true
}

// reissue puts an in-doubt group whose window passed without a PiT back to Pending: the one case in
// which a group is called a second time. Harmless: a task of the first call still running answers the
// second with SyncOngoing, which we then wait for, in doubt again if SMS names no task or forgets it
// (ongoingMayBeOurs); a first call that reached nothing left no PiT.
func (r *ReplicationSyncReconciler) reissue(ctx context.Context, run *syncRun, i int, window time.Duration) {
	g := &run.rs.Status.Groups[i]
	g.Reissues++
	msg := fmt.Sprintf("The outcome of its sync call is unknown since %s (the call got no answer, the manager stopped before or during it, or SMS forgot its task) and no PiT after the in-doubt window (%s): issuing it again",
		claimTimeOf(*g).UTC().Format(time.RFC3339), window)
	if g.Reissues > 1 && !run.groupCountFailure(i, msg) {
		return // re-issued before: every further time counts toward backoffLimit
	}
	run.groupPending(i, msg) // counted, and announced, by the write that stores it (countStored)
	ctrl.LoggerFrom(ctx).V(1).Info("Issuing an in-doubt group again", "group", groupName(g.ReplicationGroupID), "reissues", g.Reissues)
	run.wakeAt(run.now)
}

// tasksOf maps each task ref of Syncing and Waiting groups to their indexes.
func tasksOf(rs *replicationv1alpha1.ReplicationSync) map[string][]int {
	out := map[string][]int{}
	for i, g := range rs.Status.Groups {
		if (g.State == replicationv1alpha1.GroupSyncing || g.State == replicationv1alpha1.GroupWaiting) && g.Task != "" {
			out[g.Task] = append(out[g.Task], i)
		}
	}
	return out
}

// groupsByProvider returns the groups in state by the provider they go to, providers in spec order.
func groupsByProvider(rs *replicationv1alpha1.ReplicationSync, state replicationv1alpha1.GroupState, defaultProvider string) (map[string][]int, []string) {
	out := map[string][]int{}
	var providers []string
	for i, g := range rs.Status.Groups {
		if g.State != state {
			continue
		}
		p := groupProvider(g, defaultProvider)
		if _, ok := out[p]; !ok {
			providers = append(providers, p)
		}
		out[p] = append(out[p], i)
	}
	return out, providers
}

func resultsByGroup(results []sms.GroupResult) map[sms.GroupID]sms.GroupResult {
	out := make(map[sms.GroupID]sms.GroupResult, len(results))
	for _, res := range results {
		out[res.Group] = res
	}
	return out
}

// claimOf returns the claim time of the first of the groups (zero if none).
func claimOf(rs *replicationv1alpha1.ReplicationSync, idx []int) time.Time {
	if len(idx) == 0 {
		return time.Time{}
	}
	return claimTimeOf(rs.Status.Groups[idx[0]])
}

// oldestClaimOf returns the oldest claim time of the groups (zero if none has one).
func oldestClaimOf(rs *replicationv1alpha1.ReplicationSync, idx []int) time.Time {
	var oldest time.Time
	for _, i := range idx {
		if c := claimTimeOf(rs.Status.Groups[i]); !c.IsZero() && (oldest.IsZero() || c.Before(oldest)) {
			oldest = c
		}
	}
	return oldest
}

func claimTimeOf(g replicationv1alpha1.GroupStatus) time.Time {
	if g.ClaimTime == nil {
		return time.Time{}
	}
	return g.ClaimTime.Time
}

// pitQueryUnsupported reports whether the provider cannot answer PiT queries (an array without PiT support).
func pitQueryUnsupported(err error) bool {
	var ni *sms.NotImplementedError
	return errors.As(err, &ni)
}

// cmpErr keeps the first error.
func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
