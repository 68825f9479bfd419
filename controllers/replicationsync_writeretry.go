package controllers

import (
	"context"
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// commitRetry spaces a commit's tries after the API server failed its write, or the read before a retry;
// commitGrace bounds them all.
var commitRetry = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 6, Cap: 2 * time.Second}

// writeBudgets hands out contexts for status writes, commitGrace each, that a manager stopping does not
// cut short: one the API server applied while this process took it for failed would leave the groups
// it claims Issuing without a call, in doubt.
type writeBudgets struct {
	parent  context.Context
	cancels []context.CancelFunc
}

func (b *writeBudgets) next() context.Context {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.parent), commitGrace)
	b.cancels = append(b.cancels, cancel)
	return ctx
}

// release ends every context handed out.
func (b *writeBudgets) release() {
	for _, cancel := range b.cancels {
		cancel()
	}
}

// apiServerFailed reports whether a request failed at the API server rather than being refused by it: no
// answer, a 5xx, too many requests. Tried again, it may succeed.
func apiServerFailed(err error) bool {
	return apierrors.IsTooManyRequests(err) || mayHaveBeenApplied(err)
}

// retriableWrite reports whether a failed status write is worth trying again from a fresh read.
func retriableWrite(err error) bool {
	return apierrors.IsConflict(err) || apiServerFailed(err)
}

// pause waits d, or as long as the API server asked (a 429's Retry-After) if longer; false if ctx ended
// first.
func pause(ctx context.Context, d time.Duration, err error) bool {
	if s, ok := apierrors.SuggestsClientDelay(err); ok {
		d = max(d, time.Duration(s)*time.Second)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// readFresh reads the ReplicationSync key past the cache, again while the API server fails the read,
// ctx lasts and commitRetry has steps left (a reconcile's own context has no deadline).
func (r *ReplicationSyncReconciler) readFresh(ctx context.Context, key types.NamespacedName) (*replicationv1alpha1.ReplicationSync, error) {
	retry := commitRetry
	for {
		fresh := &replicationv1alpha1.ReplicationSync{}
		err := r.reader().Get(ctx, key, fresh)
		if err == nil || !apiServerFailed(err) || ctx.Err() != nil || retry.Steps <= 1 || !pause(ctx, retry.Step(), err) {
			return fresh, err
		}
	}
}

// landedAfterAll reports whether the status write of rs that failed with err was applied all the same
// (its answer lost, a 5xx after etcd took it, or client-go's retry of it conflicting with it): read past
// the cache, the object holds rs's status. rs then becomes the stored object. A claim recognised so goes
// on to its calls instead of leaving its groups in doubt; a commit arms its pre-claims; a run's end is
// told. Not found there, the write may still be applied later (its request still in the API server).
func (r *ReplicationSyncReconciler) landedAfterAll(ctx context.Context, rs *replicationv1alpha1.ReplicationSync, err error) bool {
	if !retriableWrite(err) || ctx.Err() != nil {
		return false
	}
	fresh, gerr := r.readFresh(ctx, client.ObjectKeyFromObject(rs))
	if gerr != nil || !landed(fresh, rs) {
		return false
	}
	*rs = *fresh
	return true
}

// landed reports whether fresh holds the status of sent as the API server stores it: a write it applied
// though its caller saw the write fail (the answer lost, or client-go's retry of it conflicting with it).
func landed(fresh, sent *replicationv1alpha1.ReplicationSync) bool {
	raw, err := json.Marshal(sent.Status)
	var stored replicationv1alpha1.ReplicationSyncStatus
	if err != nil || json.Unmarshal(raw, &stored) != nil {
		return false
	}
	return equality.Semantic.DeepEqual(fresh.Status, stored)
}
