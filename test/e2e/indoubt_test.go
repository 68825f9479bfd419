package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// TestInDoubtReissueWithoutPiTSupport: on an array without PiT support nothing can tell whether a call
// whose response was lost started a task. The manager is killed the moment the sync response passes:
// no second call inside the in-doubt window, then exactly one re-issue per group, announced by an Event
// and counted in status and in vasa_sync_in_doubt_reissues_total.
func TestInDoubtReissueWithoutPiTSupport(t *testing.T) {
	g := NewWithT(t)
	// The VasaProvider asks for the least window admission takes; the manager waits at least
	// LeastInDoubtWindow, within which a killed manager's call may still reach vCenter, seen from a clock
	// ahead (twice the 1-s tasks is less). The window the manager uses is that one.
	const specWindow = 5 * time.Second
	window := max(specWindow, controllers.LeastInDoubtWindow)
	w := newProcWorld(t, arrayA(syncGroups(1, 5), time.Second, func(pc *smssim.ProviderConfig) { pc.NoPitSupport = true }), 1)
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 1, OnlySuccess: true})
	w.array(8, specWindow)
	w.startManager(procOptions{})
	runs := w.createSyncs(1, 5)

	// The killed manager's claim stays in status while its groups are in doubt; the window runs from it.
	claims := map[string]time.Time{}
	g.Eventually(func(g Gomega) {
		g.Expect(callLog(w.sim)).To(HaveLen(1))
		rs := getSync(g, runs[0].key)
		g.Expect(rs.Status.Groups).To(HaveLen(5))
		for _, gs := range rs.Status.Groups {
			g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupIssuing))
			g.Expect(gs.ClaimTime).NotTo(BeNil())
			claims[gs.FaultDomainID.ID+"/"+gs.DeviceGroupID.ID] = gs.ClaimTime.Time
		}
	}).WithTimeout(syncTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())

	waitAllSucceeded(t, runs, exactlyOnceTO)
	g.Expect(w.proxy.Count(syncMethod).Killed).To(Equal(1))

	// Each group: the killed call, then one re-issue after the window.
	var calls []smssim.SyncCall
	for _, c := range callLog(w.sim) {
		if c.PitName == runs[0].pitName {
			calls = append(calls, c)
		}
	}
	g.Expect(calls).To(HaveLen(2), "the killed call and one re-issue")
	g.Expect(calls[0].Fault).To(BeEmpty())
	g.Expect(calls[1].Groups).To(ConsistOf(calls[0].Groups))
	for _, id := range calls[1].Groups {
		name := id.FaultDomainID + "/" + id.DeviceGroupID
		claim, ok := claims[name]
		g.Expect(ok).To(BeTrue(), "claimed before the first call: %s", name)
		g.Expect(calls[1].Time).To(BeTemporally(">=", claim.Add(window)),
			"group %s re-issued inside the in-doubt window of %s from its claim", name, window)
	}

	rs := getSync(g, runs[0].key)
	g.Eventually(func(g Gomega) []string { return eventReasons(g, rs) }).WithTimeout(syncTimeout).Should(ContainElement("InDoubtReissued"))
	g.Expect(rs.Status.Groups).To(HaveLen(5))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Reissues).To(BeEquivalentTo(1), "group %s/%s", gs.FaultDomainID.ID, gs.DeviceGroupID.ID)
	}
	// The counter counts groups; the manager that re-issued them is the one running now.
	g.Expect(w.mgr.MetricSum(g, "vasa_sync_in_doubt_reissues_total", map[string]string{"namespace": w.ns, "provider": "array"})).
		To(BeEquivalentTo(len(runs[0].ids)))
}
