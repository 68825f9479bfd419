package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryKeepsLastSyncOfDeletedRuns: a run deleted after it synced a group (TTL, history limit)
// leaves the group's lastSync as it was, also when an older run of the group still exists; a newer
// run replaces it.
func TestDiscoveryKeepsLastSyncOfDeletedRuns(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	dg1 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}
	now := time.Now().UTC().Truncate(time.Second)
	finished := func(name string, done time.Time) *replicationv1alpha1.ReplicationSync {
		rs := newSelectorSync(h.ns, name, "array-a", nil)
		rs.Spec.GroupSelector = nil
		rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{*apiGroupID(dg1)}
		g.Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
		at := metav1.NewTime(done)
		rs.Status.CompletionTime = &at
		rs.Status.Phase = replicationv1alpha1.SyncSucceeded
		rs.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: *apiGroupID(dg1), State: replicationv1alpha1.GroupSynced}}
		g.Expect(k8sClient.Status().Update(h.ctx, rs)).To(Succeed())
		return rs
	}
	older := finished("older", now.Add(-2*time.Hour))
	newer := finished("newer", now.Add(-time.Hour))
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync.Name).To(Equal("newer"))

	// The newer run is deleted; the older one still exists: the stored lastSync stays, unwritten.
	rv := h.group("fd-1", "dg-1").ResourceVersion
	g.Expect(k8sClient.Delete(h.ctx, newer)).To(Succeed())
	h.discover()
	rg := h.group("fd-1", "dg-1")
	g.Expect(rg.ResourceVersion).To(Equal(rv))
	g.Expect(rg.Status.LastSync.Name).To(Equal("newer"))
	g.Expect(rg.Status.LastSync.CompletionTime.Time).To(BeTemporally("==", now.Add(-time.Hour)))

	// No run of the group is left: still as it was.
	g.Expect(k8sClient.Delete(h.ctx, older)).To(Succeed())
	h.discover()
	rg = h.group("fd-1", "dg-1")
	g.Expect(rg.ResourceVersion).To(Equal(rv))
	g.Expect(rg.Status.LastSync).NotTo(BeNil())
	g.Expect(rg.Status.LastSync.Name).To(Equal("newer"))

	// A run that finished later replaces it.
	finished("latest", now)
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync.Name).To(Equal("latest"))
}
