package sms_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

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
			sim.SetServiceInitializing(400 * time.Millisecond)
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

// TestProxy503MayHaveRun: a front proxy's 503 that says nothing listened behind it (rhttpproxy's or
// envoy's wording) means the request never reached SMS; any other 503 may come after SMS took it.
func TestProxy503MayHaveRun(t *testing.T) {
	for text, want := range map[string]bool{
		"503 Service Unavailable (Failed to connect to endpoint: [N7Vmacore4Http16LocalServiceSpecE:0x0000] _serverNamespace = /sms action = Allow)": false,
		smssim.NoBackendText:     false,
		"no healthy upstream":    false,
		smssim.UpstreamResetText: true,
		"":                       true,
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
