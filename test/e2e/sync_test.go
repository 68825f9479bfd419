package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	for name, tc := range map[string]struct {
		binding replicationv1alpha1.Binding
		// isSyncCall tells a SyncReplicationGroup_Task request of this binding; isOther one of the other binding.
		isSyncCall, isOther func(req string) bool
	}{
		"SOAP": {
			binding:    replicationv1alpha1.BindingSOAP,
			isSyncCall: func(req string) bool { return req == "POST "+sms.Path },
			isOther:    func(req string) bool { return strings.HasPrefix(req, "POST /sdk/vim25/") },
		},
		"JSON": {
			binding: replicationv1alpha1.BindingJSON,
			isSyncCall: func(req string) bool {
				return req == "POST /sdk/vim25/"+sms.DefaultVersion+"/sms/VasaProvider/vasaprovider-1/SyncReplicationGroup_Task"
			},
			isOther: func(req string) bool { return req == "POST "+sms.Path },
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			simGroups, ids := groups("fd-1", 40)
			w := newWorld(t, arrayA(simGroups, 30*time.Millisecond, func(pc *smssim.ProviderConfig) { pc.MaxBatchSize = 7 }), fast)
			wire := newPathRecorder(t, w.sim)
			w.array(wire.via(t, w.ns), func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = tc.binding })

			key := w.createSync("nightly", "nightly-1", ids)
			rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)

			calls := syncCallsFor(w.sim, "nightly-1")
			g.Expect(calls).NotTo(BeEmpty())
			g.Expect(calls[0].Fault).To(Equal("TooMany"))
			g.Expect(calls[0].GroupCount()).To(Equal(40))
			var sizes []int
			for _, c := range calls[1:] {
				g.Expect(c.Fault).To(BeEmpty())
				sizes = append(sizes, c.GroupCount())
			}
			g.Expect(sizes).To(ConsistOf(7, 7, 7, 7, 7, 5), "a wave's calls run at once and arrive in any order")

			pits := expectOnePiTPerGroup(g, w.sim, "nightly-1", ids)
			expectGroupsSyncedTo(g, rs, pits)
			for _, gs := range rs.Status.Groups {
				g.Expect(gs.TimeStamp).NotTo(BeNil())
				g.Expect(gs.TimeStamp.Time).To(BeTemporally("~", pits[sms.GroupID{FaultDomainID: gs.FaultDomainID.ID, DeviceGroupID: gs.DeviceGroupID.ID}].TimeStamp, time.Second))
			}
			g.Expect(rs.Status.SyncedDisplay).To(Equal("40/40"))
			g.Expect(rs.Status.BatchSize).To(BeEquivalentTo(7))
			g.Expect(rs.Status.StartTime).NotTo(BeNil())
			g.Expect(rs.Status.CompletionTime).NotTo(BeNil())
			g.Expect(kstatusOf(g, rs)).To(Equal(status.CurrentStatus))
			g.Eventually(func(g Gomega) []string { return eventReasons(g, rs) }).WithTimeout(syncTimeout).
				Should(ContainElements("BatchSizeReduced", "Synced"))

			vp := getProvider(g, w.ns, "array")
			g.Expect(vp.Status.LearnedMaxBatchSize).To(BeEquivalentTo(7))
			g.Expect(kstatusOf(g, vp)).To(Equal(status.CurrentStatus))

			// Once learned, no call is oversize.
			rs2 := waitPhase(t, w.createSync("nightly-2", "nightly-2", ids), replicationv1alpha1.SyncSucceeded, syncTimeout)
			calls2 := syncCallsFor(w.sim, "nightly-2")
			g.Expect(calls2).To(HaveLen(6))
			for _, c := range calls2 {
				g.Expect(c.Fault).To(BeEmpty())
				g.Expect(c.GroupCount()).To(BeNumerically("<=", 7))
			}
			g.Expect(eventReasons(g, rs2)).NotTo(ContainElement("BatchSizeReduced"), "the size was known")

			// Every sync call went over the configured binding, none over the other.
			g.Expect(wire.count(tc.isSyncCall)).To(BeNumerically(">=", len(calls)+len(calls2)))
			g.Expect(wire.count(tc.isOther)).To(BeZero())
		})
	}
}

func TestRetryableProviderFaultsThenSuccess(t *testing.T) {
	for _, fault := range []smssim.FaultKind{smssim.FaultBusy, smssim.FaultOutOfResource, smssim.FaultUnavailable} {
		t.Run(string(fault), func(t *testing.T) {
			g := NewWithT(t)
			simGroups, ids := groups("fd-1", 3)
			tm := fast
			tm.backoff.Base = 300 * time.Millisecond // long enough to see the backoff in status
			tm.backoff.Max = time.Second
			w := newWorld(t, arrayA(simGroups, 20*time.Millisecond), tm)
			w.sim.Provider("array-a").FailNext("SyncReplicationGroup_Task", fault, 3)
			w.array()
			faultsBefore := testutil.ToFloat64(metrics.ProviderFaultsTotal.WithLabelValues(w.ns, "array", string(fault)))

			key := w.createSync("retry", "retry-1", ids)
			g.Eventually(func(g Gomega) {
				rs := getSync(g, key)
				g.Expect(reconcilingReason(rs)).To(Equal(replicationv1alpha1.BackingOffReason))
				g.Expect(rs.Status.Retry).NotTo(BeNil())
				g.Expect(rs.Status.Retry.Attempts).To(BeNumerically(">=", 1))
				g.Expect(rs.Status.Retry.NextRetryTime).NotTo(BeNil())
				g.Expect(rs.Status.Retry.LastFault.Type).To(Equal(string(fault)))
				for _, gs := range rs.Status.Groups {
					g.Expect(gs.Attempts).To(BeZero(), "%s is not a group failure", fault)
				}
				g.Expect(kstatusOf(g, rs)).To(Equal(status.InProgressStatus))
			}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())

			rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
			g.Expect(rs.Status.Retry.LastFault.Type).To(Equal(string(fault)), "the last fault stays on record")
			g.Expect(rs.Status.Retry.Attempts).To(BeZero(), "reset by the successful call")
			expectGroupsSyncedTo(g, rs, expectOnePiTPerGroup(g, w.sim, "retry-1", ids))
			calls := syncCallsFor(w.sim, "retry-1")
			g.Expect(calls).To(HaveLen(4))
			for _, c := range calls[:3] {
				g.Expect(c.Fault).To(Equal(string(fault)))
			}
			g.Expect(calls[3].Fault).To(BeEmpty())
			g.Expect(testutil.ToFloat64(metrics.ProviderFaultsTotal.WithLabelValues(w.ns, "array", string(fault))) - faultsBefore).To(BeEquivalentTo(3))
			// The retries were spaced by the backoff.
			g.Expect(calls[3].Time.Sub(calls[0].Time)).To(BeNumerically(">=", 3*300*time.Millisecond))
		})
	}
}

func TestMixedGroupResults(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 4)
	simGroups[1].Errors, simGroups[1].ErrorMessage = -1, "journal full"
	simGroups[3].Errors, simGroups[3].ErrorMessage = -1, "link down"
	tm := fast
	tm.backoff.Base = 300 * time.Millisecond // well above a task round trip, so an immediate re-issue shows
	tm.backoff.Max = time.Second
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond), tm)
	w.array()

	key := w.createSync("mixed", "mixed-1", ids, func(rs *replicationv1alpha1.ReplicationSync) { rs.Spec.BackoffLimit = ptr.To[int32](2) })
	rs := waitPhase(t, key, replicationv1alpha1.SyncFailed, syncTimeout)

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
	sent := map[sms.GroupID][]time.Time{}
	for _, c := range syncCallsFor(w.sim, "mixed-1") {
		for _, id := range c.Groups {
			count[id]++
			sent[id] = append(sent[id], c.Time)
		}
	}
	// A failed group is issued again only after the backoff, not in the same reconcile.
	for _, id := range []sms.GroupID{{FaultDomainID: "fd-1", DeviceGroupID: "dg-02"}, {FaultDomainID: "fd-1", DeviceGroupID: "dg-04"}} {
		for n := 1; n < len(sent[id]); n++ {
			g.Expect(sent[id][n].Sub(sent[id][n-1])).To(BeNumerically(">=", tm.backoff.Base), "attempt %d of %v", n+1, id)
		}
	}
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-01"}]).To(Equal(1))
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-02"}]).To(Equal(3))
	g.Expect(count[sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-04"}]).To(Equal(3))
}

// TestTaskFailedMidwaySyncsTheRestOnce: the array fails a sync task after it synced the first two of its
// four groups and kept their PiTs; the task reports its error alone. The run backs off and asks for its
// PiTs before it calls again: the two synced groups are Synced by their PiT, only the other two are sent
// again, and every group ends with one PiT of the name.
func TestTaskFailedMidwaySyncsTheRestOnce(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 4)
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond, func(pc *smssim.ProviderConfig) {
		pc.TaskErrors, pc.TaskErrorAfterGroups = 1, 2
	}), fast)
	w.array()

	key := w.createSync("midway", "midway-1", ids)
	rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	pits := expectOnePiTPerGroup(g, w.sim, "midway-1", ids)
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.PitID).To(Equal(pits[sms.GroupID{FaultDomainID: gs.FaultDomainID.ID, DeviceGroupID: gs.DeviceGroupID.ID}].PitID))
		g.Expect(gs.Attempts).To(BeEquivalentTo(1), "the failed task counts once for each group")
	}
	calls := syncCallsFor(w.sim, "midway-1")
	g.Expect(calls).To(HaveLen(2))
	g.Expect(calls[0].Groups).To(HaveLen(4))
	g.Expect(calls[1].Groups).To(ConsistOf(smsIDs(ids[2:])), "the groups the failed task synced are not sent again")
}

// TestResultOnlyByQueryIsReadOnce: a provider whose tasks' info carries no result (QuerySmsTaskResult
// answers it), on an array without PiT support, where nothing else could tell a synced group from one
// never synced: every group is Synced by its task's result, and sent once.
func TestResultOnlyByQueryIsReadOnce(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 4)
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond, func(pc *smssim.ProviderConfig) {
		pc.NoPitSupport, pc.ResultOnlyByQuery = true, true
	}), fast)
	w.array()

	key := w.createSync("by-query", "by-query-1", ids)
	rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Attempts).To(BeZero(), "no attempt counted as failed")
	}
	calls := syncCallsFor(w.sim, "by-query-1")
	g.Expect(calls).To(HaveLen(1))
	g.Expect(calls[0].Groups).To(ConsistOf(smsIDs(ids)))
}

func TestRestartResumesWithoutSecondPiT(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 20)
	w := newWorld(t, arrayA(simGroups, 1500*time.Millisecond), fast)
	w.array(limits(5, 2))
	key := w.createSync("restart", "restart-1", ids)

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
	w.stopManager()
	g.Expect(len(syncCallsFor(w.sim, "restart-1"))).To(BeNumerically("<=", 2), "the capacity limit held")

	startManager(t, w.ns, fast)
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)

	expectOnePiTPerGroup(g, w.sim, "restart-1", ids)
	calls := syncCallsFor(w.sim, "restart-1")
	g.Expect(calls).To(HaveLen(4), "20 groups in batches of 5, none issued again")
	expectEachGroupIssuedOnce(g, calls, ids)
}

// TestTasksForgottenWhileTheManagerWasDown: the manager stops with two tasks recorded in status; they end
// while it is down, and SMS forgets them a second later. The next manager finds them gone: their groups'
// PiTs show they synced, so no group is issued again; also when the array's clock runs minutes behind
// or ahead, stamping those PiTs before the run was created or in the cluster's future.
func TestTasksForgottenWhileTheManagerWasDown(t *testing.T) {
	for name, offset := range map[string]time.Duration{"array on time": 0, "array 2m behind": -2 * time.Minute, "array 2m ahead": 2 * time.Minute} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			simGroups, ids := groups("fd-1", 10)
			cfg := arrayA(simGroups, 3*time.Second, func(pc *smssim.ProviderConfig) { // the manager stops well before the first tasks end
				pc.ClockOffset = smssim.Duration{Duration: offset}
			})
			cfg.TaskRetention = smssim.Duration{Duration: time.Second}
			w := newWorld(t, cfg, fast)
			w.array(limits(5, 2))
			key := w.createSync("forgotten", "forgotten-1", ids)
			g.Eventually(func(g Gomega) {
				g.Expect(tasksOf(getSync(g, key))).To(HaveLen(2))
			}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())
			w.stopManager()
			g.Expect(tasksOf(getSync(g, key))).To(HaveLen(2))
			for _, ref := range tasksOf(getSync(g, key)) {
				g.Eventually(func() error { _, err := w.sim.TaskState(ref); return err }).WithTimeout(syncTimeout).Should(HaveOccurred(), "task %s forgotten", ref)
			}

			startManager(t, w.ns, fast)
			rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
			g.Expect(rs.Status.Retry.LastFault.Message).To(ContainSubstring("is gone"), "the tasks were found gone, not ended")
			expectOnePiTPerGroup(g, w.sim, "forgotten-1", ids)
			expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, "forgotten-1"), ids)
		})
	}
}

// tasksOf returns the tasks rs records for its Syncing groups.
func tasksOf(rs *replicationv1alpha1.ReplicationSync) []string {
	var out []string
	for _, gs := range rs.Status.Groups {
		if gs.State == replicationv1alpha1.GroupSyncing && gs.Task != "" && !slices.Contains(out, gs.Task) {
			out = append(out, gs.Task)
		}
	}
	return out
}

func TestRecreatedSyncCreatesNoNewPiT(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 5)
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond), fast)
	w.array()

	key := w.createSync("gitops", "gitops-1", ids)
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	pitsBefore, callsBefore := len(pitsFor(w.sim, "gitops-1")), len(syncCallsFor(w.sim, "gitops-1"))
	g.Expect(pitsBefore).To(Equal(5))

	g.Expect(adminClient.Delete(ctx, getSync(g, key))).To(Succeed())
	waitGone(t, key)

	again := waitPhase(t, w.createSync("gitops", "gitops-1", ids), replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(pitsFor(w.sim, "gitops-1")).To(HaveLen(pitsBefore))
	g.Expect(syncCallsFor(w.sim, "gitops-1")).To(HaveLen(callsBefore))
	for _, gs := range again.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced))
		g.Expect(gs.PitID).NotTo(BeEmpty())
	}
}

// TestScheduleRunRestoredWithoutStatusSyncsNothingAgain: a schedule's run that succeeded on an array
// without PiT support is restored as Velero restores it by default (no status, no owner references, a
// new UID). Started again it would sync every group a second time under its old PiT name, which the
// array cannot show; it calls nothing and says why (counted in the simulator's call log).
func TestScheduleRunRestoredWithoutStatusSyncsNothingAgain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 3)
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond, func(pc *smssim.ProviderConfig) { pc.NoPitSupport = true }), fast)
	w.array()

	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "nightly"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{Schedule: "0 2 * * *", Suspend: ptr.To(true),
			Template: replicationv1alpha1.ReplicationSyncTemplate{Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
				ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array"}, GroupIDs: ids,
			}}},
	}
	g.Expect(adminClient.Create(ctx, sched)).To(Succeed())
	// The run as the schedule makes it (suspended, it makes none of its own).
	key := w.createSync("nightly-29000000", "nightly-20261204-0200", ids, func(rs *replicationv1alpha1.ReplicationSync) {
		rs.Labels = map[string]string{replicationv1alpha1.ScheduleLabel: replicationv1alpha1.ScheduleLabelValue(sched.Name)}
		rs.Annotations = map[string]string{replicationv1alpha1.ScheduledTimeAnnotation: "2026-12-04T02:00:00Z"}
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(sched, replicationv1alpha1.GroupVersion.WithKind("ReplicationSyncSchedule"))}
	})
	done := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, done.Spec.PitName), ids)

	// The restore: the object's metadata and spec, without status, owners or identity.
	restored := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: done.Namespace, Name: done.Name, Labels: done.Labels, Annotations: done.Annotations},
		Spec:       done.Spec,
	}
	g.Expect(adminClient.Delete(ctx, done)).To(Succeed())
	waitGone(t, key)
	g.Expect(adminClient.Create(ctx, restored)).To(Succeed())

	g.Consistently(func(g Gomega) {
		expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, done.Spec.PitName), ids)
	}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		rs := getSync(g, key)
		stalled := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.ScheduleGoneReason))
		g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
		g.Expect(eventReasons(g, rs)).To(ContainElement(replicationv1alpha1.ScheduleGoneReason))
	}).WithTimeout(syncTimeout).Should(Succeed())
}

func TestInactiveProviderReroutes(t *testing.T) {
	g := NewWithT(t)
	fd1, ids1 := groups("fd-1", 3)
	fd2, ids2 := groups("fd-2", 3)
	w := newWorld(t, smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "array-a", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: slices.Concat(fd1, fd2),
			Inactive: &smssim.InactiveConfig{FaultDomains: []string{"fd-2"}, ActiveProvider: "array-b"}},
		{Name: "array-b", TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}, Groups: fd2},
	}}, fast)
	w.array()

	rs := waitPhase(t, w.createSync("ha", "ha-1", slices.Concat(ids1, ids2)), replicationv1alpha1.SyncSucceeded, syncTimeout)

	own := getProvider(g, w.ns, "array").Status.ProviderRef.Value
	byProvider := map[string]string{}
	for _, p := range pitsFor(w.sim, "ha-1") {
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
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond), fast)
	createProvider(t, w.ns, "array", w.sim, "array-a", "wrong-password")
	key := w.createSync("creds", "creds-1", ids)

	g.Eventually(func(g Gomega) {
		vp := getProvider(g, w.ns, "array")
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
	g.Expect(syncCallsFor(w.sim, "creds-1")).To(BeEmpty())

	secret := &corev1.Secret{}
	g.Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "array-creds"}, secret)).To(Succeed())
	secret.StringData = map[string]string{"password": w.sim.Password()}
	g.Expect(adminClient.Update(ctx, secret)).To(Succeed())

	rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	g.Expect(rs.Generation).To(BeEquivalentTo(1), "the ReplicationSync was not touched")
}

func TestTTLDeletesFinishedSync(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 2)
	w := newWorld(t, arrayA(simGroups, 20*time.Millisecond), fast)
	w.array()

	key := w.createSync("", "cron-1", ids, func(rs *replicationv1alpha1.ReplicationSync) {
		rs.GenerateName = "cron-"
		// Long enough for the test to see it Succeeded on a loaded machine before it is deleted.
		rs.Spec.TTLSecondsAfterFinished = ptr.To[int32](3)
	})
	g.Expect(key.Name).To(HavePrefix("cron-"))
	waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	waitGone(t, key)
	g.Expect(pitsFor(w.sim, "cron-1")).To(HaveLen(2))
}

func TestTerminalFaultsStall(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 2)
	w := newWorld(t, smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "old-array", NotImplemented: true, Groups: simGroups},
		{Name: "slow-array", TaskDuration: smssim.Duration{Duration: time.Minute}, Groups: simGroups},
	}}, fast)
	createProvider(t, w.ns, "old", w.sim, "old-array", "")
	createProvider(t, w.ns, "slow", w.sim, "slow-array", "")

	ni := newSync(w.ns, "not-implemented", "old", "ni-1", ids)
	g.Expect(adminClient.Create(ctx, ni)).To(Succeed())
	late := newSync(w.ns, "late", "slow", "late-1", ids)
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
	g.Expect(syncCallsFor(w.sim, "ni-1")).To(HaveLen(1), "a terminal fault is not retried")
}

// TestDeadlineBoundsPendingTime: activeDeadlineSeconds bounds the whole run, the time waiting for a
// provider that is not Ready included.
func TestDeadlineBoundsPendingTime(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	simGroups, ids := groups("fd-1", 2)
	w := newWorld(t, arrayA(simGroups, time.Minute), fast)
	w.array(func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.VCenter.CredentialsSecretRef.Name = "no-such-secret"
	})
	never := w.createSync("never", "never-1", ids, func(rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](2)
	})
	rs := waitPhase(t, never, replicationv1alpha1.SyncFailed, syncTimeout)
	st := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.Status).To(BeEquivalentTo("True"))
	g.Expect(st.Reason).To(Equal(replicationv1alpha1.DeadlineExceededReason))
	g.Expect(kstatusOf(g, rs)).To(Equal(status.FailedStatus))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupFailed))
	}
	g.Expect(syncCallsFor(w.sim, "never-1")).To(BeEmpty())

	// Pending while the provider is not Ready (the time spent Pending is this test's input, not a
	// synchronisation), then the provider becomes Ready: the run starts, calls, and the deadline ends it
	// while its task runs, never before the deadline from its creation. Checked by the order of what
	// happened; that the deadline counts from creation rather than from startTime is checked on a fake
	// clock (TestDeadlineCountsTheTimePending). The run has the deadline less the pending time to start.
	const pending, deadline = 2 * time.Second, 12 * time.Second
	late := w.createSync("late", "late-1", ids, func(rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	})
	<-time.After(pending)
	g.Expect(getSync(g, late).Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
	g.Expect(syncCallsFor(w.sim, "late-1")).To(BeEmpty())
	ready := time.Now()
	vp := getProvider(g, w.ns, "array")
	vp.Spec.VCenter.CredentialsSecretRef.Name = "array-creds"
	g.Expect(adminClient.Update(ctx, vp)).To(Succeed())
	rs = waitPhase(t, late, replicationv1alpha1.SyncFailed, syncTimeout)
	g.Expect(meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition).Reason).To(Equal(replicationv1alpha1.DeadlineExceededReason))
	g.Expect(rs.Status.StartTime).NotTo(BeNil(), "the run started before the deadline")
	calls := syncCallsFor(w.sim, "late-1")
	g.Expect(calls).To(HaveLen(1))
	g.Expect(calls[0].Time).To(BeTemporally(">", ready), "called once the provider was Ready")
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupFailed))
		g.Expect(gs.Message).To(ContainSubstring("while task " + calls[0].Task + " ran"))
	}
	// Whole seconds, both: the deadline from creation had passed when the run was failed.
	g.Expect(rs.Status.CompletionTime.Time).To(BeTemporally(">=", rs.CreationTimestamp.Add(deadline)))
}
