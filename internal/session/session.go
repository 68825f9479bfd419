package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// closeTimeout bounds the logout of a replaced or forgotten session.
const closeTimeout = 10 * time.Second

// RefusedLoginHold is how long a login vCenter refused is answered from memory for the same account,
// without dialing. vCenter's default lockout policy locks an account after 5 failed logins within 3
// minutes, and every reconcile that needs a session (each ReplicationSync, discovery, the provider's
// own check, of every VasaProvider that uses the account) would otherwise try the same wrong password
// again. A changed password is another account and dials at once; a password fixed in vCenter alone is
// tried again after the hold.
const RefusedLoginHold = time.Minute

// Refusals of an account's logins, whatever the passwords: vCenter's default lockout policy counts 5
// failed logins within 3 minutes. Different wrong passwords for one account (VasaProviders of several
// namespaces naming it) each go out once per RefusedLoginHold, so more than refusalBudget refused within
// refusalWindow hold every password of the account until the oldest of them leaves the window. That
// leaves room for a person's own tries. While VasaProviders of several namespaces try the account, the
// last refusal of the budget goes to the namespace refused longest ago (never, first), so that namespaces
// trying wrong passwords whenever a refusal leaves the window take turns with, and cannot keep from being
// tried, another's right one (after a restart no password is known as accepted).
const (
	refusalWindow = 3 * time.Minute
	refusalBudget = 3
)

// forgottenHold is how long Client refuses a forgotten key when no VasaProvider check opened it again:
// longer than a reconcile holds a VasaProvider it read before reaching Client (a discovery's listing is
// bounded by 5 minutes). It only bounds the memory of deleted VasaProviders.
const forgottenHold = 10 * time.Minute

// Dialer opens a new SMS session; the cache calls it when it has none for a key or the fingerprint changed.
type Dialer func(ctx context.Context) (sms.Client, error)

// Login is what a session is opened with: Fingerprint covers everything the session depends on (the
// VasaProvider's connection spec and the Secrets' resourceVersions), Account who logs in (the vCenter and
// the user) and Credential the password, as a keyed digest (see LoginOf). None holds a secret value.
type Login struct {
	Fingerprint, Account, Credential string
}

// Cache holds one SMS session per VasaProvider, shared by every reconciler of one manager. It is safe for concurrent use.
// The zero value is not usable; call New.
type Cache struct {
	mu       sync.Mutex
	entries  map[types.NamespacedName]*entry
	accounts map[string]*account
	// forgotten are the keys Forget dropped, and when: Client refuses them until Reopen (or forgottenHold).
	forgotten map[types.NamespacedName]time.Time
	now       func() time.Time
}

type entry struct {
	client      sms.Client
	fingerprint string
	opened      time.Time // when client logged in
	dialing     *dialing  // the login in flight for this key, nil when none
	// accepted is the login vCenter last accepted for this key, until it or another password of its
	// account is refused, or another password of the account is accepted.
	accepted Login
}

// dialing is a login in flight: callers that need the same fingerprint meanwhile wait for it and share
// its outcome, a failure too. A vCenter that does not answer then costs one login timeout, not one per
// caller in turn (every sync worker of the manager could be queued on one vCenter).
type dialing struct {
	fingerprint string
	done        chan struct{}
	client      sms.Client
	err         error
	// abandoned: the dialing caller's own context ended, so its error says nothing about vCenter.
	abandoned bool
}

// account is one vCenter account, whichever VasaProviders log in with it: they log in one at a time, a
// refusal of a password holds them all, and a login that failed while others waited their turn fails
// theirs too. Five VasaProviders on one Secret with a wrong password would otherwise make five failed
// logins at once, enough to lock the account; on a vCenter that does not answer, five login timeouts
// in a row.
type account struct {
	turn    chan struct{} // holds a token while one of its logins is in flight
	refused refusal       // the last refused password, while it is held
	failed  error         // the last login that failed, however
	fails   uint64        // how many failed so far
	users   int           // logins of it in flight or waiting their turn
	// refusedAt are the times of its refused logins within refusalWindow, oldest first.
	refusedAt []time.Time
	// namespaces are the namespaces whose VasaProviders asked for the account's turn within refusalWindow.
	namespaces map[string]*namespaceLogins
}

// namespaceLogins is when a namespace's VasaProviders last asked for an account's turn, and when vCenter
// last refused one of their logins (zero: not since they began asking).
type namespaceLogins struct {
	tried, refused time.Time
}

// refusalsLeft drops the refusals older than refusalWindow and reports when a login of namespace may
// try the account again with any password: now (nil), or once the refusal that holds it leaves the
// window (the AccountHeldError to answer until then).
func (a *account) refusalsLeft(now time.Time, namespace string) *AccountHeldError {
	for len(a.refusedAt) > 0 && now.Sub(a.refusedAt[0]) >= refusalWindow {
		a.refusedAt = a.refusedAt[1:]
	}
	// The last refusal of the budget goes to the namespace refused longest ago (or never) of those trying.
	var mine time.Time // zero: never refused, or not asking (idle's sweep)
	if l := a.namespaces[namespace]; l != nil {
		mine = l.refused
	}
	shared, first := false, true
	for ns, l := range a.namespaces {
		switch {
		case now.Sub(l.tried) >= refusalWindow:
			delete(a.namespaces, ns)
		case ns != namespace:
			shared = true
			first = first && !l.refused.Before(mine)
		}
	}
	held := len(a.refusedAt) >= refusalBudget
	kept := !held && shared && !first && len(a.refusedAt) >= refusalBudget-1
	if !held && !kept {
		return nil
	}
	return &AccountHeldError{Refused: len(a.refusedAt), Window: refusalWindow, Until: a.refusedAt[0].Add(refusalWindow), Shared: kept}
}

// idle reports whether the account may be dropped at now: no login of it in flight or waiting its turn,
// and no refusal within refusalWindow (nor held). A later login makes it anew and loses nothing; dropped
// with refusals in the window, it would start a fresh budget and let vCenter's lockout be reached.
func (a *account) idle(now time.Time) bool {
	_ = a.refusalsLeft(now, "") // drops the refusals (and tries) that left the window
	return a.users == 0 && len(a.refusedAt) == 0 && (a.refused.err == nil || now.Sub(a.refused.at) >= RefusedLoginHold)
}

// refusal is a login vCenter refused, for the password of credential.
type refusal struct {
	credential string
	err        error
	at         time.Time
}

// New returns an empty cache.
func New() *Cache { return NewWithClock(time.Now) }

// NewWithClock returns an empty cache that tells time by now: when its sessions were opened, how long a
// refused login is held.
func NewWithClock(now func() time.Time) *Cache {
	return &Cache{entries: map[types.NamespacedName]*entry{}, accounts: map[string]*account{},
		forgotten: map[types.NamespacedName]time.Time{}, now: now}
}

// accountKey makes account ids unguessable from memory: a digest of a password with no secret key could
// be checked against guesses.
var accountKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// LoginOf is the login of fingerprint by username at host with password. The accounts the cache keeps
// are as many as the vCenters and users (not passwords, which may rotate every hour). vSphere SSO takes
// a user name in any case, as DOMAIN\user as well as user@domain, and without its domain for SSO's
// default one: every spelling is one account. Users of one name in two domains share a budget too,
// which holds their logins sooner, never later.
func LoginOf(fingerprint, host, username, password string) Login {
	m := hmac.New(sha256.New, accountKey)
	m.Write([]byte(password))
	return Login{Fingerprint: fingerprint, Account: host + "\x00" + accountName(username), Credential: hex.EncodeToString(m.Sum(nil))}
}

// accountName spells a vCenter user name one way: lower case, without its domain (DOMAIN\user or
// user@domain).
func accountName(username string) string {
	name := strings.ToLower(strings.TrimSpace(username))
	if _, user, ok := strings.Cut(name, `\`); ok {
		name = user
	}
	user, _, _ := strings.Cut(name, "@")
	return user
}

// Client returns the cached session for key when it was opened with the same fingerprint, otherwise it
// logs the old one out and dials a new one. Callers that arrive while a login of the same fingerprint
// is in flight share its outcome. A login refused for the same account less than RefusedLoginHold ago
// is answered with the same error. A key Forget dropped is refused (ErrForgotten) until Reopen.
func (c *Cache) Client(ctx context.Context, key types.NamespacedName, login Login, dial Dialer) (sms.Client, error) {
	for {
		c.mu.Lock()
		if c.refuses(key) {
			c.mu.Unlock()
			return nil, ErrForgotten
		}
		e, ok := c.entries[key]
		if !ok {
			e = &entry{}
			c.entries[key] = e
		}
		if e.client != nil && e.fingerprint == login.Fingerprint {
			cl := e.client
			c.mu.Unlock()
			return cl, nil
		}
		if d := e.dialing; d != nil {
			c.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.fingerprint == login.Fingerprint && !d.abandoned {
				return d.client, d.err
			}
			continue // a login of another fingerprint, or one its caller gave up: look again
		}
		d := &dialing{fingerprint: login.Fingerprint, done: make(chan struct{})}
		old := e.client
		e.client, e.fingerprint, e.dialing = nil, "", d
		c.mu.Unlock()
		closeAsync(old)
		c.dialShared(ctx, key, e, d, login, dial)
		return d.client, d.err
	}
}

// dialShared dials d for entry e and ends it for everyone waiting on it, also when the dial panics (an
// answer the decoder chokes on): left in flight, it would hold every later caller for key for good.
func (c *Cache) dialShared(ctx context.Context, key types.NamespacedName, e *entry, d *dialing, login Login, dial Dialer) {
	defer func() {
		if p := recover(); p != nil {
			d.client, d.err = nil, fmt.Errorf("opening the SMS session failed: %v", p)
		}
		c.mu.Lock()
		e.dialing, d.abandoned = nil, d.err != nil && ctx.Err() != nil
		c.mu.Unlock()
		close(d.done)
	}()
	d.client, d.err = c.dial(ctx, key, e, login, dial)
}

// dial logs in for entry e of key in the account's turn (inTurn). The session's own re-logins, after
// vCenter ended it, go through the same turn (Relogin).
func (c *Cache) dial(ctx context.Context, key types.NamespacedName, e *entry, login Login, dial Dialer) (sms.Client, error) {
	var cl sms.Client
	err := c.inTurn(ctx, key.Namespace, login, func(ctx context.Context) error {
		var err error
		cl, err = dial(context.WithValue(ctx, reloginKey{}, c.relogin(key, e, login)))
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] != e {
		// Forgotten while it dialed (its VasaProvider was deleted): no one would ever log it out. A key
		// opened again meanwhile has an entry of its own.
		closeAsync(cl)
		return nil, ErrForgotten
	}
	e.client, e.fingerprint, e.opened = cl, login.Fingerprint, c.now()
	e.accepted = login
	return cl, nil
}

// inTurn runs a login of login's account, for a VasaProvider of namespace, in the account's turn, unless
// vCenter refused the same password less than RefusedLoginHold ago, the account's refusals hold every
// password not accepted before, or a login that failed while this one waited would fail it alike. It
// records what vCenter answered.
func (c *Cache) inTurn(ctx context.Context, namespace string, login Login, do func(ctx context.Context) error) error {
	c.mu.Lock()
	a, ok := c.accounts[login.Account]
	if !ok {
		a = &account{turn: make(chan struct{}, 1)}
		c.accounts[login.Account] = a
	}
	a.users++
	if a.namespaces == nil {
		a.namespaces = map[string]*namespaceLogins{}
	}
	if a.namespaces[namespace] == nil {
		a.namespaces[namespace] = &namespaceLogins{}
	}
	a.namespaces[namespace].tried = c.now()
	fails := a.fails
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		a.users--
		c.pruneAccounts()
		c.mu.Unlock()
	}()
	select {
	case a.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.turn }()
	c.mu.Lock()
	refused, failed, failedMeanwhile := a.refused, a.failed, a.fails != fails
	held := a.refusalsLeft(c.now(), namespace)
	accepted := c.wasAccepted(login)
	c.mu.Unlock()
	switch {
	case refused.err != nil && refused.credential == login.Credential && c.now().Sub(refused.at) < RefusedLoginHold:
		return refused.err
	case held != nil && !accepted:
		return held
	case failedMeanwhile && sharesFailure(failed, login.Credential, refused):
		return failed // failed while this caller waited its turn: vCenter would answer it alike
	}

	err := do(ctx)
	var le *sms.LoginError
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
		return err // its caller gave up: that says nothing about vCenter
	case errors.As(err, &le):
		a.refused = refusal{credential: login.Credential, err: err, at: c.now()}
		a.refusedAt = append(a.refusedAt, c.now())
		if l := a.namespaces[namespace]; l != nil {
			l.refused = c.now()
		}
		a.failed, a.fails = err, a.fails+1
		c.refuse(login)
		return err
	case err != nil:
		a.failed, a.fails = err, a.fails+1
		return err
	}
	a.refused, a.failed = refusal{}, nil
	c.accept(login)
	return nil
}

// reloginKey carries, in the context a Dialer gets, the function its client's re-logins go through.
type reloginKey struct{}

// ReloginFrom returns, from the context a Dialer got, what its client's re-logins after vCenter ended the
// session must go through (sms.Config.Relogin), or nil. Five clients of one account whose sessions vCenter
// ended at once (a restart in a failover) would otherwise each try a password changed in vCenter: five
// refusals, and the account locked.
func ReloginFrom(ctx context.Context) func(context.Context, func(context.Context) error) error {
	f, _ := ctx.Value(reloginKey{}).(func(context.Context, func(context.Context) error) error)
	return f
}

// relogin is the ReloginFrom of login's sessions, for entry e of key: inTurn, a hold told as a refused
// login, which stops the client as a refused re-login does (the VasaProvider's check then logs in anew,
// held or not). One that succeeds marks login accepted for e again, as its first login did: a refusal
// of the same password in between (vCenter's SSO restarting) must not leave it held by others' refusals.
func (c *Cache) relogin(key types.NamespacedName, e *entry, login Login) func(context.Context, func(context.Context) error) error {
	return func(ctx context.Context, do func(context.Context) error) error {
		err := c.inTurn(ctx, key.Namespace, login, do)
		if held := (*AccountHeldError)(nil); errors.As(err, &held) {
			return &sms.LoginError{Err: held}
		}
		if err == nil {
			c.mu.Lock()
			if c.entries[key] == e && e.fingerprint == login.Fingerprint {
				e.accepted = login
			}
			c.mu.Unlock()
		}
		return err
	}
}

// accept records that vCenter accepted login's password, the one password of its account that works:
// the keys that logged in to the account with another password lose theirs. Callers hold c.mu.
func (c *Cache) accept(login Login) {
	for _, e := range c.entries {
		if e.accepted.Account == login.Account && e.accepted.Credential != login.Credential {
			e.accepted = Login{}
		}
	}
}

// refuse records that vCenter refused login's password (changed or expired there): no key keeps it as
// accepted. Callers hold c.mu.
func (c *Cache) refuse(login Login) {
	for _, e := range c.entries {
		if e.accepted.Account == login.Account && e.accepted.Credential == login.Credential {
			e.accepted = Login{}
		}
	}
}

// wasAccepted reports whether vCenter accepted login's password for its account since the account's last
// refusal. Such a login is tried even while other passwords' refusals hold the account: VasaProviders of
// another namespace naming the same user with wrong passwords must not lock out one that works. It adds
// at most one refusal to the budget (the password changed in vCenter meanwhile), since an account has
// one accepted password at a time. Callers hold c.mu.
func (c *Cache) wasAccepted(login Login) bool {
	for _, e := range c.entries {
		if e.accepted.Account == login.Account && e.accepted.Credential == login.Credential {
			return true
		}
	}
	return false
}

// sharesFailure reports whether failed, a login of the account that failed while another waited its
// turn, answers the waiting one too: vCenter or its SMS service not answering, or the same password
// refused. A new password is tried, and so is a VasaProvider whose own settings differ from the one
// that failed on them (its TLS pin or CA, a pinned SMS version or binding).
func sharesFailure(failed error, credential string, refused refusal) bool {
	var (
		le *sms.LoginError
		ue *sms.UnreachableError
		su *sms.ServiceUnavailableError
	)
	if errors.As(failed, &le) {
		return refused.credential == credential
	}
	return errors.As(failed, &ue) || errors.As(failed, &su)
}

// pruneAccounts drops the idle accounts: an account is kept per vCenter and user ever logged in with
// otherwise, VasaProviders and Secrets long deleted included. Callers hold c.mu.
func (c *Cache) pruneAccounts() {
	now := c.now()
	for name, a := range c.accounts {
		if a.idle(now) {
			delete(c.accounts, name)
		}
	}
}

// AccountHeldError is returned by Client, without a login, while the account had Refused logins refused
// within Window: another refusal could lock it in vCenter. The password of the caller was not tried; the
// refusals may be other VasaProviders' (other namespaces'), so it carries none of their errors.
type AccountHeldError struct {
	Refused int
	Window  time.Duration
	Until   time.Time
	// Shared: the account's last login of the window is kept for another namespace's VasaProviders,
	// refused longer ago than this one's.
	Shared bool
}

func (e *AccountHeldError) Error() string {
	if e.Shared {
		return fmt.Sprintf("not logging in before %s: vCenter refused %d logins of this account within %s, and the last login it may refuse before it locks the account (after 5 by default) goes to another namespace's VasaProviders, refused longer ago than this one's",
			e.Until.UTC().Format(time.RFC3339), e.Refused, e.Window)
	}
	return fmt.Sprintf("not logging in before %s: vCenter refused %d logins of this account within %s (it locks an account after 5 by default)",
		e.Until.UTC().Format(time.RFC3339), e.Refused, e.Window)
}

// ErrForgotten is returned by Client for a key that was forgotten before or while its session was opened.
var ErrForgotten = errors.New("the VasaProvider's session was dropped (the VasaProvider is being deleted)")

// refuses reports whether Client refuses key: Forget dropped it less than forgottenHold ago, and no
// Reopen came since. Callers hold c.mu.
func (c *Cache) refuses(key types.NamespacedName) bool {
	at, ok := c.forgotten[key]
	if ok && c.now().Sub(at) >= forgottenHold {
		delete(c.forgotten, key)
		return false
	}
	return ok
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

// Drop logs out and drops the session for key if it was opened before openedBefore, whatever its age if
// openedBefore is zero, and reports whether it did; the next caller logs in anew. A session kept alive
// by use outlives any change of its account in vCenter (a password expired or changed there): only a
// new login shows that.
func (c *Cache) Drop(key types.NamespacedName, openedBefore time.Time) bool {
	c.mu.Lock()
	e, ok := c.entries[key]
	var old sms.Client
	if ok && e.client != nil && (openedBefore.IsZero() || e.opened.Before(openedBefore)) {
		old, e.client, e.fingerprint = e.client, nil, ""
	}
	c.mu.Unlock()
	closeAsync(old)
	return old != nil
}

// Forget logs out and drops the session for key (the VasaProvider was deleted, or is being deleted).
// Client refuses key from then on, until Reopen: a run or discovery that read the VasaProvider before
// it went would otherwise log in again under a key that nothing logs out any more.
func (c *Cache) Forget(key types.NamespacedName) {
	c.mu.Lock()
	e, ok := c.entries[key]
	delete(c.entries, key)
	now := c.now()
	for k, at := range c.forgotten {
		if now.Sub(at) >= forgottenHold {
			delete(c.forgotten, k)
		}
	}
	c.forgotten[key] = now
	c.pruneAccounts()
	c.mu.Unlock()
	if ok {
		closeAsync(e.client)
	}
}

// Reopen lets Client open sessions for key again: a VasaProvider of that name exists, checked by its
// own reconciler (created again after one was deleted). The runs and discoveries of a VasaProvider
// reach Client only once its check made it Ready, so after the Reopen.
func (c *Cache) Reopen(key types.NamespacedName) {
	c.mu.Lock()
	delete(c.forgotten, key)
	c.mu.Unlock()
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
