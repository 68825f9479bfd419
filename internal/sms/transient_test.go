package sms_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestServiceInitializing: while SMS initializes after a restart, calls fail with a transient
// ServiceUnavailableError (HTTP 503 first, then ServiceNotInitialized) on both bindings, the session
// survives, and calls work again afterwards.
func TestServiceInitializing(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim := startSim(t)
			c := dial(t, sim, b)
			logins := sim.LoginAttempts()
			// Each half of the window (503, then the fault) lasts 1.5 s: a call in each, on a loaded machine too.
			sim.SetServiceInitializing(3 * time.Second)
			seen, reached := map[int]bool{}, false
			for sim.ServiceInitializing() {
				_, err := c.Providers(ctx)
				if err == nil {
					break // the window ended between the check and the call
				}
				var su *sms.ServiceUnavailableError
				g.Expect(errors.As(err, &su)).To(BeTrue(), "got %T %v", err, err)
				g.Expect(sms.IsTransient(err)).To(BeTrue())
				seen[su.StatusCode] = true
				reached = reached || su.MayHaveRun
				time.Sleep(20 * time.Millisecond)
			}
			g.Expect(seen).To(HaveKey(503), "HTTP 503 first")
			g.Expect(reached).To(BeFalse(), "the proxy's 503 says nothing listened behind it")
			g.Expect(seen).To(HaveKey(0), "then the ServiceNotInitialized fault")
			_, err := c.Providers(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sim.LoginAttempts()).To(Equal(logins), "a starting service is no reason to log in again")
		})
	}
}

// TestDialWhileInitializing: a Dial during the window fails with a transient error, not a login error.
func TestDialWhileInitializing(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			sim.SetServiceInitializing(time.Minute)
			_, err := sms.Dial(context.Background(), clientConfig(sim, b))
			g.Expect(sms.IsTransient(err)).To(BeTrue(), "got %v", err)
			var le *sms.LoginError
			g.Expect(errors.As(err, &le)).To(BeFalse())
		})
	}
}

func TestIsTransient(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"503":                   {&sms.ServiceUnavailableError{StatusCode: 503}, true},
		"ServiceNotInitialized": {&sms.ServiceUnavailableError{}, true},
		"wrapped busy":          {errors.Join(errors.New("x"), &sms.ProviderBusyError{}), true},
		"out of resource":       {&sms.ProviderOutOfResourceError{}, true},
		"unavailable":           {&sms.ProviderUnavailableError{}, true},
		"TooMany":               {&sms.TooManyError{}, false},
		"replication fault":     {&sms.ReplicationFaultError{}, false},
		"login":                 {&sms.LoginError{}, false},
		"nil":                   {nil, false},
	} {
		if got := sms.IsTransient(tc.err); got != tc.want {
			t.Errorf("%s: IsTransient = %v, want %v", name, got, tc.want)
		}
	}
}

// TestSMSConnectionFaults: the faults SMS answers when it cannot reach the VASA provider or vCenter's
// vpxd pass (transient), whether they come bare or in their Fault wrapper; a provider that does not
// support an operation is as lasting as one that does not implement it.
func TestSMSConnectionFaults(t *testing.T) {
	for name, tc := range map[string]struct {
		fault     any
		transient bool
		notImpl   bool
	}{
		"ProviderConnectionFailed":      {&smstypes.ProviderConnectionFailed{}, true, false},
		"ProviderConnectionFailedFault": {&smstypes.ProviderConnectionFailedFault{}, true, false},
		"AuthConnectionFailed":          {&smstypes.AuthConnectionFailed{}, true, false},
		"AuthConnectionFailedFault":     {&smstypes.AuthConnectionFailedFault{}, true, false},
		"NotSupportedByProvider":        {&smstypes.NotSupportedByProvider{}, false, true},
		"NotSupportedByProviderFault":   {&smstypes.NotSupportedByProviderFault{}, false, true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := sms.DecodeFault(tc.fault, "vasa-1.example.com: connection refused")
			g.Expect(sms.IsTransient(err)).To(Equal(tc.transient), "%v", err)
			var ni *sms.NotImplementedError
			g.Expect(errors.As(err, &ni)).To(Equal(tc.notImpl), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(strings.TrimSuffix(name, "Fault")), "the fault's name is kept")
			var f sms.Fault
			g.Expect(errors.As(err, &f)).To(BeTrue())
			g.Expect(f.FaultType()).To(Equal(strings.TrimSuffix(name, "Fault")), "recorded under its own name (lastFault, the faults metric)")
		})
	}
}

// TestProxy503MayHaveRun: a front proxy's 503 that says nothing listened behind it (rhttpproxy's or
// envoy's wording) means the request never reached SMS; any other 503 may come after SMS took it.
func TestProxy503MayHaveRun(t *testing.T) {
	for text, want := range map[string]bool{
		"503 Service Unavailable (Failed to connect to endpoint: [N7Vmacore4Http16LocalServiceSpecE:0x0000] _serverNamespace = /sms action = Allow)": false,
		smssim.NoBackendText:     false,
		"no healthy upstream":    false,
		smssim.UpstreamResetText: true,
		"":                       true,
		// Newer envoy: the connection to SMS was never established.
		"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111": false,
		// Envoy retried: only the last attempt never reached SMS, an earlier one may have.
		"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111": true,
		"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection failure":                                                              true,
		"upstream connect error or disconnect/reset before headers. reset reason: local connection failure":                                                                               false,
		"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused":         false,
		// SMS may have taken the request.
		"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection termination": true,
		"upstream connect error or disconnect/reset before headers. reset reason: remote reset":                                  true,
	} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, text, http.StatusServiceUnavailable)
		}))
		_, err := sms.Dial(context.Background(), sms.Config{URL: srv.URL, Username: "u", Password: "p", InsecureSkipVerify: true, Timeout: 5 * time.Second})
		srv.Close()
		var su *sms.ServiceUnavailableError
		if !errors.As(err, &su) {
			t.Errorf("%q: got %T %v, want a ServiceUnavailableError", text, err, err)
			continue
		}
		if su.MayHaveRun != want {
			t.Errorf("%q: MayHaveRun = %v, want %v", text, su.MayHaveRun, want)
		}
	}
}

// TestRequestIsSentAgainWhenNothingWasWritten: a kept-alive connection found dead before any byte of a SOAP
// request was written on it costs the call nothing: net/http sends the request again on a new connection.
// It can only do that with a body it can rewind, which govmomi's (an io.MultiReader) is not.
func TestRequestIsSentAgainWhenNothingWasWritten(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := startSim(t)
	var dials atomic.Int32
	var dead atomic.Bool
	base := &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own simulator
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadOnWrite{Conn: conn, dead: &dead}, nil
		},
	}
	u, err := url.Parse(sim.URL())
	g.Expect(err).NotTo(HaveOccurred())
	u.Path = vim25.Path
	sc := soap.NewClient(u, true)
	sc.Client.Transport = sms.NewStatusTransport(base)
	serviceContent := func() error {
		_, err := methods.RetrieveServiceContent(ctx, sc, &vimtypes.RetrieveServiceContent{This: vim25.ServiceInstance})
		return err
	}
	g.Expect(serviceContent()).To(Succeed())
	for name, send := range map[string]func() error{
		"small request": serviceContent,
		"request larger than net/http's write buffer": func() error {
			spec := vimtypes.PropertyFilterSpec{PropSet: []vimtypes.PropertySpec{{Type: "Folder", PathSet: []string{"name"}}}}
			for range 2000 {
				spec.ObjectSet = append(spec.ObjectSet, vimtypes.ObjectSpec{Obj: vimtypes.ManagedObjectReference{Type: "Folder", Value: "group-d1"}})
			}
			pc := vimtypes.ManagedObjectReference{Type: "PropertyCollector", Value: "propertyCollector"}
			_, err := methods.RetrieveProperties(ctx, sc, &vimtypes.RetrieveProperties{This: pc, SpecSet: []vimtypes.PropertyFilterSpec{spec}})
			if soap.IsSoapFault(err) {
				return nil // answered (without a session): the request reached the server
			}
			return err
		},
	} {
		before := dials.Load()
		dead.Store(true) // the kept-alive connection died while idle
		g.Expect(send()).To(Succeed(), name)
		g.Expect(dials.Load()-before).To(BeEquivalentTo(1), "%s: sent again on a new connection", name)
	}
}

// deadOnWrite is a connection whose next write, once dead is set, fails without writing anything, as on a
// kept-alive connection that the server has reset.
type deadOnWrite struct {
	net.Conn
	dead *atomic.Bool
}

// Write implements net.Conn.
func (c *deadOnWrite) Write(p []byte) (int, error) {
	if c.dead.CompareAndSwap(true, false) {
		_ = c.Conn.Close()
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Write(p)
}
