package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// Runs that share a PiT name. Two ReplicationSyncs naming one group with one pitName would each check
// for the PiT and then call: the first one's sync could end between the second's check and its call
// (SyncOngoing no longer catches it), and the array would make a second PiT of the name; an array
// without PiT support would sync the group twice whatever the timing. So a group another run of the
// same provider and PiT name has claimed waits for it, and one that run synced is Synced by it.
// The registry holds the runs the manager's informer has shown (registerPeers): controller-runtime starts
// the workers only once the informer's first list has passed its event handlers, so after a restart a run
// reconciled before its peer finds that peer too. Peers that may name one of the run's groups are read past the
// cache, and runs take turns, per group they share, from reading their peers to writing their claims
// (pitPeers.lock): two runs reconciled at once, each reading the other before either claim is written,
// would otherwise both call.

// peerReadRetry is how soon a run that could not read a peer, or take its turn, looks again.
const peerReadRetry = time.Second

// peerTurnWait is how long a run waits for its turn among the runs of its PiT name. A turn is held from
// the first PiT query of a wave to its claim write, which is short unless a run walks many rounds of PiT
// queries (many groups found synced, small batches); a run that does not get its turn calls nothing,
// frees its worker and its slots, and looks again after peerReadRetry.
const peerTurnWait = 5 * time.Second

// pitKey is what peers share: the namespace, the VasaProvider and the PiT name.
type pitKey struct{ namespace, provider, pitName string }

func pitKeyOf(rs *replicationv1alpha1.ReplicationSync) pitKey {
	return pitKey{rs.Namespace, rs.Spec.ProviderRef.Name, rs.Spec.PitName}
}

// pitPeers maps each pitKey to the names of the runs that have it (in the key's namespace), and each run
// to its pitKey: a run deleted and created again under its name with another PiT name, quickly enough
// that its reconciles never saw it gone, moves to its new key instead of staying under both. A key's runs
// are a slice, not a set: nearly every key has one run, and a map per key weighed about 1 KiB per run
// (10 MiB of the manager's heap with 10,000 runs).
type pitPeers struct {
	mu    sync.Mutex
	byKey map[pitKey][]string
	keyOf map[types.NamespacedName]pitKey
	turns map[groupTurn]*pitTurn
}

// groupTurn is one group of one pitKey: the runs that name it take turns.
type groupTurn struct {
	pitKey
	group replicationv1alpha1.ReplicationGroupID
}

// pitTurn is the turn of the runs of one pitKey and group, between reading their peers and writing
// their claims: held while its channel holds a value.
type pitTurn struct {
	held  chan struct{}
	users int // holding it or waiting for it
}

// lock waits for the turn of k's runs for each of groups and returns what ends it, or an error when ctx
// ends or peerTurnWait passes first. Taken in one order (CompareGroupIDs) by every run, the turns cannot
// deadlock; runs with no group in common, such as the shares of a schedule's tick or many one-group runs
// of one PiT name, never wait for each other.
func (p *pitPeers) lock(ctx context.Context, k pitKey, groups []replicationv1alpha1.ReplicationGroupID) (unlock func(), err error) {
	sorted := slices.Compact(slices.SortedFunc(slices.Values(groups), replicationv1alpha1.CompareGroupIDs))
	turns := make([]*pitTurn, len(sorted))
	p.mu.Lock()
	if p.turns == nil {
		p.turns = map[groupTurn]*pitTurn{}
	}
	for i, g := range sorted {
		t := p.turns[groupTurn{k, g}]
		if t == nil {
			t = &pitTurn{held: make(chan struct{}, 1)}
			p.turns[groupTurn{k, g}] = t
		}
		t.users++
		turns[i] = t
	}
	p.mu.Unlock()
	taken := 0
	unlock = func() {
		for _, t := range turns[:taken] {
			<-t.held
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, t := range turns {
			if t.users--; t.users == 0 {
				delete(p.turns, groupTurn{k, sorted[i]})
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, peerTurnWait)
	defer cancel()
	for _, t := range turns {
		select {
		case t.held <- struct{}{}:
			taken++
		case <-ctx.Done():
			unlock()
			return nil, fmt.Errorf("waiting for the turn of the runs of PiT name %q: %w", k.pitName, context.Cause(ctx))
		}
	}
	return unlock, nil
}

// registerPeers keeps p as the informer sees ReplicationSyncs. It is the first predicate of the
// controller's watch, so that every event passes it, also those a later predicate drops.
func registerPeers(p *pitPeers) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return p.seen(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return p.seen(e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			p.forget(types.NamespacedName{Namespace: e.Object.GetNamespace(), Name: e.Object.GetName()})
			return true
		},
	}
}

// seen registers obj if it is a ReplicationSync, and passes its event on.
func (p *pitPeers) seen(obj client.Object) bool {
	if rs, ok := obj.(*replicationv1alpha1.ReplicationSync); ok {
		p.add(rs)
	}
	return true
}

// know registers rs unless its run is registered already: for a reconciler driven without its watch
// (tests). Under the watch, registerPeers has registered it, and from a newer version than a reconcile
// may hold (the run deleted and created again under its name with another PiT name meanwhile).
func (p *pitPeers) know(rs *replicationv1alpha1.ReplicationSync) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.keyOf[types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}]; !ok {
		p.put(rs)
	}
}

// add registers rs under its pitKey, moving its run from the key it had.
func (p *pitPeers) add(rs *replicationv1alpha1.ReplicationSync) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.put(rs)
}

// put is add; callers hold p.mu.
func (p *pitPeers) put(rs *replicationv1alpha1.ReplicationSync) {
	if p.byKey == nil {
		p.byKey, p.keyOf = map[pitKey][]string{}, map[types.NamespacedName]pitKey{}
	}
	run, k := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}, pitKeyOf(rs)
	if was, ok := p.keyOf[run]; ok {
		if was == k {
			return
		}
		p.remove(run, was)
	}
	p.byKey[k] = append(p.byKey[k], run.Name)
	p.keyOf[run] = k
}

// forget drops a deleted run.
func (p *pitPeers) forget(run types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keyOf[run]; ok {
		p.remove(run, k)
	}
}

// remove takes run out of key k; callers hold p.mu.
func (p *pitPeers) remove(run types.NamespacedName, k pitKey) {
	delete(p.keyOf, run)
	if names := slices.DeleteFunc(p.byKey[k], func(n string) bool { return n == run.Name }); len(names) > 0 {
		p.byKey[k] = names
	} else {
		delete(p.byKey, k)
	}
}

// others returns the other runs with rs's pitKey.
func (p *pitPeers) others(rs *replicationv1alpha1.ReplicationSync) []types.NamespacedName {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []types.NamespacedName
	for _, name := range p.byKey[pitKeyOf(rs)] {
		if name != rs.Name {
			out = append(out, types.NamespacedName{Namespace: rs.Namespace, Name: name})
		}
	}
	return out
}

// peerGroup is a group as a peer run has it.
type peerGroup struct {
	run    string
	status replicationv1alpha1.GroupStatus
}

// peerGroups returns the groups the run's peers have claimed (Issuing, Syncing), or Synced since the run
// was created (an older PiT may be gone by the array's retention; the PiT check sees one that is not), by
// id. A peer being deleted no longer advances: it is not waited for.
func (r *ReplicationSyncReconciler) peerGroups(ctx context.Context, rs *replicationv1alpha1.ReplicationSync) (map[replicationv1alpha1.ReplicationGroupID]peerGroup, error) {
	var out map[replicationv1alpha1.ReplicationGroupID]peerGroup
	ours := map[replicationv1alpha1.ReplicationGroupID]bool{}
	for _, id := range runGroupIDs(rs) {
		ours[id] = true
	}
	for _, key := range r.peers.others(rs) {
		peer := &replicationv1alpha1.ReplicationSync{}
		err := r.Get(ctx, key, peer)
		if err == nil && mayShare(peer, ours) {
			err = r.reader().Get(ctx, key, peer) // the cache may not show its claims yet
		}
		if apierrors.IsNotFound(err) {
			continue // deleted: no longer advances
		}
		if err != nil {
			return nil, fmt.Errorf("reading ReplicationSync %s, of the same PiT name: %w", key.Name, err)
		}
		if peer.Spec.PitName != rs.Spec.PitName || peer.Spec.ProviderRef.Name != rs.Spec.ProviderRef.Name || !peer.DeletionTimestamp.IsZero() {
			continue
		}
		for _, g := range peer.Status.Groups {
			switch g.State {
			case replicationv1alpha1.GroupIssuing, replicationv1alpha1.GroupSyncing:
			case replicationv1alpha1.GroupSynced:
				if g.TimeStamp == nil || g.TimeStamp.Before(&metav1.Time{Time: rs.CreationTimestamp.Add(-pitClockSkew)}) {
					continue
				}
			default:
				continue
			}
			if out == nil {
				out = map[replicationv1alpha1.ReplicationGroupID]peerGroup{}
			}
			out[g.ReplicationGroupID] = peerGroup{run: peer.Name, status: g}
		}
	}
	return out, nil
}

// runGroupIDs are the ids of rs's groups.
func runGroupIDs(rs *replicationv1alpha1.ReplicationSync) []replicationv1alpha1.ReplicationGroupID {
	ids := make([]replicationv1alpha1.ReplicationGroupID, len(rs.Status.Groups))
	for i, g := range rs.Status.Groups {
		ids[i] = g.ReplicationGroupID
	}
	return ids
}

// mayShare reports whether peer, as the cache shows it, may name one of groups: its groups are fixed once
// it started (status.groups) or named in its spec; one choosing them by selector that has not started in
// the cache's view may name any. Only such a peer is read past the cache: runs of one PiT name with no
// group in common (thousands of one-group runs) cost no read each.
func mayShare(peer *replicationv1alpha1.ReplicationSync, groups map[replicationv1alpha1.ReplicationGroupID]bool) bool {
	ids := peer.Spec.GroupIDs
	if len(peer.Status.Groups) > 0 {
		ids = runGroupIDs(peer)
	} else if len(ids) == 0 {
		return true
	}
	return slices.ContainsFunc(ids, func(id replicationv1alpha1.ReplicationGroupID) bool { return groups[id] })
}

// syncedByPeer makes group i Synced by the PiT a peer's sync made.
func (run *syncRun) syncedByPeer(i int, p peerGroup) {
	var ts time.Time
	if p.status.TimeStamp != nil {
		ts = p.status.TimeStamp.Time
	}
	run.groupSynced(i, p.status.PitID, p.status.PitName, ts, fmt.Sprintf("Synced by ReplicationSync %s, of the same PiT name", p.run))
}
