package controllers

import (
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// absencesBeforeDelete is how many consecutive discoveries must miss a stored group before its
// ReplicationGroup is deleted. A provider that restarts or fails over may answer a partial list once;
// deleting on the first miss would re-create the objects at the next discovery, drop their metric series
// and fail the ReplicationSyncs whose groupSelector is resolved in between.
const absencesBeforeDelete = 2

// groupAbsences counts, per VasaProvider, the consecutive discoveries that did not report each stored
// group. It lives in memory only: after a manager restart a group's first absence waits one interval
// more, which costs a late delete and nothing else.
type groupAbsences struct {
	mu         sync.Mutex
	byProvider map[types.NamespacedName]map[string]int
}

// of returns a copy of the provider's counts by ReplicationGroup name.
func (a *groupAbsences) of(provider types.NamespacedName) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.byProvider[provider])
}

// set replaces the provider's counts with those of a discovery that completed.
func (a *groupAbsences) set(provider types.NamespacedName, counts map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(counts) == 0 {
		delete(a.byProvider, provider)
		return
	}
	if a.byProvider == nil {
		a.byProvider = map[types.NamespacedName]map[string]int{}
	}
	a.byProvider[provider] = counts
}

// forget drops the counts of a deleted VasaProvider.
func (a *groupAbsences) forget(provider types.NamespacedName) { a.set(provider, nil) }
