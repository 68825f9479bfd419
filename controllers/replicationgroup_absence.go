package controllers

import (
	"maps"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// A stored group that the provider no longer reports is deleted only once every discovery for at least
// one discovery interval has missed it (so at least two in a row). A provider that restarts or fails over
// may answer a partial list for a while; deleting on the first miss would re-create the objects at the
// next discovery, drop their metric series and fail the ReplicationSyncs whose groupSelector is resolved
// in between. The rule is in time, not in a count of discoveries: each finished ReplicationSync triggers
// one, so the five shares of one schedule run finishing within a minute would otherwise make two
// "discoveries in a row" seconds apart, both inside the same provider restart.

// groupAbsences keeps, per VasaProvider, when the current run of misses of each stored group began. It
// lives in memory only: after a manager restart a group's first absence waits one interval more, which
// costs a late delete and nothing else.
type groupAbsences struct {
	mu         sync.Mutex
	byProvider map[types.NamespacedName]map[string]time.Time
}

// of returns a copy of the provider's first misses by ReplicationGroup name.
func (a *groupAbsences) of(provider types.NamespacedName) map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.byProvider[provider])
}

// set replaces the provider's first misses with those of a discovery that completed.
func (a *groupAbsences) set(provider types.NamespacedName, since map[string]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(since) == 0 {
		delete(a.byProvider, provider)
		return
	}
	if a.byProvider == nil {
		a.byProvider = map[types.NamespacedName]map[string]time.Time{}
	}
	a.byProvider[provider] = since
}

// forget drops the misses of a deleted VasaProvider.
func (a *groupAbsences) forget(provider types.NamespacedName) { a.set(provider, nil) }
