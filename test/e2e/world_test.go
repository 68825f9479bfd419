package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// world is one test's setup: a simulator, a namespace of its own and a manager watching it.
type world struct {
	t           *testing.T
	ns          string
	sim         *smssim.Sim
	stopManager func()
}

// newWorld starts the simulator with cfg, creates a namespace and starts the manager with tm.
func newWorld(t *testing.T, cfg smssim.Config, tm timings) *world {
	t.Helper()
	w := &world{t: t, sim: startSim(t, cfg), ns: newNamespace(t)}
	w.stopManager = startManager(t, w.ns, tm)
	return w
}

// arrayA is the usual simulator: one provider "array-a" holding groups, with tasks that take d.
func arrayA(groups []smssim.GroupConfig, d time.Duration, mutate ...func(*smssim.ProviderConfig)) smssim.Config {
	pc := smssim.ProviderConfig{Name: "array-a", TaskDuration: smssim.Duration{Duration: d}, Groups: groups}
	for _, m := range mutate {
		m(&pc)
	}
	return smssim.Config{Providers: []smssim.ProviderConfig{pc}}
}

// array creates the VasaProvider "array" for the simulator's provider "array-a".
func (w *world) array(mutate ...func(*replicationv1alpha1.VasaProvider)) *replicationv1alpha1.VasaProvider {
	w.t.Helper()
	return createProvider(w.t, w.ns, "array", w.sim, "array-a", "", mutate...)
}

// limits sets a VasaProvider's maxBatchSize and maxConcurrentTasks.
func limits(maxBatchSize, maxConcurrentTasks int32) func(*replicationv1alpha1.VasaProvider) {
	return func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = maxBatchSize, maxConcurrentTasks
	}
}

// createSync creates a ReplicationSync of ids on the VasaProvider "array" and returns its key.
func (w *world) createSync(name, pitName string, ids []replicationv1alpha1.ReplicationGroupID, mutate ...func(*replicationv1alpha1.ReplicationSync)) client.ObjectKey {
	w.t.Helper()
	rs := newSync(w.ns, name, "array", pitName, ids)
	for _, m := range mutate {
		m(rs)
	}
	NewWithT(w.t).Expect(adminClient.Create(context.Background(), rs)).To(Succeed())
	return client.ObjectKeyFromObject(rs)
}

// getProvider reads a VasaProvider (Gomega-friendly).
func getProvider(g Gomega, ns, name string) *replicationv1alpha1.VasaProvider {
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(adminClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, vp)).To(Succeed())
	return vp
}

// waitProviderReady waits until the VasaProvider is Ready=True.
func (w *world) waitProviderReady(name string) {
	w.t.Helper()
	NewWithT(w.t).Eventually(func(g Gomega) {
		vp := getProvider(g, w.ns, name)
		g.Expect(meta.IsStatusConditionTrue(vp.Status.Conditions, replicationv1alpha1.ReadyCondition)).To(BeTrue(), "%+v", vp.Status.Conditions)
	}).WithTimeout(syncTimeout).WithPolling(20 * time.Millisecond).Should(Succeed())
}

// waitGone waits until the ReplicationSync no longer exists.
func waitGone(t *testing.T, key client.ObjectKey) {
	t.Helper()
	NewWithT(t).Eventually(func() bool {
		return apierrors.IsNotFound(adminClient.Get(context.Background(), key, &replicationv1alpha1.ReplicationSync{}))
	}).WithTimeout(syncTimeout).Should(BeTrue())
}

// reconcilingReason returns the reason of the Reconciling condition, "" when there is none.
func reconcilingReason(rs *replicationv1alpha1.ReplicationSync) string {
	if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition); c != nil {
		return c.Reason
	}
	return ""
}

// smsIDs converts API group ids to the client's.
func smsIDs(ids []replicationv1alpha1.ReplicationGroupID) []sms.GroupID {
	out := make([]sms.GroupID, len(ids))
	for i, id := range ids {
		out[i] = sms.GroupID{FaultDomainID: id.FaultDomainID.ID, DeviceGroupID: id.DeviceGroupID.ID}
	}
	return out
}

// expectOnePiTPerGroup asserts that the simulator holds exactly one PiT named pitName for each of ids
// and none for other groups; it returns them by group.
func expectOnePiTPerGroup(g Gomega, sim *smssim.Sim, pitName string, ids []replicationv1alpha1.ReplicationGroupID) map[sms.GroupID]smssim.PiTRecord {
	pits := map[sms.GroupID]smssim.PiTRecord{}
	for _, p := range pitsFor(sim, pitName) {
		g.Expect(pits).NotTo(HaveKey(p.Group), "a second PiT %q for group %v", pitName, p.Group)
		pits[p.Group] = p
	}
	for _, id := range smsIDs(ids) {
		g.Expect(pits).To(HaveKey(id), "no PiT %q for group %v", pitName, id)
	}
	g.Expect(pits).To(HaveLen(len(ids)))
	return pits
}

// expectGroupsSyncedTo asserts that every group of rs is Synced to its PiT in pits, with no failure counted.
func expectGroupsSyncedTo(g Gomega, rs *replicationv1alpha1.ReplicationSync, pits map[sms.GroupID]smssim.PiTRecord) {
	g.Expect(rs.Status.Groups).To(HaveLen(len(pits)))
	for _, gs := range rs.Status.Groups {
		p := pits[sms.GroupID{FaultDomainID: gs.FaultDomainID.ID, DeviceGroupID: gs.DeviceGroupID.ID}]
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		g.Expect(gs.PitID).To(Equal(p.PitID))
		g.Expect(gs.PitName).To(Equal(rs.Spec.PitName))
		g.Expect(gs.Attempts).To(BeZero(), "group %s/%s", gs.FaultDomainID.ID, gs.DeviceGroupID.ID)
	}
}

// expectEachGroupIssuedOnce asserts that each group was in exactly one sync call that created a task and
// in none answered SyncOngoing (a second call, made while the first one's task ran).
func expectEachGroupIssuedOnce(g Gomega, calls []smssim.SyncCall, ids []replicationv1alpha1.ReplicationGroupID) {
	issued, ongoing := map[sms.GroupID]int{}, map[sms.GroupID]int{}
	for _, c := range calls {
		for _, id := range c.Groups {
			switch c.Fault {
			case "":
				issued[id]++
			case "SyncOngoing":
				ongoing[id]++
			}
		}
	}
	g.Expect(issued).To(HaveLen(len(ids)))
	for id, n := range issued {
		g.Expect(n).To(Equal(1), "group %v issued %d times", id, n)
	}
	g.Expect(ongoing).To(BeEmpty(), "groups called again while their task ran")
}

// eventReasons returns the reasons of the Events about obj in its namespace (core/v1 view, which also
// shows events.k8s.io/v1 Events).
func eventReasons(g Gomega, obj client.Object) []string {
	list := &corev1.EventList{}
	g.Expect(adminClient.List(context.Background(), list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == obj.GetUID() && !slices.Contains(reasons, e.Reason) {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// pathRecorder is an HTTPS reverse proxy in front of the simulator that records every request as
// "METHOD /path", so a test can see which binding went over the wire.
type pathRecorder struct {
	url   string
	caPEM []byte

	mu       sync.Mutex
	requests []string
}

func newPathRecorder(t *testing.T, sim *smssim.Sim) *pathRecorder {
	t.Helper()
	g := NewWithT(t)
	target, err := url.Parse(sim.URL())
	g.Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(sim.CACertPEM())).To(BeTrue())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	pr := &pathRecorder{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr.mu.Lock()
		pr.requests = append(pr.requests, r.Method+" "+r.URL.Path)
		pr.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	pr.url = srv.URL
	pr.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return pr
}

// via creates the proxy's CA Secret in ns and returns a mutation pointing a VasaProvider at the proxy.
func (pr *pathRecorder) via(t *testing.T, ns string) func(*replicationv1alpha1.VasaProvider) {
	t.Helper()
	NewWithT(t).Expect(adminClient.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "proxy-ca"},
		Data:       map[string][]byte{"ca.crt": pr.caPEM},
	})).To(Succeed())
	return func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.VCenter.URL = pr.url
		vp.Spec.VCenter.TLS = replicationv1alpha1.TLSSpec{CABundleSecretRef: &replicationv1alpha1.SecretKeySelector{Name: "proxy-ca", Key: "ca.crt"}}
	}
}

// count returns how many recorded requests match.
func (pr *pathRecorder) count(match func(string) bool) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, r := range pr.requests {
		if match(r) {
			n++
		}
	}
	return n
}
