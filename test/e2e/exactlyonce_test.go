package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// Timings of the exactly-once tests. A task outlasts a manager restart, so a resumed manager finds its
// groups' tasks still running (no PiT yet). The VasaProviders ask for an in-doubt window longer than a
// task (longInDoubt); the manager waits at least controllers.LeastInDoubtWindow (60 s) anyway, since a
// call may reach vCenter 50 s after its claim, stamped by a clock up to 10 s behind. Either way the PiT
// shows up inside the window. Groups claimed by a killed manager whose call never left it wait out that
// longer window and are issued then (one call): LeastInDoubtWindow, not longInDoubt, bounds these tests'
// duration, well inside exactlyOnceTO.
const (
	slowTask      = 4 * time.Second
	longInDoubt   = 10 * time.Second
	exactlyOnceTO = 2 * time.Minute
)

// TestExactlyOnceWhenSyncResponsesAreLost: the manager is killed the moment a sync response passes (before
// it is delivered), or the response is dropped, over either binding (their answers and faults differ).
// After restarts, every group was called exactly once.
func TestExactlyOnceWhenSyncResponsesAreLost(t *testing.T) {
	for _, tc := range []struct {
		action  faultproxy.Action
		binding replicationv1alpha1.Binding
	}{
		{faultproxy.Kill, replicationv1alpha1.BindingSOAP}, {faultproxy.Drop, replicationv1alpha1.BindingSOAP},
		{faultproxy.Kill, replicationv1alpha1.BindingJSON}, {faultproxy.Drop, replicationv1alpha1.BindingJSON},
	} {
		action := tc.action
		t.Run(string(tc.binding)+"/"+string(action), func(t *testing.T) {
			const syncs, size, losses = 6, 5, 3
			w := newProcWorld(t, arrayA(syncGroups(syncs, size), slowTask), 1)
			w.rule(faultproxy.Rule{Method: syncMethod, Action: action, Times: losses, OnlySuccess: true})
			// Killed: two tasks at a time, so a manager sends at most two calls before the first answer
			// kills it; the six syncs' calls need three managers at least, and every loss happens.
			// Dropped: slots to spare, so a group re-issued before its window ends would be called while
			// its first task still runs (not held back until that task's PiT shows).
			slots := int32(2)
			if action == faultproxy.Drop {
				slots = 8
			}
			w.array(slots, longInDoubt, func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = tc.binding })
			w.startManager(procOptions{})
			runs := w.createSyncs(syncs, size)

			waitAllSucceeded(t, runs, exactlyOnceTO)
			g := NewWithT(t)
			st := w.proxy.Count(syncMethod)
			if action == faultproxy.Kill {
				g.Expect(st.Killed).To(Equal(losses))
				g.Expect(w.mgr.Generation()).To(Equal(losses + 1))
			} else {
				g.Expect(st.Dropped).To(Equal(losses))
			}
			expectExactlyOnce(g, w.sim, runs)
			expectAllSynced(g, w.sim, runs)
		})
	}
}

// TestExactlyOnceWhenSMSRestartsInACall: SMS restarts while sync calls are in it; their tasks run, and
// vCenter's front proxy answers HTTP 503, over either binding. Unlike a 503 for a service that is not up
// yet, such a call may have started a task: its groups are in doubt, found synced by their PiT, and never
// called again.
func TestExactlyOnceWhenSMSRestartsInACall(t *testing.T) {
	for _, binding := range []replicationv1alpha1.Binding{replicationv1alpha1.BindingSOAP, replicationv1alpha1.BindingJSON} {
		t.Run(string(binding), func(t *testing.T) {
			const syncs, size, resets = 3, 5, 2
			w := newProcWorld(t, arrayA(syncGroups(syncs, size), slowTask, func(pc *smssim.ProviderConfig) {
				pc.ResetResponses = &smssim.ResponseRule{Times: resets}
			}), 1)
			w.array(2, longInDoubt, func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = binding })
			w.startManager(procOptions{})
			runs := w.createSyncs(syncs, size)

			waitAllSucceeded(t, runs, exactlyOnceTO)
			g := NewWithT(t)
			reset := 0
			for _, c := range callLog(w.sim) {
				if c.Response == smssim.ResponseReset {
					reset++
				}
			}
			g.Expect(reset).To(Equal(resets))
			expectExactlyOnce(g, w.sim, runs)
			expectAllSynced(g, w.sim, runs)
		})
	}
}

// TestSIGTERMDuringSubmit: a rollout's SIGTERM arrives while a sync call is in flight (its response is
// late). The manager records the task refs before it exits, and the next manager does not call again.
func TestSIGTERMDuringSubmit(t *testing.T) {
	g := NewWithT(t)
	w := newProcWorld(t, arrayA(syncGroups(1, 5), slowTask), 1)
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Delay, Times: 1, Delay: 2 * time.Second})
	w.array(8, longInDoubt)
	w.startManager(procOptions{})
	runs := w.createSyncs(1, 5)

	task := w.callHeld()
	w.mgr.Terminate()

	rs := getSync(g, runs[0].key)
	g.Expect(rs.Status.Groups).To(HaveLen(5))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Task).To(Equal(task), "group %s/%s (%s) after SIGTERM", gs.FaultDomainID.ID, gs.DeviceGroupID.ID, gs.State)
	}
	g.Expect(vcenterSessions(g, w.sim)).To(BeEmpty(), "the stopped manager logs out of vCenter")

	w.mgr.Start()
	waitAllSucceeded(t, runs, exactlyOnceTO)
	expectExactlyOnce(g, w.sim, runs)
	expectAllSynced(g, w.sim, runs)
}

// TestTwoManagersAtOnce: two managers without leader election (a slow leader hand-over) run the same
// ReplicationSyncs: no group is called twice, every run Succeeds. The provider answers with a vCenter's
// usual latency, so the managers' reconciles of one object overlap. Both took groups to their end, and
// counted them. A group may be counted by both: a write refused for the other's, which stored the same
// status within the same second, reads as landed after all (landedAfterAll).
func TestTwoManagersAtOnce(t *testing.T) {
	const syncs, size = 30, 5
	w := newProcWorld(t, arrayA(syncGroups(syncs, size), time.Second, func(pc *smssim.ProviderConfig) {
		pc.Latency = smssim.Duration{Duration: 200 * time.Millisecond}
	}), 1)
	w.array(8, longInDoubt)
	w.startManager(procOptions{})
	other := startManagerProcess(t, "other", w.ns, procOptions{})
	w.mgr.WaitReady()
	other.WaitReady()
	runs := w.createSyncs(syncs, size)

	waitAllSucceeded(t, runs, exactlyOnceTO)
	g := NewWithT(t)
	expectExactlyOnce(g, w.sim, runs)
	expectAllSynced(g, w.sim, runs)
	synced := map[string]string{"namespace": w.ns, "result": "synced"}
	mine, others := w.mgr.MetricSum(g, "vasa_sync_groups_total", synced), other.MetricSum(g, "vasa_sync_groups_total", synced)
	g.Expect(mine).To(BeNumerically(">", 0), "the first manager synced no group")
	g.Expect(others).To(BeNumerically(">", 0), "the second manager synced no group")
	g.Expect(mine+others).To(BeNumerically(">=", syncs*size), "each group counted")
}
