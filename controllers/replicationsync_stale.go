package controllers

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

const (
	// staleCacheRetry is how soon a reconcile that read an object its own last writes already replaced
	// runs again: the informer is usually a few milliseconds behind.
	staleCacheRetry = 20 * time.Millisecond
	// staleCacheLimit bounds that wait: a cache further behind is read as it is (writes stay conditional).
	staleCacheLimit = 5 * time.Second
)

// replacedVersions remembers, per ReplicationSync, the resourceVersions the writes of its last reconcile
// replaced. The next reconcile reads from the cache; finding one of them there means the cache has not
// seen those writes yet. Acting on it would be safe (every write is conditional) but wasteful: queries
// for groups already settled and a write that can only conflict. A version this process did not replace
// (another writer's, or its own newest) is acted on as usual.
type replacedVersions struct {
	m      sync.Map // types.NamespacedName -> replacedRecord
	writes atomic.Uint64
}

// sweepEvery is how many writes pass between two sweeps of records past staleCacheLimit (a finished
// run's last record is never read again).
const sweepEvery = 1024

type replacedRecord struct {
	versions []string
	at       time.Time // of the last write
}

// stale reports whether rv is a version the last reconcile of key replaced (within staleCacheLimit);
// otherwise it starts a new record for key.
func (v *replacedVersions) stale(key types.NamespacedName, rv string) bool {
	if old, ok := v.m.Load(key); ok {
		rec := old.(replacedRecord)
		if slices.Contains(rec.versions, rv) && time.Since(rec.at) < staleCacheLimit {
			return true
		}
	}
	v.m.Delete(key)
	return false
}

// replaced records that a write of key replaced version rv.
func (v *replacedVersions) replaced(key types.NamespacedName, rv string) {
	old, _ := v.m.Load(key)
	rec, _ := old.(replacedRecord)
	v.m.Store(key, replacedRecord{versions: append(slices.Clone(rec.versions), rv), at: time.Now()})
	if v.writes.Add(1)%sweepEvery == 0 {
		v.m.Range(func(k, r any) bool {
			if time.Since(r.(replacedRecord).at) >= staleCacheLimit {
				v.m.Delete(k)
			}
			return true
		})
	}
}

// forget drops what is known about key (the object is gone).
func (v *replacedVersions) forget(key types.NamespacedName) { v.m.Delete(key) }
