package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryKeepsGroupsThroughAProviderRestart: a provider that restarts lists no group for a while;
// discovery then deletes and rewrites nothing, keeps the newest-PiT series and says so in a Warning
// event with the count. A group missed by one discovery is kept; missed by the next one, an interval
// later, it is deleted.
func TestDiscoveryKeepsGroupsThroughAProviderRestart(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-3"},
	}})
	a := h.sim.Provider("array-a")
	dg1 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a.AddPiT(dg1, "array-hourly", at)
	h.discover()
	g.Expect(h.groups()).To(HaveLen(3))
	name1 := groupObjectName("array-a", dg1)
	before := h.resourceVersions()

	a.RestartProvider(time.Hour)
	for range 3 {
		h.discover()
		g.Expect(h.resourceVersions()).To(Equal(before), "an empty answer deletes and rewrites nothing")
		g.Expect(newestPiTSeries(h.ns, "array-a", name1)).To(HaveValue(BeEquivalentTo(at.Unix())))
		g.Eventually(h.recorder.Events).Should(Receive(And(ContainSubstring(NoGroupsReportedReason), ContainSubstring("Warning"),
			ContainSubstring("the 3 ReplicationGroups of it are kept"))))
	}
	g.Expect(testutil.ToFloat64(metrics.DiscoveredGroups.WithLabelValues(h.ns, "array-a"))).To(BeZero())

	// The provider is back: nothing to write, the misses during the restart were not counted.
	a.RestartProvider(0)
	dg3 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-3"}
	a.RemoveGroups(dg3)
	h.discover()
	g.Expect(h.groups()).To(HaveLen(3), "the first miss of dg-3 waits")
	g.Expect(h.groups()[name1].ResourceVersion).To(Equal(before[name1]))
	g.Expect(testutil.ToFloat64(metrics.DiscoveredGroups.WithLabelValues(h.ns, "array-a"))).To(BeEquivalentTo(2))

	// A group that shows again starts counting anew.
	a.AddGroups(smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: "dg-3"})
	h.discover()
	a.RemoveGroups(dg3)
	h.discover()
	g.Expect(h.groups()).To(HaveKey(groupObjectName("array-a", dg3)))
	h.discover()
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", dg3)))
	g.Expect(h.groups()).To(HaveLen(2))

	// After a manager restart (a new reconciler, nothing in memory) a first miss waits one more interval.
	a.RemoveGroups(sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-2"})
	h.discover()
	h.restartManager()
	h.discover()
	g.Expect(h.groups()).To(HaveLen(2))
	h.discover()
	g.Expect(h.groups()).To(HaveLen(1))
}

// TestInventoryStillLoadingDeletesNone: a provider that comes back from a restart listing a growing part of
// its groups (6, then 8, then all 10 of them, a discovery interval apart) has nothing deleted: the groups
// missed for an interval were still loading, and deleting them would re-create them a discovery later
// without their lastSync. Once the answer stops growing, a group still missing is deleted as usual.
func TestInventoryStillLoadingDeletesNone(t *testing.T) {
	g := NewWithT(t)
	var cfgs []smssim.GroupConfig
	var ids []sms.GroupID
	for i := range 10 {
		cfgs = append(cfgs, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("dg-%d", i)})
		ids = append(ids, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%d", i)})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: cfgs})
	a := h.sim.Provider("array-a")
	h.discover()
	before := h.resourceVersions()
	g.Expect(before).To(HaveLen(10))

	a.RemoveGroups(ids[6:]...)
	h.discover()
	a.AddGroups(cfgs[6:8]...)
	h.discover()
	g.Expect(h.resourceVersions()).To(Equal(before), "missed for an interval while the list grew")
	a.AddGroups(cfgs[8:]...)
	h.discover()
	g.Expect(h.resourceVersions()).To(Equal(before))

	a.RemoveGroups(ids[9])
	h.discover()
	h.discover()
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", ids[9])), "gone for an interval from an answer that did not grow")

	// An array that gains groups at every discovery while it lost one lists as many as are stored, or
	// more: not loading, and the lost group goes.
	a.RemoveGroups(ids[8])
	for i := range 2 {
		a.AddGroups(smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("new-%d", i)})
		h.discover()
	}
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", ids[8])))
}

// TestEmptyAnswerBreaksTheRunOfMisses: a miss, then an answer without any group (not trusted), then
// another miss are not two misses in a row: the group is deleted one discovery later.
func TestEmptyAnswerBreaksTheRunOfMisses(t *testing.T) {
	g := NewWithT(t)
	h, a, dg2 := twoGroups(t, g)
	h.discover()
	a.RemoveGroups(dg2)
	h.discover()
	a.RestartProvider(time.Hour)
	h.discover()
	a.RestartProvider(0)
	h.discover()
	g.Expect(h.groups()).To(HaveKey(groupObjectName("array-a", dg2)), "one miss since the empty answer")
	h.discover()
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", dg2)))
}

// TestDiscoveriesTriggeredBySyncsDoNotHastenADelete: every finished ReplicationSync triggers a discovery.
// Many of them within one provider restart that lists a group out are not "discoveries in a row": the
// group is kept until the provider has missed it for a whole interval.
func TestDiscoveriesTriggeredBySyncsDoNotHastenADelete(t *testing.T) {
	g := NewWithT(t)
	h, a, dg2 := twoGroups(t, g)
	name2 := groupObjectName("array-a", dg2)
	h.discover()
	a.RemoveGroups(dg2)
	spacing := discoverySpacing(DefaultDiscoveryInterval, 0)
	h.discoverAfter(spacing) // the first miss
	for range DefaultDiscoveryInterval/spacing - 1 {
		h.discoverAfter(spacing)
		g.Expect(h.groups()).To(HaveKey(name2), "missed for less than an interval")
	}
	h.discoverAfter(spacing) // an interval after the first miss
	g.Expect(h.groups()).NotTo(HaveKey(name2), "missed by every discovery for an interval")
}

// TestKeptGroupsKeepTheirSeriesAcrossARestart: a group kept without being listed (most groups missing,
// no group listed, answered with an error) still has its newest-PiT series after a manager restart, from
// its stored status: a rollout must not resolve its RPO alert.
func TestKeptGroupsKeepTheirSeriesAcrossARestart(t *testing.T) {
	g := NewWithT(t)
	h, a, _, ids := fiveGroups(t, g)
	at := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	a.AddPiT(ids[2], "array-hourly", at)
	h.discover()
	name := groupObjectName("array-a", ids[2])
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).To(HaveValue(BeEquivalentTo(at.Unix())))

	a.RemoveGroups(ids[2:]...)
	h.restartManager()
	h.discover()
	g.Eventually(h.recorder.Events).Should(Receive(ContainSubstring(MostGroupsMissingReason)))
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).To(HaveValue(BeEquivalentTo(at.Unix())), "kept while most groups are missing")

	a.RestartProvider(time.Hour)
	h.restartManager()
	h.discover()
	g.Eventually(h.recorder.Events).Should(Receive(ContainSubstring(NoGroupsReportedReason)))
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).To(HaveValue(BeEquivalentTo(at.Unix())), "kept while no group is listed")
}

// TestSeriesOfGroupsDeletedByHandGo: the groups of a retired array are kept until someone deletes them,
// as the NoGroupsReported event says; once they are deleted by hand their series go with them at the next
// discovery, or their RPO alerts would fire until the manager restarts.
func TestSeriesOfGroupsDeletedByHandGo(t *testing.T) {
	g := NewWithT(t)
	h, a, dg2 := twoGroups(t, g)
	a.AddPiT(dg2, "array-hourly", time.Now().Add(-time.Hour))
	h.discover()
	name := groupObjectName("array-a", dg2)
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).NotTo(BeNil())

	a.RestartProvider(24 * time.Hour) // retired: it lists no group any more
	h.discover()
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).NotTo(BeNil(), "kept with its object")
	g.Expect(k8sClient.DeleteAllOf(h.ctx, &replicationv1alpha1.ReplicationGroup{}, client.InNamespace(h.ns),
		client.MatchingLabels{replicationv1alpha1.ProviderLabel: "array-a"})).To(Succeed())
	h.discover()
	g.Expect(newestPiTSeries(h.ns, "array-a", name)).To(BeNil())
}

// fiveGroups is a discovery harness over groups fd-1/dg-1 to dg-5; it returns their configurations and ids.
func fiveGroups(t *testing.T, g *WithT) (*discoveryHarness, *smssim.Provider, []smssim.GroupConfig, []sms.GroupID) {
	var cfgs []smssim.GroupConfig
	var ids []sms.GroupID
	for _, dg := range []string{"dg-1", "dg-2", "dg-3", "dg-4", "dg-5"} {
		cfgs = append(cfgs, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: dg})
		ids = append(ids, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: dg})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: cfgs})
	return h, h.sim.Provider("array-a"), cfgs, ids
}

// twoGroups is a discovery harness over groups fd-1/dg-1 and fd-1/dg-2; it returns the second's id.
func twoGroups(t *testing.T, g *WithT) (*discoveryHarness, *smssim.Provider, sms.GroupID) {
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
	}})
	return h, h.sim.Provider("array-a"), sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-2"}
}

// TestPlanKeepsFailedGroups: a group the provider answered with an error is kept and its misses are
// cleared; only a group absent from every answer for an interval is deleted.
func TestPlanKeepsFailedGroups(t *testing.T) {
	g := NewWithT(t)
	vp := newProvider("ns", "array-a", "creds")
	stored := func(names ...string) []replicationv1alpha1.ReplicationGroup {
		out := make([]replicationv1alpha1.ReplicationGroup, len(names))
		for i, n := range names {
			out[i] = replicationv1alpha1.ReplicationGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: n}}
		}
		return out
	}
	t0 := time.Now()
	p := planWrites(vp, nil, map[string]bool{"failed": true}, nil, stored("failed", "missing"))
	p.planRemovals(nil, map[string]bool{"failed": true}, stored("failed", "missing"), map[string]time.Time{"failed": t0.Add(-time.Hour)}, t0, time.Minute, false)
	g.Expect(p.remove).To(BeEmpty())
	g.Expect(p.absent).To(Equal(map[string]time.Time{"missing": t0}))
	p = planWrites(vp, nil, map[string]bool{"failed": true}, nil, stored("failed", "missing"))
	p.planRemovals(nil, map[string]bool{"failed": true}, stored("failed", "missing"), map[string]time.Time{"missing": t0}, t0.Add(time.Minute), time.Minute, false)
	g.Expect(p.remove).To(HaveLen(1))
	g.Expect(p.remove[0].Name).To(Equal("missing"))
	g.Expect(p.absent).To(BeEmpty())
}

// newestPiTSeries returns the value of the group's newest-PiT series, or nil when there is none. It
// reads the collector without creating the series, unlike WithLabelValues.
func newestPiTSeries(namespace, provider, group string) *float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		metrics.GroupNewestPiTTimestampSeconds.Collect(ch)
		close(ch)
	}()
	var found *float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		l := map[string]string{}
		for _, lp := range pb.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l[metrics.LabelNamespace] == namespace && l[metrics.LabelProvider] == provider && l[metrics.LabelGroup] == group {
			v := pb.GetGauge().GetValue()
			found = &v
		}
	}
	return found
}

// TestMostGroupsMissingDeletesNone: a provider that lists fewer than half of its groups (failing over,
// partly unavailable) gets none deleted, however long it lasts, and says so; the groups it lists are
// still written. Once it lists them again, a group that is really gone is deleted as before.
func TestMostGroupsMissingDeletesNone(t *testing.T) {
	g := NewWithT(t)
	h, a, cfgs, ids := fiveGroups(t, g)
	h.discover()
	g.Expect(h.groups()).To(HaveLen(5))

	a.RemoveGroups(ids[2:]...)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	a.AddPiT(ids[0], "array-hourly", at)
	for range 4 {
		h.discover()
		g.Expect(h.groups()).To(HaveLen(5), "three of five missing: none deleted")
		g.Eventually(h.recorder.Events).Should(Receive(And(ContainSubstring(MostGroupsMissingReason), ContainSubstring("listed 2 of the 5"))))
	}
	g.Expect(h.group("fd-1", "dg-1").Status.NewestPiT).To(HaveField("Name", "array-hourly"), "the groups listed are written")

	a.AddGroups(cfgs[2:4]...) // dg-5 stays gone: one of five, deleted after its misses
	h.discover()
	g.Expect(h.groups()).To(HaveLen(5))
	h.discover()
	g.Expect(h.groups()).To(HaveLen(4))
	g.Expect(h.groups()).NotTo(HaveKey(groupObjectName("array-a", ids[4])))
}
