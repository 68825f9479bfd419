package controllers

import (
	"context"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// Pre-claims keep the claim write off the path from a task's end to the next task's start.
//
// The commit that records a wave's task refs also claims the next batch of Pending groups for each task
// it started: Issuing, with claimTime, like any claim, written before any call. This process remembers
// them as armed. When a slot frees, an armed batch is checked for its PiT and called at once, without a
// write in between; its refs are written after the call, with the next pre-claims.
//
// Only the process that armed a batch knows it has not called it yet. Any other reader (a second
// manager, or this one after a restart) sees Issuing groups without a task: in doubt, resolved by their
// PiT or issued again after the in-doubt window, exactly as a claim whose call got no answer. So a crash
// costs those batches (at most one per task in flight) the window; it never costs a second call.

// armedRun holds the armed batches of one ReplicationSync (by uid: a re-created object starts afresh).
type armedRun struct {
	uid     types.UID
	batches []syncBatch
}

// preclaim claims, for each batch the wave started, the next batch of Pending groups of the same
// provider; the commit writes them. Nothing is pre-claimed while the run backs off, nor where the
// provider's tasks, even its short ones, outlast the time an armed batch stays fresh: its slot would
// free after the pre-claim went stale, a write for nothing.
func (r *ReplicationSyncReconciler) preclaim(run *syncRun, started []syncBatch) {
	rs := run.rs
	if isFinished(rs) || allGroupsFinal(rs) || backingOff(rs, run.now) || r.Capacity.ShortTaskDuration(run.key) >= r.armedFreshFor(run) {
		return
	}
	size := int(r.batchSize(run))
	byProvider, _ := groupsByProvider(rs, replicationv1alpha1.GroupPending, run.vp.Status.ProviderRef.Value)
	claim := run.now.Truncate(time.Microsecond) // as status keeps it
	for _, b := range started {
		// Only groups never tried: a group retried after a fault goes through an ordinary claim.
		idx := slices.DeleteFunc(byProvider[b.provider], func(i int) bool {
			g := rs.Status.Groups[i]
			return g.Attempts > 0 || g.Reissues > 0 || g.Reroutes > 0
		})
		if len(idx) == 0 {
			continue
		}
		next := idx[:min(len(idx), size)]
		byProvider[b.provider] = idx[len(next):]
		for _, i := range next {
			run.groupIssuing(i, b.provider, claim)
		}
		run.preclaimed = append(run.preclaimed, syncBatch{provider: b.provider, groups: next, armed: claim})
	}
}

// arm remembers pre-claims of the run once the write that made them succeeded; when the manager is
// stopping it gives them back at once instead.
func (r *ReplicationSyncReconciler) arm(run *syncRun, batches []syncBatch) {
	if len(batches) == 0 {
		return
	}
	key := client.ObjectKeyFromObject(run.rs)
	if !r.storeArmed(key, run.rs.UID, batches) {
		r.release(context.Background(), key, &armedRun{uid: run.rs.UID, batches: batches})
	}
}

// storeArmed adds batches to the armed set of key; false when the manager is stopping.
func (r *ReplicationSyncReconciler) storeArmed(key types.NamespacedName, uid types.UID, batches []syncBatch) bool {
	r.armedMu.Lock()
	defer r.armedMu.Unlock()
	if r.stopping {
		return false
	}
	cur := r.armed[key]
	if cur == nil || cur.uid != uid {
		if r.armed == nil {
			r.armed = map[types.NamespacedName]*armedRun{}
		}
		cur = &armedRun{uid: uid}
		r.armed[key] = cur
	}
	cur.batches = append(cur.batches, batches...)
	return true
}

// armedBatches returns the run's armed batches that status still shows as this process claimed them
// (every group Issuing at the same claimTime, without a task), and forgets the others.
func (r *ReplicationSyncReconciler) armedBatches(rs *replicationv1alpha1.ReplicationSync) []syncBatch {
	r.armedMu.Lock()
	defer r.armedMu.Unlock()
	key := client.ObjectKeyFromObject(rs)
	cur := r.armed[key]
	if cur == nil {
		return nil
	}
	if cur.uid != rs.UID {
		delete(r.armed, key)
		return nil
	}
	cur.batches = slices.DeleteFunc(cur.batches, func(b syncBatch) bool { return !stillClaimed(rs, b) })
	if len(cur.batches) == 0 {
		delete(r.armed, key)
		return nil
	}
	// Only the members still Issuing at the claim: one whose PiT check failed since is Pending, claimed
	// afresh with the other Pending groups. Called with the batch too, it would be called with no claim
	// in status, and taken from it by that fresh claim, leave its fellows Issuing without a call.
	for i, b := range cur.batches {
		b.groups = slices.DeleteFunc(slices.Clone(b.groups), func(g int) bool { return !claimedAt(rs.Status.Groups[g], b.armed) })
		cur.batches[i] = b
	}
	return slices.Clone(cur.batches)
}

// claimedAt reports whether g is Issuing at claim without a task: as an armed batch left it.
func claimedAt(g replicationv1alpha1.GroupStatus, claim time.Time) bool {
	return g.State == replicationv1alpha1.GroupIssuing && g.Task == "" && claimTimeOf(g).Truncate(time.Microsecond).Equal(claim)
}

// stillClaimed reports whether the armed batch is as this process claimed it: every group Issuing at its
// claim time without a task, or already out of the batch (final, or Pending after its PiT check failed),
// and one at least still Issuing.
func stillClaimed(rs *replicationv1alpha1.ReplicationSync, b syncBatch) bool {
	issuing := false
	for _, i := range b.groups {
		if i >= len(rs.Status.Groups) {
			return false
		}
		g := rs.Status.Groups[i]
		switch {
		case isFinalGroup(g), g.State == replicationv1alpha1.GroupPending:
		case claimedAt(g, b.armed):
			issuing = true
		default:
			return false
		}
	}
	return issuing
}

// unarmStale puts back to Pending, in run's status, the groups of armed batches claimed more than half
// the in-doubt window ago, and forgets those batches. Called now, such a batch would leave less than the
// window between its call and the moment another reader, after a crash before its refs are written, may
// issue it again: its task could still run then. Claimed again the ordinary way, it gets a fresh
// claimTime, written before its call. It costs that write, only to runs that waited that long.
func (r *ReplicationSyncReconciler) unarmStale(run *syncRun) {
	r.unarm(run, r.freshClaimsSince(run))
}

// unarm puts back to Pending, in run's status, the groups of armed batches claimed before cutoff, and
// forgets those batches.
func (r *ReplicationSyncReconciler) unarm(run *syncRun, cutoff time.Time) {
	r.armedMu.Lock()
	defer r.armedMu.Unlock()
	key := client.ObjectKeyFromObject(run.rs)
	cur := r.armed[key]
	if cur == nil || cur.uid != run.rs.UID {
		return
	}
	cur.batches = slices.DeleteFunc(cur.batches, func(b syncBatch) bool {
		if b.armed.After(cutoff) {
			return false
		}
		for _, i := range b.groups {
			if i < len(run.rs.Status.Groups) && stillClaimed(run.rs, syncBatch{groups: []int{i}, armed: b.armed}) {
				run.groupPending(i, "")
			}
		}
		run.unarmed = append(run.unarmed, b)
		return true
	})
	if len(cur.batches) == 0 {
		delete(r.armed, key)
	}
}

// freshClaimsSince is the oldest claim time an armed batch may be called on now (armedFreshFor ago), by
// the clock, not by the reconcile's start (queries may have taken long since).
func (r *ReplicationSyncReconciler) freshClaimsSince(run *syncRun) time.Time {
	return clockNow(r.Clock).Add(-r.armedFreshFor(run))
}

// armedFreshFor is how long an armed batch may be called after its claim: half the in-doubt window
// (unarmStale), and never so long that its call (callTimeout) could not end within the least window
// (sendDeadlines).
func (r *ReplicationSyncReconciler) armedFreshFor(run *syncRun) time.Duration {
	return min(r.inDoubtWindow(run)/2, inDoubtFloor(run.vp)-ClaimClockSkew-callTimeout)
}

// takeArmed removes from the armed set the wave's armed batches, right before they are called; a batch
// no longer armed (taken by someone else) is dropped from the wave, and one whose claim is no longer
// fresh (freshClaimsSince) goes back to Pending, to be claimed again.
func (r *ReplicationSyncReconciler) takeArmed(run *syncRun) {
	fresh := r.freshClaimsSince(run)
	r.armedMu.Lock()
	defer r.armedMu.Unlock()
	key := client.ObjectKeyFromObject(run.rs)
	cur := r.armed[key]
	run.wave = slices.DeleteFunc(run.wave, func(b syncBatch) bool {
		if b.armed.IsZero() {
			return false
		}
		if cur == nil || cur.uid != run.rs.UID {
			return true
		}
		// The wave's batch is the armed one less the groups its PiT check settled.
		at := slices.IndexFunc(cur.batches, func(a syncBatch) bool {
			return a.armed.Equal(b.armed) && len(b.groups) > 0 && slices.Contains(a.groups, b.groups[0])
		})
		if at < 0 {
			return true
		}
		cur.batches = slices.Delete(cur.batches, at, at+1)
		if !b.armed.After(fresh) {
			for _, i := range b.groups {
				run.groupPending(i, "")
			}
			run.unarmed = append(run.unarmed, b)
			return true
		}
		return false
	})
	if cur != nil && len(cur.batches) == 0 {
		delete(r.armed, key)
	}
}

// rearm arms again, at the end of the reconcile, the batches it unarmed: until a write stores them
// Pending, status shows them claimed and uncalled, which only this process knows. Forgotten at once,
// a lost write would leave them in doubt: waiting out the window, then issued as InDoubtReissued though
// never called. Once status shows them Pending or claimed afresh, armedBatches forgets them.
func (r *ReplicationSyncReconciler) rearm(run *syncRun) {
	if !isFinished(run.rs) { // a finished run was disarmed, and nothing reconciles it to forget them again
		r.arm(run, run.unarmed)
	}
	run.unarmed = nil
}

// disarm forgets the armed batches of key (the run ended or is gone).
func (r *ReplicationSyncReconciler) disarm(key types.NamespacedName) {
	r.armedMu.Lock()
	defer r.armedMu.Unlock()
	delete(r.armed, key)
}

// armedIndexes returns the groups of rs's armed batches and of extra: claimed, not called.
func (r *ReplicationSyncReconciler) armedIndexes(rs *replicationv1alpha1.ReplicationSync, extra []syncBatch) map[int]struct{} {
	out := map[int]struct{}{}
	for _, b := range append(r.armedBatches(rs), extra...) {
		for _, i := range b.groups {
			if rs.Status.Groups[i].State == replicationv1alpha1.GroupIssuing {
				out[i] = struct{}{}
			}
		}
	}
	return out
}

// releaseArmedOnStop runs for the manager's lifetime; when it stops (a rollout's SIGTERM), the batches
// this process pre-claimed and did not call go back to Pending, so that the next manager issues them at
// once instead of waiting out the in-doubt window. A reconcile still running takes no armed batch after
// this (takeArmed finds none) and arms none (arm releases them itself). The runs are released together
// (maxParallelCalls at a time), all within commitGrace: one after another, a slow API server would make
// them outlast ShutdownGrace.
func (r *ReplicationSyncReconciler) releaseArmedOnStop(ctx context.Context) error {
	r.inProgress.Add(1) // Drain waits for the release too: a manager that lost its Lease does not
	defer r.inProgress.Add(-1)
	<-ctx.Done()
	r.armedMu.Lock()
	armed := r.armed
	r.armed, r.stopping = nil, true
	r.armedMu.Unlock()
	// All within commitGrace: runs not given back by then wait out their in-doubt window.
	all, cancel := context.WithTimeout(context.Background(), commitGrace)
	defer cancel()
	keys := slices.Collect(maps.Keys(armed))
	parallel(len(keys), func(i int) { r.release(all, keys[i], armed[keys[i]]) })
	return nil
}

// release writes the still claimed groups of armed batches back to Pending, within commitGrace of parent.
func (r *ReplicationSyncReconciler) release(parent context.Context, key types.NamespacedName, run *armedRun) {
	ctx, cancel := context.WithTimeout(parent, commitGrace)
	defer cancel()
	log := ctrl.LoggerFrom(ctx).WithValues("replicationSync", key)
	for range 3 {
		rs := &replicationv1alpha1.ReplicationSync{}
		if err := r.reader().Get(ctx, key, rs); err != nil || rs.UID != run.uid {
			return // gone, or another object
		}
		before := rs.DeepCopy()
		for _, b := range run.batches {
			for _, i := range b.groups {
				if i < len(rs.Status.Groups) && stillClaimed(rs, syncBatch{groups: []int{i}, armed: b.armed}) {
					g := &rs.Status.Groups[i]
					g.State, g.ClaimTime, g.Provider = replicationv1alpha1.GroupPending, nil, ""
				}
			}
		}
		updateSummary(rs)
		err := r.patchStatus(ctx, before, rs)
		if err == nil || !apierrors.IsConflict(err) {
			if err != nil {
				log.Error(err, "Releasing pre-claimed groups at shutdown; they wait out the in-doubt window instead")
			}
			return
		}
	}
}
