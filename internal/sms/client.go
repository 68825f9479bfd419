package sms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

const (
	// Path is the SOAP endpoint of SMS.
	Path = "/sms/sdk"
	// Namespace is the SMS namespace (sent as urn:sms).
	Namespace = "sms"
	// maxIdleConnsPerHost keeps a connection per concurrent caller of a session (reconcile workers).
	maxIdleConnsPerHost = 32
	// idleConnTimeout closes connections idle that long, as Go's default transport does: without it the
	// connections of a replaced session would stay open for good.
	idleConnTimeout = 90 * time.Second
)

// serviceInstance is the SMS service instance reference.
var serviceInstance = vimtypes.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"}

// client implements Client over one vCenter session that is re-established when it expires.
type client struct {
	cfg     Config
	baseURL *url.URL // scheme://host
	vimURL  *url.URL // scheme://host/sdk

	mu        sync.RWMutex // guards the fields below
	gen       uint64       // incremented at each login
	vcSession              // the current session

	closed bool
	// broken is why a re-login failed for good: its *LoginError (retrying rejected credentials on each
	// call would lock the SSO account), or ErrVCenterChanged. Once set, every call fails fast with it and
	// the client never contacts vCenter again. Callers Dial a new client.
	broken error
	// loggingIn is the login in flight, if any: callers that need a new session meanwhile wait for it.
	loggingIn *loginCall
}

// vcSession is what one login opened.
type vcSession struct {
	vc   *vim25.Client     // SOAP binding: the vim25 session
	js   *jsonTransport    // JSON binding: the VI/JSON session
	rt   soap.RoundTripper // SMS round tripper (SOAP service client or JSON transport)
	list soap.RoundTripper // the same session bounded by Config.ListTimeout, for listing every group
	sm   vimtypes.ManagedObjectReference
	info ServerInfo
}

// ErrVCenterChanged is returned (wrapped) when a re-login reaches another vCenter than the client's first
// login did (another AboutInfo.instanceUuid at the same url: a vCenter rebuilt, a DNS name moved): task and
// provider moIds handed out by the first may name other objects on it. The client stops as after rejected
// credentials; a new one (Dial) belongs to the vCenter it reaches.
var ErrVCenterChanged = errors.New("the url now reaches another vCenter")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("sms client is closed")

// ErrNotSent is returned (wrapped) for a call that certainly did not run: the server refused its session
// (NotAuthenticated) and the new login failed; or the call's context ended before it was sent (as while
// it waited for a login). Retry it later; nothing counts against its groups. The cause stays reachable
// with errors.Is and errors.As.
var ErrNotSent = errors.New("call not sent")

// ErrNoTimeLeft is returned (wrapped) for a sync call not sent because its context's deadline left less
// than a round trip may take (Config.Timeout), as after a slow re-login. It wraps ErrNotSent.
var ErrNoTimeLeft = fmt.Errorf("%w: less than a round trip left before the caller's deadline", ErrNotSent)

// ErrSessionRejected is returned (wrapped) when the server refused a call's session (NotAuthenticated)
// again right after a new login. It wraps ErrNotSent.
var ErrSessionRejected = fmt.Errorf("%w: session expired again right after logging in", ErrNotSent)

// Dial logs in to the vCenter described by cfg and opens its SMS service.
// It returns *LoginError, *TLSError or *UnreachableError when that is the cause.
func Dial(ctx context.Context, cfg Config) (Client, error) {
	if cfg.Binding == "" {
		cfg.Binding = BindingSOAP
	}
	if cfg.Binding != BindingSOAP && cfg.Binding != BindingJSON {
		return nil, fmt.Errorf("unknown binding %q (want SOAP or JSON)", cfg.Binding)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ListTimeout <= 0 {
		cfg.ListTimeout = DefaultListTimeout
	}
	base, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	vimURL := *base
	vimURL.Path = vim25.Path
	c := &client{cfg: cfg, baseURL: base, vimURL: &vimURL}
	if err := c.login(ctx, 0); err != nil {
		return nil, err
	}
	return c, nil
}

// classify wraps transport errors as *TLSError or *UnreachableError; faults pass through.
func (c *client) classify(err error) error {
	if err == nil {
		return nil
	}
	if Answered(err) {
		return err
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return re // without http.Client's wrapping, which quotes the Location whole
	}
	if isTLSError(err) {
		return &TLSError{Host: c.baseURL.Host, Err: err}
	}
	if soap.IsSoapFault(err) || soap.IsVimFault(err) {
		return err
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return &UnreachableError{URL: c.baseURL.String(), Err: err}
	}
	return err
}

// roundTripBound is the longest a round trip may take: the longer of Config.Timeout and ListTimeout.
func (c *client) roundTripBound() time.Duration {
	return max(c.cfg.Timeout, c.cfg.ListTimeout)
}

// current returns the SMS round tripper of the current session (the one bounded by ListTimeout if
// listing) and its generation.
func (c *client) current(listing bool) (soap.RoundTripper, vimtypes.ManagedObjectReference, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, vimtypes.ManagedObjectReference{}, 0, ErrClosed
	}
	if c.broken != nil {
		return nil, vimtypes.ManagedObjectReference{}, 0, brokenError(c.broken)
	}
	if listing {
		return c.list, c.sm, c.gen, nil
	}
	return c.rt, c.sm, c.gen, nil
}

// callKind tells calls apart where the client treats them differently.
type callKind int

const (
	// query changes nothing at the provider: one cut off by its caller's deadline costs nothing.
	query callKind = iota
	// listing is a query of every group, bounded by ListTimeout instead of Timeout.
	listing
	// syncCall starts a task: one cut off after the provider took it leaves its outcome unknown.
	syncCall
)

// call runs the query f with the current session; on NotAuthenticated it logs in again and retries once.
func (c *client) call(ctx context.Context, f func(rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) error) error {
	return c.callOn(ctx, query, f)
}

// callOn is call for a call of that kind.
func (c *client) callOn(ctx context.Context, kind callKind, f func(rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) error) error {
	rt, sm, gen, err := c.current(kind == listing)
	if err != nil {
		return err
	}
	if err := c.notSentYet(ctx, kind); err != nil {
		return err
	}
	err = c.classify(decodeCallError(attempt(f, rt, sm)))
	var na *notAuthenticatedError
	if !errors.As(err, &na) {
		return err
	}
	// The call was refused before it ran: whatever stops the new login, nothing was sent.
	if lerr := c.login(ctx, gen); lerr != nil {
		var le *LoginError
		switch {
		case errors.As(lerr, &le), errors.Is(lerr, ErrVCenterChanged):
			return brokenError(lerr)
		case errors.As(lerr, &na):
			// Not wrapped: a NotAuthenticated fault is no provider fault to count against the groups.
			return fmt.Errorf("%w: re-establishing expired session: %s", ErrSessionRejected, na.Error())
		}
		return fmt.Errorf("%w: re-establishing expired session: %w", ErrNotSent, lerr)
	}
	if rt, sm, _, err = c.current(kind == listing); err != nil {
		return err
	}
	if err := c.notSentYet(ctx, kind); err != nil {
		return err
	}
	err = c.classify(decodeCallError(attempt(f, rt, sm)))
	if errors.As(err, &na) {
		// Not a provider fault: callers must retry later, not count it against the groups.
		return fmt.Errorf("%w: %s", ErrSessionRejected, na.Error())
	}
	return err
}

// attempt runs f on rt and sm; a panic in it (a malformed answer) is its error.
func attempt(f func(rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) error, rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) (err error) {
	defer recoverAnswer(&err)
	return f(rt, sm)
}

// notSentYet returns the error of a call that is not to be sent, or nil: its context ended, or, for a sync
// call, its deadline leaves less than a round trip may take (Config.Timeout). Sent anyway, the first would
// fail before a byte went out, with an error that cannot tell it never reached vCenter; the second could
// be cut off after the provider took it, leaving its outcome unknown, where not sending it is certain.
// That happens to the retry after a slow re-login and to the last calls of a wave that waited for a free
// connection: both start late within their caller's bound.
func (c *client) notSentYet(ctx context.Context, kind callKind) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if deadline, ok := ctx.Deadline(); ok && kind == syncCall && time.Until(deadline) < c.cfg.Timeout {
		return fmt.Errorf("%w (%s left, a round trip may take %s)", ErrNoTimeLeft, time.Until(deadline).Round(time.Millisecond), c.cfg.Timeout)
	}
	return nil
}

// brokenError wraps why a re-login failed for good for the caller.
func brokenError(err error) error {
	return fmt.Errorf("re-establishing expired session (the client is unusable until a new one is dialed): %w", err)
}

// Close logs out of vCenter. A login in flight logs out of its new session when it ends.
func (c *client) Close(ctx context.Context) error {
	c.mu.Lock()
	s := c.vcSession
	c.vc, c.js, c.closed = nil, nil, true
	c.mu.Unlock()
	return c.logout(ctx, s)
}

// logout ends session s and closes its idle connections.
func (c *client) logout(ctx context.Context, s vcSession) (err error) {
	defer recoverAnswer(&err)
	switch {
	case s.vc != nil:
		err = session.NewManager(s.vc).Logout(ctx)
		s.vc.CloseIdleConnections()
	case s.js != nil:
		err = s.js.logout(ctx)
		s.js.http.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("logging out: %w", c.classify(decodeCallError(err)))
	}
	return nil
}
