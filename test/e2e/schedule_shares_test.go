package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestScheduleSharesAllGroupsOfALargeArray: a schedule whose selector matches more groups than one
// ReplicationSync holds runs them as a set of ReplicationSyncs; the manager syncs every discovered group
// exactly once under the run's PiT name (counted in the simulator's call log and PiT store), and the schedule records
// the success once the whole set succeeded. Its first run comes a minute after its creation (@every 1m
// is the shortest interval).
func TestScheduleSharesAllGroupsOfALargeArray(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", replicationv1alpha1.MaxGroupsPerRun+1)
	w := newProcWorld(t, arrayA(simGroups, 50*time.Millisecond, func(p *smssim.ProviderConfig) { p.MaxBatchSize = 100 }), 1)
	w.array(4, longInDoubt)
	w.startManager(procOptions{})

	g.Eventually(func(g Gomega) {
		list := &replicationv1alpha1.ReplicationGroupList{}
		g.Expect(adminClient.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(len(ids)))
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())

	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "all"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{Schedule: "@every 1m", Template: replicationv1alpha1.ReplicationSyncTemplate{
			Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
				ProviderRef:   replicationv1alpha1.LocalObjectReference{Name: "array"},
				GroupSelector: replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.FaultDomainLabel: "fd-1"}}),
			},
		}},
	}
	g.Expect(adminClient.Create(ctx, sched)).To(Succeed())

	runs := &replicationv1alpha1.ReplicationSyncList{}
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.List(ctx, runs, client.InNamespace(w.ns))).To(Succeed())
		g.Expect(runs.Items).To(HaveLen(2))
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	// One run is enough: no further ones.
	g.Expect(adminClient.Patch(ctx, sched, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":true}}`)))).To(Succeed())

	pitName := runs.Items[0].Spec.PitName
	var set []syncRun
	for _, rs := range runs.Items {
		g.Expect(rs.Spec.PitName).To(Equal(pitName))
		set = append(set, syncRun{key: client.ObjectKeyFromObject(&rs), pitName: pitName, ids: rs.Spec.GroupIDs})
	}
	waitAllSucceeded(t, set, 2*time.Minute)
	// The first calls are larger than the provider takes (TooMany teaches its batch size): count the
	// calls that started a task, and the PiTs.
	expectEachGroupIssuedOnce(g, w.sim.Calls(), ids)
	expectOnePiTPerGroup(g, w.sim, pitName, ids)
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.Get(ctx, client.ObjectKeyFromObject(sched), sched)).To(Succeed())
		g.Expect(sched.Status.LastSuccessfulTime).NotTo(BeNil())
		g.Expect(ptr.Deref(sched.Spec.Suspend, false)).To(BeTrue())
	}).WithTimeout(30 * time.Second).Should(Succeed())
}
