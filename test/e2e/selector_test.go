package e2e

import (
	"context"
	"fmt"
	"time"

	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestSyncBySelector: the manager discovers the provider's groups as ReplicationGroups; a sync by
// selector syncs exactly the groups that matched when it started, once each; a group that appears later
// is not added to the run.
func TestSyncBySelector(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var simGroups []smssim.GroupConfig
	for i := range 6 {
		name := "oracle-prod"
		if i%2 == 1 {
			name = "web"
		}
		simGroups = append(simGroups, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("dg-%02d", i), Name: name})
	}
	w := newProcWorld(t, arrayA(simGroups, 2*time.Second), 1) // tasks outlast the late group's arrival
	w.array(4, longInDoubt)
	w.startManager(procOptions{})

	oracle := client.MatchingLabels{replicationv1alpha1.SourceGroupLabel: "oracle-prod"}
	discovered := &replicationv1alpha1.ReplicationGroupList{}
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.List(ctx, discovered, client.InNamespace(w.ns), oracle)).To(Succeed())
		g.Expect(discovered.Items).To(HaveLen(3))
	}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())

	rs := &replicationv1alpha1.ReplicationSync{}
	rs.Namespace, rs.Name = w.ns, "oracle"
	rs.Spec.ProviderRef.Name, rs.Spec.PitName = "array", "oracle-1"
	rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: oracle})
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
		g.Expect(rs.Status.Groups).To(HaveLen(3))
	}).WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())
	// A group of the same source appears after the run started, at the array and as a ReplicationGroup
	// (as the next discovery would write it) while the run still runs: not part of this run.
	w.sim.Provider("array-a").AddGroups(smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: "dg-99", Name: "oracle-prod"})
	late := &replicationv1alpha1.ReplicationGroup{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "late-dg-99", Labels: discovered.Items[0].Labels}}
	late.Spec = discovered.Items[0].Spec
	late.Spec.GroupID.DeviceGroupID.ID = "dg-99"
	g.Expect(adminClient.Create(ctx, late)).To(Succeed())
	g.Expect(adminClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
	g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncRunning), "the late group arrived while the run ran")

	waitAllSucceeded(t, []syncRun{{key: client.ObjectKeyFromObject(rs), pitName: "oracle-1"}}, time.Minute)
	g.Expect(adminClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
	var synced []string
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		synced = append(synced, gs.DeviceGroupID.ID)
	}
	g.Expect(synced).To(ConsistOf("dg-00", "dg-02", "dg-04"))
	counts := w.sim.CallCounts("oracle-1")
	g.Expect(counts).To(HaveLen(3), "only the selected groups were called")
	for _, dg := range synced {
		g.Expect(counts[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: dg}]).To(Equal(1))
	}
}
