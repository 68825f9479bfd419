package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestDiscoveryFollowsTheProvider: groups appear with labels and their newest PiT, change state, get
// the last sync of this operator, and disappear with the simulator's; unchanged groups are not written;
// objects changed or created by others are put back or deleted.
func TestDiscoveryFollowsTheProvider(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{
		{FaultDomain: "fd-1", DeviceGroup: "dg-1", Name: "oracle prod", Agreement: "async, RPO 15m"},
		{FaultDomain: "fd-1", DeviceGroup: "dg-2", State: "INTEST"},
		{FaultDomain: "fd-2", DeviceGroup: "dg-1"},
	}})
	a := h.sim.Provider("array-a")
	dg1 := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}
	pitTime := time.Now().Add(-90 * time.Minute).UTC().Truncate(time.Second)
	a.AddPiT(dg1, "array-hourly-1", pitTime.Add(-time.Hour))
	pitID := a.AddPiT(dg1, "array-hourly-2", pitTime)

	h.discover()
	g.Expect(h.groups()).To(HaveLen(3))
	rg := h.group("fd-1", "dg-1")
	g.Expect(rg.Name).To(MatchRegexp(`^array-a-dg-1-[0-9a-f]{10}$`))
	g.Expect(rg.Labels).To(Equal(map[string]string{
		replicationv1alpha1.ProviderLabel:    "array-a",
		replicationv1alpha1.FaultDomainLabel: "fd-1",
		replicationv1alpha1.StateLabel:       "TARGET",
		replicationv1alpha1.SourceGroupLabel: replicationv1alpha1.LabelValue("oracle prod"),
	}))
	g.Expect(rg.OwnerReferences).To(HaveLen(1))
	g.Expect(rg.OwnerReferences[0].UID).To(Equal(h.vp.UID))
	g.Expect(rg.Spec.GroupID.DeviceGroupID.ID).To(Equal("dg-1"))
	g.Expect(rg.Status.State).To(Equal("TARGET"))
	g.Expect(rg.Status.ReplicationAgreement).To(Equal("async, RPO 15m"))
	g.Expect(rg.Status.NewestPiT).NotTo(BeNil())
	g.Expect(rg.Status.NewestPiT.TimeStamp.Time).To(BeTemporally("==", pitTime))
	g.Expect(*rg.Status.NewestPiT).To(MatchFields(IgnoreExtras, Fields{"Name": Equal("array-hourly-2"), "ID": Equal(pitID), "Summary": BeFalse()}))
	g.Expect(h.group("fd-1", "dg-2").Labels[replicationv1alpha1.StateLabel]).To(Equal("INTEST"))
	g.Expect(h.group("fd-1", "dg-2").Status.NewestPiT).To(BeNil())
	g.Expect(testutil.ToFloat64(metrics.GroupNewestPiTTimestampSeconds.WithLabelValues(h.ns, "array-a", rg.Name))).To(BeEquivalentTo(pitTime.Unix()))
	g.Expect(testutil.ToFloat64(metrics.DiscoveredGroups.WithLabelValues(h.ns, "array-a"))).To(BeEquivalentTo(3))

	// Nothing changed at the provider: nothing is written.
	before := h.resourceVersions()
	h.discover()
	g.Expect(h.resourceVersions()).To(Equal(before))

	// The provider changes: a state, a new PiT, a group gone, a group new.
	a.SetGroupState(sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-2"}, "TARGET")
	newer := pitTime.Add(time.Hour)
	a.AddPiT(dg1, "array-hourly-3", newer)
	a.RemoveGroups(sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-1"})
	a.AddGroups(smssim.GroupConfig{FaultDomain: "fd-1", DeviceGroup: "dg-9"})
	gone := groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-1"})
	h.discover()
	g.Expect(h.groups()).To(HaveLen(4), "a group missed once is kept")
	g.Expect(h.groups()).To(HaveKey(gone))
	h.discover()
	got := h.groups()
	g.Expect(got).To(HaveLen(3))
	g.Expect(got).NotTo(HaveKey(gone), "a group missed twice in a row is deleted")
	g.Expect(h.group("fd-1", "dg-9").Status.State).To(Equal("TARGET"))
	g.Expect(h.group("fd-1", "dg-2").Labels[replicationv1alpha1.StateLabel]).To(Equal("TARGET"))
	g.Expect(h.group("fd-1", "dg-1").Status.NewestPiT.Name).To(Equal("array-hourly-3"))
	g.Expect(testutil.ToFloat64(metrics.GroupNewestPiTTimestampSeconds.WithLabelValues(h.ns, "array-a", rg.Name))).To(BeEquivalentTo(newer.Unix()))

	// A finished ReplicationSync of this provider is the groups' last sync.
	done := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	rs := newSelectorSync(h.ns, "nightly", "array-a", nil)
	rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{*apiGroupID(dg1)}
	rs.Spec.GroupSelector = nil
	g.Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
	rs.Status.CompletionTime = &done
	rs.Status.Phase = replicationv1alpha1.SyncSucceeded
	rs.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: *apiGroupID(dg1), State: replicationv1alpha1.GroupSynced}}
	g.Expect(k8sClient.Status().Update(h.ctx, rs)).To(Succeed())
	h.discover()
	lastSync := h.group("fd-1", "dg-1").Status.LastSync
	g.Expect(lastSync).NotTo(BeNil())
	g.Expect(lastSync.CompletionTime.Time).To(BeTemporally("==", done.Time))
	g.Expect(*lastSync).To(MatchFields(IgnoreExtras, Fields{"Name": Equal("nightly"), "PitName": Equal(rs.Spec.PitName), "State": Equal(replicationv1alpha1.GroupSynced)}))
	g.Expect(h.group("fd-1", "dg-2").Status.LastSync).To(BeNil())

	// Someone edits an object and creates one: discovery puts the first back and deletes the second.
	edited := h.group("fd-1", "dg-1")
	edited.Labels[replicationv1alpha1.StateLabel] = "FAILEDOVER"
	edited.Status.NewestPiT = nil
	g.Expect(k8sClient.Update(h.ctx, &edited)).To(Succeed())
	fake := &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "fake", Labels: map[string]string{replicationv1alpha1.ProviderLabel: "array-a"}},
		Spec:       replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"}, GroupID: *apiGroupID(sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "nope"})},
	}
	g.Expect(k8sClient.Create(h.ctx, fake)).To(Succeed())
	h.discover()
	g.Expect(h.groups()).To(HaveKey("fake"))
	h.discover()
	g.Expect(h.groups()).NotTo(HaveKey("fake"))
	g.Expect(h.group("fd-1", "dg-1").Labels[replicationv1alpha1.StateLabel]).To(Equal("TARGET"))
	g.Expect(h.group("fd-1", "dg-1").Status.NewestPiT.Name).To(Equal("array-hourly-3"))

	// A label and an owner of someone else's (a policy's, a user's) are kept and cause no write; the
	// labels discovery owns are still put back, beside them.
	tagged := h.group("fd-1", "dg-1")
	tagged.Labels["team"] = "dba"
	tagged.OwnerReferences = append(tagged.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "inventory", UID: "0000-1"})
	g.Expect(k8sClient.Update(h.ctx, &tagged)).To(Succeed())
	tagged = h.group("fd-1", "dg-1")
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").ResourceVersion).To(Equal(tagged.ResourceVersion), "nothing discovery owns changed")
	tagged.Labels[replicationv1alpha1.StateLabel] = "FAILEDOVER"
	g.Expect(k8sClient.Update(h.ctx, &tagged)).To(Succeed())
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Labels).To(And(HaveKeyWithValue(replicationv1alpha1.StateLabel, "TARGET"), HaveKeyWithValue("team", "dba")))
	g.Expect(h.group("fd-1", "dg-1").OwnerReferences).To(HaveLen(2))

	// The PiT query fails as a whole: the stored newest PiTs are kept, and an event says why.
	a.FailNext("QueryPointInTimeReplica", smssim.FaultUnavailable, 1)
	before = h.resourceVersions()
	h.discover()
	g.Expect(h.resourceVersions()).To(Equal(before))
	g.Eventually(h.recorder.Events).Should(Receive(ContainSubstring(PiTQueryFailedReason)))

	// The whole provider query fails: the discovery fails, nothing is deleted.
	a.FailNext("QueryReplicationGroup", smssim.FaultBusy, 1)
	h.clock.SetTime(h.clock.Now().Add(discoverySpacing(DefaultDiscoveryInterval, 0)))
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
	g.Expect(err).NotTo(HaveOccurred(), "said by status, an event and its own log line")
	g.Expect(res.RequeueAfter).To(Equal(discoveryFirstRetry))
	g.Eventually(h.recorder.Events).Should(Receive(ContainSubstring(DiscoveryFailedReason)))
	g.Expect(h.groups()).To(HaveLen(3))
}

// TestDiscoveryMeetingARenewedSessionCompletes: a discovery whose session is logged out under it (the
// VasaProvider's check renewed it) lists again with the new session instead of failing.
func TestDiscoveryMeetingARenewedSessionCompletes(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	h.discover() // opens the session
	renewing := &renewingSessions{Sessions: h.r.Sessions}
	h.r.Sessions = renewing
	renewing.renewNext.Store(true)
	h.discover()
	g.Expect(renewing.renewNext.Load()).To(BeFalse(), "the discovery was handed the logged-out session")
	g.Expect(h.group("fd-1", "dg-1").Status.State).NotTo(BeEmpty())
	g.Expect(h.recorder.Events).NotTo(Receive(ContainSubstring(DiscoveryFailedReason)))
}

// TestDiscoveryOffAndNotReady: interval 0 discovers nothing and schedules nothing; a spec change not yet
// observed waits for the provider's status; a provider that is not Ready is tried again after the interval.
func TestDiscoveryOffAndNotReady(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	key := client.ObjectKeyFromObject(h.vp)

	h.vp.Spec.Discovery.Interval = &metav1.Duration{}
	g.Expect(k8sClient.Update(h.ctx, h.vp)).To(Succeed())
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(ctrl.Result{}))
	g.Expect(h.groups()).To(BeEmpty())

	h.vp.Spec.Discovery.Interval = &metav1.Duration{Duration: time.Minute}
	g.Expect(k8sClient.Update(h.ctx, h.vp)).To(Succeed())
	res, err = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(ctrl.Result{}), "status.providerRef may be the old spec's: wait for the VasaProvider's reconciler")
	g.Expect(h.groups()).To(BeEmpty())
	g.Expect(providerResolved().Update(event.UpdateEvent{ObjectOld: h.vp.DeepCopy(), ObjectNew: func() client.Object {
		vp := h.vp.DeepCopy()
		vp.Status.ObservedGeneration = vp.Generation
		return vp
	}()})).To(BeTrue(), "the status catching up brings the discovery back")

	h.vp.Status.ObservedGeneration = h.vp.Generation
	setStatusCondition(&h.vp.Status.Conditions, h.vp.Generation, replicationv1alpha1.ReadyCondition, metav1.ConditionFalse, replicationv1alpha1.UnreachableReason, "down")
	g.Expect(k8sClient.Status().Update(h.ctx, h.vp)).To(Succeed())
	res, err = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(time.Minute))
	g.Expect(h.groups()).To(BeEmpty())
}

// TestDiscoveryAt5000Groups discovers 5,000 groups with summary PiT answers, then finds nothing to write.
func TestDiscoveryAt5000Groups(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 5,000 objects")
	}
	g := NewWithT(t)
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 500, 1000
	c, err := client.New(fast, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	groups := make([]smssim.GroupConfig, 5000)
	for i := range groups {
		groups[i] = smssim.GroupConfig{FaultDomain: fmt.Sprintf("fd-%d", i%4), DeviceGroup: fmt.Sprintf("dg-%04d", i)}
	}
	h := newDiscoveryHarness(t, g, c, smssim.ProviderConfig{Groups: groups, PiTSummaries: true})
	last := sms.GroupID{FaultDomainID: "fd-3", DeviceGroupID: "dg-4999"}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	h.sim.Provider("array-a").AddPiT(last, "array-hourly", at)

	start := time.Now()
	h.discover()
	t.Logf("first discovery of 5,000 groups took %s", time.Since(start))
	g.Expect(h.groups()).To(HaveLen(5000))
	pit := h.group("fd-3", "dg-4999").Status.NewestPiT
	g.Expect(pit.TimeStamp.Time).To(BeTemporally("==", at))
	g.Expect(*pit).To(MatchFields(IgnoreExtras, Fields{"Name": BeEmpty(), "ID": BeEmpty(), "Summary": BeTrue()}))

	before := h.resourceVersions()
	start = time.Now()
	h.discover()
	t.Logf("second discovery of 5,000 unchanged groups took %s", time.Since(start))
	g.Expect(h.resourceVersions()).To(Equal(before))
}

// TestDiscoveryTriggers: a ReplicationSync that finishes asks for a discovery of its provider, shared
// with the syncs finishing soon after; other changes of a ReplicationSync do not.
func TestDiscoveryTriggers(t *testing.T) {
	g := NewWithT(t)
	running := newSelectorSync("ns", "run", "array-a", nil)
	done := running.DeepCopy()
	now := metav1.Now()
	done.Status.CompletionTime = &now
	p := syncFinished()
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: running, ObjectNew: done})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: done, ObjectNew: done})).To(BeFalse())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: running, ObjectNew: running})).To(BeFalse())
	g.Expect(p.Create(event.CreateEvent{Object: done})).To(BeFalse())
	g.Expect(providerOfSync(context.Background(), done)).To(Equal([]reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "array-a"}}}))

	// Syncs finishing within discoveryAfterSync of each other share one discovery, after it.
	clock := clocktesting.NewFakeClock(time.Now())
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](),
		workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Clock: clock})
	defer q.ShutDown()
	h := discoverAfterSyncs(discoveryAfterSync)
	for range 5 {
		h.Update(context.Background(), event.UpdateEvent{ObjectOld: running, ObjectNew: done}, q)
		h.Update(context.Background(), event.UpdateEvent{ObjectOld: done, ObjectNew: done}, q)
		clock.Step(time.Second)
	}
	g.Consistently(q.Len).WithTimeout(100 * time.Millisecond).Should(BeZero())
	clock.Step(discoveryAfterSync - 5*time.Second)
	g.Eventually(q.Len).Should(Equal(1))

	notReady := &replicationv1alpha1.VasaProvider{}
	ready := notReady.DeepCopy()
	setStatusCondition(&ready.Status.Conditions, 1, replicationv1alpha1.ReadyCondition, metav1.ConditionTrue, "Connected", "")
	g.Expect(readyChanged().Update(event.UpdateEvent{ObjectOld: notReady, ObjectNew: ready})).To(BeTrue())
	g.Expect(readyChanged().Update(event.UpdateEvent{ObjectOld: ready, ObjectNew: ready})).To(BeFalse())
}

// TestDiscoveriesAreSpaced: the discoveries queued after syncs finish, however many, start no sooner
// than discoverySpacing after the last complete one began; one after a quick failure, or of a changed
// spec, starts at once.
func TestDiscoveriesAreSpaced(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	proxy := h.viaProxy()
	h.discover()
	listings := func() int { return proxy.Count("QueryReplicationGroup").Requests }
	before := listings()
	spacing := discoverySpacing(DefaultDiscoveryInterval, 0)
	for _, after := range []time.Duration{10 * time.Second, 10 * time.Second} { // two syncs' discoveries
		h.clock.SetTime(h.clock.Now().Add(after))
		res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
		g.Expect(err).NotTo(HaveOccurred())
		spacing -= after
		g.Expect(res.RequeueAfter).To(Equal(spacing))
	}
	g.Expect(listings()).To(Equal(before), "no listing before the spacing")
	h.discoverAfter(spacing)
	g.Expect(listings()).To(BeNumerically(">", before))

	// A discovery that fails does not space the next: it is retried after 5 s, then less often. It is
	// logged once at Error, not each time (the reconciler returns no error for the controller to log).
	h.sim.Provider("array-a").FailNext("QueryReplicationGroup", smssim.FaultBusy, 3)
	h.clock.SetTime(h.clock.Now().Add(discoverySpacing(DefaultDiscoveryInterval, 0)))
	trap := &leakTrap{}
	logged := ctrl.LoggerInto(h.ctx, trap.logger())
	for _, retry := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, DefaultDiscoveryInterval} {
		before = listings()
		res, err := h.r.Reconcile(logged, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(listings()).To(BeNumerically(">", before), "retried before a spacing passed")
		g.Expect(res.RequeueAfter).To(Equal(retry))
		h.clock.SetTime(h.clock.Now().Add(retry))
	}
	trap.mu.Lock()
	seen := slices.Clone(trap.seen)
	trap.mu.Unlock()
	var errorLines, quietLines int
	for _, l := range seen {
		switch {
		case !strings.Contains(l, `"msg"="Discovering replication groups failed"`):
		case strings.Contains(l, `"level"=1`):
			quietLines++
		default:
			errorLines++
			g.Expect(l).To(ContainSubstring("ProviderBusy"))
		}
	}
	g.Expect([]int{errorLines, quietLines}).To(Equal([]int{1, 2}), "one Error line for three failures alike, the others at V(1)")

	// Another provider named: discovered at once.
	before = listings()
	g.Expect(h.c.Get(h.ctx, client.ObjectKeyFromObject(h.vp), h.vp)).To(Succeed())
	h.vp.Spec.Provider.Name, h.vp.Spec.Provider.UID = "", "uid-of-another"
	g.Expect(h.c.Update(h.ctx, h.vp)).To(Succeed())
	h.vp.Status.ObservedGeneration = h.vp.Generation
	g.Expect(h.c.Status().Update(h.ctx, h.vp)).To(Succeed())
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(h.vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(listings()).To(BeNumerically(">", before))
}

// TestFailedDiscoveriesAreSpacedByTheirDuration: a failed discovery spaces the next by twice its own
// duration, without the floor: a quick one is retried with the controller's backoff, a slow one (a
// listing timing out after minutes) is not run again back to back. Never more than the interval.
func TestFailedDiscoveriesAreSpacedByTheirDuration(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct{ took, want time.Duration }{
		{time.Second, 2 * time.Second},
		{2 * time.Minute, 4 * time.Minute},
		{10 * time.Minute, DefaultDiscoveryInterval},
	} {
		g.Expect(discoveryRun{took: tc.took, failures: 1}.spacing(DefaultDiscoveryInterval)).To(Equal(tc.want), tc.took.String())
	}
	g.Expect(discoveryRun{took: time.Second}.spacing(DefaultDiscoveryInterval)).To(Equal(discoveryAfterSync), "a completed one keeps the floor")
}
