package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// discoveryHarness is a namespace with a Ready VasaProvider "array-a" on a simulator and a discovery
// reconciler that the test drives by calling Reconcile.
type discoveryHarness struct {
	t        *testing.T
	g        *WithT
	ctx      context.Context
	ns       string
	c        client.Client
	sim      *smssim.Sim
	vp       *replicationv1alpha1.VasaProvider
	recorder *events.FakeRecorder
	clock    *clocktesting.FakePassiveClock
	r        *ReplicationGroupReconciler
}

// newDiscoveryHarness starts a simulator with cfg as provider "array-a", and the others, and a Ready
// VasaProvider for array-a.
func newDiscoveryHarness(t *testing.T, g *WithT, c client.Client, cfg smssim.ProviderConfig, others ...smssim.ProviderConfig) *discoveryHarness {
	t.Helper()
	ctx := context.Background()
	cfg.Name = "array-a"
	sim, err := smssim.Start(smssim.Config{Providers: append([]smssim.ProviderConfig{cfg}, others...)})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(sim.Close)

	ns := newNamespace(t, g, c, "rg-")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "vc-creds"},
		StringData: map[string]string{"username": sim.Username(), "password": sim.Password()},
	}
	g.Expect(c.Create(ctx, secret)).To(Succeed())
	vp := newProvider(ns.Name, "array-a", "vc-creds")
	vp.Spec.VCenter.URL = sim.URL()
	vp.Spec.VCenter.TLS.Thumbprint = sim.Thumbprint()
	g.Expect(c.Create(ctx, vp)).To(Succeed())
	vp.Status.ProviderRef = &replicationv1alpha1.ManagedObjectReference{Type: "VasaProvider", Value: sim.Provider("array-a").Ref()}
	vp.Status.ObservedGeneration = vp.Generation
	setStatusCondition(&vp.Status.Conditions, vp.Generation, replicationv1alpha1.ReadyCondition, metav1.ConditionTrue, replicationv1alpha1.ConnectedReason, "Connected")
	g.Expect(c.Status().Update(ctx, vp)).To(Succeed())

	h := &discoveryHarness{t: t, g: g, ctx: ctx, ns: ns.Name, c: c, sim: sim, vp: vp, recorder: events.NewFakeRecorder(100),
		clock: clocktesting.NewFakePassiveClock(time.Now())}
	h.r = &ReplicationGroupReconciler{Client: c, APIReader: c, Sessions: session.New(), Recorder: h.recorder, Clock: h.clock}
	return h
}

// viaProxy puts a counting proxy between the VasaProvider and the simulator (its spec edited, then marked
// Ready again at the new generation) and returns it.
func (h *discoveryHarness) viaProxy() *faultproxy.Proxy {
	h.t.Helper()
	proxy, err := faultproxy.Start(faultproxy.Options{Target: h.sim.URL(), TargetCA: h.sim.CACertPEM()})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.t.Cleanup(proxy.Close)
	h.vp.Spec.VCenter.URL = proxy.URL()
	h.vp.Spec.VCenter.TLS.Thumbprint = sms.FormatThumbprint(proxy.CertificateDER())
	h.g.Expect(h.c.Update(h.ctx, h.vp)).To(Succeed())
	h.vp.Status.ObservedGeneration = h.vp.Generation
	setStatusCondition(&h.vp.Status.Conditions, h.vp.Generation, replicationv1alpha1.ReadyCondition, metav1.ConditionTrue, replicationv1alpha1.ConnectedReason, "Connected")
	h.g.Expect(h.c.Status().Update(h.ctx, h.vp)).To(Succeed())
	return proxy
}

// restartManager replaces the reconciler by one of a new process: nothing in memory, no series.
func (h *discoveryHarness) restartManager() {
	metrics.GroupNewestPiTTimestampSeconds.DeletePartialMatch(map[string]string{metrics.LabelNamespace: h.ns})
	h.r = &ReplicationGroupReconciler{Client: h.r.Client, APIReader: h.r.APIReader, Sessions: h.r.Sessions, Recorder: h.recorder, Clock: h.clock}
}

// discover runs the discovery due one interval after the previous one, and expects it to succeed and
// schedule the next after the interval.
func (h *discoveryHarness) discover() {
	h.t.Helper()
	h.discoverAfter(DefaultDiscoveryInterval)
}

// discoverAfter runs a discovery d after the previous one (a finished ReplicationSync triggers one at
// once) and expects it to succeed and schedule the next after the interval.
func (h *discoveryHarness) discoverAfter(d time.Duration) {
	h.t.Helper()
	h.clock.SetTime(h.clock.Now().Add(d))
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(res.RequeueAfter).To(Equal(DefaultDiscoveryInterval))
}

// groups returns the namespace's ReplicationGroups by name.
func (h *discoveryHarness) groups() map[string]replicationv1alpha1.ReplicationGroup {
	h.t.Helper()
	list := &replicationv1alpha1.ReplicationGroupList{}
	h.g.Expect(h.c.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
	out := map[string]replicationv1alpha1.ReplicationGroup{}
	for _, rg := range list.Items {
		out[rg.Name] = rg
	}
	return out
}

// group returns the ReplicationGroup of array-a's group fd/dg.
func (h *discoveryHarness) group(fd, dg string) replicationv1alpha1.ReplicationGroup {
	h.t.Helper()
	rg, ok := h.groups()[groupObjectName("array-a", smssim.GroupID{FaultDomainID: fd, DeviceGroupID: dg})]
	h.g.Expect(ok).To(BeTrue(), "no ReplicationGroup for %s/%s", fd, dg)
	return rg
}

// resourceVersions maps each ReplicationGroup's name to its resourceVersion.
func (h *discoveryHarness) resourceVersions() map[string]string {
	out := map[string]string{}
	for name, rg := range h.groups() {
		out[name] = rg.ResourceVersion
	}
	return out
}
