package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// closeTimeout bounds the logout of a replaced or forgotten session.
const closeTimeout = 10 * time.Second

// RefusedLoginHold is how long a login vCenter refused is answered from memory for the same fingerprint,
// without dialing. vCenter's default lockout policy locks an account after 5 failed logins within 3
// minutes, and every reconcile that needs the session (each ReplicationSync, discovery, the provider's
// own check) would otherwise try the same wrong password again. A changed Secret is a new fingerprint
// and dials at once; a password fixed in vCenter alone is tried again after the hold.
const RefusedLoginHold = time.Minute

// Dialer opens a new SMS session; the cache calls it when it has none for a key or the fingerprint changed.
type Dialer func(ctx context.Context) (sms.Client, error)

// Cache holds one SMS session per VasaProvider, shared by every reconciler of one manager. It is safe for concurrent use.
// The zero value is not usable; call New.
type Cache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*entry
	now     func() time.Time
}

type entry struct {
	dialMu      sync.Mutex // serializes dialing for one key, so concurrent callers share one login
	client      sms.Client
	fingerprint string
	refused     refusal // the last login vCenter refused, while it is held
}

// refusal is a login vCenter refused for a fingerprint.
type refusal struct {
	fingerprint string
	err         error
	at          time.Time
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{entries: map[types.NamespacedName]*entry{}, now: time.Now}
}

func (c *Cache) entry(key types.NamespacedName) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		e = &entry{}
		c.entries[key] = e
	}
	return e
}

// Client returns the cached session for key when it was opened with the same fingerprint, otherwise it
// logs the old one out and dials a new one. The fingerprint covers everything the session depends on
// (the VasaProvider's connection spec and the Secrets' resourceVersions), never the secret values. A login
// refused for this fingerprint less than RefusedLoginHold ago is answered with the same error.
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
	refused := e.refused
	c.mu.Unlock()
	closeAsync(old)
	if refused.fingerprint == fingerprint && c.now().Sub(refused.at) < RefusedLoginHold {
		return nil, refused.err
	}

	cl, err := dial(ctx)
	var le *sms.LoginError
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.As(err, &le):
		e.refused = refusal{fingerprint: fingerprint, err: err, at: c.now()}
		return nil, err
	case err != nil:
		return nil, err
	}
	if c.entries[key] != e {
		// Forgotten while it dialed (its VasaProvider was deleted): no one would ever log it out.
		closeAsync(cl)
		return nil, ErrForgotten
	}
	e.client, e.fingerprint, e.refused = cl, fingerprint, refusal{}
	return cl, nil
}

// ErrForgotten is returned by Client when the session's key was forgotten while it was being opened.
var ErrForgotten = errors.New("the VasaProvider's session was dropped while it was opened (the VasaProvider is being deleted)")

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

// Invalidate logs out and drops the session for key.
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

// Forget logs out and drops the session for key (the VasaProvider was deleted).
func (c *Cache) Forget(key types.NamespacedName) {
	c.mu.Lock()
	e, ok := c.entries[key]
	delete(c.entries, key)
	c.mu.Unlock()
	if ok {
		closeAsync(e.client)
	}
}

// CloseAll logs out of every session, at once, and waits for the logouts until ctx ends. The manager
// calls it as it exits: a session left open counts against vCenter's session limit until its idle
// timeout (30 minutes by default), and every restart or rollout would leave one per VasaProvider.
func (c *Cache) CloseAll(ctx context.Context) {
	c.mu.Lock()
	entries := c.entries
	c.entries = map[types.NamespacedName]*entry{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		if cl := e.client; cl != nil {
			wg.Go(func() { _ = cl.Close(ctx) })
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
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
