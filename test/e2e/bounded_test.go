package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// endTimeout bounds how long a run may take to end when tasks vanish, answers carry no task or task
// queries keep failing; no activeDeadlineSeconds is set, so only the operator's own bounds end it.
const endTimeout = 2 * time.Minute

// TestEverySyncEnds: when SMS forgets its tasks, a sync answer carries no task ref, or every task query
// fails, each run still ends in bounded time: Succeeded, or Failed with conditions that say why.
func TestEverySyncEnds(t *testing.T) {
	for name, tc := range map[string]struct {
		provider func(*smssim.ProviderConfig)
		vp       func(*replicationv1alpha1.VasaProvider)
		// before runs before the manager starts.
		before func(w *procWorld)
		// during runs once the runs exist.
		during func(t *testing.T, w *procWorld, runs []syncRun)
		// check runs after the runs ended: the fault did happen.
		check func(g Gomega, w *procWorld, runs []syncRun)
	}{
		"SMS restart forgets tasks": {
			during: func(t *testing.T, w *procWorld, runs []syncRun) {
				// Restart SMS once every run has a task in status: all of them vanish. The restarted
				// service takes a while to come back (HTTP 503, then ServiceNotInitialized), as
				// vmware-sps does; minutes in the field, seconds here.
				NewWithT(t).Eventually(func(g Gomega) {
					for _, r := range runs {
						g.Expect(syncingTaskCount(getSync(g, r.key))).To(BeNumerically(">", 0), r.key.Name)
					}
				}).WithTimeout(syncTimeout).WithPolling(20 * time.Millisecond).Should(Succeed())
				NewWithT(t).Expect(w.sim.RestartSMS()).NotTo(BeEmpty(), "tasks were running")
				w.sim.SetServiceInitializing(6 * time.Second)
			},
			check: func(g Gomega, w *procWorld, runs []syncRun) {
				g.Expect(w.sim.SMSRestarts()).To(Equal(1))
				// The forgotten tasks ran on to their PiTs: found, never synced a second time. Their
				// groups wait in doubt for them, so no call meets a forgotten task (SyncOngoing).
				expectAllSynced(g, w.sim, runs)
				expectExactlyOnce(g, w.sim, runs)
			},
		},
		"empty task refs": {
			provider: func(pc *smssim.ProviderConfig) { pc.EmptyTaskRefs = &smssim.ResponseRule{} },
			vp:       func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = replicationv1alpha1.BindingJSON },
			check: func(g Gomega, w *procWorld, runs []syncRun) {
				var responses []string
				for _, c := range callLog(w.sim) {
					responses = append(responses, c.Response)
				}
				g.Expect(responses).To(ContainElement(smssim.ResponseEmpty))
				// With PiT support the in-doubt groups are found Synced by their PiT: no second call.
				expectExactlyOnce(g, w.sim, runs)
			},
		},
		"task query always faults": {
			before: func(w *procWorld) { w.rule(faultproxy.Rule{Method: "QuerySmsTaskInfo", Action: faultproxy.Drop}) },
			check: func(g Gomega, w *procWorld, runs []syncRun) {
				st := w.proxy.Count("QuerySmsTaskInfo")
				g.Expect(st.Dropped).To(BeNumerically(">", 0))
				g.Expect(st.Delivered).To(BeZero())
				// A task that cannot be read may still run (here it does, to its PiT): its groups are
				// never issued again. One call per (group, pitName), whatever it was answered.
				for _, r := range runs {
					once := map[smssim.GroupID]int{}
					for _, id := range r.ids {
						once[smssim.GroupID{FaultDomainID: id.FaultDomainID.ID, DeviceGroupID: id.DeviceGroupID.ID}] = 1
					}
					g.Expect(w.sim.CallCounts(r.pitName)).To(Equal(once), "sync calls of %s per group", r.key.Name)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			const syncs, size = 3, 5
			mutate := []func(*smssim.ProviderConfig){}
			if tc.provider != nil {
				mutate = append(mutate, tc.provider)
			}
			w := newProcWorld(t, arrayA(syncGroups(syncs, size), 3*time.Second, mutate...), 1)
			var vpMutate []func(*replicationv1alpha1.VasaProvider)
			if tc.vp != nil {
				vpMutate = append(vpMutate, tc.vp)
			}
			w.array(8, 5*time.Second, vpMutate...)
			if tc.before != nil {
				tc.before(w)
			}
			w.startManager(procOptions{})
			runs := w.createSyncs(syncs, size, func(rs *replicationv1alpha1.ReplicationSync) { rs.Spec.BackoffLimit = ptr.To[int32](2) })
			if tc.during != nil {
				tc.during(t, w, runs)
			}
			waitAllEnded(t, runs, endTimeout)
			tc.check(NewWithT(t), w, runs)
		})
	}
}

// waitAllEnded waits until every run has ended; a Failed run must say in its Ready condition why.
func waitAllEnded(t *testing.T, runs []syncRun, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	NewWithT(t).Eventually(func(g Gomega) {
		var open []string
		for _, r := range runs {
			rs := getSync(g, r.key)
			if rs.Status.Phase != replicationv1alpha1.SyncSucceeded && rs.Status.Phase != replicationv1alpha1.SyncFailed {
				c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
				open = append(open, fmt.Sprintf("%s %s groups=%s reconciling=%+v", r.key.Name, rs.Status.Phase, groupStates(rs), c))
			}
		}
		g.Expect(open).To(BeEmpty(), "runs not ended after %v", time.Since(start).Round(time.Second))
	}).WithTimeout(timeout).WithPolling(250 * time.Millisecond).Should(Succeed())
	g := NewWithT(t)
	for _, r := range runs {
		rs := getSync(g, r.key)
		t.Logf("%s ended %s after %v", r.key.Name, rs.Status.Phase, time.Since(rs.CreationTimestamp.Time).Round(time.Second))
		if rs.Status.Phase == replicationv1alpha1.SyncSucceeded {
			continue
		}
		ready := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil(), r.key.Name)
		g.Expect(ready.Status).To(BeEquivalentTo("False"))
		g.Expect(strings.ToLower(ready.Message)).To(ContainSubstring("task"), "%s: the reason names what happened", r.key.Name)
		t.Logf("%s: %s: %s", r.key.Name, ready.Reason, ready.Message)
	}
}

// TestProgressDeadline: a run that makes no progress (the provider is busy for good) says so with
// Stalled=True, reason ProgressDeadlineExceeded, keeps trying, and finishes once the provider is free.
func TestProgressDeadline(t *testing.T) {
	g := NewWithT(t)
	w := newProcWorld(t, arrayA(syncGroups(1, 5), 200*time.Millisecond), 1)
	w.sim.Provider("array-a").AddFault(smssim.FaultRule{Method: syncMethod, Fault: smssim.FaultBusy})
	w.array(8, 5*time.Second)
	w.startManager(procOptions{})
	runs := w.createSyncs(1, 5, func(rs *replicationv1alpha1.ReplicationSync) { rs.Spec.ProgressDeadlineSeconds = ptr.To[int32](3) })

	g.Eventually(func(g Gomega) {
		rs := getSync(g, runs[0].key)
		st := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
		g.Expect(st).NotTo(BeNil())
		g.Expect(st.Status).To(BeEquivalentTo("True"))
		g.Expect(st.Reason).To(Equal(replicationv1alpha1.ProgressDeadlineExceededReason))
		g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncRunning), "the run keeps trying")
	}).WithTimeout(syncTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
	busy := len(callLog(w.sim))
	g.Eventually(func() int { return len(callLog(w.sim)) }).WithTimeout(syncTimeout).Should(BeNumerically(">", busy), "still calling")

	w.sim.Provider("array-a").ClearFaults()
	waitAllSucceeded(t, runs, syncTimeout)
	rs := getSync(g, runs[0].key)
	g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
	expectExactlyOnce(g, w.sim, runs)
}
