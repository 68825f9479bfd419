package sms

import (
	"errors"
	"slices"
	"sync"
)

// routes is what the InactiveProvider faults met during one discovery operation said: the active provider
// of each fault domain, by the provider that said it. The API reference has a client that keeps the
// topology update it from the fault's mapping (VASA high availability: another provider fronts the array
// now). Kept for one operation only: the batches after the first go to the active provider directly,
// and nothing stale outlives it (a provider registered again gets another moId).
type routes struct {
	mu     sync.Mutex
	active map[routeKey]string
}

// routeKey is a fault domain as asked about at one provider.
type routeKey struct{ from, faultDomain string }

// maxRouteHops bounds how often one group follows an InactiveProvider mapping: providers naming each
// other would otherwise be asked in turn forever.
const maxRouteHops = 2

// to returns the provider to ask about group g instead of ref.
func (rt *routes) to(ref string, g GroupID) string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for hop := 0; hop < maxRouteHops; hop++ {
		next, ok := rt.active[routeKey{ref, g.FaultDomainID}]
		if !ok {
			break
		}
		ref = next
	}
	return ref
}

// learn records the mapping of a fault the provider from answered.
func (rt *routes) learn(from string, fault *InactiveProviderError) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for fd, to := range fault.ActiveProviders() {
		if to == "" || to == from {
			continue
		}
		if rt.active == nil {
			rt.active = map[routeKey]string{}
		}
		rt.active[routeKey{from, fd}] = to
	}
}

// split groups the groups by the provider to ask about them, in the order of their first group.
func (rt *routes) split(ref string, groups []GroupID) (providers []string, parts map[string][]GroupID) {
	parts = map[string][]GroupID{}
	for _, g := range groups {
		to := rt.to(ref, g)
		if _, ok := parts[to]; !ok {
			providers = append(providers, to)
		}
		parts[to] = append(parts[to], g)
	}
	return providers, parts
}

// askRouted asks query about groups at the provider the routes give their fault domains (ref where they
// give none). A call refused with InactiveProvider teaches the routes its mapping; when that sends some of
// its groups elsewhere, the call's groups are asked again where they now go, each group at most
// maxRouteHops times. When it sends none elsewhere (a mapping naming no other provider, or providers that
// name each other), the groups of the fault domains it does not name, refused only for sharing the call,
// are asked again without them. answer gets every final part with the provider that answered it.
func askRouted[T any](rt *routes, ref string, groups []GroupID, query func(to string, part []GroupID) ([]T, error), answer func(to string, part []GroupID, items []T, err error)) {
	askRoutedHops(rt, ref, groups, maxRouteHops, query, answer)
}

func askRoutedHops[T any](rt *routes, ref string, groups []GroupID, hops int, query func(string, []GroupID) ([]T, error), answer func(string, []GroupID, []T, error)) {
	providers, parts := rt.split(ref, groups)
	for _, to := range providers {
		part := parts[to]
		items, err := query(to, part)
		var inactive *InactiveProviderError
		if hops > 0 && errors.As(err, &inactive) {
			rt.learn(to, inactive)
			if slices.ContainsFunc(part, func(g GroupID) bool { return rt.to(ref, g) != to }) {
				askRoutedHops(rt, ref, part, hops-1, query, answer)
				continue
			}
			named := inactive.ActiveProviders()
			refused, others := splitBy(part, func(g GroupID) bool { _, ok := named[g.FaultDomainID]; return ok })
			if len(refused) > 0 && len(others) > 0 {
				answer(to, refused, nil, err)
				askRoutedHops(rt, ref, others, hops-1, query, answer)
				continue
			}
		}
		answer(to, part, items, err)
	}
}

// splitBy returns the groups for which in holds, and the others, in order.
func splitBy(groups []GroupID, in func(GroupID) bool) (yes, no []GroupID) {
	for _, g := range groups {
		if in(g) {
			yes = append(yes, g)
		} else {
			no = append(no, g)
		}
	}
	return yes, no
}
