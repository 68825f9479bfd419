package e2e

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

func TestSyncOngoingWaitsForForeignTask(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 3)
	w := newWorld(t, arrayA(simGroups, 30*time.Millisecond), fast)
	w.array()
	w.waitProviderReady("array")

	// Another client syncs the first two groups under another pitName. Its task runs until the test
	// ends it, once ours is seen waiting for it, however long the run took to get there.
	foreign := w.sim.Provider("array-a").StartForeignSync(smsIDs(ids[:2]), "external-1", time.Hour)
	key := w.createSync("ours", "ours-1", ids)

	// Ours waits for that task, recorded on the groups, without counting a failure.
	g.Eventually(func(g Gomega) {
		rs := getSync(g, key)
		g.Expect(rs.Status.Groups).To(HaveLen(len(ids)))
		g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupWaiting))
		g.Expect(rs.Status.Groups[0].Task).To(Equal(foreign))
		g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring(foreign))
		g.Expect(rs.Status.Groups[0].Attempts).To(BeZero())
	}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())
	g.Expect(w.sim.TaskState(foreign)).To(BeElementOf("queued", "running"), "ours waits while the foreign task runs")
	g.Expect(w.sim.EndTask(foreign)).To(Succeed())

	rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	expectGroupsSyncedTo(g, rs, expectOnePiTPerGroup(g, w.sim, "ours-1", ids))
	foreignPiTs := expectOnePiTPerGroup(g, w.sim, "external-1", ids[:2])

	calls := syncCallsFor(w.sim, "ours-1")
	g.Expect(calls).To(HaveLen(2))
	g.Expect(calls[0].Fault).To(Equal("SyncOngoing"))
	g.Expect(calls[1].Fault).To(BeEmpty())
	g.Expect(calls[1].Groups).To(Equal(smsIDs(ids)))
	for _, p := range foreignPiTs {
		g.Expect(p.TaskRef).To(Equal(foreign))
		g.Expect(calls[1].Time).NotTo(BeTemporally("<", p.TimeStamp), "ours was issued only after the foreign task ended")
	}
}

func TestSessionExpiryMidRun(t *testing.T) {
	for name, expire := range map[string]func(w *world, key client.ObjectKey){
		// Every session dies after a few SMS calls, over and over during the run.
		"after calls": func(w *world, _ client.ObjectKey) { w.sim.SetSessionExpiresAfterCalls(3) },
		// Every session dies once, while tasks are in flight. The simulator tells: the run's status may
		// show a task only after it ended (its ref and result written at once).
		"while tasks run": func(w *world, _ client.ObjectKey) {
			NewWithT(w.t).Eventually(func() bool {
				return slices.ContainsFunc(w.sim.Tasks(), func(t smssim.TaskRecord) bool { return !t.Done })
			}).WithTimeout(syncTimeout).WithPolling(time.Millisecond).Should(BeTrue())
			w.sim.ExpireSessions()
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			simGroups, ids := groups("fd-1", 12)
			// A provider check can meet a session that expired again right after its re-login (the runs'
			// calls used it up): that check fails as transient and is retried after the recheck
			// interval, 30s by default, while the run waits for Ready. Keep that wait short.
			tm := fast
			tm.providerRecheck = time.Second
			w := newWorld(t, arrayA(simGroups, 200*time.Millisecond), tm)
			w.array(limits(3, 2))
			w.waitProviderReady("array")
			key := w.createSync("expiry", "expiry-1", ids)
			expire(w, key)

			rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
			g.Expect(w.sim.ExpiredSessions()).To(BeNumerically(">", 0), "a session expired during the run")
			expectGroupsSyncedTo(g, rs, expectOnePiTPerGroup(g, w.sim, "expiry-1", ids))
			expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, "expiry-1"), ids)
		})
	}
}

func TestSharedProviderCapacity(t *testing.T) {
	g := NewWithT(t)
	const taskDuration = 300 * time.Millisecond
	simGroups, ids := groups("fd-1", 4)
	w := newWorld(t, arrayA(simGroups, taskDuration), fast)
	w.array(limits(1, 1))
	w.waitProviderReady("array")
	keys := []client.ObjectKey{w.createSync("first", "first-1", ids[:2]), w.createSync("second", "second-1", ids[2:])}

	// One of them waits for the provider's only slot while the other's task runs.
	g.Eventually(func(g Gomega) {
		var reasons []string
		for _, key := range keys {
			reasons = append(reasons, reconcilingReason(getSync(g, key)))
		}
		g.Expect(reasons).To(ContainElement(replicationv1alpha1.WaitingForProviderCapacityReason))
	}).WithTimeout(syncTimeout).WithPolling(5 * time.Millisecond).Should(Succeed())

	for i, key := range keys {
		pitName := []string{"first-1", "second-1"}[i]
		rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
		expectGroupsSyncedTo(g, rs, expectOnePiTPerGroup(g, w.sim, pitName, rs.Spec.GroupIDs))
	}

	// Tasks last exactly taskDuration from their call: no call may come before the previous task ended.
	var issued []smssim.SyncCall
	for _, c := range w.sim.Calls() {
		if c.Fault == "" {
			issued = append(issued, c)
		}
	}
	g.Expect(issued).To(HaveLen(4), "one task per group (maxBatchSize 1)")
	for i := 1; i < len(issued); i++ {
		g.Expect(issued[i].Time.Sub(issued[i-1].Time)).To(BeNumerically(">=", taskDuration),
			"task %s started while %s was still running", issued[i].Task, issued[i-1].Task)
	}
}

// syncingTaskCount returns the number of distinct tasks recorded in Syncing groups.
func syncingTaskCount(rs *replicationv1alpha1.ReplicationSync) int {
	tasks := map[string]bool{}
	for _, gs := range rs.Status.Groups {
		if gs.State == replicationv1alpha1.GroupSyncing && gs.Task != "" {
			tasks[gs.Task] = true
		}
	}
	return len(tasks)
}

// TestProviderReregisteredMidRun: the provider is registered again in vCenter while a run is between
// waves (an expired certificate renewed), so its moId changes and the old one answers
// ManagedObjectNotFound. The run has the VasaProvider look the provider up again at once, not at its
// 5-minute recheck, counts no failure, and syncs every group exactly once at the new moId.
func TestProviderReregisteredMidRun(t *testing.T) {
	g := NewWithT(t)
	simGroups, ids := groups("fd-1", 6)
	w := newWorld(t, arrayA(simGroups, 300*time.Millisecond), fast)
	w.array(limits(1, 1))
	w.waitProviderReady("array")
	array := w.sim.Provider("array-a")
	oldRef := array.Ref()
	key := w.createSync("moved", "moved-1", ids)

	g.Eventually(func(g Gomega) {
		g.Expect(getSync(g, key).Status.Summary).NotTo(BeNil())
		g.Expect(getSync(g, key).Status.Summary.Synced).To(BeNumerically(">=", 1))
	}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())
	newRef := array.Reregister()
	g.Expect(newRef).NotTo(Equal(oldRef))

	rs := waitPhase(t, key, replicationv1alpha1.SyncSucceeded, syncTimeout)
	expectGroupsSyncedTo(g, rs, expectOnePiTPerGroup(g, w.sim, "moved-1", ids))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Attempts).To(BeZero(), "group %s: a moId vCenter forgot is not the group's failure", gs.DeviceGroupID.ID)
	}
	g.Expect(getProvider(g, w.ns, "array").Status.ProviderRef.Value).To(Equal(newRef))
	expectEachGroupIssuedOnce(g, syncCallsFor(w.sim, "moved-1"), ids)
}
