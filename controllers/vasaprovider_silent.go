package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// silentCheckRetry is how soon the check of a VasaProvider whose vCenter another check is trying looks
// again: it costs no call, and the vCenter may answer that check by then.
const silentCheckRetry = 10 * time.Second

// silentVCenters are the vCenters (by sms.HostOf of their url) whose last check got no answer. Each
// VasaProvider of a vCenter that is down would take a check worker for a connection's timeout (30 s)
// every ProviderUnreachableRetryInterval: a site down on a DR night, its VasaProviders outnumbering the
// workers, would hold back the checks of the site that answers. One check at a time tries a silent
// vCenter; the others of that vCenter report what it found, without a call, until it answers.
type silentVCenters struct {
	mu sync.Mutex
	m  map[string]*silence
}

// silence is what the checks of one vCenter found.
type silence struct {
	by    types.NamespacedName // the VasaProvider whose check tries the vCenter
	since time.Time            // when a check first got no answer
	seen  time.Time            // when by's check last began or ended; zero when by gave up trying
	found string               // what by's last check said
}

// takeOver is how long a silent vCenter's trier may be away (deleted, its url changed) or stuck in one
// check before the check of another of its VasaProviders tries instead.
const takeOver = 2 * ProviderUnreachableRetryInterval

// skip reports whether the check of key, at host, leaves the call to the check trying that vCenter, and
// what to say instead; false means it calls (and, if the vCenter is silent, it is now the one trying).
func (s *silentVCenters) skip(host string, key types.NamespacedName, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	si := s.m[host]
	if si == nil {
		return "", false
	}
	if si.by != key && now.Sub(si.seen) <= takeOver {
		// Another namespace's VasaProvider is not named: its namespace may belong to another team.
		who := "a VasaProvider of another namespace"
		if si.by.Namespace == key.Namespace {
			who = fmt.Sprintf("VasaProvider %q", si.by.Name)
		}
		return fmt.Sprintf("vCenter %s has been unreachable since %s; the check of %s tries it for every VasaProvider of this vCenter, and its last found: %s. This one is checked again once vCenter answers",
			host, si.since.UTC().Format(time.RFC3339), who, si.found), true
	}
	si.by, si.seen = key, now
	return "", false
}

// checked records what the check of key, at host, found: an answer (any) ends the vCenter's silence; no
// answer starts it (started), or goes on with it when key is the one trying. A trier whose check sent
// nothing (its Secret gone, say) leaves the trying to the next check of another VasaProvider of that
// vCenter.
func (s *silentVCenters) checked(host string, key types.NamespacedName, answered, silent bool, found string, now time.Time) (started bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	si := s.m[host]
	switch {
	case answered:
		delete(s.m, host)
	case !silent:
		if si != nil && si.by == key {
			si.seen = time.Time{}
		}
	case si == nil:
		if s.m == nil {
			s.m = map[string]*silence{}
		}
		s.m[host] = &silence{by: key, since: now, seen: now, found: found}
		return true
	case si.by == key:
		si.seen, si.found = now, found
	}
	return false
}

// wakeSiblings has the other VasaProviders of host checked now: they report the silence at once (not
// Ready, which holds their runs and discoveries) rather than at their next check, minutes away.
func (r *VasaProviderReconciler) wakeSiblings(ctx context.Context, host string, key types.NamespacedName) {
	if r.siblings == nil {
		return
	}
	list := &replicationv1alpha1.VasaProviderList{}
	if err := r.List(ctx, list); err != nil {
		return // they learn it at their next check
	}
	for i := range list.Items {
		vp := &list.Items[i]
		if client.ObjectKeyFromObject(vp) == key || sms.HostOf(vp.Spec.VCenter.URL) != host {
			continue
		}
		select {
		case r.siblings <- event.GenericEvent{Object: vp}:
		default: // the queue is full: that one learns it at its next check
		}
	}
}
