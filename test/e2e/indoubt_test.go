package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// TestInDoubtReissueWithoutPiTSupport: on an array without PiT support nothing can tell whether a call
// whose response was lost started a task. The manager is killed the moment the sync response passes:
// no second call inside the in-doubt window, then exactly one re-issue per group, announced by an Event
// and counted in status and in vasa_sync_in_doubt_reissues_total.
func TestInDoubtReissueWithoutPiTSupport(t *testing.T) {
	g := NewWithT(t)
	const window = 5 * time.Second
	w := newProcWorld(t, arrayA(syncGroups(1, 5), time.Second, func(pc *smssim.ProviderConfig) { pc.NoPitSupport = true }), 1)
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 1, OnlySuccess: true})
	w.array(8, map[string]any{"inDoubtWindow": window.String()})
	w.startManager(procOptions{})
	runs := w.createSyncs(1, 5, nil)

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
	// The window counts from the claim, written just before the first call.
	g.Expect(calls[1].Time.Sub(calls[0].Time)).To(BeNumerically(">=", window-500*time.Millisecond),
		"re-issued inside the in-doubt window")

	rs := getSync(g, runs[0].key)
	g.Eventually(func(g Gomega) []string { return eventReasons(g, rs) }).WithTimeout(syncTimeout).Should(ContainElement("InDoubtReissued"))
	for i, n := range groupInts(g, runs[0].key, "reissues") {
		g.Expect(n).To(BeEquivalentTo(1), "status.groups[%d].reissues", i)
	}
	g.Eventually(func(g Gomega) float64 {
		return w.mgr.MetricSum(g, "vasa_sync_in_doubt_reissues_total", map[string]string{"provider": "array"})
	}).WithTimeout(syncTimeout).Should(BeNumerically(">=", 1))
}

// groupInts reads an integer field of every status.groups entry by its JSON name (0 when unset).
func groupInts(g Gomega, key client.ObjectKey, field string) []int64 {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("replication.vasa.io/v1alpha1")
	u.SetKind("ReplicationSync")
	g.Expect(adminClient.Get(context.Background(), key, u)).To(Succeed())
	list, _, err := unstructured.NestedSlice(u.Object, "status", "groups")
	g.Expect(err).NotTo(HaveOccurred())
	out := make([]int64, len(list))
	for i, item := range list {
		if m, ok := item.(map[string]any); ok {
			out[i], _, _ = unstructured.NestedInt64(m, field)
		}
	}
	return out
}
