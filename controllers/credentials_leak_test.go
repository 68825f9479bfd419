package controllers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// leakTrap collects everything the operator shows about a failed connection: log lines at every
// verbosity, events, reconcile errors and the objects as stored.
type leakTrap struct {
	mu   sync.Mutex
	seen []string
}

func (l *leakTrap) add(s string) {
	l.mu.Lock()
	l.seen = append(l.seen, s)
	l.mu.Unlock()
}

// logger logs every level into the trap.
func (l *leakTrap) logger() logr.Logger {
	return funcr.New(func(prefix, args string) { l.add(prefix + " " + args) }, funcr.Options{Verbosity: 10})
}

func (l *leakTrap) recorder() recorderFunc {
	return func(reason, msg string) { l.add("event " + reason + ": " + msg) }
}

// object adds an object as stored, status included.
func (l *leakTrap) object(t *testing.T, key client.ObjectKey, obj client.Object) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(k8sClient.Get(context.Background(), key, obj)).To(Succeed())
	raw, err := json.Marshal(obj)
	g.Expect(err).NotTo(HaveOccurred())
	l.add(string(raw))
}

// hexDumpLine matches a line of an encoding/hex Dump, as client-go logs binary (protobuf) bodies.
var hexDumpLine = regexp.MustCompile(`[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2}){1,16}) *\|`)

// expectClean fails when any collected text holds one of the secrets: as written, base64-encoded (a
// Secret's data in JSON) or inside hex dumps (a Secret read as protobuf).
func (l *leakTrap) expectClean(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	g := NewWithT(t)
	g.Expect(strings.Join(l.seen, "\n")).To(ContainSubstring(`"msg"="Response Body"`),
		"the logs were taken at client-go's body-logging verbosity")
	for _, s := range l.seen {
		var dumped []byte
		for _, m := range hexDumpLine.FindAllStringSubmatch(s, -1) {
			b, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
			g.Expect(err).NotTo(HaveOccurred())
			dumped = append(dumped, b...)
		}
		for _, secret := range secrets {
			for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
				g.Expect(strings.Contains(s, form)).To(BeFalse(), "%q shows a secret value", s)
			}
			g.Expect(bytes.Contains(dumped, []byte(secret))).To(BeFalse(), "a hex dump in %q shows a secret value", s)
		}
	}
}

func (l *leakTrap) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.seen, "\n")
}

// TestConnectFailuresNeverShowThePassword drives the VasaProvider's failure paths over the real wire (a
// rejected login, a certificate that does not match its pin, a redirect) and checks that the password is
// in no log line (debug levels included), event, reconcile error or stored status.
func TestConnectFailuresNeverShowThePassword(t *testing.T) {
	const password = "pw-Xq7-never-shown"
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:9"+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	for _, b := range []replicationv1alpha1.Binding{replicationv1alpha1.BindingSOAP, replicationv1alpha1.BindingJSON} {
		for name, tc := range map[string]struct {
			simPassword string
			mutate      func(*replicationv1alpha1.VasaProvider)
			reason      string
		}{
			"rejected login": {simPassword: "the-right-one", reason: replicationv1alpha1.InvalidCredentialsReason},
			"pin mismatch": {simPassword: password, reason: replicationv1alpha1.TLSVerificationFailedReason,
				mutate: func(vp *replicationv1alpha1.VasaProvider) {
					vp.Spec.VCenter.TLS.Thumbprint = sms.FormatThumbprint(redirector.Certificate().Raw)
				}},
			"redirect": {simPassword: password, reason: replicationv1alpha1.RedirectedReason,
				mutate: func(vp *replicationv1alpha1.VasaProvider) {
					vp.Spec.VCenter.URL = redirector.URL
					vp.Spec.VCenter.TLS.Thumbprint = sms.FormatThumbprint(redirector.Certificate().Raw)
				}},
		} {
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				g := NewWithT(t)
				w := newVPWorld(t, smssim.Config{Password: tc.simPassword})
				setPassword(t, w.ns, password)
				trap := &leakTrap{}
				w.r.Recorder = trap.recorder()
				ctx := ctrl.LoggerInto(context.Background(), trap.logger())

				vp := w.simProvider()
				vp.Spec.Binding = b
				if tc.mutate != nil {
					tc.mutate(vp)
				}
				g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
				key := client.ObjectKeyFromObject(vp)
				t.Cleanup(func() { w.r.Sessions.Forget(key) })
				for range 2 {
					if _, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
						trap.add(err.Error())
					}
				}
				got := &replicationv1alpha1.VasaProvider{}
				trap.object(t, key, got)
				g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(tc.reason), trap.text())
				trap.expectClean(t, password)
			})
		}
	}
}

// TestRunWithRejectedReLoginNeverShowsThePassword: the password is rotated in vCenter but not in the
// Secret, then the session expires under a running ReplicationSync. The re-login is refused; neither
// the run nor its provider shows the old or the new password anywhere.
func TestRunWithRejectedReLoginNeverShowsThePassword(t *testing.T) {
	const password, rotated = "pw-Kd2-in-the-secret", "pw-Zr9-set-in-vcenter"
	for _, b := range []replicationv1alpha1.Binding{replicationv1alpha1.BindingSOAP, replicationv1alpha1.BindingJSON} {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			w := newVPWorld(t, smssim.Config{Password: password, Providers: []smssim.ProviderConfig{{
				Name: "array-a", TaskDuration: smssim.Duration{Duration: time.Hour},
				Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}},
			}}})
			setPassword(t, w.ns, password)
			trap := &leakTrap{}
			w.r.Recorder = trap.recorder()
			ctx := ctrl.LoggerInto(context.Background(), trap.logger())

			vp := w.simProvider()
			vp.Spec.Binding = b
			vpKey := w.create(t, vp)
			_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
			g.Expect(err).NotTo(HaveOccurred())

			rs := oneGroupSync(w.ns, "run", vp.Name, "leak-check")
			g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
			rsKey := client.ObjectKeyFromObject(rs)
			rr := &ReplicationSyncReconciler{Client: k8sClient, APIReader: k8sClient, Sessions: w.r.Sessions,
				Capacity: w.r.Capacity, Recorder: trap.recorder()}

			w.sim.SetPassword(rotated)
			w.sim.ExpireSessions()
			failedBefore := w.sim.FailedLogins()
			for range 3 {
				if _, err := rr.Reconcile(ctx, ctrl.Request{NamespacedName: rsKey}); err != nil {
					trap.add(err.Error())
				}
			}
			if _, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey}); err != nil {
				trap.add(err.Error())
			}
			g.Expect(w.sim.FailedLogins()).To(BeNumerically(">", failedBefore), "a re-login was refused")
			trap.object(t, rsKey, &replicationv1alpha1.ReplicationSync{})
			got := &replicationv1alpha1.VasaProvider{}
			trap.object(t, vpKey, got)
			g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason), trap.text())
			trap.expectClean(t, password, rotated)
		})
	}
}

// setPassword writes password into the world's credentials Secret.
func setPassword(t *testing.T, ns, password string) {
	t.Helper()
	g := NewWithT(t)
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "creds"}, s)).To(Succeed())
	s.StringData = map[string]string{secretPasswordKey: password}
	g.Expect(k8sClient.Update(context.Background(), s)).To(Succeed())
}
