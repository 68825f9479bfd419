package controllers

import (
	"context"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The relay keeps a commit's write off the path from a task's end to the next task's start.
//
// All reconciles of one ReplicationSync run one after the other, and the commit of a 1,000-group run
// is a write of 150-200 ms. A task of the same run that ended during it waited for it: at 2-s tasks that
// was a third of the slot transitions, and most of the slots' idle time. So while the write is in
// flight, the run goes on in memory: its tasks are polled as they come due, and a slot one of them freed
// takes an armed batch (its claim written by an earlier commit) at once. What the relay did is written
// right after, by the same commit, like any wave: the protocol (claim written before any call, refs
// after) is the same; only the reconcile that carries it out is.

// maxRelayRounds bounds the relay's rounds of polls in one reconcile: past them, the writes it causes
// end and the next reconcile goes on (with a fresh session, if a poll failed for want of one).
const maxRelayRounds = 3

// writeAndRelay writes run.rs over base and relays while the write is in flight: the write sends a copy
// and returns it as written; moved reports whether run.rs went further meanwhile. The batches the relay
// called are added to wave, so that a merge after a lost write records their refs too; the pre-claims
// the write carried are armed.
func (r *ReplicationSyncReconciler) writeAndRelay(ctx, stopping context.Context, base *replicationv1alpha1.ReplicationSync, run *syncRun, wave *[]syncBatch) (written *replicationv1alpha1.ReplicationSync, moved bool, err error) {
	written = run.rs.DeepCopy()
	sent := written.Status.DeepCopy() // the write's answer rounds times: compare with what was sent
	carried := len(run.preclaimed)    // the relay's own pre-claims follow them; they count as armed already
	done := make(chan error, 1)
	go func() { done <- r.patchStatus(ctx, base, written) }()
	for {
		var due <-chan time.Time
		if at, ok := r.soonestDue(run, slices.Collect(maps.Keys(tasksOf(run.rs)))); ok && r.relaying(run, stopping) {
			due = time.After(at.Sub(clockNow(r.Clock)))
		}
		select {
		case err := <-done:
			if err != nil {
				return nil, false, err
			}
			r.arm(run, run.preclaimed[:carried])
			run.preclaimed = slices.Delete(run.preclaimed, 0, carried)
			return written, !equality.Semantic.DeepEqual(*sent, run.rs.Status), nil
		case <-due:
			run.relayRounds++
			*wave = append(*wave, r.relay(ctx, stopping, run)...)
		}
	}
}

// relaying reports whether the relay may poll the run's tasks now: not once the manager stops.
func (r *ReplicationSyncReconciler) relaying(run *syncRun, stopping context.Context) bool {
	return run.relayRounds < maxRelayRounds && stopping.Err() == nil && !isFinished(run.rs) && !backingOff(run.rs, clockNow(r.Clock))
}

// relay polls the run's tasks that are due and, when one ended, calls armed batches into the slots
// the provider's ledger grants. It returns the batches called. Once stopping is done it pre-claims no
// more, as a reconcile does not.
func (r *ReplicationSyncReconciler) relay(ctx, stopping context.Context, run *syncRun) []syncBatch {
	rs := run.rs
	inFlight := len(tasksOf(rs))
	run.now = clockNow(r.Clock) // the wake planned so far stays: at worst a reconcile finds nothing due
	err := r.pollStep(ctx, run)
	if err != nil {
		r.callFailed(ctx, run, err) // as in a reconcile: the run backs off, and the relay stops
	}
	if len(tasksOf(rs)) == inFlight {
		return nil
	}
	run.wave = nil
	defer r.settle(ctx, run) // conditions, summary and slots as the tasks that ended left them
	// The pre-claims this write carries are armed only once it returns: a slot left free here takes
	// them in the reconcile right after.
	defer wakeForFreedSlots(run, inFlight)
	if isFinished(rs) || allGroupsFinal(rs) || backingOff(rs, run.now) || r.deadlinePassed(run) || stopping.Err() != nil {
		return nil // a stopping manager calls no further batch: they are given back (releaseArmedOnStop)
	}
	r.holdSlots(run) // the slots of the tasks that ended are free
	run.armedOnly = true
	err = r.waveStep(ctx, run)
	run.releasePeers() // armed batches only: their claims were written before the peers were read
	run.armedOnly = false
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Checking armed batches for their PiT during a commit; the next reconcile retries")
		run.wave = nil
		return nil
	}
	r.takeArmed(run)
	wave := run.wave
	if len(wave) == 0 {
		return nil
	}
	r.callWave(ctx, run)
	if stopping.Err() == nil { // the manager may have been told to stop during the calls
		r.preclaim(run, startedBatches(rs, wave))
	}
	return wave
}
