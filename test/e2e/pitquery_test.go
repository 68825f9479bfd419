package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// TestPiTQueryAnsweringSomeGroupsTooMany: a provider answers only one group of each PiT query and
// TooMany for the others (as the API reference lets a provider with too many replicas to return). The
// manager is killed the moment the one sync response passes, so all 12 groups are in doubt and their PiTs
// exist: each must be found by asking for it, not re-issued after the window nor counted as a failure.
func TestPiTQueryAnsweringSomeGroupsTooMany(t *testing.T) {
	g := NewWithT(t)
	const size = 12
	w := newProcWorld(t, arrayA(syncGroups(1, size), time.Second, func(pc *smssim.ProviderConfig) { pc.PiTQueryMaxGroups = 1 }), 1)
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 1, OnlySuccess: true})
	w.array(8, 5*time.Second)
	w.startManager(procOptions{})
	runs := w.createSyncs(1, size)

	waitAllSucceeded(t, runs, exactlyOnceTO)
	g.Expect(w.proxy.Count(syncMethod).Killed).To(Equal(1))
	expectExactlyOnce(g, w.sim, runs)
	expectAllSynced(g, w.sim, runs)
	rs := getSync(g, runs[0].key)
	g.Expect(rs.Status.Groups).To(HaveLen(size))
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Attempts).To(BeZero(), "group %s: %s", gs.DeviceGroupID.ID, gs.Message)
		g.Expect(gs.Reissues).To(BeZero(), "group %s: %s", gs.DeviceGroupID.ID, gs.Message)
	}
}
