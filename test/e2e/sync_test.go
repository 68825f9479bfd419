package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

const syncTimeout = 60 * time.Second

func TestBatchSizeLearnedFromTooMany(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 40)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", MaxBatchSize: 7, TaskDuration: smssim.Duration{Duration: 30 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "")

	rs := newSync(ns, "nightly", "array", "nightly-1", ids)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	rs = waitPhase(t, client.ObjectKeyFromObject(rs), replicationv1alpha1.SyncSucceeded, syncTimeout)

	calls := syncCallsFor(sim, "nightly-1")
	g.Expect(calls).NotTo(BeEmpty())
	g.Expect(calls[0].Fault).To(Equal("TooMany"))
	g.Expect(calls[0].GroupCount()).To(Equal(40))
	var sizes []int
	for _, c := range calls[1:] {
		g.Expect(c.Fault).To(BeEmpty())
		sizes = append(sizes, c.GroupCount())
	}
	g.Expect(sizes).To(Equal([]int{7, 7, 7, 7, 7, 5}))

	pits := map[sms.GroupID]smssim.PiTRecord{}
	for _, p := range pitsFor(sim, "nightly-1") {
		g.Expect(pits).NotTo(HaveKey(p.Group), "one PiT per group")
		pits[p.Group] = p
	}
	g.Expect(pits).To(HaveLen(40))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		p := pits[sms.GroupID{FaultDomainID: gs.FaultDomainID.ID, DeviceGroupID: gs.DeviceGroupID.ID}]
		g.Expect(gs.PitID).To(Equal(p.PitID))
		g.Expect(gs.PitName).To(Equal("nightly-1"))
		g.Expect(gs.TimeStamp).NotTo(BeNil())
		g.Expect(gs.TimeStamp.Time).To(BeTemporally("~", p.TimeStamp, time.Second))
	}
	g.Expect(rs.Status.SyncedDisplay).To(Equal("40/40"))
	g.Expect(rs.Status.BatchSize).To(BeEquivalentTo(7))
	g.Expect(rs.Status.StartTime).NotTo(BeNil())
	g.Expect(rs.Status.CompletionTime).NotTo(BeNil())
	g.Expect(kstatusOf(g, rs)).To(Equal(status.CurrentStatus))

	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array"}, vp)).To(Succeed())
	g.Expect(vp.Status.LearnedMaxBatchSize).To(BeEquivalentTo(7))
	g.Expect(kstatusOf(g, vp)).To(Equal(status.CurrentStatus))

	// Once learned, no call is oversize.
	rs2 := newSync(ns, "nightly-2", "array", "nightly-2", ids)
	g.Expect(adminClient.Create(ctx, rs2)).To(Succeed())
	waitPhase(t, client.ObjectKeyFromObject(rs2), replicationv1alpha1.SyncSucceeded, syncTimeout)
	calls = syncCallsFor(sim, "nightly-2")
	g.Expect(calls).To(HaveLen(6))
	for _, c := range calls {
		g.Expect(c.Fault).To(BeEmpty())
		g.Expect(c.GroupCount()).To(BeNumerically("<=", 7))
	}
}

func TestBusyThenSuccess(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 3)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: simGroups,
	}}})
	sim.Provider("array-a").FailNext("SyncReplicationGroup_Task", smssim.FaultBusy, 3)
	ns := newNamespace(t)
	tm := fast
	tm.backoff.Base = 300 * time.Millisecond // long enough to see the backoff in status
	tm.backoff.Max = time.Second
	startManager(t, ns, tm)
	createProvider(t, ns, "array", sim, "array-a", "")
	busyBefore := testutil.ToFloat64(metrics.ProviderFaultsTotal.WithLabelValues(ns, "array", "ProviderBusy"))

	rs := newSync(ns, "busy", "array", "busy-1", ids)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	key := client.ObjectKeyFromObject(rs)

	g.Eventually(func(g Gomega) {
		rs := getSync(g, key)
		c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(replicationv1alpha1.BackingOffReason))
		g.Expect(rs.Status.Retry).NotTo(BeNil())
		g.Expect(rs.Status.Retry.Attempts).To(BeNumerically(">=", 1))
		g.Expect(rs.Status.Retry.NextRetryTime).NotTo(BeNil())
		g.Expect(rs.Status.Retry.LastFault.Type).To(Equal("ProviderBusy"))
		g.Expect(kstatusOf(g, rs)).To(Equal(status.InProgressStatus))
	}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())

	rs = waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(rs.Status.Retry.LastFault.Type).To(Equal("ProviderBusy"), "the last fault stays on record")
	g.Expect(rs.Status.Retry.Attempts).To(BeZero(), "reset by the successful call")
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Attempts).To(BeZero(), "busy is not a group failure")
	}
	calls := syncCallsFor(sim, "busy-1")
	g.Expect(calls).To(HaveLen(4))
	for _, c := range calls[:3] {
		g.Expect(c.Fault).To(Equal("ProviderBusy"))
	}
	g.Expect(calls[3].Fault).To(BeEmpty())
	g.Expect(testutil.ToFloat64(metrics.ProviderFaultsTotal.WithLabelValues(ns, "array", "ProviderBusy")) - busyBefore).To(BeEquivalentTo(3))
	// The retries were spaced by the backoff.
	g.Expect(calls[3].Time.Sub(calls[0].Time)).To(BeNumerically(">=", 3*300*time.Millisecond))
}

func TestMixedGroupResults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 4)
	simGroups[1].Errors, simGroups[1].ErrorMessage = -1, "journal full"
	simGroups[3].Errors, simGroups[3].ErrorMessage = -1, "link down"
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "")

	rs := newSync(ns, "mixed", "array", "mixed-1", ids)
	rs.Spec.BackoffLimit = ptr.To[int32](2)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	rs = waitPhase(t, client.ObjectKeyFromObject(rs), replicationv1alpha1.SyncFailed, syncTimeout)

	g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced))
	g.Expect(rs.Status.Groups[2].State).To(Equal(replicationv1alpha1.GroupSynced))
	for _, i := range []int{1, 3} {
		gs := rs.Status.Groups[i]
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupFailed))
		g.Expect(gs.Attempts).To(BeEquivalentTo(3), "first try plus backoffLimit retries")
	}
	g.Expect(rs.Status.Groups[1].Message).To(ContainSubstring("journal full"))
	g.Expect(rs.Status.Groups[3].Message).To(ContainSubstring("link down"))

	ready := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(BeEquivalentTo("False"))
	g.Expect(ready.Message).To(ContainSubstring("fd-1/dg-02"))
	g.Expect(ready.Message).To(ContainSubstring("fd-1/dg-04"))
	g.Expect(ready.Message).NotTo(ContainSubstring("fd-1/dg-01"))
	g.Expect(rs.Status.SyncedDisplay).To(Equal("2/4"))
	g.Expect(kstatusOf(g, rs)).To(Equal(status.FailedStatus))

	// Each failing group was sent 3 times, each good one once.
	count := map[sms.GroupID]int{}
	for _, c := range syncCallsFor(sim, "mixed-1") {
		for _, id := range c.Groups {
			count[id]++
		}
	}
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-01"}]).To(Equal(1))
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-02"}]).To(Equal(3))
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-04"}]).To(Equal(3))
}

func TestRestartResumesWithoutSecondPiT(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 20)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 1500 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	stop := startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "", func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.MaxBatchSize = 5
		vp.Spec.MaxConcurrentTasks = 2
	})
	rs := newSync(ns, "restart", "array", "restart-1", ids)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	key := client.ObjectKeyFromObject(rs)

	// Wait for two tasks recorded in status (the provider allows two at a time), then stop the manager.
	g.Eventually(func(g Gomega) {
		rs := getSync(g, key)
		tasks := map[string]bool{}
		for _, gs := range rs.Status.Groups {
			if gs.State == replicationv1alpha1.GroupSyncing {
				g.Expect(gs.Task).NotTo(BeEmpty())
				tasks[gs.Task] = true
			}
		}
		g.Expect(tasks).To(HaveLen(2))
		g.Expect(kstatusOf(g, rs)).To(Equal(status.InProgressStatus))
	}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())
	stop()
	g.Expect(len(syncCallsFor(sim, "restart-1"))).To(BeNumerically("<=", 2), "the capacity limit held")

	startManager(t, ns, fast)
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)

	pits := pitsFor(sim, "restart-1")
	perGroup := map[sms.GroupID]int{}
	for _, p := range pits {
		perGroup[p.Group]++
	}
	g.Expect(perGroup).To(HaveLen(20))
	for id, n := range perGroup {
		g.Expect(n).To(Equal(1), "group %v synced twice", id)
	}
	calls := syncCallsFor(sim, "restart-1")
	g.Expect(calls).To(HaveLen(4), "20 groups in batches of 5, none issued again")
	for _, c := range calls {
		g.Expect(c.Fault).To(BeEmpty())
	}
}

func TestRecreatedSyncCreatesNoNewPiT(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 5)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "")

	rs := newSync(ns, "gitops", "array", "gitops-1", ids)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	waitPhase(t, client.ObjectKeyFromObject(rs), replicationv1alpha1.SyncSucceeded, syncTimeout)
	pitsBefore, callsBefore := len(pitsFor(sim, "gitops-1")), len(syncCallsFor(sim, "gitops-1"))
	g.Expect(pitsBefore).To(Equal(5))

	g.Expect(adminClient.Delete(ctx, rs)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(adminClient.Get(ctx, client.ObjectKeyFromObject(rs), &replicationv1alpha1.ReplicationSync{}))
	}).Should(BeTrue())

	again := newSync(ns, "gitops", "array", "gitops-1", ids)
	g.Expect(adminClient.Create(ctx, again)).To(Succeed())
	again = waitPhase(t, client.ObjectKeyFromObject(again), replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(pitsFor(sim, "gitops-1")).To(HaveLen(pitsBefore))
	g.Expect(syncCallsFor(sim, "gitops-1")).To(HaveLen(callsBefore))
	for _, gs := range again.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		g.Expect(gs.PitID).NotTo(BeEmpty())
	}
}

func TestInactiveProviderReroutes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fd1, ids1 := groups("fd-1", 3)
	fd2, ids2 := groups("fd-2", 3)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: append(append([]smssim.GroupConfig{}, fd1...), fd2...),
			Inactive: &smssim.InactiveConfig{FaultDomains: []string{"fd-2"}, ActiveProvider: "array-b"}},
		{Name: "array-b", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: fd2},
	}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "")

	rs := newSync(ns, "ha", "array", "ha-1", append(append(ids1[:0:0], ids1...), ids2...))
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	rs = waitPhase(t, client.ObjectKeyFromObject(rs), replicationv1alpha1.SyncSucceeded, syncTimeout)

	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array"}, vp)).To(Succeed())
	own := vp.Status.ProviderRef.Value
	byProvider := map[string]string{}
	for _, p := range pitsFor(sim, "ha-1") {
		byProvider[p.Group.FaultDomainID+"/"+p.Group.DeviceGroupID] = p.ProviderName
	}
	g.Expect(byProvider).To(HaveLen(6))
	for _, gs := range rs.Status.Groups {
		name := gs.FaultDomainID.ID + "/" + gs.DeviceGroupID.ID
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		g.Expect(gs.Attempts).To(BeZero())
		if gs.FaultDomainID.ID == "fd-2" {
			g.Expect(gs.Provider).NotTo(Equal(own))
			g.Expect(gs.Provider).NotTo(BeEmpty())
			g.Expect(byProvider[name]).To(Equal("array-b"))
		} else {
			g.Expect(byProvider[name]).To(Equal("array-a"))
		}
	}
}

func TestBadCredentialsThenFixed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 2)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "wrong-password")
	rs := newSync(ns, "creds", "array", "creds-1", ids)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	key := client.ObjectKeyFromObject(rs)

	g.Eventually(func(g Gomega) {
		vp := &replicationv1alpha1.VasaProvider{}
		g.Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array"}, vp)).To(Succeed())
		ready := meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
		g.Expect(ready.Message).To(ContainSubstring("array-creds"))
		g.Expect(ready.Message).NotTo(ContainSubstring("wrong-password"))
		g.Expect(kstatusOf(g, vp)).To(Equal(status.FailedStatus))

		rs := getSync(g, key)
		g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
		rc := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
		g.Expect(rc).NotTo(BeNil())
		g.Expect(rc.Reason).To(Equal(replicationv1alpha1.WaitingForProviderReason))
		g.Expect(rc.Message).To(ContainSubstring("rejected the login"))
		g.Expect(kstatusOf(g, rs)).To(Equal(status.InProgressStatus))
	}).WithTimeout(syncTimeout).Should(Succeed())
	g.Expect(syncCallsFor(sim, "creds-1")).To(BeEmpty())

	secret := &corev1.Secret{}
	g.Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array-creds"}, secret)).To(Succeed())
	secret.StringData = map[string]string{"password": sim.Password()}
	g.Expect(adminClient.Update(ctx, secret)).To(Succeed())

	rs = waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(rs.Generation).To(BeEquivalentTo(1), "the ReplicationSync was not touched")
}

func TestTTLDeletesFinishedSync(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 2)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: simGroups,
	}}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "array", sim, "array-a", "")

	rs := newSync(ns, "", "array", "cron-1", ids)
	rs.GenerateName = "cron-"
	rs.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
	g.Expect(adminClient.Create(ctx, rs)).To(Succeed())
	g.Expect(rs.Name).To(HavePrefix("cron-"))
	key := client.ObjectKeyFromObject(rs)
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(adminClient.Get(ctx, key, &replicationv1alpha1.ReplicationSync{}))
	}).WithTimeout(syncTimeout).Should(BeTrue())
	g.Expect(pitsFor(sim, "cron-1")).To(HaveLen(2))
}

func TestTerminalFaultsStall(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 2)
	sim := startSim(t, smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "old-array", NotImplemented: true, Groups: simGroups},
		{Name: "slow-array", TaskDuration: smssim.Duration{Duration: time.Minute}, Groups: simGroups},
	}})
	ns := newNamespace(t)
	startManager(t, ns, fast)
	createProvider(t, ns, "old", sim, "old-array", "")
	createProvider(t, ns, "slow", sim, "slow-array", "")

	ni := newSync(ns, "not-implemented", "old", "ni-1", ids)
	g.Expect(adminClient.Create(ctx, ni)).To(Succeed())
	late := newSync(ns, "late", "slow", "late-1", ids)
	late.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	g.Expect(adminClient.Create(ctx, late)).To(Succeed())

	for key, reason := range map[client.ObjectKey]string{
		client.ObjectKeyFromObject(ni):   replicationv1alpha1.NotImplementedReason,
		client.ObjectKeyFromObject(late): replicationv1alpha1.DeadlineExceededReason,
	} {
		rs := waitPhase(t, key, replicationv1alpha1.SyncFailed, syncTimeout)
		st := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
		g.Expect(st).NotTo(BeNil())
		g.Expect(st.Status).To(BeEquivalentTo("True"))
		g.Expect(st.Reason).To(Equal(reason))
		g.Expect(kstatusOf(g, rs)).To(Equal(status.FailedStatus))
		g.Expect(rs.Status.CompletionTime).NotTo(BeNil())
		for _, gs := range rs.Status.Groups {
			g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupFailed))
		}
	}
	g.Expect(syncCallsFor(sim, "ni-1")).To(HaveLen(1), "a terminal fault is not retried")
}
