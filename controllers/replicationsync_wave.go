package controllers

import (
	"context"
	"errors"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The wave step of a Running run: claim as many batches as the provider has free slots (pre-claimed
// ones first), check each for PiTs of our name, apply what the calls answered, and wait for the
// wave's fast tasks before its commit.

// waveStep claims the next wave: as many batches as the provider has free slots, the batches armed by
// an earlier commit first, then new ones of Pending groups; each after asking for PiTs of our name (a
// group that has one is Synced, never issued again).
func (r *ReplicationSyncReconciler) waveStep(ctx context.Context, run *syncRun) error {
	rs := run.rs
	size := int(r.batchSize(run))
	rs.Status.BatchSize = int32(size)
	r.unarmStale(run)
	armed := r.armedBatches(rs)
	byProvider, providers := groupsByProvider(rs, replicationv1alpha1.GroupPending, run.vp.Status.ProviderRef.Value)
	want := len(armed)
	if run.armedOnly {
		providers = nil
	}
	for _, p := range providers {
		want += (len(byProvider[p]) + size - 1) / size
	}
	if want == 0 {
		r.Capacity.StopWaiting(run.key, run.owner()) // queued by an earlier wave that asked for more
		return nil
	}
	granted := r.Capacity.Reserve(run.key, run.owner(), rs.CreationTimestamp.Time, want, int(maxConcurrentTasks(run.vp)))
	if granted == 0 {
		run.waitingForCapacity = true // requeue sleeps capacityWake at most; a freed slot wakes it first
		return nil
	}
	queued := granted < want                      // Reserve put the run in the queue for the rest
	left := len(armed) - min(len(armed), granted) // what the run still waits for after this wave
	for _, b := range armed[:min(len(armed), granted)] {
		remaining, stop, err := r.checkBeforeCall(ctx, run, b.provider, b.groups)
		if stop || err != nil {
			run.wave = nil // a fault held the wave: the armed batches checked before stay armed, uncalled
			return err
		}
		if len(remaining) > 0 {
			run.wave = append(run.wave, syncBatch{provider: b.provider, groups: remaining, armed: b.armed})
			granted--
		}
	}
	ready := make([][]int, len(providers))
	backOffs := retryAttempts(rs)
	for p, provider := range providers {
		// Groups found synced by their PiT (after a restart, or a run created again) leave their slots
		// to the next Pending groups, asked in turn: else the slots would idle until the run's next wake.
		// Not after a query that made the run back off: one fault, one step of backoff per reconcile.
		idx := byProvider[provider]
		for len(idx) > 0 && len(ready[p]) < granted*size && retryAttempts(rs) == backOffs {
			ask := idx[:min(len(idx), granted*size-len(ready[p]))]
			idx = idx[len(ask):]
			remaining, stop, err := r.checkBeforeCall(ctx, run, provider, ask)
			if stop || err != nil {
				run.wave = nil
				return err
			}
			ready[p] = append(ready[p], remaining...)
		}
		granted -= (len(ready[p]) + size - 1) / size
		left += len(idx)
	}
	if queued && left == 0 {
		// The groups the run was given too few slots for were found synced: it waits for none, and
		// must not hold back younger runs in the queue.
		r.Capacity.StopWaiting(run.key, run.owner())
	}
	// Claimed by the clock, not at the reconcile's start: the PiT queries above may have taken minutes
	// (many groups already synced, small batches), and the in-doubt window counts from the claim.
	claim := clockNow(r.Clock)
	for p, provider := range providers {
		for start := 0; start < len(ready[p]); start += size {
			batch := ready[p][start:min(start+size, len(ready[p]))]
			for _, i := range batch {
				run.groupIssuing(i, provider, claim)
			}
			run.wave = append(run.wave, syncBatch{provider: provider, groups: batch})
		}
	}
	return nil
}

// checkBeforeCall asks the provider for PiTs of our name of the groups idx: a group that has one is
// Synced (failed when an earlier run made it: groupSyncedByPiT); one another run of the PiT name synced
// is Synced too, one it has claimed waits for it (replicationsync_peers.go); one the provider could not answer for
// is counted and retried later, never issued blind. It returns the groups to call. stop means a fault
// held the whole wave (applied to the run); err that the provider could not be asked.
func (r *ReplicationSyncReconciler) checkBeforeCall(ctx context.Context, run *syncRun, provider string, idx []int) (remaining []int, stop bool, err error) {
	rs := run.rs
	found, unknown, err := findPiTs(ctx, run.cl, provider, groupIDs(rs, idx), rs.Spec.PitName)
	if err != nil && !pitQueryUnsupported(err) {
		if !sms.Answered(err) {
			return nil, true, err
		}
		// Applied to the groups asked about: a lasting fault (an account without the privilege to query
		// PiTs) counts toward their backoffLimit instead of holding the run for good.
		r.applyFault(ctx, run, idx, err, fromPiTQuery)
		return nil, true, nil
	}
	var retried, taken []int
	if run.peersUnlocked == nil {
		// Until the claims are written (releasePeers). The peers are read once per turn: while this run
		// holds it, no peer of this manager claims one of its groups.
		if run.peersUnlocked, err = r.peers.lock(ctx, pitKeyOf(rs), runGroupIDs(rs)); err == nil {
			run.peerClaims, err = r.peerGroups(ctx, rs)
		}
		if err != nil {
			// Taken as "no claim", a peer not read could be syncing a group this run would then call too.
			// A turn not taken in time is held by a peer walking PiT queries or writing its claims.
			ctrl.LoggerFrom(ctx).Info("Could not take the turn of, or read, the ReplicationSyncs of the same PiT name; calling nothing now", "error", err.Error())
			run.releasePeers()
			run.wakeAt(clockNow(r.Clock).Add(peerReadRetry)) // after the PiT query this reconcile made
			return nil, true, nil
		}
	}
	peers := run.peerClaims
	for _, i := range idx {
		id := toSMSGroup(rs.Status.Groups[i].ReplicationGroupID)
		if p, ok := found[id]; ok {
			rs.Status.Groups[i].Provider = provider
			if _, byPeer := peers[rs.Status.Groups[i].ReplicationGroupID]; !byPeer && p.ID != "" {
				r.noteMadeElsewhere(run, i, p.TimeStamp)
			}
			if !run.groupSyncedByPiT(i, p, "PiT already existed") {
				taken = append(taken, i)
			}
			continue
		}
		if p, ok := peers[rs.Status.Groups[i].ReplicationGroupID]; ok {
			if p.status.State == replicationv1alpha1.GroupSynced {
				rs.Status.Groups[i].Provider = provider
				run.syncedByPeer(i, p)
			} else {
				// Pending again if pre-claimed: else, left Issuing without a call, it would read as in doubt.
				why := "Waiting for ReplicationSync " + p.run + ", of the same PiT name, which is syncing the group"
				if rs.Status.Groups[i].State == replicationv1alpha1.GroupIssuing {
					run.groupPending(i, why)
				}
				rs.Status.Groups[i].Message = groupMessage(rs, why)
				run.wakeAt(run.now.Add(r.pollMax()))
			}
			continue
		}
		if qerr, ok := unknown[id]; ok && !pitQueryUnsupported(qerr) {
			// Counted, so a group the provider can never answer for ends Failed instead of holding the run.
			// NotImplemented for the group alone is an array without PiT support that answers per group:
			// issued unchecked, as when the whole query is not implemented.
			if run.groupCountFailure(i, "Looking for its PiT failed: "+qerr.Error()) {
				retried = append(retried, i)
			}
			continue
		}
		remaining = append(remaining, i)
	}
	if len(taken) > 0 {
		r.event(rs, corev1.EventTypeWarning, "PiTNameTaken", "Sync", "%d groups: %s", len(taken), rs.Status.Groups[taken[0]].Message)
	}
	if len(retried) > 0 {
		r.recordFault(run, faultType(unknown[toSMSGroup(rs.Status.Groups[retried[0]].ReplicationGroupID)]), rs.Status.Groups[retried[0]].Message)
		r.backOffGroups(ctx, run, retried)
	}
	return remaining, false, nil
}

// applyCallResults applies the answers of a wave's calls to the claimed groups.
func (r *ReplicationSyncReconciler) applyCallResults(ctx context.Context, run *syncRun, results []callResult) {
	rs := run.rs
	issued, calls := 0, 0
	// The wave's tasks learn the provider's pace (learningWait) when none of its tasks has ended yet.
	learning := r.Capacity.TypicalTaskDuration(run.key) == 0
	for _, res := range results {
		switch {
		case res.err == nil && res.task != "":
			for _, i := range res.batch.groups {
				run.groupSyncing(i, res.task)
			}
			issued += len(res.batch.groups)
			calls++
			// The task started when the call reached the provider, not at the claim (a status write
			// earlier): counting from the claim would poll before a fast task could have ended.
			due := r.nextPoll(run, run.calledAt)
			r.keepTiming(run, res.task, taskTiming{issued: run.calledAt, due: due, learning: learning})
			run.wakeAt(due)
		case res.err == nil:
			// Answered, but without a task: whether a task started is unknown.
			r.applyFault(ctx, run, res.batch.groups, sms.ErrEmptyTaskRef, fromCall)
		default:
			r.applyFault(ctx, run, res.batch.groups, res.err, fromCall)
		}
	}
	if calls > 0 {
		resetRetry(rs)
		if issued < len(rs.Status.Groups) && firstWave(rs, issued) {
			// Once per run of several waves (a run of one says so when it ends): an event per wave
			// costs the API server a write each and says little more.
			r.event(rs, corev1.EventTypeNormal, "BatchSubmitted", "Sync", "Submitted %d of %d groups in %d tasks of up to %d; the rest follow as tasks end",
				issued, len(rs.Status.Groups), calls, rs.Status.BatchSize)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Submitted wave", "groups", issued, "tasks", calls)
	}
}

// firstWave reports whether the groups just issued are the only ones with a task (a group keeps its
// task ref once synced or failed).
func firstWave(rs *replicationv1alpha1.ReplicationSync, issued int) bool {
	withTask := 0
	for _, g := range rs.Status.Groups {
		if g.Task != "" {
			withTask++
		}
	}
	return withTask <= issued
}

// allTooMany reports whether every call of a wave was refused with TooMany.
func allTooMany(results []callResult) bool {
	for _, res := range results {
		var tooMany *sms.TooManyError
		if !errors.As(res.err, &tooMany) {
			return false
		}
	}
	return len(results) > 0
}

// coverByClaim marks the batches of wave whose groups all belong to the refused batches and are Issuing
// without a task in claimed (the status as last written), claimed after fresh (freshClaimsSince): that
// claim already covers their call, so they keep its claim time and need no write of their own. No one
// called them: their call was refused whole and this process took them (an armed one included) before it.
func coverByClaim(rs, claimed *replicationv1alpha1.ReplicationSync, refused, wave []syncBatch, fresh time.Time) {
	inRefused := groupsIn(refused)
	for w := range wave {
		b := &wave[w]
		if !b.armed.IsZero() || !allOf(b.groups, func(i int) bool {
			c := claimed.Status.Groups[i]
			return inRefused[i] && c.State == replicationv1alpha1.GroupIssuing && c.Task == "" && c.ClaimTime != nil && c.ClaimTime.After(fresh)
		}) {
			continue
		}
		for _, i := range b.groups {
			rs.Status.Groups[i].ClaimTime = claimed.Status.Groups[i].ClaimTime.DeepCopy()
		}
		b.covered = true
	}
}

// allOf reports whether f holds for every index of idx.
func allOf(idx []int, f func(int) bool) bool {
	return !slices.ContainsFunc(idx, func(i int) bool { return !f(i) })
}

// startedBatches are the batches of the wave whose call started a task (a batch answered SyncOngoing
// waits on another's task: it started none).
func startedBatches(rs *replicationv1alpha1.ReplicationSync, wave []syncBatch) []syncBatch {
	var out []syncBatch
	for _, b := range wave {
		if rs.Status.Groups[b.groups[0]].State == replicationv1alpha1.GroupSyncing {
			out = append(out, b)
		}
	}
	return out
}

// pollSoonEnded waits for the tasks the wave started (its started batches) while they are expected to
// end within foldRefsWithin of their call, and queries them, so that a fast task's ref and result go out
// in one write. A query that fails leaves the groups Syncing on their task, as if it had not been asked.
// Tasks of earlier waves are not waited for: their slots are refilled by their own reconcile, which this
// write would only delay.
func (r *ReplicationSyncReconciler) pollSoonEnded(ctx context.Context, run *syncRun, started []syncBatch) {
	until := clockNow(r.Clock).Add(foldRefsWithin)
	refs := make([]string, 0, len(started))
	for _, b := range started {
		refs = append(refs, run.rs.Status.Groups[b.groups[0]].Task)
	}
	defer wakeForFreedSlots(run, len(tasksOf(run.rs)))
	for range maxFoldPolls {
		due, ok := r.soonestDue(run, refs)
		if !ok || due.After(until) || isFinished(run.rs) || ctx.Err() != nil {
			return // a stopping manager commits the refs; a query cut short would record a fault
		}
		if wait := due.Sub(clockNow(r.Clock)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		run.now = clockNow(r.Clock)
		run.wake = time.Time{}
		_ = r.pollStep(ctx, run)
		r.wakeForGroupsInDoubt(run)
	}
}

// wakeForFreedSlots asks for a reconcile at once when tasks ended since inFlight were counted: the
// groups still Pending, or claimed for the next wave, go out in it.
func wakeForFreedSlots(run *syncRun, inFlight int) {
	if len(tasksOf(run.rs)) == inFlight {
		return
	}
	for _, g := range run.rs.Status.Groups {
		if g.State == replicationv1alpha1.GroupPending || g.State == replicationv1alpha1.GroupIssuing {
			run.wakeAt(run.now)
			return
		}
	}
}

// soonestDue returns when the first of the tasks refs still in flight is due for a query.
func (r *ReplicationSyncReconciler) soonestDue(run *syncRun, refs []string) (time.Time, bool) {
	var soonest time.Time
	inFlight := tasksOf(run.rs)
	for _, ref := range refs {
		if idx, ok := inFlight[ref]; ok {
			if due := r.timingOf(run, ref, idx).due; soonest.IsZero() || due.Before(soonest) {
				soonest = due
			}
		}
	}
	return soonest, !soonest.IsZero()
}

// retryAttempts is status.retry.attempts: the run's faults in a row.
func retryAttempts(rs *replicationv1alpha1.ReplicationSync) int32 {
	if rs.Status.Retry == nil {
		return 0
	}
	return rs.Status.Retry.Attempts
}
