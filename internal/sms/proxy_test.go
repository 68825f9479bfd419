package sms_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// proxyChildEnv marks the test process TestProxyRefusalIsNotSent runs itself in: net/http reads
// HTTPS_PROXY once per process, which the tests run before it have done.
const proxyChildEnv = "SMS_TEST_PROXY_CHILD"

// connectProxy is an HTTP proxy tunnelling every CONNECT to the address in target, or refusing it (403)
// while refuse is set.
func connectProxy(t *testing.T, target *atomic.Pointer[string], refuse *atomic.Bool) *httptest.Server {
	t.Helper()
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || refuse.Load() {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		up, err := net.Dial("tcp", *target.Load())
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = up.Close()
			return
		}
		go func() { _, _ = io.Copy(up, buf); _ = up.Close() }()
		_, _ = io.Copy(conn, up)
		_ = conn.Close()
	}))
	t.Cleanup(p.Close)
	return p
}

// TestProxyRefusalIsNotSent: through an HTTPS proxy (HTTPS_PROXY) that refuses the tunnel, a sync call
// fails as not sent, as when the connection to vCenter itself fails to open: nothing reached vCenter.
func TestProxyRefusalIsNotSent(t *testing.T) {
	if os.Getenv(proxyChildEnv) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProxyRefusalIsNotSent$", "-test.v")
		cmd.Env = append(os.Environ(), proxyChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	var (
		target atomic.Pointer[string]
		refuse atomic.Bool
	)
	proxy := connectProxy(t, &target, &refuse)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			cfg := behindFront(t, sim, b, func(w http.ResponseWriter, _ *http.Request) bool {
				w.Header().Set("Connection", "close") // every call opens a connection, through the proxy
				return false
			})
			front, err := url.Parse(cfg.URL)
			g.Expect(err).NotTo(HaveOccurred())
			addr := front.Host
			target.Store(&addr)
			refuse.Store(false)
			front.Host = "vcenter.invalid:" + front.Port() // no loopback address: it goes through the proxy
			cfg.URL = front.String()

			c, err := sms.Dial(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			refuse.Store(true)
			ids, _ := groups("fd-1", 2)
			_, err = c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "proxied")
			g.Expect(err).To(MatchError(sms.ErrNotSent))
			g.Expect(sim.Calls()).To(BeEmpty())
		})
	}
}
