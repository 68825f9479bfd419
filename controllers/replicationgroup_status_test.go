package controllers

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryStatusSaysWhyItFailed: status.discovery keeps the last success and its group count, says
// why a discovery did not complete (a fault, an answer listing no group) until one does, and goes away
// with discovery turned off. The VasaProvider's Ready condition is left as it was.
func TestDiscoveryStatusSaysWhyItFailed(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
	}})
	key := client.ObjectKeyFromObject(h.vp)
	status := func() *replicationv1alpha1.DiscoveryStatus {
		vp := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(h.ctx, key, vp)).To(Succeed())
		g.Expect(vp.Status.Conditions).To(ContainElement(HaveField("Reason", replicationv1alpha1.ConnectedReason)))
		return vp.Status.Discovery
	}
	// as the API server gives it back: whole seconds, local time
	at := func() *metav1.Time { t := metav1.NewTime(h.clock.Now().Truncate(time.Second).Local()); return &t }

	h.discover()
	succeeded := at()
	g.Expect(status()).To(HaveValue(Equal(replicationv1alpha1.DiscoveryStatus{LastAttemptTime: succeeded, LastDuration: &metav1.Duration{}, LastSuccessTime: succeeded, Groups: 2})))

	a := h.sim.Provider("array-a")
	a.AddFault(smssim.FaultRule{Method: "QueryReplicationGroup", Fault: smssim.FaultReplication})
	h.clock.SetTime(h.clock.Now().Add(DefaultDiscoveryInterval))
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status()).To(HaveValue(And(
		HaveField("LastAttemptTime", Equal(at())), HaveField("LastSuccessTime", Equal(succeeded)), HaveField("Groups", BeEquivalentTo(2)),
		HaveField("Message", And(HavePrefix("Discovering replication groups failed: "), ContainSubstring("SmsReplicationFault"))))))

	a.ClearFaults()
	a.RestartProvider(time.Hour)
	h.discover()
	g.Expect(status()).To(HaveValue(And(HaveField("LastSuccessTime", Equal(succeeded)),
		HaveField("Message", HavePrefix("The provider reported no replication groups; the 2 ReplicationGroups of it are kept.")))))

	a.RestartProvider(0)
	h.discover()
	g.Expect(status()).To(HaveValue(Equal(replicationv1alpha1.DiscoveryStatus{LastAttemptTime: at(), LastDuration: &metav1.Duration{}, LastSuccessTime: at(), Groups: 2})))

	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, key, vp)).To(Succeed())
	vp.Spec.Discovery.Interval = &metav1.Duration{}
	g.Expect(k8sClient.Update(h.ctx, vp)).To(Succeed())
	_, err = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status()).To(BeNil(), "a last success that no longer moves would read as a stalled discovery")
}

// TestFailedDiscoveryKeepsTheLongerDuration: a discovery that fails at once leaves a slow provider's
// lastDuration as it was (finished runs are held for four times it); a complete one replaces it.
func TestFailedDiscoveryKeepsTheLongerDuration(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	key := client.ObjectKeyFromObject(h.vp)
	lastDuration := func() *metav1.Duration {
		vp := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(h.ctx, key, vp)).To(Succeed())
		return vp.Status.Discovery.LastDuration
	}
	h.discover()
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, key, vp)).To(Succeed())
	vp.Status.Discovery.LastDuration = &metav1.Duration{Duration: 8 * time.Minute}
	g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())

	a := h.sim.Provider("array-a")
	a.AddFault(smssim.FaultRule{Method: "QueryReplicationGroup", Fault: smssim.FaultReplication})
	h.clock.SetTime(h.clock.Now().Add(DefaultDiscoveryInterval))
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lastDuration()).To(HaveValue(HaveField("Duration", 8*time.Minute)))

	a.ClearFaults()
	h.discover()
	g.Expect(lastDuration()).To(HaveValue(HaveField("Duration", time.Duration(0))))
}

// TestDiscoveryTroubleIsLoggedWhenItChanges: PiTs that cannot be read, then a provider listing no group,
// each for three discoveries, are logged once each at their level (the status, an event and the metrics
// say it every time), not at every discovery.
func TestDiscoveryTroubleIsLoggedWhenItChanges(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
	}})
	var (
		mu    sync.Mutex
		lines []string
	)
	h.ctx = ctrl.LoggerInto(h.ctx, funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{}))
	logged := func(msg string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range lines {
			if strings.Contains(l, msg) {
				n++
			}
		}
		return n
	}
	h.discover()

	a := h.sim.Provider("array-a")
	a.AddFault(smssim.FaultRule{Method: "QueryPointInTimeReplica", Fault: smssim.FaultBusy})
	for range 3 {
		h.discover()
	}
	g.Expect(logged("Reading the newest PiTs failed")).To(Equal(1))

	a.ClearFaults()
	a.RestartProvider(time.Hour)
	for range 3 {
		h.discover()
	}
	g.Expect(logged("The provider reported no replication groups")).To(Equal(1))
}

// TestDiscoveryDroppedByAnOldCRDIsReported: a VasaProvider CRD older than the manager (a chart upgraded
// without its CRDs) has the API server take every status.discovery write and drop the field, as it prunes
// fields its schema lacks. Runs by groupSelector would wait for good for a first discovery they cannot
// see; the VasaProvider gets a DiscoveryNotRecorded warning that says what to apply.
func TestDiscoveryDroppedByAnOldCRDIsReported(t *testing.T) {
	g := NewWithT(t)
	pruning := intercepted(g, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			data, err := patch.Data(obj)
			g.Expect(err).NotTo(HaveOccurred())
			var body map[string]any
			g.Expect(json.Unmarshal(data, &body)).To(Succeed())
			if st, ok := body["status"].(map[string]any); ok {
				delete(st, "discovery")
			}
			data, err = json.Marshal(body)
			g.Expect(err).NotTo(HaveOccurred())
			return cl.SubResource(sub).Patch(ctx, obj, client.RawPatch(types.MergePatchType, data), opts...)
		},
	})
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	h.r.Client = pruning
	h.discover()
	g.Expect(h.groups()).To(HaveLen(1), "discovery itself works")
	var events []string
	for len(h.recorder.Events) > 0 {
		events = append(events, <-h.recorder.Events)
	}
	g.Expect(events).To(ContainElement(And(HavePrefix("Warning "+DiscoveryNotRecordedReason), ContainSubstring("Apply the CRDs of this release"))))
}
