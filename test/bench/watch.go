package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// syncsResource is the ReplicationSync resource.
var syncsResource = schema.GroupVersionResource{Group: "replication.vasa.io", Version: "v1alpha1", Resource: "replicationsyncs"}

// GroupKey names a group as "faultDomain/deviceGroup".
type GroupKey string

// syncRecord is what the watch learned about one ReplicationSync.
type syncRecord struct {
	rv       string
	synced   map[GroupKey]time.Time // when each group was first seen Synced
	finished time.Time              // when its phase was first seen Succeeded or Failed
	failed   bool
}

// Watcher watches the ReplicationSyncs of one namespace and records every write the API server
// reports: each new resourceVersion of an existing object is one write, and its JSON size is what
// that version weighs. It reads status as unstructured data so that a changed status layout does not
// break it; it only relies on status.phase and, where present, status.groups[].state.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	changed  *sync.Cond
	syncs    map[string]*syncRecord
	writes   int
	bytes    int64
	finished int
	err      error
}

// StartWatcher watches ns with cfg (any identity that may watch ReplicationSyncs).
func StartWatcher(cfg *rest.Config, ns string) (*Watcher, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ri := dc.Resource(syncsResource).Namespace(ns)
	list, err := ri.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ReplicationSyncs: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, done: make(chan struct{}), syncs: map[string]*syncRecord{}}
	w.changed = sync.NewCond(&w.mu)
	for i := range list.Items {
		w.observe(watch.Added, &list.Items[i], time.Now())
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return ri.Watch(ctx, opts)
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		defer rw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-rw.ResultChan():
				if !ok {
					w.fail(fmt.Errorf("watch of ReplicationSyncs closed"))
					return
				}
				now := time.Now()
				if ev.Type == watch.Error {
					w.fail(fmt.Errorf("watch error: %v", ev.Object))
					return
				}
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					w.observe(ev.Type, u, now)
				}
			}
		}
	}()
	return w, nil
}

// fail records a broken watch and wakes the waiters.
func (w *Watcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
	w.changed.Broadcast()
}

// observe records one version of one object seen at now.
func (w *Watcher) observe(typ watch.EventType, u *unstructured.Unstructured, now time.Time) {
	size := 0
	if data, err := json.Marshal(u.Object); err == nil {
		size = len(data)
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	groups, _, _ := unstructured.NestedSlice(u.Object, "status", "groups")

	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.changed.Broadcast()
	name := u.GetName()
	rec := w.syncs[name]
	if rec == nil {
		rec = &syncRecord{synced: map[GroupKey]time.Time{}}
		w.syncs[name] = rec
	}
	if typ == watch.Deleted {
		return
	}
	if typ == watch.Modified && u.GetResourceVersion() != rec.rv {
		w.writes++
		w.bytes += int64(size)
	}
	rec.rv = u.GetResourceVersion()
	for _, g := range groups {
		m, ok := g.(map[string]any)
		if !ok {
			continue
		}
		state, _, _ := unstructured.NestedString(m, "state")
		if state != "Synced" {
			continue
		}
		k := groupKeyOf(m)
		if _, seen := rec.synced[k]; !seen {
			rec.synced[k] = now
		}
	}
	if rec.finished.IsZero() && (phase == "Succeeded" || phase == "Failed") {
		rec.finished, rec.failed = now, phase == "Failed"
		w.finished++
		// A status that does not list its groups still tells when they all were synced.
		if phase == "Succeeded" {
			ids, _, _ := unstructured.NestedSlice(u.Object, "spec", "groupIds")
			for _, id := range ids {
				if m, ok := id.(map[string]any); ok {
					if _, seen := rec.synced[groupKeyOf(m)]; !seen {
						rec.synced[groupKeyOf(m)] = now
					}
				}
			}
		}
	}
}

// groupKeyOf reads faultDomainId.id and deviceGroupId.id of a group entry.
func groupKeyOf(m map[string]any) GroupKey {
	fd, _, _ := unstructured.NestedString(m, "faultDomainId", "id")
	dg, _, _ := unstructured.NestedString(m, "deviceGroupId", "id")
	return GroupKey(fd + "/" + dg)
}

// Writes returns the writes seen so far and the bytes of the versions they made.
func (w *Watcher) Writes() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.bytes
}

// WaitFinished waits until n syncs have finished (Succeeded or Failed), the watch broke, or ctx ends;
// it returns how many finished and the time the last of them was seen finished.
func (w *Watcher) WaitFinished(ctx context.Context, n int) (int, time.Time, error) {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.changed.Broadcast()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.finished < n && w.err == nil && ctx.Err() == nil {
		w.changed.Wait()
	}
	var last time.Time
	for _, r := range w.syncs {
		if r.finished.After(last) {
			last = r.finished
		}
	}
	if w.err != nil {
		return w.finished, last, w.err
	}
	return w.finished, last, ctx.Err()
}

// SyncedAt returns when each group of sync name was first seen Synced.
func (w *Watcher) SyncedAt(name string) map[GroupKey]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[GroupKey]time.Time{}
	if r := w.syncs[name]; r != nil {
		for k, v := range r.synced {
			out[k] = v
		}
	}
	return out
}

// Failed returns how many syncs finished Failed.
func (w *Watcher) Failed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, r := range w.syncs {
		if r.failed {
			n++
		}
	}
	return n
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}
