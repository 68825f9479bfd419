package smssim

import (
	"cmp"
	"slices"
)

// pitStore holds the PiTs the arrays keep. A provider answers a PiT query from the PiTs of the groups
// asked about, so they are kept by provider and group: a scan of every PiT on every query would cost
// each call as much as the arrays hold, and a run of many syncs would slow the simulator down
// quadratically.
type pitStore struct {
	seq     int                    // creation order across groups, for the listings
	byGroup map[pitKey][]storedPiT // oldest first
}

// pitKey is a group at one provider. Assumed: each provider is its own array. Providers that front the
// same array for VASA high availability (InactiveProvider maps fault domains to the active one) would
// share PiTs and running syncs; here a re-routed group's earlier PiTs stay at the provider that made
// them, the harder case for a client that looks for them at the active one.
type pitKey struct {
	provider string
	group    GroupID
}

// storedPiT is a PiT and its place in creation order.
type storedPiT struct {
	PiTRecord
	seq int
}

// add stores a new PiT.
func (s *pitStore) add(r PiTRecord) {
	if s.byGroup == nil {
		s.byGroup = map[pitKey][]storedPiT{}
	}
	s.seq++
	k := pitKey{r.ProviderName, r.Group}
	s.byGroup[k] = append(s.byGroup[k], storedPiT{r, s.seq})
}

// of returns the PiTs of group g at provider, oldest first.
func (s *pitStore) of(provider string, g GroupID) []PiTRecord {
	return records(s.byGroup[pitKey{provider, g}])
}

// all returns every PiT in creation order.
func (s *pitStore) all() []PiTRecord {
	var stored []storedPiT
	for _, ps := range s.byGroup {
		stored = append(stored, ps...)
	}
	slices.SortFunc(stored, func(a, b storedPiT) int { return cmp.Compare(a.seq, b.seq) })
	return records(stored)
}

// records returns the PiTs of stored, in its order.
func records(stored []storedPiT) []PiTRecord {
	out := make([]PiTRecord, len(stored))
	for i, p := range stored {
		out[i] = p.PiTRecord
	}
	return out
}

// deleteOf deletes the PiTs of group g at provider for which del is true (a group's PiTs are given
// oldest first); it returns how many it deleted.
func (s *pitStore) deleteOf(provider string, g GroupID, del func(PiTRecord) bool) int {
	k := pitKey{provider, g}
	before := len(s.byGroup[k])
	kept := slices.DeleteFunc(s.byGroup[k], func(p storedPiT) bool { return del(p.PiTRecord) })
	if len(kept) == 0 {
		delete(s.byGroup, k)
	} else {
		s.byGroup[k] = kept
	}
	return before - len(kept)
}

// groupsOf returns the groups of provider that have PiTs.
func (s *pitStore) groupsOf(provider string) []GroupID {
	var out []GroupID
	for k := range s.byGroup {
		if k.provider == provider {
			out = append(out, k.group)
		}
	}
	return out
}
