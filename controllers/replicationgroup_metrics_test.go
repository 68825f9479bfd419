package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscoveryExportsFirstSeenForTargetsWithoutPiT: a TARGET group without any PiT (never synced, or the
// array deleted its PiTs) exports when discovery first saw it, so the RPO alert fires once that is older
// than the RPO, and a new group is not paged for at once; a group that is not a target and has no PiT,
// or is gone, has no series.
func TestDiscoveryExportsFirstSeenForTargetsWithoutPiT(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-3", State: "SOURCE"},
	}})
	a := h.sim.Provider("array-a")
	dg1 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}
	dg2 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-2"}
	dg3 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-3"}
	series := func(id sms.GroupID) *float64 { return newestPiTSeries(h.ns, "array-a", groupObjectName("array-a", id)) }
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a.AddPiT(dg1, "array-hourly", at)

	h.discover()
	firstSeen := float64(h.group("fd-1", "dg-2").CreationTimestamp.Unix())
	g.Expect(series(dg1)).To(HaveValue(BeEquivalentTo(at.Unix())))
	g.Expect(series(dg2)).To(HaveValue(Equal(firstSeen)), "a target never synced has no recovery point but the time it was found")
	g.Expect(series(dg3)).To(BeNil(), "a SOURCE group has no RPO")
	h.discover()
	g.Expect(series(dg2)).To(HaveValue(Equal(firstSeen)), "its age grows")

	// The array deletes the group's PiTs: the time it was found, long ago, not a resolved alert.
	a.RemovePiTs(dg1, "")
	h.discover()
	created := float64(h.group("fd-1", "dg-1").CreationTimestamp.Unix())
	g.Expect(h.group("fd-1", "dg-1").Status.NewestPiT).To(BeNil())
	g.Expect(series(dg1)).To(HaveValue(Equal(created)))

	// A PiT query that fails for a while says nothing new: the alerts of groups without any PiT stay.
	a.FailPiTQuery(dg1, smssim.FaultRule{Fault: smssim.FaultBusy, Times: 1})
	h.discover()
	g.Expect(series(dg1)).To(HaveValue(Equal(created)), "a failed query is no recovery point")

	// No longer a target, or gone: no series, PiT or not (a failover must not page for every group).
	a.AddPiT(dg2, "array-hourly", at)
	a.SetGroupState(dg2, "FAILEDOVER")
	a.RemoveGroups(dg1)
	h.discover()
	h.discover()
	g.Expect(series(dg2)).To(BeNil())
	g.Expect(series(dg1)).To(BeNil())
}

// TestDiscoveryExportsNothingForUnreadablePiTs: on an array without PiT support (or whose PiT query
// fails) nothing is known about a group's PiTs, so it has no series: 0 would page for every group, for good.
func TestDiscoveryExportsNothingForUnreadablePiTs(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{NoPitSupport: true, Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"},
	}})
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.State).To(Equal("TARGET"))
	g.Expect(newestPiTSeries(h.ns, "array-a", groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}))).To(BeNil())
}

// TestDiscoveryIntervalIsExported: the stale-discovery alert measures the last success against the
// interval; a provider whose discovery is turned off has no interval series, so it does not alert, and
// no group series either: nothing refreshes them, and their RPO alerts would fire on a frozen value.
func TestDiscoveryIntervalIsExported(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	h.discover()
	g.Expect(testutil.ToFloat64(metrics.DiscoveryIntervalSeconds.WithLabelValues(h.ns, "array-a"))).To(BeEquivalentTo(DefaultDiscoveryInterval.Seconds()))
	group := h.group("fd-1", "dg-1").Name
	g.Expect(newestPiTSeries(h.ns, "array-a", group)).NotTo(BeNil())

	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	vp.Spec.Discovery.Interval = &metav1.Duration{}
	g.Expect(k8sClient.Update(context.Background(), vp)).To(Succeed())
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeZero(), "off: no next discovery")
	g.Expect(metrics.DiscoveryIntervalSeconds.DeleteLabelValues(h.ns, "array-a")).To(BeFalse(), "no series while discovery is off")
	g.Expect(newestPiTSeries(h.ns, "array-a", group)).To(BeNil(), "no group series while discovery is off")
}

// TestDiscoveryOfAnArrayWithoutPiTSupportIsQuiet: a provider that does not implement
// QueryPointInTimeReplica is asked once per discovery, not once per batch of groups, raises no warning
// (such arrays are expected; a warning every discovery would drown real failures), and its
// status.discovery says so.
func TestDiscoveryOfAnArrayWithoutPiTSupportIsQuiet(t *testing.T) {
	g := NewWithT(t)
	var groups []smssim.GroupConfig
	for i := range 3*sms.NewestPiTBatchSize + 1 {
		groups = append(groups, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("dg-%04d", i)})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{NoPitSupport: true, Groups: groups})
	proxy := h.viaProxy()
	h.discover()
	g.Expect(proxy.Count("QueryPointInTimeReplica").Requests).To(Equal(1))
	g.Expect(h.groups()).To(HaveLen(len(groups)))
	for len(h.recorder.Events) > 0 {
		g.Expect(<-h.recorder.Events).NotTo(HavePrefix("Warning"))
	}
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	g.Expect(vp.Status.Discovery.LastSuccessTime).NotTo(BeNil())
	g.Expect(vp.Status.Discovery.Message).To(ContainSubstring("does not implement QueryPointInTimeReplica"))
}

// TestDiscoverySaysWhenPiTsWereNotAllRead: a discovery whose PiT queries partly failed completes, keeps the
// stored PiTs and says so in status.discovery.message (events expire), which the next complete one clears.
func TestDiscoverySaysWhenPiTsWereNotAllRead(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	message := func() string {
		vp := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
		g.Expect(vp.Status.Discovery.LastSuccessTime).NotTo(BeNil())
		return vp.Status.Discovery.Message
	}
	h.sim.Provider("array-a").FailNext("QueryPointInTimeReplica", smssim.FaultBusy, 1)
	h.discover()
	g.Expect(message()).To(And(ContainSubstring("newest PiTs were not all read"), ContainSubstring("ProviderBusy")))
	h.discover()
	g.Expect(message()).To(BeEmpty())
}

// TestDiscoverySaysWhenGroupsWentUnanswered: a group the provider lists but answers with an error (here
// asked about by id) keeps its ReplicationGroup as it was, and the discovery says so, as a warning and in
// status.discovery.message: it would otherwise read as having refreshed every group.
func TestDiscoverySaysWhenGroupsWentUnanswered(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{ListIDsOnly: true, Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1"}, {FaultDomain: "fd-1", DeviceGroup: "dg-2"},
	}})
	h.discover()
	g.Expect(h.groups()).To(HaveLen(2))
	before := h.resourceVersions()
	for len(h.recorder.Events) > 0 {
		<-h.recorder.Events
	}

	h.sim.Provider("array-a").FailGroupQuery(sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-2"}, smssim.FaultRule{Fault: smssim.FaultQueryExecution})
	h.discover()
	g.Expect(h.resourceVersions()).To(Equal(before))
	g.Eventually(h.recorder.Events).Should(Receive(And(ContainSubstring("Warning"), ContainSubstring(GroupsUnansweredReason), ContainSubstring(`"dg-2"`))))
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	g.Expect(vp.Status.Discovery.Message).To(ContainSubstring("answered for 1 groups with an error or not at all"))
}

// TestDiscoveryCompletesWithinItsAnswerBudget: a provider that answers slowly gets the discovery's budget
// for its answers in all; the discovery then completes with what it read, keeps the stored PiTs of the
// rest and says why.
func TestDiscoveryCompletesWithinItsAnswerBudget(t *testing.T) {
	g := NewWithT(t)
	var cfgs []smssim.GroupConfig
	for i := range 250 {
		cfgs = append(cfgs, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("dg-%d", i)})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: cfgs})
	h.r.AnswerBudget = 3 * time.Second
	a := h.sim.Provider("array-a")
	dg0 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-0"}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a.AddPiT(dg0, "hourly-1", at)
	h.discover()
	g.Expect(h.group("fd-1", "dg-0").Status.NewestPiT.Name).To(Equal("hourly-1"))

	a.AddPiT(dg0, "hourly-2", at.Add(time.Minute))
	a.SetLatency(2 * time.Second) // the listing takes 2 s; the PiT queries would end past the budget
	h.discover()
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	g.Expect(vp.Status.Discovery.Message).To(And(ContainSubstring("newest PiTs were not all read"), ContainSubstring("ran out")))
	g.Expect(h.group("fd-1", "dg-0").Status.NewestPiT.Name).To(Equal("hourly-1"), "the stored PiT is kept")
	g.Expect(h.groups()).To(HaveLen(250))
}

// TestDiscoveriesCutShortResumeWhereTheyStopped: when the answer budget lets a discovery read only some
// batches of PiTs, the next one reads the batches after them, not the ones after the next batch: every
// group's PiT is read within as many discoveries as the budget needs.
func TestDiscoveriesCutShortResumeWhereTheyStopped(t *testing.T) {
	g := NewWithT(t)
	var cfgs []smssim.GroupConfig
	for i := range 5 * sms.NewestPiTBatchSize {
		cfgs = append(cfgs, smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: fmt.Sprintf("dg-%03d", i)})
	}
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: cfgs})
	h.discover()
	a := h.sim.Provider("array-a")
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for _, c := range cfgs {
		a.AddPiT(sms.GroupID{FaultDomainID: c.FaultDomain, DeviceGroupID: c.DeviceGroup}, "hourly-1", at)
	}
	// The listing takes 2 s and each PiT query 2 s: two batches of five fit in 7 s.
	a.SetLatency(2 * time.Second)
	h.r.AnswerBudget = 7 * time.Second
	for range 3 {
		h.discover()
	}
	unread := 0
	for _, rg := range h.groups() {
		if rg.Status.NewestPiT == nil {
			unread++
		}
	}
	g.Expect(unread).To(BeZero(), "every batch read within three discoveries")
}
