package controllers

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryFollowsAnHASwitch: after another provider became active for one of its fault domains
// (VASA high availability), the provider lists only the other domain's groups and refuses queries naming
// the first's. Discovery keeps every ReplicationGroup, interval after interval, and reads the newest PiTs
// of the moved domain at the active provider, where the syncs re-routed there made them. Groups the array
// really removed are still deleted.
func TestDiscoveryFollowsAnHASwitch(t *testing.T) {
	g := NewWithT(t)
	var fd1, fd2 []smssim.GroupConfig
	for _, dg := range []string{"dg-1", "dg-2", "dg-3"} {
		fd1 = append(fd1, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: dg})
		fd2 = append(fd2, smssim.GroupConfig{FaultDomain: "fd-2", DeviceGroup: dg})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: slices.Concat(fd1, fd2)},
		smssim.ProviderConfig{Name: "array-b", Groups: fd2})
	h.discover()
	g.Expect(h.groups()).To(HaveLen(6))

	a, b := h.sim.Provider("array-a"), h.sim.Provider("array-b")
	a.SetInactive("array-b", "fd-2")
	moved := sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-1"}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	made := b.AddPiT(moved, "hourly-1", at)
	for range 3 {
		h.discover()
		g.Expect(h.groups()).To(HaveLen(6), "the groups of the domain array-b is active for are kept")
	}
	rg := h.group("fd-2", "dg-1")
	g.Expect(rg.Status.NewestPiT).NotTo(BeNil())
	g.Expect(rg.Status.NewestPiT.ID).To(Equal(made))
	g.Expect(rg.Status.State).To(Equal("TARGET"))
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(h.c.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	g.Expect(vp.Status.Discovery.Message).To(BeEmpty(), "every PiT read")
	g.Expect(vp.Status.Discovery.Groups).To(BeEquivalentTo(6))

	// The active provider busy for a while: the groups it could not answer for are kept as they are.
	b.FailNext("QueryReplicationGroup", smssim.FaultBusy, 2)
	h.discover()
	h.discover()
	g.Expect(h.groups()).To(HaveLen(6), "unanswered is not gone")

	// A group gone from the array is gone at the active provider too: deleted after its misses.
	b.RemoveGroups(sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-3"})
	h.discover()
	h.discover()
	g.Expect(h.groups()).To(HaveLen(5))
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-3"})))
}

// TestGroupRemovedAtAProviderThatAnswersOnlyForItsGroups: a provider that leaves an id it does not know
// out of its answer, rather than failing it, neither lists a removed group nor answers for it: its
// ReplicationGroup is deleted after its misses, as at a provider that fails it, not kept for good.
func TestGroupRemovedAtAProviderThatAnswersOnlyForItsGroups(t *testing.T) {
	g := NewWithT(t)
	var groups []smssim.GroupConfig
	for _, dg := range []string{"dg-1", "dg-2", "dg-3"} {
		groups = append(groups, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: dg})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: groups, UnknownGroupsLeftOut: true})
	h.discover()
	g.Expect(h.groups()).To(HaveLen(3))
	removed := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-3"}
	h.sim.Provider("array-a").RemoveGroups(removed)
	h.discover()
	h.discover()
	g.Expect(h.groups()).To(HaveLen(2))
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", removed)))
	g.Eventually(h.recorder.Events).Should(Receive(And(ContainSubstring("Warning "+GroupsRemovedReason),
		ContainSubstring("Deleting 1 ReplicationGroups"), ContainSubstring(groupObjectName("array-a", removed)))))
}
