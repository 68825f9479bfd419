package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryWritesWhatItCan: a group whose id no object can hold is left out with a Warning event,
// and one write the API server refuses (an object of that name exists, without the provider label)
// fails the discovery without holding back the other groups' objects.
func TestDiscoveryWritesWhatItCan(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("d", replicationv1alpha1.IDMaxLength+1)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: long},
		{FaultDomain: "fd-1", DeviceGroup: "dg-3"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-4"},
	}})
	taken := groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-3"})
	g.Expect(h.c.Create(h.ctx, &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: taken},
		Spec: replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "someone-else"},
			GroupID: *apiGroupID(sms.GroupID{FaultDomainID: "fd-9", DeviceGroupID: "dg-9"})},
	})).To(Succeed())

	h.clock.SetTime(h.clock.Now().Add(DefaultDiscoveryInterval))
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.c.Get(h.ctx, client.ObjectKeyFromObject(h.vp), h.vp)).To(Succeed())
	g.Expect(h.vp.Status.Discovery.Message).To(And(ContainSubstring("1 of 3 ReplicationGroup writes failed"), ContainSubstring(taken)))
	g.Expect(h.groups()).To(HaveKey(groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})))
	g.Expect(h.groups()).To(HaveKey(groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-4"})))
	g.Expect(h.groups()).To(HaveLen(3), "dg-1, dg-4 and the object in the way")
	g.Expect(newestPiTSeries(h.ns, "array-a", taken)).To(BeNil(), "no object, no time it was first seen")
	g.Eventually(h.recorder.Events).Should(Receive(And(ContainSubstring("Warning"), ContainSubstring(GroupIDsNotHeldReason),
		ContainSubstring("1 replication groups"), ContainSubstring(`"fd-1"/"ddd`))))
}

// TestDesiredGroupDropsWhatTheAPICannotHold: a source id with one part missing is left out, and a PiT
// without a time keeps the stored one with a message, instead of an object the API server refuses.
func TestDesiredGroupDropsWhatTheAPICannotHold(t *testing.T) {
	g := NewWithT(t)
	vp := newProvider("ns", "array-a", "creds")
	id := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}
	storedPiT := &replicationv1alpha1.PointInTime{Name: "hourly-1", TimeStamp: metav1.NewTime(time.Now().Truncate(time.Second))}
	stored := &replicationv1alpha1.ReplicationGroup{Status: replicationv1alpha1.ReplicationGroupStatus{NewestPiT: storedPiT}}
	obs := observedGroup{
		info: sms.GroupInfo{Group: id, State: "TARGET", Source: &sms.GroupID{FaultDomainID: "fd-src"}},
		pit:  &sms.NewestPiT{Group: id, PiT: &sms.PointInTime{Group: id, Name: "hourly-2"}},
	}
	rg := desiredGroup(vp, obs, nil, stored)
	g.Expect(rg.Status.SourceGroupID).To(BeNil())
	g.Expect(rg.Status.NewestPiT).To(Equal(storedPiT))
	g.Expect(rg.Status.Message).To(ContainSubstring("without a time"))
}

// TestDiscoveryReclaimsItsObjectWithoutItsLabel: someone removed the provider label from a
// ReplicationGroup of the VasaProvider, so that the listing by label misses it. Discovery updates it
// (the label comes back) instead of failing every time on a create that finds it exists.
func TestDiscoveryReclaimsItsObjectWithoutItsLabel(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
	}})
	h.discover()
	rg := h.group("fd-1", "dg-1")
	delete(rg.Labels, replicationv1alpha1.ProviderLabel)
	rg.Labels["team"] = "storage"
	g.Expect(h.c.Update(h.ctx, &rg)).To(Succeed())

	h.discover()
	got := h.group("fd-1", "dg-1")
	g.Expect(got.Labels).To(HaveKeyWithValue(replicationv1alpha1.ProviderLabel, "array-a"))
	g.Expect(got.Labels).To(HaveKeyWithValue("team", "storage"), "labels of others are kept")
	g.Expect(got.UID).To(Equal(rg.UID))
}
