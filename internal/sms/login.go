package sms

// Logging in: the vim25 session (SOAP or VI/JSON) and the SMS version agreed for it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// newSOAPClient builds a soap.Client for /sdk with our TLS and timeout settings.
func (c *client) newSOAPClient() (*soap.Client, error) {
	sc := soap.NewClient(c.vimURL, c.cfg.InsecureSkipVerify)
	tc, err := tlsConfig(c.cfg, c.baseURL.Hostname())
	if err != nil {
		return nil, fmt.Errorf("tls configuration: %w", err)
	}
	t := sc.DefaultTransport()
	t.TLSClientConfig = tc
	t.DialTLS = nil //nolint:staticcheck // soap.NewClient sets it; our DialTLSContext replaces it
	t.DialTLSContext = tlsDialer(tc, &net.Dialer{Timeout: c.cfg.Timeout})
	// Each http.Client bounds its whole round trip (Config.Timeout or ListTimeout); the transport, shared
	// by both, must not cut the longer one short.
	t.ResponseHeaderTimeout = c.roundTripBound()
	// One session serves every run of the provider at once: with Go's default of 2 idle connections,
	// most calls would pay a new TLS handshake (on both ends).
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	// HTTP/1.1 whatever GOVMOMI_HTTP2 says: there net/http sends a request again (rewindable) only when
	// none of it was written; over HTTP/2 it may after the server took it.
	t.ForceAttemptHTTP2 = false
	sc.Client.Timeout = c.cfg.Timeout
	sc.Client.Transport = statusTransport{base: connTransport{t}, limit: maxAnswerBytes}
	sc.Client.CheckRedirect = refuseRedirect
	return sc, nil
}

// loginCall is a login in flight.
type loginCall struct {
	done    chan struct{} // closed when the login has ended
	err     error         // its result, set before done is closed
	waiters int           // callers that came to wait for it (under client.mu; for tests)
}

// login creates a new session unless another goroutine already replaced generation gen, or waits for the
// result of the login in flight. c.mu is not held during the login's round trips, so that calls on the
// current session are not held up meanwhile (and their contexts not ignored); one login serves every
// caller whose session expired.
func (c *client) login(ctx context.Context, gen uint64) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.broken != nil:
		c.mu.Unlock()
		return c.broken // another goroutine's re-login was rejected: do not try again
	case c.gen != gen:
		c.mu.Unlock()
		return nil // someone else logged in meanwhile
	}
	if lc := c.loggingIn; lc != nil {
		lc.waiters++
		c.mu.Unlock()
		select {
		case <-lc.done:
			if isContextError(lc.err) && ctx.Err() == nil {
				return c.login(ctx, gen) // the caller that logged in gave up, not the login: try with ours
			}
			return lc.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	lc := &loginCall{done: make(chan struct{})}
	c.loggingIn = lc
	prev := c.info
	c.mu.Unlock()

	// A login makes 3 round trips (SOAP: the ServiceContent, Login, QueryStorageManager; VI/JSON: Login,
	// the ServiceContent, QueryStorageManager), and one more per SMS version or release path refused.
	var s vcSession
	once := func(ctx context.Context) error {
		if c.isClosed() {
			return ErrClosed // closed while this login waited its account's turn (Config.Relogin)
		}
		return c.inAll(ctx, "logging in", func(ctx context.Context) (err error) {
			s, err = c.loginOnce(ctx, prev)
			return withoutPassword(err, c.cfg.Password)
		})
	}
	var err error
	if gen != 0 && c.cfg.Relogin != nil {
		err = c.cfg.Relogin(ctx, once)
	} else {
		err = once(ctx)
	}
	return c.finishLogin(ctx, gen, lc, s, err)
}

// wholeRoundTrips bounds an operation of several round trips (a login, the listing of the providers), in
// round trips of Config.Timeout (2 minutes at the default): bounding only each, a server answering each
// just in time, or naming as many providers as it likes, would hold its caller (a reconcile worker) for
// as long as it likes; a login for 14 round trips, 7 minutes.
const wholeRoundTrips = 4

// inAll runs f, named what, given at most wholeRoundTrips of Config.Timeout in all. One that runs out of
// it fails as *UnreachableError, not as a context error: a login's waiters must not log in again for as
// long.
func (c *client) inAll(ctx context.Context, what string, f func(ctx context.Context) error) error {
	d := wholeRoundTrips * c.cfg.Timeout
	tooLong := errors.New(what + " ran out of time")
	ctx, cancel := context.WithTimeoutCause(ctx, d, tooLong)
	defer cancel()
	err := f(ctx)
	if err != nil && errors.Is(context.Cause(ctx), tooLong) {
		err = &UnreachableError{URL: c.baseURL.String(), Err: fmt.Errorf("%s took longer than %s", what, d)}
	}
	return err
}

// loginOnce opens a session with the configured binding; prev is what the last session learned. A panic
// in it (a malformed answer) is its error: the callers waiting for the login must learn how it ended.
func (c *client) loginOnce(ctx context.Context, prev ServerInfo) (s vcSession, err error) {
	defer recoverAnswer(&err)
	if c.cfg.Binding == BindingJSON {
		return c.loginJSON(ctx)
	}
	return c.loginSOAP(ctx, prev)
}

// finishLogin installs the session of a login that succeeded, records what a failed one means, and
// hands the result to the callers waiting for it.
// It returns the login's error.
func (c *client) finishLogin(ctx context.Context, gen uint64, lc *loginCall, s vcSession, err error) error {
	c.mu.Lock()
	var (
		le *LoginError
		su *ServiceUnavailableError
	)
	closed := err == nil && c.closed
	moved := err == nil && gen != 0 && OtherVCenter(c.info.VCenterInstanceUUID, s.info.VCenterInstanceUUID)
	switch {
	case closed:
		err = ErrClosed
	case moved:
		err = fmt.Errorf("%w (instanceUuid %s, was %s)", ErrVCenterChanged, s.info.VCenterInstanceUUID, c.info.VCenterInstanceUUID)
		c.broken, c.vc, c.js, c.rt, c.list = err, nil, nil, nil, nil
	case err == nil:
		c.vcSession = s
		c.gen++
	case errors.As(err, &le) && gen != 0:
		// A re-login: the credentials no longer work. Mark the client broken; the expired
		// session needs no logout, so Close does not contact vCenter either.
		c.broken, c.vc, c.js, c.rt, c.list = le, nil, nil, nil, nil
	case errors.As(err, &su) && gen != 0 && su.MayHaveRun:
		err = metByRelogin(err, su) // the re-login met it, not the call that needed it, which was refused before it ran
	}
	c.loggingIn, lc.err = nil, err
	close(lc.done)
	c.mu.Unlock()
	if closed || moved {
		c.logoutQuietly(ctx, s) // Close ran meanwhile and logged out of the old session only; or s is not ours
	}
	return err
}

// isClosed reports whether Close was called.
func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// OtherVCenter reports two vCenter instanceUuids that are both known and differ: another vCenter, whose
// task and provider moIds name other objects ("" is a vCenter that reports none, told apart from none).
func OtherVCenter(a, b string) bool { return a != "" && b != "" && a != b }

// isContextError reports whether err is a context's cancellation or deadline.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// invalidLogin is the LoginError of rejected credentials.
func (c *client) invalidLogin() *LoginError {
	return &LoginError{Username: c.cfg.Username, Err: errors.New("invalid username or password")}
}

// loginSOAP logs in on /sdk and negotiates the SMS version on /sms/sdk, newest first; prev is what the
// last session learned.
func (c *client) loginSOAP(ctx context.Context, prev ServerInfo) (vcSession, error) {
	sc, err := c.newSOAPClient()
	if err != nil {
		return vcSession{}, err
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return vcSession{}, c.classify(err)
	}
	if vc.ServiceContent.SessionManager == nil {
		return vcSession{}, malformed("RetrieveServiceContent", "sessionManager")
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(c.cfg.Username, c.cfg.Password)); err != nil {
		if isInvalidLogin(err) {
			return vcSession{}, c.invalidLogin()
		}
		return vcSession{}, c.classify(err)
	}
	about := vc.ServiceContent.About
	tried := candidates(Versions, c.cfg.Version, about.ApiVersion)
	if prev.VCenterAPIVersion == about.ApiVersion {
		// A re-login to the same vCenter release starts at the version the last session agreed on, so
		// a release whose SMS lags behind its API version is not asked for a newer one at every login.
		if i := slices.Index(tried, prev.SMSVersion); i > 0 {
			tried = tried[i:]
		}
	}
	var last error
	for _, v := range tried {
		rt := c.smsSOAP(vc, v, c.cfg.Timeout, maxAnswerBytes)
		res, err := methods.QueryStorageManager(ctx, rt, &smstypes.QueryStorageManager{This: serviceInstance})
		if isVersionFault(err) {
			last = err
			continue
		}
		if err == nil && (res == nil || res.Returnval.Value == "") {
			err = malformed("QueryStorageManager", "storage manager")
		}
		if err != nil {
			c.logoutQuietly(ctx, vcSession{vc: vc})
			return vcSession{}, c.classify(decodeCallError(err))
		}
		return vcSession{
			vc: vc, rt: rt, list: c.smsSOAP(vc, v, c.cfg.ListTimeout, maxListingBytes), sm: res.Returnval,
			info: serverInfo(BindingSOAP, v, about),
		}, nil
	}
	c.logoutQuietly(ctx, vcSession{vc: vc})
	return vcSession{}, &VersionError{Tried: tried, Pinned: c.cfg.Version != "", Err: last}
}

// quietLogoutTimeout bounds the logout of a session a login leaves behind.
const quietLogoutTimeout = 10 * time.Second

// logoutQuietly ends a session a login opened but cannot use (no SMS version agreed, a failed call after
// it, Close or another vCenter meanwhile), so it does not linger in vCenter. Not cancelled with ctx: a
// login cut short by its deadline still logs out what it opened, or the session counts against
// vCenter's session limit until its idle timeout; but bounded.
func (c *client) logoutQuietly(ctx context.Context, s vcSession) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), quietLogoutTimeout)
	defer cancel()
	_ = c.logout(ctx, s)
}

// smsSOAP returns the SOAP service client of /sms/sdk sending SMS version v, each round trip bounded by d
// and each answer by limit bytes.
func (c *client) smsSOAP(vc *vim25.Client, version string, d time.Duration, limit int64) *soap.Client {
	sc := vc.NewServiceClient(Path, Namespace)
	sc.Version = version
	sc.Cookie = vc.SessionCookie // sent as the vcSessionCookie header
	sc.Client.Timeout = d
	sc.Client.Transport = statusTransport{base: connTransport{sc.Client.Transport}, limit: limit}
	sc.Client.CheckRedirect = refuseRedirect // a service client has its own http.Client
	return sc
}

// loginJSON logs in through the VI/JSON SessionManager on the newest release path the server serves.
func (c *client) loginJSON(ctx context.Context) (vcSession, error) {
	tc, err := tlsConfig(c.cfg, c.baseURL.Hostname())
	if err != nil {
		return vcSession{}, fmt.Errorf("tls configuration: %w", err)
	}
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// Through an HTTP(S) proxy, Go does the TLS handshake with vCenter with TLSClientConfig, not
		// with DialTLSContext: both must carry the pin and the CA bundle.
		TLSClientConfig:       tc,
		DialTLSContext:        tlsDialer(tc, &net.Dialer{Timeout: c.cfg.Timeout}),
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: c.roundTripBound(),
		TLSHandshakeTimeout:   c.cfg.Timeout,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
	}
	hc := &http.Client{Transport: connTransport{t}, Timeout: c.cfg.Timeout, CheckRedirect: refuseRedirect}
	tried := candidates(JSONReleases, c.cfg.Version, "")
	for _, release := range tried {
		js := &jsonTransport{base: c.baseURL, release: release, http: hc, limit: maxAnswerBytes}
		err := js.login(ctx, c.cfg.Username, c.cfg.Password)
		if errors.Is(err, errNotServed) || isVersionFault(err) {
			// Not served: HTTP 404, or (some 8.0 builds, for a newer release path) a refused version.
			continue
		}
		if err != nil {
			// A Login carries no session yet: an HTTP 401 answering it refuses its credentials.
			var na *notAuthenticatedError
			if isInvalidLogin(err) || errors.As(err, &na) {
				return vcSession{}, c.invalidLogin()
			}
			return vcSession{}, c.classify(decodeCallError(err))
		}
		about, err := js.about(ctx)
		if err == nil {
			var res *smstypes.QueryStorageManagerResponse
			res, err = methods.QueryStorageManager(ctx, js, &smstypes.QueryStorageManager{This: serviceInstance})
			if err == nil && res.Returnval.Value == "" {
				err = malformed("QueryStorageManager", "storage manager")
			}
			if err == nil {
				list := *js
				list.http = &http.Client{Transport: hc.Transport, Timeout: c.cfg.ListTimeout, CheckRedirect: refuseRedirect}
				list.limit = maxListingBytes
				return vcSession{js: js, rt: js, list: &list, sm: res.Returnval, info: serverInfo(BindingJSON, release, about)}, nil
			}
		}
		c.logoutQuietly(ctx, vcSession{js: js})
		return vcSession{}, c.classify(decodeCallError(err))
	}
	if c.cfg.Version != "" {
		return vcSession{}, &VersionError{Tried: tried, Pinned: true, Err: ErrJSONUnsupported}
	}
	return vcSession{}, &UnsupportedBindingError{URL: c.baseURL.String(), Err: ErrJSONUnsupported}
}

func serverInfo(b Binding, version string, about vimtypes.AboutInfo) ServerInfo {
	return ServerInfo{
		Binding: b, SMSVersion: version, VCenterVersion: cut(about.Version, maxNameBytes), VCenterBuild: cut(about.Build, maxNameBytes),
		VCenterAPIVersion: cut(about.ApiVersion, maxNameBytes), VCenterFullName: cut(about.FullName, maxNameBytes),
		VCenterInstanceUUID: cut(about.InstanceUuid, maxNameBytes),
	}
}

// ServerInfo implements ServerInfoReporter.
func (c *client) ServerInfo() ServerInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.info
}

func isInvalidLogin(err error) bool {
	if !soap.IsSoapFault(err) {
		return false
	}
	switch soap.ToSoapFault(err).VimFault().(type) {
	case vimtypes.InvalidLogin, *vimtypes.InvalidLogin:
		return true
	}
	return false
}
