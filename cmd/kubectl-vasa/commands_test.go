package main

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func TestGroups(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-groups")
	fleet(g, ns)

	out, err := run("groups", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "groups", out)

	out, err = run("groups", "-n", ns, "--provider", "array-a", "-l", "replication.vasa.io/source-group=oracle")
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "groups-selector", out)

	_, err = run("groups", "-n", ns, "-l", "replication.vasa.io/source-group=db2")
	g.Expect(err).To(MatchError(ContainSubstring("no ReplicationGroups in namespace plugin-groups match -l replication.vasa.io/source-group=db2: run 'kubectl get rg -n plugin-groups --show-labels' to see the labels")))
	_, err = run("groups", "-n", ns, "-l", "a in (b")
	g.Expect(err).To(MatchError(ContainSubstring(`-l "a in (b" is not a label selector`)))
	_, err = run("groups", "-n", "plugin-empty")
	g.Expect(err).To(MatchError(ContainSubstring("run 'kubectl vasa doctor -n plugin-empty'")))
}

func TestStatusWorstFirst(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-status")
	fleet(g, ns)
	// Failed over: its old PiT is no RPO to watch (the metric and the alert leave it out too).
	group(g, ns, "array-b", "fd-9", "dg-2", "FAILEDOVER", "", 26*time.Hour, nil)
	out, err := run("status", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "status", out)
}

func TestSyncFromIDsAndSelector(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, g, "plugin-sync")
	fleet(g, ns)

	out, err := run("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--group", "fd-2/dg-1")
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "sync-ids", out)
	rs := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "manual-20261123-120000"}, rs)).To(Succeed())
	g.Expect(rs.Spec.GroupIDs).To(HaveLen(2))
	g.Expect(rs.Spec.GroupIDs[1].FaultDomainID.ID).To(Equal("fd-2"))

	// A fault domain id with a "/" in it (the API allows it) cannot be written with --group; --rg names
	// the group by its ReplicationGroup, as the RPO runbook does.
	slashed := replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "site-a/fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-7"}}
	g.Expect(k8sClient.Create(ctx, &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "array-a-site-a-fd-1-dg-7"},
		Spec:       replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"}, GroupID: slashed},
	})).To(Succeed())
	_, err = run("sync", "-n", ns, "--provider", "array-a", "--rg", "array-a-nothing", "--pit-name", "by-rg")
	g.Expect(err).To(MatchError(ContainSubstring("no ReplicationGroup of that name")))
	_, err = run("sync", "-n", ns, "--provider", "array-a", "--rg", "array-a-site-a-fd-1-dg-7", "--group", "fd-1/dg-2", "--pit-name", "by-rg")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "by-rg"}, rs)).To(Succeed())
	g.Expect(rs.Spec.GroupIDs).To(ConsistOf(slashed, replicationv1alpha1.ReplicationGroupID{
		FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-2"}}))
	_, err = run("sync", "-n", ns, "--provider", "array-b", "--rg", "array-a-site-a-fd-1-dg-7")
	g.Expect(err).To(MatchError(ContainSubstring("the group is VasaProvider array-a's, not array-b's")))

	out, err = run("sync", "-n", ns, "--provider", "array-a", "-l", "replication.vasa.io/source-group=oracle,replication.vasa.io/state=TARGET", "--pit-name", "oracle-now")
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "sync-selector", out)
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "oracle-now"}, rs)).To(Succeed())
	g.Expect(rs.Spec.GroupIDs).To(BeEmpty())
	g.Expect(rs.Spec.GroupSelector.MatchLabels).To(HaveKeyWithValue(replicationv1alpha1.SourceGroupLabel, replicationv1alpha1.LabelSelectorValue("oracle")))

	tests := map[string]struct {
		args []string
		want string
	}{
		"selector matches none": {[]string{"--provider", "array-b", "-l", "replication.vasa.io/source-group=oracle"}, "nothing created: no ReplicationGroups in namespace plugin-sync of provider array-b match"},
		"name taken":            {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "oracle-now"}, "ReplicationSync oracle-now already exists in namespace plugin-sync with another provider, PiT name or groups: choose another --name."},
		"schedule unknown":      {[]string{"--from-schedule", "weekly"}, `no ReplicationSyncSchedule "weekly" in namespace plugin-sync`},
		"pit name without a letter for the object name": {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "夜間バックアップ"}, `--pit-name "夜間バックアップ" has no letter or digit an object name can take: give the ReplicationSync a --name`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := run(append([]string{"sync", "-n", ns}, tc.args...)...)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestSyncFromSchedule(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, g, "plugin-schedule")
	fleet(g, ns)
	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "0 2 * * *",
			Template: replicationv1alpha1.ReplicationSyncTemplate{
				Metadata: replicationv1alpha1.TemplateMetadata{Labels: map[string]string{"team": "dba"}},
				Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
					ProviderRef:             replicationv1alpha1.LocalObjectReference{Name: "array-a"},
					GroupSelector:           replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "oracle"}}),
					ProgressDeadlineSeconds: ptr.To[int32](1800),
				},
			},
		},
	}
	g.Expect(k8sClient.Create(ctx, sched)).To(Succeed())
	out, err := run("sync", "-n", ns, "--from-schedule", "nightly")
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "sync-from-schedule", out)
	rs := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly-manual-20261123120000"}, rs)).To(Succeed())
	g.Expect(rs.Spec.PitName).To(Equal("nightly-manual-20261123120000"))
	g.Expect(rs.Spec.GroupSelector).To(Equal(sched.Spec.Template.Spec.GroupSelector))
	g.Expect(rs.Spec.ProgressDeadlineSeconds).To(HaveValue(BeEquivalentTo(1800)), "every field of the template")
	g.Expect(rs.Labels).To(Equal(map[string]string{"team": "dba", replicationv1alpha1.ScheduleLabel: "nightly"}))
	g.Expect(rs.Annotations).To(HaveKeyWithValue(InstantiateAnnotation, "manual"))
	g.Expect(rs.OwnerReferences).To(HaveLen(1))
	g.Expect(rs.OwnerReferences[0].UID).To(Equal(sched.UID))
	g.Expect(sched.Spec.Template.Metadata.Labels).To(HaveLen(1), "the schedule's template is not changed")

	empty := sched.DeepCopy()
	empty.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "db2"}
	empty.Spec.Template.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "db2"}})
	g.Expect(k8sClient.Create(ctx, empty)).To(Succeed())
	_, err = run("sync", "-n", ns, "--from-schedule", "db2")
	g.Expect(err).To(MatchError(ContainSubstring("nothing created: no ReplicationGroups in namespace plugin-schedule of provider array-a match -l replication.vasa.io/source-group=db2")))
}

// waitTimeout bounds how long the test waits for what the plugin, running beside it, does next.
const waitTimeout = 30 * time.Second

// TestSyncWait drives the run's status from the test, as the operator would, and checks each progress
// line the plugin prints (one per change when stdout is not a terminal).
func TestSyncWait(t *testing.T) {
	for name, final := range map[string]replicationv1alpha1.SyncPhase{"succeeded": replicationv1alpha1.SyncSucceeded, "failed": replicationv1alpha1.SyncFailed} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := namespace(t, g, "plugin-wait-"+name)
			fleet(g, ns)
			out := &syncBuffer{}
			errc := make(chan error, 1)
			go func() {
				errc <- runTo(ctx, out, "sync", "-n", ns, "--provider", "array-a", "-l", "replication.vasa.io/source-group=oracle", "--pit-name", "now", "--wait")
			}()
			key := client.ObjectKey{Namespace: ns, Name: "now"}
			rs := &replicationv1alpha1.ReplicationSync{}
			// The plugin runs beside the test: on a loaded machine it may take seconds to create and print.
			g.Eventually(func() error { return k8sClient.Get(ctx, key, rs) }).WithTimeout(waitTimeout).Should(Succeed())
			g.Eventually(out.String).WithTimeout(waitTimeout).Should(ContainSubstring("now: Pending 0/0 synced"))

			step := func(phase replicationv1alpha1.SyncPhase, synced, failed, pending int32, reason string, want string) {
				g.Expect(k8sClient.Get(ctx, key, rs)).To(Succeed())
				rs.Status.Phase = phase
				rs.Status.Summary = &replicationv1alpha1.SyncSummary{Total: 2, Synced: synced, Failed: failed, Pending: pending}
				rs.Status.Groups = []replicationv1alpha1.GroupStatus{
					{ReplicationGroupID: id("fd-1", "dg-1"), State: replicationv1alpha1.GroupSynced},
					{ReplicationGroupID: id("fd-1", "dg-2"), State: replicationv1alpha1.GroupFailed, Message: "replication link down"},
				}
				rs.Status.Conditions = nil
				if reason != "" {
					cond(rs, replicationv1alpha1.ReconcilingCondition, reason)
				}
				if phase == replicationv1alpha1.SyncFailed {
					cond(rs, replicationv1alpha1.StalledCondition, replicationv1alpha1.FailedReason)
				}
				g.Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())
				g.Eventually(out.String).WithTimeout(waitTimeout).Should(ContainSubstring(want))
			}
			step(replicationv1alpha1.SyncRunning, 0, 0, 2, replicationv1alpha1.WaitingForTaskReason, "now: Running 0/2 synced, 0 failed, 2 pending (WaitingForTask)")
			step(replicationv1alpha1.SyncRunning, 1, 0, 1, replicationv1alpha1.BackingOffReason, "now: Running 1/2 synced, 0 failed, 1 pending (BackingOff)")
			if final == replicationv1alpha1.SyncSucceeded {
				step(final, 2, 0, 0, "", "now: Succeeded 2/2 synced")
			} else {
				step(final, 1, 1, 0, "", "now: Failed 1/2 synced")
			}
			var err error
			g.Eventually(errc).WithTimeout(10 * time.Second).Should(Receive(&err))
			if final == replicationv1alpha1.SyncFailed {
				g.Expect(err).To(HaveOccurred())
				g.Expect(exitCode(err)).To(Equal(1), "a failed sync is no wait that stopped early")
				golden(t, "sync-wait-failed", out.String()+"error: "+err.Error()+"\n")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			golden(t, "sync-wait-succeeded", out.String())
		})
	}
}

func TestSyncRefusesAMissingProvider(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-no-provider")
	_, err := run("sync", "-n", ns, "--provider", "arrray-a", "--group", "fd-1/dg-1", "--pit-name", "typo", "--wait")
	g.Expect(err).To(MatchError("--provider arrray-a: no VasaProvider of that name in namespace plugin-no-provider (kubectl get vp -n plugin-no-provider lists them)"))
	list := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(BeEmpty())
}

func TestSyncWaitTimeout(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-timeout")
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{}, nil, nil)
	_, err := run("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "slow", "--wait", "--timeout", "50ms")
	g.Expect(err).To(MatchError(ContainSubstring("stopped waiting for ReplicationSync slow (context deadline exceeded); the sync goes on: follow it with 'kubectl get rsync slow -n plugin-timeout -w'")))
}

func id(fd, dg string) replicationv1alpha1.ReplicationGroupID {
	return replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg}}
}

func cond(rs *replicationv1alpha1.ReplicationSync, t, reason string) {
	rs.Status.Conditions = append(rs.Status.Conditions, metav1.Condition{
		Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: "1 of 2 groups failed", LastTransitionTime: metav1.NewTime(now),
	})
}
