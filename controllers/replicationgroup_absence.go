package controllers

import (
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// A stored group that the provider no longer reports is deleted only once every discovery for at least
// one discovery interval has missed it (so at least two in a row), and not from an answer that lists more
// groups than the last one (an inventory still loading). A provider that restarts or fails over
// may answer a partial list for a while; deleting on the first miss would re-create the objects at the
// next discovery, drop their metric series and fail the ReplicationSyncs whose groupSelector is resolved
// in between. The rule is in time, not in a count of discoveries: each finished ReplicationSync triggers
// one, so the five shares of one schedule run finishing within a minute would otherwise make two
// "discoveries in a row" seconds apart, both inside the same provider restart.

// perProvider keeps, per VasaProvider, a value by ReplicationGroup name: when the current run of misses
// of each stored group began, or which groups have a newest-PiT series. It lives in memory only: after
// a manager restart a group's first absence waits one interval more, which costs a late delete and
// nothing else, and the process starts without series.
type perProvider[V any] struct {
	mu         sync.Mutex
	byProvider map[types.NamespacedName]map[string]V
}

// of returns a copy of the provider's values by ReplicationGroup name.
func (a *perProvider[V]) of(provider types.NamespacedName) map[string]V {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.byProvider[provider])
}

// set replaces the provider's values with those of a discovery that completed.
func (a *perProvider[V]) set(provider types.NamespacedName, values map[string]V) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(values) == 0 {
		delete(a.byProvider, provider)
		return
	}
	if a.byProvider == nil {
		a.byProvider = map[types.NamespacedName]map[string]V{}
	}
	a.byProvider[provider] = values
}

// forget drops the values of a deleted VasaProvider.
func (a *perProvider[V]) forget(provider types.NamespacedName) { a.set(provider, nil) }
