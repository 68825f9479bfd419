package controllers

import (
	"context"
	"time"
)

// drainPoll is how often Drain looks whether the reconciles ended.
const drainPoll = 20 * time.Millisecond

// Drain waits until no reconcile, nor the release of pre-claims (releaseArmedOnStop), is in progress, or
// ctx ends, and reports whether none is. The manager
// calls it once it stopped: controller-runtime waits for the reconciles on a SIGTERM (GracefulShutdown
// Timeout), but not when the manager lost its leader-election Lease (a renewal the API server was too
// slow to answer); it then returns at once, with reconciles between their calls and their commit.
// Exiting there would leave the calls' task refs unwritten: their groups in doubt, and on an array
// without PiT support issued again by the next leader. A commit written after the Lease was lost is as
// safe as one of two managers at once: every write is conditional (docs/run-protocol.md).
func (r *ReplicationSyncReconciler) Drain(ctx context.Context) bool {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for r.inProgress.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
