package sms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
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

	mu   sync.RWMutex      // guards the fields below
	gen  uint64            // incremented at each login
	vc   *vim25.Client     // SOAP binding: the vim25 session
	js   *jsonTransport    // JSON binding: the VI/JSON session
	rt   soap.RoundTripper // SMS round tripper (SOAP service client or JSON transport)
	sm   vimtypes.ManagedObjectReference
	info ServerInfo

	closed bool
	// broken is the *LoginError of a failed re-login. Once set, every call fails fast with it and
	// the client never contacts vCenter again: retrying rejected credentials on each call would
	// lock the SSO account. Callers Dial a new client when the credentials change.
	broken *LoginError
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("sms client is closed")

// ErrSessionRejected is returned when the server refused a call's session (NotAuthenticated) again right
// after a new login: the call was not carried out; retry it later.
var ErrSessionRejected = errors.New("session expired again right after logging in")

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
	t.ResponseHeaderTimeout = c.cfg.Timeout
	// One session serves every run of the provider at once: with Go's default of 2 idle connections,
	// most calls would pay a new TLS handshake (on both ends).
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	sc.Client.Timeout = c.cfg.Timeout
	sc.Client.Transport = statusTransport{t}
	sc.Client.CheckRedirect = refuseRedirect
	return sc, nil
}

// login creates a new session unless another goroutine already replaced generation gen.
func (c *client) login(ctx context.Context, gen uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.broken != nil {
		return c.broken // another goroutine's re-login was rejected: do not try again
	}
	if c.gen != gen {
		return nil // someone else logged in meanwhile
	}
	var err error
	if c.cfg.Binding == BindingJSON {
		err = c.loginJSON(ctx)
	} else {
		err = c.loginSOAP(ctx)
	}
	if err == nil {
		c.gen++
		return nil
	}
	var le *LoginError
	if errors.As(err, &le) && gen != 0 {
		// A re-login: the credentials no longer work. Mark the client broken; the expired
		// session needs no logout, so Close does not contact vCenter either.
		c.broken, c.vc, c.js, c.rt = le, nil, nil, nil
	}
	return err
}

// invalidLogin is the LoginError of rejected credentials.
func (c *client) invalidLogin() *LoginError {
	return &LoginError{Username: c.cfg.Username, Err: errors.New("invalid username or password")}
}

// loginSOAP logs in on /sdk and negotiates the SMS version on /sms/sdk, newest first.
func (c *client) loginSOAP(ctx context.Context) error {
	sc, err := c.newSOAPClient()
	if err != nil {
		return err
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return c.classify(err)
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(c.cfg.Username, c.cfg.Password)); err != nil {
		if isInvalidLogin(err) {
			return c.invalidLogin()
		}
		return c.classify(err)
	}
	about := vc.ServiceContent.About
	tried := candidates(Versions, c.cfg.Version, about.ApiVersion)
	if c.info.VCenterAPIVersion == about.ApiVersion {
		// A re-login to the same vCenter release starts at the version the last session agreed on, so
		// a release whose SMS lags behind its API version is not asked for a newer one at every login.
		if i := slices.Index(tried, c.info.SMSVersion); i > 0 {
			tried = tried[i:]
		}
	}
	var last error
	for _, v := range tried {
		rt := c.smsSOAP(vc, v)
		res, err := methods.QueryStorageManager(ctx, rt, &smstypes.QueryStorageManager{This: serviceInstance})
		if isVersionFault(err) {
			last = err
			continue
		}
		if err != nil {
			c.logoutQuietly(ctx, vc)
			return c.classify(decodeCallError(err))
		}
		c.vc, c.js, c.rt, c.sm = vc, nil, rt, res.Returnval
		c.info = serverInfo(BindingSOAP, v, about)
		return nil
	}
	c.logoutQuietly(ctx, vc)
	return &VersionError{Tried: tried, Pinned: c.cfg.Version != "", Err: last}
}

// logoutQuietly ends a session that is of no use (no SMS version agreed), so it does not linger in vCenter.
func (c *client) logoutQuietly(ctx context.Context, vc *vim25.Client) {
	_ = session.NewManager(vc).Logout(ctx)
}

// smsSOAP returns the SOAP service client of /sms/sdk sending SMS version v.
func (c *client) smsSOAP(vc *vim25.Client, version string) *soap.Client {
	sc := vc.NewServiceClient(Path, Namespace)
	sc.Version = version
	sc.Cookie = vc.SessionCookie // sent as the vcSessionCookie header
	sc.Client.Timeout = c.cfg.Timeout
	sc.Client.Transport = statusTransport{sc.Client.Transport}
	sc.Client.CheckRedirect = refuseRedirect // a service client has its own http.Client
	return sc
}

// loginJSON logs in through the VI/JSON SessionManager on the newest release path the server serves.
func (c *client) loginJSON(ctx context.Context) error {
	tc, err := tlsConfig(c.cfg, c.baseURL.Hostname())
	if err != nil {
		return fmt.Errorf("tls configuration: %w", err)
	}
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// Through an HTTP(S) proxy, Go does the TLS handshake with vCenter with TLSClientConfig, not
		// with DialTLSContext: both must carry the pin and the CA bundle.
		TLSClientConfig:       tc,
		DialTLSContext:        tlsDialer(tc, &net.Dialer{Timeout: c.cfg.Timeout}),
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: c.cfg.Timeout,
		TLSHandshakeTimeout:   c.cfg.Timeout,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
	}
	hc := &http.Client{Transport: t, Timeout: c.cfg.Timeout, CheckRedirect: refuseRedirect}
	tried := candidates(JSONReleases, c.cfg.Version, "")
	for _, release := range tried {
		js := &jsonTransport{base: c.baseURL, release: release, http: hc}
		err := js.login(ctx, c.cfg.Username, c.cfg.Password)
		if errors.Is(err, errNotServed) {
			continue
		}
		if err != nil {
			if isInvalidLogin(err) {
				return c.invalidLogin()
			}
			return c.classify(decodeCallError(err))
		}
		about, err := js.about(ctx)
		if err == nil {
			var res *smstypes.QueryStorageManagerResponse
			res, err = methods.QueryStorageManager(ctx, js, &smstypes.QueryStorageManager{This: serviceInstance})
			if err == nil {
				c.vc, c.js, c.rt, c.sm = nil, js, js, res.Returnval
				c.info = serverInfo(BindingJSON, release, about)
				return nil
			}
		}
		_ = js.logout(ctx)
		return c.classify(decodeCallError(err))
	}
	if c.cfg.Version != "" {
		return &VersionError{Tried: tried, Pinned: true, Err: ErrJSONUnsupported}
	}
	return &UnsupportedBindingError{URL: c.baseURL.String(), Err: ErrJSONUnsupported}
}

func serverInfo(b Binding, version string, about vimtypes.AboutInfo) ServerInfo {
	return ServerInfo{
		Binding: b, SMSVersion: version, VCenterVersion: about.Version, VCenterBuild: about.Build,
		VCenterAPIVersion: about.ApiVersion, VCenterFullName: about.FullName,
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

// classify wraps transport errors as *TLSError or *UnreachableError; faults pass through.
func (c *client) classify(err error) error {
	if err == nil {
		return nil
	}
	var f Fault
	if errors.As(err, &f) {
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

// current returns the SMS round tripper of the current session and its generation.
func (c *client) current() (soap.RoundTripper, vimtypes.ManagedObjectReference, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, vimtypes.ManagedObjectReference{}, 0, ErrClosed
	}
	if c.broken != nil {
		return nil, vimtypes.ManagedObjectReference{}, 0, brokenError(c.broken)
	}
	return c.rt, c.sm, c.gen, nil
}

// call runs f with the current session; on NotAuthenticated it logs in again and retries once.
func (c *client) call(ctx context.Context, f func(rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) error) error {
	rt, sm, gen, err := c.current()
	if err != nil {
		return err
	}
	err = c.classify(decodeCallError(f(rt, sm)))
	var na *notAuthenticatedError
	if !errors.As(err, &na) {
		return err
	}
	if lerr := c.login(ctx, gen); lerr != nil {
		var le *LoginError
		switch {
		case errors.As(lerr, &le):
			return brokenError(le)
		case errors.As(lerr, &na):
			// The new session was refused too: nothing was called, so nothing counts against the groups.
			return fmt.Errorf("%w: re-establishing expired session: %s", ErrSessionRejected, na.Error())
		}
		var su *ServiceUnavailableError
		if errors.As(lerr, &su) {
			su.MayHaveRun = false // the login met it, not the call, which was refused before it ran
		}
		return fmt.Errorf("re-establishing expired session: %w", lerr)
	}
	if rt, sm, _, err = c.current(); err != nil {
		return err
	}
	err = c.classify(decodeCallError(f(rt, sm)))
	if errors.As(err, &na) {
		// Not a provider fault: callers must retry later, not count it against the groups.
		return fmt.Errorf("%w: %s", ErrSessionRejected, na.Error())
	}
	return err
}

// brokenError wraps the LoginError of a failed re-login for the caller.
func brokenError(le *LoginError) error {
	return fmt.Errorf("re-establishing expired session (the client is unusable until a new one is dialed): %w", le)
}

// Close logs out of vCenter.
func (c *client) Close(ctx context.Context) error {
	c.mu.Lock()
	vc, js := c.vc, c.js
	c.vc, c.js, c.closed = nil, nil, true
	c.mu.Unlock()
	var err error
	switch {
	case vc != nil:
		err = session.NewManager(vc).Logout(ctx)
		vc.CloseIdleConnections()
	case js != nil:
		err = js.logout(ctx)
		js.http.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("logging out: %w", c.classify(decodeCallError(err)))
	}
	return nil
}
