package smssim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Default credentials when Config leaves them empty.
const (
	DefaultUsername = "administrator@vsphere.local"
	DefaultPassword = "pass"
)

// Sim is a running simulated vCenter with an SMS endpoint. All methods are safe for concurrent use.
type Sim struct {
	model  *simulator.Model
	server *simulator.Server
	url    string
	certPM []byte
	thumb  string

	mu           sync.Mutex // guards everything below
	username     string
	password     string
	expireAfter  int
	expireBefore time.Time
	retention    time.Duration // Config.TaskRetention
	sessCalls    map[string]int
	versions     map[string]string // SMS version of each session's requests (sessionversion.go)
	expiredCount int
	logins       int // login attempts checked against the credentials
	failedLogins int // login attempts rejected
	providers    []*providerState
	byName       map[string]*providerState
	byRef        map[string]*providerState
	// registrations counts Provider.Reregister calls, for new moIds.
	registrations int
	tasks         map[string]*task
	taskOrder     []*task
	taskSeq       int
	pitSeq        int
	pits          pitStore
	calls         []SyncCall
	rnd           *mrand.Rand
	now           func() time.Time
	sleep         func(time.Duration) // the providers' latencies wait with it
	restart       restartState        // SMS restarts (restart.go)
	wire          wireState           // tampering with HTTP responses (wire.go)

	release    Release
	profile    releaseProfile
	instance   string        // AboutInfo.instanceUuid: one per vCenter installation, kept across SMS restarts
	startup    time.Duration // how long SMS initializes after each restart (Config.ServiceInitializingFor)
	initFrom   time.Time     // SMS service start-up window (see SetServiceInitializing)
	initUntil  time.Time
	wireOn     bool
	wireLog    []WireRequest
	jsonStrict bool
	jsonSess   map[string]string // VI/JSON session id -> vCenter SOAP session cookie (strict mode)
	arrays     arrayState        // PiTs the arrays take on their own (arrayschedule.go)
}

// Start builds a vcsim VPX model with an SMS endpoint for cfg and serves it over HTTPS with a
// self-signed certificate on cfg.Listen (default 127.0.0.1:0).
func Start(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulator config: %w", err)
	}
	s := &Sim{
		username:    cfg.Username,
		password:    cfg.Password,
		expireAfter: cfg.SessionExpiresAfterCalls,
		sessCalls:   map[string]int{},
		versions:    map[string]string{},
		byName:      map[string]*providerState{},
		byRef:       map[string]*providerState{},
		tasks:       map[string]*task{},
		rnd:         mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7)),
		now:         time.Now,
		sleep:       time.Sleep,
		restart:     restartState{after: cfg.RestartSMSAfterCalls},
		startup:     cfg.ServiceInitializingFor.Duration,
		retention:   cfg.TaskRetention.Duration,
		release:     cfg.Release,
		jsonSess:    map[string]string{},
		instance:    uuid.NewString(),
	}
	if s.release == "" {
		s.release = DefaultRelease
	}
	prof, err := profileOf(s.release)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if v := cfg.NewestSMSVersion; v != "" {
		if !slices.Contains(smsVersions, v) || compareVersions(v, prof.newestSMS) > 0 {
			return nil, fmt.Errorf("newestSMSVersion %q is not an SMS version of release %s (at most %s)", v, s.release, prof.newestSMS)
		}
		prof.newestSMS = v
	}
	s.profile = prof
	switch cfg.JSONSessions {
	case "", JSONSessionsStrict:
		s.jsonStrict = true
	case JSONSessionsShared:
	default:
		return nil, fmt.Errorf("jsonSessions %q is not %q or %q", cfg.JSONSessions, JSONSessionsStrict, JSONSessionsShared)
	}
	if d := cfg.ServiceInitializingFor.Duration; d > 0 {
		s.SetServiceInitializing(d)
	}
	if s.username == "" {
		s.username = DefaultUsername
	}
	if s.password == "" {
		s.password = DefaultPassword
	}
	for i, pc := range cfg.Providers {
		if pc.Name == "" {
			return nil, fmt.Errorf("provider %d has no name", i)
		}
		if _, dup := s.byName[pc.Name]; dup {
			return nil, fmt.Errorf("provider name %q is used twice", pc.Name)
		}
		p := newProviderState(fmt.Sprintf("vasaprovider-%d", i+1), pc)
		s.providers = append(s.providers, p)
		s.byName[pc.Name] = p
		s.byRef[p.ref] = p
	}
	for _, p := range s.providers {
		if in := p.cfg.Inactive; in != nil && s.byName[in.ActiveProvider] == nil {
			return nil, fmt.Errorf("provider %q: inactive.activeProvider %q is not a provider", p.cfg.Name, in.ActiveProvider)
		}
	}
	now := s.now()
	s.startConfiguredForeignSyncs(now)
	s.arrays.start = now
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if err := s.serve(listen); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sim) serve(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	cert, certPEM, err := selfSigned(host)
	if err != nil {
		return err
	}
	m := simulator.VPX()
	m.ServiceContent.About = s.About()
	m.Datacenter, m.Cluster, m.ClusterHost, m.Host, m.Machine = 1, 0, 0, 1, 0
	if err := m.Create(); err != nil {
		return fmt.Errorf("creating vcsim model: %w", err)
	}
	svc := m.Service
	svc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// A non-default user makes vcsim consult SessionManager.ValidLogin.
	svc.Listen = &url.URL{Host: listen, User: url.UserPassword("smssim", "")}
	svc.Context.Map.SessionManager().ValidLogin = s.validLogin
	// vcsim's handler for /sms/sdk goes on a mux of its own, behind the gate that plays the release.
	if svc.ServeMux == nil {
		svc.ServeMux = http.NewServeMux()
	}
	outer, inner := svc.ServeMux, http.NewServeMux()
	svc.ServeMux = inner
	svc.RegisterSDK(s.newRegistry())
	svc.ServeMux = outer
	// Lost, late and empty answers (wire.go) wrap both bindings; the JSON handler's in-process SOAP
	// call passes through the wrapper once more, which it recognises and lets by.
	outer.Handle(Path, s.wireHandler(&soapGate{sim: s, next: inner}))
	outer.Handle("/sdk/vim25/", s.wireHandler(&jsonHandler{sim: s, mux: outer}))
	s.model = m
	s.server = svc.NewServer()
	u := *s.server.URL
	u.Path, u.User = "", nil
	s.url = u.String()
	s.certPM = certPEM
	sum := sha256.Sum256(cert.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	s.thumb = "SHA256:" + strings.Join(parts, ":")
	return nil
}

// selfSigned creates a self-signed certificate (its own CA) for host, localhost and 127.0.0.1.
func selfSigned(host string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vasa-sim", Organization: []string{"vasa-sync-operator simulator"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" && ip == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("creating certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// Close stops the server and removes the model.
func (s *Sim) Close() {
	s.wire.stop()
	if s.server != nil {
		s.server.Close()
	}
	if s.model != nil {
		s.model.Remove()
	}
}

// URL returns the base URL of the simulated vCenter, e.g. https://127.0.0.1:port.
func (s *Sim) URL() string { return s.url }

// Thumbprint returns the SHA-256 thumbprint of the server certificate as "SHA256:AA:...".
func (s *Sim) Thumbprint() string { return s.thumb }

// CACertPEM returns the PEM of the self-signed server certificate (its own CA).
func (s *Sim) CACertPEM() []byte { return slices.Clone(s.certPM) }

// Username returns the user that may log in.
func (s *Sim) Username() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.username
}

// Password returns the current password.
func (s *Sim) Password() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.password
}

// SetPassword changes the password; existing sessions stay valid.
func (s *Sim) SetPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

func (s *Sim) validLogin(req *vimtypes.Login) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins++
	ok := ssoUserName(req.UserName) == ssoUserName(s.username) && req.Password == s.password
	if !ok {
		s.failedLogins++
	}
	return ok
}

// ssoUserName is how vSphere SSO reads a user name: in any case, and DOMAIN\user as user@domain.
func ssoUserName(name string) string {
	name = strings.ToLower(name)
	if domain, user, ok := strings.Cut(name, `\`); ok && !strings.Contains(user, "@") {
		return user + "@" + domain
	}
	return name
}

// LoginAttempts returns how many vCenter logins were attempted so far (successful or not).
func (s *Sim) LoginAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// FailedLogins returns how many vCenter logins were rejected for bad credentials so far.
func (s *Sim) FailedLogins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failedLogins
}

// ExpireSessions expires every session that exists now; their next SMS call gets InvalidSession.
func (s *Sim) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireBefore = time.Now().UTC()
}

// SetSessionExpiresAfterCalls expires each session after n SMS calls; 0 means never.
func (s *Sim) SetSessionExpiresAfterCalls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireAfter = n
}

// ExpiredSessions returns how many sessions the simulator has expired so far.
func (s *Sim) ExpiredSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiredCount
}

// ProviderNames returns the provider names in configuration order.
func (s *Sim) ProviderNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, p.cfg.Name)
	}
	return out
}

// Provider returns the knobs of the named provider, or nil if there is none.
func (s *Sim) Provider(name string) *Provider {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byName[name]
	if p == nil {
		return nil
	}
	return &Provider{sim: s, p: p}
}

// PiTs returns every point-in-time replica created so far, in creation order.
func (s *Sim) PiTs() []PiTRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	return s.pits.all()
}

// EndTask ends a task that is still queued or running now, as its array finishing the sync: with its
// results and PiTs, or its error, as it would have ended after its full duration. Tests use it to end a
// task after what they observe instead of racing its duration. A task that has ended is left as it is.
func (s *Sim) EndTask(ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, now, err := s.taskNow(ref)
	if err != nil {
		return err
	}
	if !t.done {
		t.duration = now.Sub(t.start)
		s.advance(now)
	}
	return nil
}

// TaskState returns the state ("queued", "running", "success", "error") of a task.
func (s *Sim) TaskState(ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, now, err := s.taskNow(ref)
	if err != nil {
		return "", err
	}
	st, _ := t.status(now)
	return st, nil
}

// taskNow brings the simulation to now and returns task ref as it is then; callers hold s.mu.
func (s *Sim) taskNow(ref string) (*task, time.Time, error) {
	now := s.now()
	s.advance(now)
	t := s.knownTask(ref, now)
	if t == nil {
		return nil, now, errors.New("no such task: " + ref)
	}
	return t, now, nil
}

// knownTask returns task ref if SMS still knows it at now: it forgets an ended task TaskRetention after
// it ended. Callers hold s.mu.
func (s *Sim) knownTask(ref string, now time.Time) *task {
	t := s.tasks[ref]
	if t != nil && t.done && s.retention > 0 && now.Sub(t.end) > s.retention {
		delete(s.tasks, ref)
		return nil
	}
	return t
}
