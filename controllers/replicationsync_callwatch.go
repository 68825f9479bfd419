package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// slowCallAfter is how long a run's call to its provider may take before it counts as slow. Calls of a
// provider that answers take milliseconds to a few seconds; one that hangs gives up after 30 s.
const slowCallAfter = 10 * time.Second

// slowProviderRetry is how soon a run held back by its provider's slow calls looks again.
const slowProviderRetry = 5 * time.Second

// callWatch times the calls runs make to their providers: it exports their durations, and counts per
// VasaProvider the runs with a call running for longer than slowCallAfter. The sync workers serve every
// provider: without a bound, the runs of one provider that stopped answering promptly would hold them
// all, each for a call's timeout, and the runs of healthy providers would wait for a worker. It counts
// runs, not calls: one run makes up to maxParallelCalls calls at once, on one worker.
type callWatch struct {
	mu       sync.Mutex
	next     uint64
	inFlight map[types.NamespacedName]map[uint64]watchedCall
}

// watchedCall is a call in flight: which run made it, and when.
type watchedCall struct {
	owner string
	began time.Time
}

// slow returns how many runs of the provider have a call that has run longer than slowCallAfter at now.
func (w *callWatch) slow(key types.NamespacedName, now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var runs map[string]struct{} // made only when a call is slow: this runs in every reconcile
	for _, c := range w.inFlight[key] {
		if now.Sub(c.began) > slowCallAfter {
			if runs == nil {
				runs = map[string]struct{}{}
			}
			runs[c.owner] = struct{}{}
		}
	}
	return len(runs)
}

// observe runs call as one call of method by owner to the provider behind key.
func (w *callWatch) observe(clk clock.PassiveClock, key types.NamespacedName, owner, method string, call func()) {
	began := clockNow(clk)
	w.mu.Lock()
	if w.inFlight == nil {
		w.inFlight = map[types.NamespacedName]map[uint64]watchedCall{}
	}
	if w.inFlight[key] == nil {
		w.inFlight[key] = map[uint64]watchedCall{}
	}
	w.next++
	id := w.next
	w.inFlight[key][id] = watchedCall{owner: owner, began: began}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inFlight[key], id)
		if len(w.inFlight[key]) == 0 {
			delete(w.inFlight, key)
		}
		w.mu.Unlock()
		metrics.ProviderCallDurationSeconds.WithLabelValues(key.Namespace, key.Name, method).Observe(clockNow(clk).Sub(began).Seconds())
	}()
	call()
}

// watched returns cl with its calls timed, on clk, as owner's calls to the provider behind key.
func (w *callWatch) watched(clk clock.PassiveClock, key types.NamespacedName, owner string, cl syncProvider) syncProvider {
	return &watchedProvider{cl: cl, clk: clk, key: key, owner: owner, w: w}
}

// watchedProvider is a syncProvider whose calls a callWatch times.
type watchedProvider struct {
	cl    syncProvider
	clk   clock.PassiveClock
	key   types.NamespacedName
	owner string
	w     *callWatch
}

func (p *watchedProvider) ReplicationGroups(ctx context.Context, providerRef string, groups []sms.GroupID) (out []sms.ReplicationGroup, err error) {
	p.w.observe(p.clk, p.key, p.owner, "QueryReplicationGroup", func() { out, err = p.cl.ReplicationGroups(ctx, providerRef, groups) })
	return out, err
}

func (p *watchedProvider) PointInTimeReplicas(ctx context.Context, providerRef string, groups []sms.GroupID, pitName string) (out []sms.PointInTime, err error) {
	p.w.observe(p.clk, p.key, p.owner, "QueryPointInTimeReplica", func() { out, err = p.cl.PointInTimeReplicas(ctx, providerRef, groups, pitName) })
	return out, err
}

func (p *watchedProvider) SyncReplicationGroups(ctx context.Context, providerRef string, groups []sms.GroupID, pitName string) (ref string, err error) {
	p.w.observe(p.clk, p.key, p.owner, "SyncReplicationGroup_Task", func() { ref, err = p.cl.SyncReplicationGroups(ctx, providerRef, groups, pitName) })
	return ref, err
}

func (p *watchedProvider) TaskInfo(ctx context.Context, taskRef string) (info sms.TaskInfo, err error) {
	p.w.observe(p.clk, p.key, p.owner, "QuerySmsTaskInfo", func() { info, err = p.cl.TaskInfo(ctx, taskRef) })
	return info, err
}

// ServerInfo is the watched client's (vcenterOf), or none.
func (p *watchedProvider) ServerInfo() sms.ServerInfo {
	if sr, ok := p.cl.(sms.ServerInfoReporter); ok {
		return sr.ServerInfo()
	}
	return sms.ServerInfo{}
}
