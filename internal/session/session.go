package session

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// closeTimeout bounds the logout of a replaced or forgotten session.
const closeTimeout = 10 * time.Second

// Dialer opens a new SMS session; the cache calls it when it has none for a key or the fingerprint changed.
type Dialer func(ctx context.Context) (sms.Client, error)

// Cache holds per-VasaProvider state shared by every reconciler of one manager. It is safe for concurrent use.
// The zero value is not usable; call New.
type Cache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*entry
}

type entry struct {
	dialMu      sync.Mutex // serializes dialing for one key, so concurrent callers share one login
	client      sms.Client
	fingerprint string

	learned int32

	primed   bool
	tasks    map[string]map[string]struct{} // owner (ReplicationSync namespace/name) -> task refs in flight
	settled  map[string]struct{}            // owners set in this process before priming: Prime leaves them alone
	reserved int                            // slots handed out by Reserve and not yet committed or released
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{entries: map[types.NamespacedName]*entry{}}
}

func (c *Cache) entry(key types.NamespacedName) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		e = &entry{tasks: map[string]map[string]struct{}{}}
		c.entries[key] = e
	}
	return e
}

// Client returns the cached session for key when it was opened with the same fingerprint, otherwise it
// logs the old one out and dials a new one. The fingerprint covers everything the session depends on
// (the VasaProvider's generation and the Secrets' resourceVersions), never the secret values.
func (c *Cache) Client(ctx context.Context, key types.NamespacedName, fingerprint string, dial Dialer) (sms.Client, error) {
	e := c.entry(key)
	e.dialMu.Lock()
	defer e.dialMu.Unlock()

	c.mu.Lock()
	if e.client != nil && e.fingerprint == fingerprint {
		cl := e.client
		c.mu.Unlock()
		return cl, nil
	}
	old := e.client
	e.client, e.fingerprint = nil, ""
	c.mu.Unlock()
	closeAsync(old)

	cl, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e.client, e.fingerprint = cl, fingerprint
	c.mu.Unlock()
	return cl, nil
}

// Cached returns the session for key if one is open with that fingerprint, without dialing.
func (c *Cache) Cached(key types.NamespacedName, fingerprint string) (sms.Client, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.client == nil || e.fingerprint != fingerprint {
		return nil, false
	}
	return e.client, true
}

// Invalidate logs out and drops the session for key; learned batch size and task accounting stay.
func (c *Cache) Invalidate(key types.NamespacedName) {
	c.mu.Lock()
	e, ok := c.entries[key]
	var old sms.Client
	if ok {
		old, e.client, e.fingerprint = e.client, nil, ""
	}
	c.mu.Unlock()
	closeAsync(old)
}

// Forget drops everything known about key (the VasaProvider was deleted).
func (c *Cache) Forget(key types.NamespacedName) {
	c.mu.Lock()
	e, ok := c.entries[key]
	delete(c.entries, key)
	c.mu.Unlock()
	if ok {
		closeAsync(e.client)
	}
}

func closeAsync(cl sms.Client) {
	if cl == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = cl.Close(ctx)
	}()
}

// LearnedBatchSize returns the batch size the provider taught (0 = none yet).
func (c *Cache) LearnedBatchSize(key types.NamespacedName) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.learned
	}
	return 0
}

// LoadLearnedBatchSize seeds the learned size from status after a restart; a size learned in memory wins.
func (c *Cache) LoadLearnedBatchSize(key types.NamespacedName, size int32) {
	if size <= 0 {
		return
	}
	e := c.entry(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.learned == 0 {
		e.learned = size
	}
}

// Learn records a size from a TooMany fault and reports whether it changed what was known.
func (c *Cache) Learn(key types.NamespacedName, size int32) bool {
	if size <= 0 {
		size = 1
	}
	e := c.entry(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.learned == size {
		return false
	}
	e.learned = size
	return true
}

// Primed reports whether the task accounting for key was rebuilt from status since the process started.
func (c *Cache) Primed(key types.NamespacedName) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return ok && e.primed
}

// Prime rebuilds the task accounting for key from status: owner -> task refs recorded in Syncing groups.
// Only the first call per key takes effect (check and prime are one step), and it never overwrites an
// owner this process already set (SetTasks, a committed Slot, ForgetOwner): status read before that
// is older than what the owner itself recorded, and writing it back would leak a slot.
func (c *Cache) Prime(key types.NamespacedName, tasks map[string][]string) {
	e := c.entry(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.primed {
		return
	}
	for owner, refs := range tasks {
		if _, ok := e.settled[owner]; ok {
			continue
		}
		e.setTasks(owner, refs)
	}
	e.primed, e.settled = true, nil
}

// SetTasks records the tasks one owner (a ReplicationSync) has in flight on key; empty removes the owner.
func (c *Cache) SetTasks(key types.NamespacedName, owner string, refs []string) {
	e := c.entry(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.settle(owner)
	e.setTasks(owner, refs)
}

// settle remembers, until the key is primed, that owner's accounting was set in this process.
func (e *entry) settle(owner string) {
	if e.primed {
		return
	}
	if e.settled == nil {
		e.settled = map[string]struct{}{}
	}
	e.settled[owner] = struct{}{}
}

func (e *entry) setTasks(owner string, refs []string) {
	if len(refs) == 0 {
		delete(e.tasks, owner)
		return
	}
	set := make(map[string]struct{}, len(refs))
	for _, r := range refs {
		set[r] = struct{}{}
	}
	e.tasks[owner] = set
}

func (e *entry) inFlight() int {
	all := map[string]struct{}{}
	for _, set := range e.tasks {
		for r := range set {
			all[r] = struct{}{}
		}
	}
	return len(all) + e.reserved
}

// ForgetOwner removes one owner's tasks from every provider (the ReplicationSync was deleted).
func (c *Cache) ForgetOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns, _, _ := strings.Cut(owner, "/")
	for key, e := range c.entries {
		if key.Namespace == ns {
			e.settle(owner) // a sync only uses providers of its namespace
		}
		delete(e.tasks, owner)
	}
}

// InFlight returns the distinct tasks in flight on key plus outstanding reservations.
func (c *Cache) InFlight(key types.NamespacedName) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.inFlight()
	}
	return 0
}

// Tasks returns the task refs one owner has in flight on key, sorted.
func (c *Cache) Tasks(key types.NamespacedName, owner string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(e.tasks[owner]))
	for r := range e.tasks[owner] {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Slot is a reservation of one in-flight task on a provider.
type Slot interface {
	// Commit turns the reservation into the task ref the provider returned.
	Commit(taskRef string)
	// Release gives the reservation back (the call failed).
	Release()
}

// Reserve takes one in-flight slot on key for owner if fewer than limit tasks are in flight.
func (c *Cache) Reserve(key types.NamespacedName, owner string, limit int) (Slot, bool) {
	e := c.entry(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit > 0 && e.inFlight() >= limit {
		return nil, false
	}
	e.reserved++
	return &slot{c: c, e: e, owner: owner}, true
}

type slot struct {
	c     *Cache
	e     *entry
	owner string
	done  bool
}

func (s *slot) Commit(taskRef string) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if !s.end() {
		return
	}
	s.e.settle(s.owner)
	set, ok := s.e.tasks[s.owner]
	if !ok {
		set = map[string]struct{}{}
		s.e.tasks[s.owner] = set
	}
	set[taskRef] = struct{}{}
}

func (s *slot) Release() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.end()
}

// end gives the reserved slot back the first time it is called and reports whether it did; callers
// hold c.mu.
func (s *slot) end() bool {
	if s.done {
		return false
	}
	s.done = true
	s.e.reserved--
	return true
}
