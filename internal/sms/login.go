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
		c.broken, c.vc, c.js, c.rt, c.list = le, nil, nil, nil, nil
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
		rt := c.smsSOAP(vc, v, c.cfg.Timeout)
		res, err := methods.QueryStorageManager(ctx, rt, &smstypes.QueryStorageManager{This: serviceInstance})
		if isVersionFault(err) {
			last = err
			continue
		}
		if err != nil {
			c.logoutQuietly(ctx, vc)
			return c.classify(decodeCallError(err))
		}
		c.vc, c.js, c.rt, c.list, c.sm = vc, nil, rt, c.smsSOAP(vc, v, c.cfg.ListTimeout), res.Returnval
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

// smsSOAP returns the SOAP service client of /sms/sdk sending SMS version v, each round trip bounded by d.
func (c *client) smsSOAP(vc *vim25.Client, version string, d time.Duration) *soap.Client {
	sc := vc.NewServiceClient(Path, Namespace)
	sc.Version = version
	sc.Cookie = vc.SessionCookie // sent as the vcSessionCookie header
	sc.Client.Timeout = d
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
		ResponseHeaderTimeout: c.roundTripBound(),
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
				list := *js
				list.http = &http.Client{Transport: t, Timeout: c.cfg.ListTimeout, CheckRedirect: refuseRedirect}
				c.vc, c.js, c.rt, c.list, c.sm = nil, js, js, &list, res.Returnval
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
