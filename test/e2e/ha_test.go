package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestVASAHASwitchKeepsGroupsAndTheirPiTs: the manager binary discovers six groups of array-a; then
// array-b becomes the active provider of fault domain fd-2 (VASA high availability). A run over every
// group makes one PiT per group, those of fd-2 at array-b, and the next discovery keeps all six
// ReplicationGroups and reads fd-2's newest PiTs at array-b.
func TestVASAHASwitchKeepsGroupsAndTheirPiTs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fd1, ids1 := groups("fd-1", 3)
	fd2, ids2 := groups("fd-2", 3)
	task := smssim.Duration{Duration: 50 * time.Millisecond}
	w := newProcWorld(t, smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "array-a", TaskDuration: task, Groups: slices.Concat(fd1, fd2)},
		{Name: "array-b", TaskDuration: task, Groups: fd2},
	}}, 1)
	w.array(4, longInDoubt, func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.Discovery.Interval = &metav1.Duration{Duration: 30 * time.Second}
	})
	w.startManager(procOptions{})
	rgs := func(g Gomega) []replicationv1alpha1.ReplicationGroup {
		list := &replicationv1alpha1.ReplicationGroupList{}
		g.Expect(adminClient.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
		return list.Items
	}
	g.Eventually(rgs).WithTimeout(time.Minute).WithPolling(time.Second).Should(HaveLen(6))

	w.sim.Provider("array-a").SetInactive("array-b", "fd-2")
	key := client.ObjectKey{Namespace: w.ns, Name: "ha-day"}
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	rs.Spec.ProviderRef.Name, rs.Spec.PitName, rs.Spec.GroupIDs = "array", "ha-day-1", slices.Concat(ids1, ids2)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	for group, n := range w.sim.PiTCounts("ha-day-1") {
		g.Expect(n).To(Equal(1), "one PiT of %v", group)
	}
	g.Expect(w.sim.PiTCounts("ha-day-1")).To(HaveLen(6))

	// The discovery after the run (30 s after it ended) and the ones after it.
	g.Eventually(func(g Gomega) {
		items := rgs(g)
		g.Expect(items).To(HaveLen(6))
		for _, rg := range items {
			g.Expect(rg.Status.NewestPiT).NotTo(BeNil(), rg.Name)
			g.Expect(rg.Status.NewestPiT.Name).To(Equal("ha-day-1"), rg.Name)
			g.Expect(rg.Status.State).To(Equal("TARGET"), rg.Name)
		}
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	g.Consistently(rgs).WithTimeout(40*time.Second).WithPolling(2*time.Second).Should(HaveLen(6), "through the next discovery")
	made := w.sim.PiTsOf("array-b", smssim.GroupID{FaultDomainID: "fd-2", DeviceGroupID: ids2[0].DeviceGroupID.ID})
	g.Expect(made).To(HaveLen(1), "fd-2's PiT was made through array-b")
}
