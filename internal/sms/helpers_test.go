package sms_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

var bindings = []sms.Binding{sms.BindingSOAP, sms.BindingJSON}

// groups returns n groups in fault domain fd, and their simulator configs.
func groups(fd string, n int) ([]sms.GroupID, []smssim.GroupConfig) {
	ids := make([]sms.GroupID, n)
	cfgs := make([]smssim.GroupConfig, n)
	for i := range n {
		ids[i] = sms.GroupID{FaultDomainID: fd, DeviceGroupID: fmt.Sprintf("dg-%d", i+1)}
		cfgs[i] = smssim.GroupConfig{FaultDomain: fd, DeviceGroup: ids[i].DeviceGroupID}
	}
	return ids, cfgs
}

// startSim starts a simulator with providers "array-a" (fd-1, 40 groups) and "array-b" (fd-2, 5 groups).
func startSim(t testing.TB, mutate ...func(*smssim.Config)) *smssim.Sim {
	t.Helper()
	_, a := groups("fd-1", 40)
	_, b := groups("fd-2", 5)
	cfg := smssim.Config{
		Username: "admin@vsphere.local",
		Password: "s3cret",
		Providers: []smssim.ProviderConfig{
			{Name: "array-a", UID: "uid-a", TaskDuration: smssim.Duration{Duration: 40 * time.Millisecond}, Groups: a},
			{Name: "array-b", UID: "uid-b", Groups: b},
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	sim, err := smssim.Start(cfg)
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func clientConfig(sim *smssim.Sim, b sms.Binding) sms.Config {
	return sms.Config{
		URL:        sim.URL(),
		Username:   sim.Username(),
		Password:   sim.Password(),
		Thumbprint: sim.Thumbprint(),
		Binding:    b,
		Timeout:    10 * time.Second,
	}
}

func dial(t testing.TB, sim *smssim.Sim, b sms.Binding) sms.Client {
	t.Helper()
	g := NewWithT(t)
	c, err := sms.Dial(context.Background(), clientConfig(sim, b))
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// waitTask polls a task until it is finished and returns its info.
func waitTask(t testing.TB, c sms.Client, ref string) sms.TaskInfo {
	t.Helper()
	g := NewWithT(t)
	var info sms.TaskInfo
	g.Eventually(func(g Gomega) {
		var err error
		info, err = c.TaskInfo(context.Background(), ref)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(info.State).To(BeElementOf(sms.TaskSuccess, sms.TaskError))
	}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	return info
}

// syncDone syncs groups of provider to a PiT named pit and expects the task to succeed.
func syncDone(t testing.TB, g Gomega, c sms.Client, provider string, groups []sms.GroupID, pit string) {
	t.Helper()
	ref, err := c.SyncReplicationGroups(context.Background(), provider, groups, pit)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(waitTask(t, c, ref).State).To(Equal(sms.TaskSuccess))
}

// simProxy is a reverse proxy to the simulator.
func simProxy(t testing.TB, sim *smssim.Sim) *httputil.ReverseProxy {
	t.Helper()
	target, err := url.Parse(sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own simulator
	return rp
}

// behindFront puts an HTTPS front end before the simulator, as vCenter's proxy sits before its services,
// and returns the client config that goes through it. answer may answer a request itself (true) instead
// of passing it on.
func behindFront(t testing.TB, sim *smssim.Sim, b sms.Binding, answer func(http.ResponseWriter, *http.Request) bool) sms.Config {
	t.Helper()
	rp := simProxy(t, sim)
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !answer(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(front.Close)
	cfg := clientConfig(sim, b)
	cfg.URL, cfg.Thumbprint, cfg.InsecureSkipVerify = front.URL, "", true
	return cfg
}

// rewriteAnswers puts a front before the simulator that passes the answers to method (SOAP or VI/JSON)
// through rewrite.
func rewriteAnswers(t testing.TB, sim *smssim.Sim, b sms.Binding, method string, rewrite func([]byte) []byte) sms.Config {
	t.Helper()
	rp := simProxy(t, sim)
	return behindFront(t, sim, b, func(w http.ResponseWriter, r *http.Request) bool {
		if !bytes.Contains(requestBody(r), []byte("<"+method+" ")) && !strings.HasSuffix(r.URL.Path, "/"+method) {
			return false
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rewrite(rec.Body.Bytes()))
		return true
	})
}

// requestBody returns r's body and leaves it readable for the handler that passes r on.
func requestBody(r *http.Request) []byte {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

// isLogin reports whether r is a vCenter login: SessionManager.Login over SOAP or VI/JSON.
func isLogin(r *http.Request) bool {
	if strings.HasSuffix(r.URL.Path, "/SessionManager/SessionManager/Login") {
		return true
	}
	return r.URL.Path == "/sdk" && bytes.Contains(requestBody(r), []byte("<Login "))
}
