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

// replacedVersions remembers, per ReplicationSync, the resourceVersions the writes of its last reconciles
// replaced. The next reconcile reads from the cache; finding one of them there means the cache has not
// seen those writes yet. Acting on it would be safe (every write is conditional) but wasteful: queries
// for groups already settled and a write that can only conflict. A version this process did not replace
// (another writer's, or its own newest) is acted on as usual. A cache still behind after
// staleCacheLimit, or one a write lost to (a conflict), is read past until it shows another version:
// with the API server slow to feed the informer, acting on the cache would conflict every conflictRetry.
type replacedVersions struct {
	m      sync.Map // types.NamespacedName -> replacedRecord
	writes atomic.Uint64
}

// sweepEvery is how many writes pass between two sweeps of records past staleCacheLimit (a finished
// run's last record is never read again).
const sweepEvery = 1024

// maxReplacedVersions bounds a record read past the cache for long: the oldest versions go first.
const maxReplacedVersions = 64

type replacedRecord struct {
	versions []string
	at       time.Time // of the last write
	late     bool      // read past the cache while it shows one of versions
}

// cacheRead is what a reconcile does with the object it read from the cache.
type cacheRead int

const (
	cacheCurrent cacheRead = iota // act on it
	cacheBehind                   // wait for the cache (staleCacheRetry)
	cacheLate                     // read it past the cache
)

// check tells what to do with version rv of key, read from the cache. The record of key is kept while
// the cache shows one of its versions; otherwise the reconcile starts a new one.
func (v *replacedVersions) check(key types.NamespacedName, rv string) cacheRead {
	old, ok := v.m.Load(key)
	if !ok {
		return cacheCurrent
	}
	rec := old.(replacedRecord)
	switch {
	case !slices.Contains(rec.versions, rv):
		v.m.Delete(key)
		return cacheCurrent
	case rec.late:
		return cacheLate
	case time.Since(rec.at) < staleCacheLimit:
		return cacheBehind
	}
	rec.late = true
	v.m.Store(key, rec)
	return cacheLate
}

// lost records that a write of key planned on version rv lost to a newer one (a conflict): the cache
// is read past while it shows rv.
func (v *replacedVersions) lost(key types.NamespacedName, rv string) {
	v.add(key, rv, true)
}

// replaced records that a write of key replaced version rv.
func (v *replacedVersions) replaced(key types.NamespacedName, rv string) {
	v.add(key, rv, false)
	if v.writes.Add(1)%sweepEvery == 0 {
		v.m.Range(func(k, r any) bool {
			if time.Since(r.(replacedRecord).at) >= staleCacheLimit {
				v.m.Delete(k)
			}
			return true
		})
	}
}

func (v *replacedVersions) add(key types.NamespacedName, rv string, late bool) {
	old, _ := v.m.Load(key)
	rec, _ := old.(replacedRecord)
	versions := append(slices.Clone(rec.versions), rv)
	versions = versions[max(0, len(versions)-maxReplacedVersions):]
	v.m.Store(key, replacedRecord{versions: versions, at: time.Now(), late: rec.late || late})
}

// forget drops what is known about key (the object is gone).
func (v *replacedVersions) forget(key types.NamespacedName) { v.m.Delete(key) }
