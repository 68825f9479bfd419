package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// deletedProviderLinger is how long after a VasaProvider's deletion what it left in memory is dropped
// once more. A reconcile of one of its runs, or its discovery, that read the VasaProvider before it went
// may still write after the first drop: a fault, the tasks in flight, the run's end, the slots it holds.
// Such a reconcile is bounded by its calls' timeouts (a discovery's listing by 5 minutes).
const deletedProviderLinger = 10 * time.Minute

// deletedProviders are the deleted VasaProviders dropped once, and when, until they are dropped again.
type deletedProviders struct {
	mu sync.Mutex
	at map[types.NamespacedName]time.Time
}

// forgetDeleted drops the session, capacity and every metric series of a deleted VasaProvider, and
// returns how soon to drop them again (0: never).
func (r *VasaProviderReconciler) forgetDeleted(key types.NamespacedName) time.Duration {
	r.Sessions.Forget(key)
	r.Capacity.Forget(key)
	metrics.ForgetProvider(key.Namespace, key.Name)
	return r.deleted.again(key, clockNow(r.Clock))
}

// again returns how long after now key is dropped once more: deletedProviderLinger after the first drop,
// 0 once that has passed.
func (d *deletedProviders) again(key types.NamespacedName, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	first, ok := d.at[key]
	if !ok {
		if d.at == nil {
			d.at = map[types.NamespacedName]time.Time{}
		}
		d.at[key] = now
		return deletedProviderLinger
	}
	if left := first.Add(deletedProviderLinger).Sub(now); left > 0 {
		return left
	}
	delete(d.at, key)
	return 0
}

// exists ends the drops of key: a VasaProvider of its name exists (created again).
func (d *deletedProviders) exists(key types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.at, key)
}
