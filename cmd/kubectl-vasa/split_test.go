package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestSyncSplit selects more groups than one run holds: refused without --split, shared out over two
// runs the API server admits with it, and followed to the end with --wait.
func TestSyncSplit(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := splitWorld(t, g, "plugin-split")
	sel := replicationv1alpha1.FaultDomainLabel + "=fd-big"

	_, err := run("sync", "-n", ns, "--provider", "array-a", "-l", sel, "--pit-name", "failover")
	g.Expect(err).To(MatchError(ContainSubstring("nothing created: the selector replication.vasa.io/fault-domain=fd-big matches 1001 groups of provider array-a " +
		"(13013 bytes of ids), more than one ReplicationSync holds (1000 groups, 160000 bytes): add --split to create 2 ReplicationSyncs of the same PiT name, or narrow the selector")))
	list := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(BeEmpty(), "nothing is created without --split")

	_, err = run("sync", "-n", ns, "--provider", "array-a", "-l", sel, "--pit-name", "failover", "--split", "--name", strings.Repeat("n", 252))
	g.Expect(err).To(MatchError(ContainSubstring("nothing created: ReplicationSync name \"" + strings.Repeat("n", 252) + "-1\": must be no more than 253 characters; choose a shorter --name")))

	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- runTo(ctx, out, "sync", "-n", ns, "--provider", "array-a", "-l", sel, "--pit-name", "failover", "--split", "--wait")
	}()
	g.Eventually(out.String).WithTimeout(waitTimeout).Should(ContainSubstring("failover (2 ReplicationSyncs): Pending 0/1001 synced"))
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{replicationv1alpha1.SyncSetLabel: "failover"})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(2))
	var got []replicationv1alpha1.ReplicationGroupID
	for _, rs := range list.Items {
		g.Expect(rs.Spec.PitName).To(Equal("failover"))
		g.Expect(rs.Spec.GroupSelector).To(BeNil())
		got = append(got, rs.Spec.GroupIDs...)
	}
	g.Expect(got).To(HaveLen(1001))
	g.Expect(slices.IsSortedFunc(got, replicationv1alpha1.CompareGroupIDs)).To(BeTrue())
	g.Expect(slices.ContainsFunc(got, func(i replicationv1alpha1.ReplicationGroupID) bool { return i.FaultDomainID.ID != "fd-big" })).To(BeFalse())
	g.Expect(slices.CompactFunc(got, func(a, b replicationv1alpha1.ReplicationGroupID) bool { return a == b })).To(HaveLen(1001), "each group in one run")

	finish := func(name string, phase replicationv1alpha1.SyncPhase, want string) {
		rs := &replicationv1alpha1.ReplicationSync{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs)).To(Succeed())
		n := int32(len(rs.Spec.GroupIDs))
		rs.Status.Phase = phase
		rs.Status.Summary = &replicationv1alpha1.SyncSummary{Total: n, Synced: n}
		if phase == replicationv1alpha1.SyncFailed {
			rs.Status.Summary = &replicationv1alpha1.SyncSummary{Total: n, Synced: n - 1, Failed: 1}
			rs.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: rs.Spec.GroupIDs[0], State: replicationv1alpha1.GroupFailed, Message: "replication link down"}}
			cond(rs, replicationv1alpha1.StalledCondition, replicationv1alpha1.FailedReason)
		}
		g.Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())
		g.Eventually(out.String).WithTimeout(waitTimeout).Should(ContainSubstring(want))
	}
	finish("failover-1", replicationv1alpha1.SyncSucceeded, "failover (2 ReplicationSyncs): Running 500/1001 synced, 0 failed, 501 pending")
	finish("failover-2", replicationv1alpha1.SyncFailed, "failover (2 ReplicationSyncs): Failed 1000/1001 synced, 1 failed, 0 pending")
	g.Eventually(errc).WithTimeout(waitTimeout).Should(Receive(&err))
	g.Expect(err).To(MatchError(HavePrefix("ReplicationSync failover-2 failed: Failed: 1 of 2 groups failed\n  fd-big/dg-0500: replication link down")))
	golden(t, "sync-split", out.String())

	// A schedule's template shares its run the same way: the shares are the schedule's (owned, labelled),
	// and count as its run only when all of them succeeded.
	big := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{Schedule: "0 2 * * *", Template: replicationv1alpha1.ReplicationSyncTemplate{
			Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
				ProviderRef:   replicationv1alpha1.LocalObjectReference{Name: "array-a"},
				GroupSelector: replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.FaultDomainLabel: "fd-big"}}),
			},
		}},
	}
	g.Expect(k8sClient.Create(ctx, big)).To(Succeed())
	_, err = run("sync", "-n", ns, "--from-schedule", "big")
	g.Expect(err).To(MatchError(ContainSubstring("matches 1001 groups of provider array-a (13013 bytes of ids), more than one ReplicationSync holds (1000 groups, 160000 bytes): add --split")))
	_, err = run("sync", "-n", ns, "--from-schedule", "big", "--split")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{replicationv1alpha1.SyncSetLabel: "big-manual-20261123120000"})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(2))
	for _, rs := range list.Items {
		g.Expect(rs.Labels).To(HaveKeyWithValue(replicationv1alpha1.ScheduleLabel, "big"))
		g.Expect(rs.OwnerReferences).To(ConsistOf(HaveField("UID", big.UID)))
		g.Expect(rs.Annotations).To(HaveKeyWithValue(replicationv1alpha1.ShareAnnotation, MatchRegexp(`^[12]/2$`)))
		g.Expect(rs.Spec.PitName).To(Equal("big-manual-20261123120000"))
	}
}

// splitWorld returns a namespace with the fleet and, in fault domain fd-big, one group more than one
// ReplicationSync holds.
func splitWorld(t *testing.T, g *WithT, name string) string {
	ns := namespace(t, g, name)
	fleet(g, ns)
	g.Expect(testenv.CreateGroups(context.Background(), k8sClient, ns, "array-a", "fd-big", replicationv1alpha1.MaxGroupsPerRun+1)).To(Succeed())
	return ns
}

// TestSyncSplitNamesGroupsLeftOut: a group whose ids groupIds cannot name is left out of a --split set.
// The runs are created for the others, and the command exits 1 naming it: exit 0 would tell a script
// that every group it matched was synced.
func TestSyncSplitNamesGroupsLeftOut(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := splitWorld(t, g, "plugin-split-left")
	g.Expect(k8sClient.Create(ctx, &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "array-a-fd-big-padded", Labels: map[string]string{
			replicationv1alpha1.ProviderLabel: "array-a", replicationv1alpha1.FaultDomainLabel: "fd-big", replicationv1alpha1.StateLabel: "TARGET",
		}},
		Spec: replicationv1alpha1.ReplicationGroupSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
			GroupID: replicationv1alpha1.ReplicationGroupID{
				FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-big"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-padded "},
			},
		},
	})).To(Succeed())

	_, err := run("sync", "-n", ns, "--provider", "array-a", "-l", replicationv1alpha1.FaultDomainLabel+"=fd-big", "--pit-name", "failover", "--split")
	g.Expect(err).To(MatchError(HavePrefix("not every group matched is synced: 1 groups have ids with white space around them or control characters")))
	g.Expect(err.Error()).To(ContainSubstring("dg-padded "))
	g.Expect(exitCode(err)).To(Equal(1))
	list := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{replicationv1alpha1.SyncSetLabel: "failover"})).To(Succeed())
	held := 0
	for _, rs := range list.Items {
		held += len(rs.Spec.GroupIDs)
	}
	g.Expect(held).To(Equal(replicationv1alpha1.MaxGroupsPerRun+1), "the runs hold every other group")
}

// TestSyncSplitRefusedShareCreatesNothing: when the API server would refuse one share (here an admission
// policy; a quota does the same), no share is created: the others would run while the groups of the
// refused one are not synced, and running the command again would sync theirs a second time.
func TestSyncSplitRefusedShareCreatesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := splitWorld(t, g, "plugin-split-refused")

	remove, err := testenv.RefuseSyncs(ctx, k8sClient, ns, ns+"-no-second-share", "!object.metadata.name.endsWith('-2')", "no second share here")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(remove)
	// The policy takes effect once the API server has loaded it: until a dry run of a second share fails.
	probe := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe-2"},
		Spec: replicationv1alpha1.ReplicationSyncSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"}, PitName: "probe",
			GroupIDs: []replicationv1alpha1.ReplicationGroupID{{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-1"}}}},
	}
	g.Eventually(func() error { return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll) }).WithTimeout(waitTimeout).Should(HaveOccurred())

	_, err = run("sync", "-n", ns, "--provider", "array-a", "-l", replicationv1alpha1.FaultDomainLabel+"=fd-big", "--pit-name", "failover", "--split")
	g.Expect(err).To(MatchError(And(ContainSubstring("nothing created"), ContainSubstring("no second share here"))))
	list := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(BeEmpty())
}
