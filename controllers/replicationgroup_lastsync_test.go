package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// syncedRun stores a ReplicationSync of group fd-1/dg-1 of array-a that succeeded at done, with ttl.
func (h *discoveryHarness) syncedRun(name string, done time.Time, ttl *int32) *replicationv1alpha1.ReplicationSync {
	id := *apiGroupID(sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})
	rs := newSelectorSync(h.ns, name, "array-a", nil)
	rs.Spec.GroupSelector = nil
	rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{id}
	rs.Spec.TTLSecondsAfterFinished = ttl
	h.g.Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
	at := metav1.NewTime(done)
	rs.Status.CompletionTime = &at
	rs.Status.Phase = replicationv1alpha1.SyncSucceeded
	rs.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: id, State: replicationv1alpha1.GroupSynced}}
	h.g.Expect(k8sClient.Status().Update(h.ctx, rs)).To(Succeed())
	return rs
}

// TestDiscoveryKeepsLastSyncOfDeletedRuns: a run deleted after it synced a group (TTL, history limit)
// leaves the group's lastSync as it was, also when an older run of the group still exists; a newer
// run replaces it.
func TestDiscoveryKeepsLastSyncOfDeletedRuns(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	now := time.Now().UTC().Truncate(time.Second)
	finished := func(name string, done time.Time) *replicationv1alpha1.ReplicationSync {
		return h.syncedRun(name, done, nil)
	}
	older := finished("older", now.Add(-2*time.Hour))
	newer := finished("newer", now.Add(-time.Hour))
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync.Name).To(Equal("newer"))

	// The newer run is deleted; the older one still exists: the stored lastSync stays, unwritten.
	rv := h.group("fd-1", "dg-1").ResourceVersion
	g.Expect(k8sClient.Delete(h.ctx, newer)).To(Succeed())
	h.discover()
	rg := h.group("fd-1", "dg-1")
	g.Expect(rg.ResourceVersion).To(Equal(rv))
	g.Expect(rg.Status.LastSync.Name).To(Equal("newer"))
	g.Expect(rg.Status.LastSync.CompletionTime.Time).To(BeTemporally("==", now.Add(-time.Hour)))

	// No run of the group is left: still as it was.
	g.Expect(k8sClient.Delete(h.ctx, older)).To(Succeed())
	h.discover()
	rg = h.group("fd-1", "dg-1")
	g.Expect(rg.ResourceVersion).To(Equal(rv))
	g.Expect(rg.Status.LastSync).NotTo(BeNil())
	g.Expect(rg.Status.LastSync.Name).To(Equal("newer"))

	// A run that finished later replaces it.
	finished("latest", now)
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync.Name).To(Equal("latest"))
}

// TestLastSyncSaysWhenItsPiTWasTaken: a group's lastSync carries its PiT's time from the run, which a long
// run made long before it finished.
func TestLastSyncSaysWhenItsPiTWasTaken(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	done := time.Now().UTC().Truncate(time.Second)
	rs := h.syncedRun("long", done, nil)
	pit := metav1.NewTime(done.Add(-3 * time.Hour))
	rs.Status.Groups[0].TimeStamp = &pit
	g.Expect(k8sClient.Status().Update(h.ctx, rs)).To(Succeed())
	h.discover()
	last := h.group("fd-1", "dg-1").Status.LastSync
	g.Expect(last).To(HaveField("CompletionTime.Time", BeTemporally("==", done)))
	g.Expect(last).To(HaveField("PitTime", HaveValue(HaveField("Time", BeTemporally("==", pit.Time)))))
}

// TestRunWithShortTTLWaitsForItsLastSync: a run with ttlSecondsAfterFinished 0 is kept until a discovery
// has recorded it as its group's lastSync (lastSync is built from the runs that exist at a discovery),
// then deleted, and lastSync stays; a discovery that never comes keeps it at most lastSyncHoldMax.
func TestRunWithShortTTLWaitsForItsLastSync(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	h.discover() // the group's ReplicationGroup exists, without lastSync
	done := time.Now().UTC().Truncate(time.Second)
	finished := func(name string) *replicationv1alpha1.ReplicationSync {
		return h.syncedRun(name, done, ptr.To[int32](0))
	}
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Capacity: capacity.New()}
	exists := func(rs *replicationv1alpha1.ReplicationSync) bool {
		err := k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rs), &replicationv1alpha1.ReplicationSync{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		return err == nil
	}

	rs := finished("fast")
	res, err := r.advance(h.ctx, &syncRun{rs: rs.DeepCopy(), now: done.Add(time.Second)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists(rs)).To(BeTrue(), "kept until a discovery records it")
	g.Expect(res.RequeueAfter).To(Equal(discoveryAfterSync), "looked at again when the discovery after it is due")

	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync).To(HaveField("Name", "fast"))
	_, err = r.advance(h.ctx, &syncRun{rs: rs.DeepCopy(), now: done.Add(discoveryAfterSync + 2*time.Second)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists(rs)).To(BeFalse())
	h.discover()
	g.Expect(h.group("fd-1", "dg-1").Status.LastSync).To(HaveField("Name", "fast"), "lastSync stays after its run is gone")

	// No discovery comes: deleted once lastSyncHoldMax passed.
	done = done.Add(time.Minute)
	unseen := finished("unseen")
	_, err = r.advance(h.ctx, &syncRun{rs: unseen.DeepCopy(), now: done.Add(lastSyncHoldMax - time.Second)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists(unseen)).To(BeTrue())
	_, err = r.advance(h.ctx, &syncRun{rs: unseen.DeepCopy(), now: done.Add(lastSyncHoldMax)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists(unseen)).To(BeFalse())
}

// TestSlowDiscoveryHoldsRunsLonger: a provider whose discovery takes longer than lastSyncHoldMax (5,000
// groups on a slow array) keeps a finished run for four times its last discovery's duration: deleted at
// lastSyncHoldMax, the run would never show in its groups' lastSync.
func TestSlowDiscoveryHoldsRunsLonger(t *testing.T) {
	g := NewWithT(t)
	h := newDiscoveryHarness(t, g, k8sClient, smssim.ProviderConfig{Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}}})
	h.discover()
	vp := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(h.vp), vp)).To(Succeed())
	g.Expect(vp.Status.Discovery.LastDuration).NotTo(BeNil(), "each discovery records how long it took")
	vp.Status.Discovery.LastDuration = &metav1.Duration{Duration: 8 * time.Minute}
	g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())

	done := time.Now().UTC().Truncate(time.Second)
	rs := h.syncedRun("slow", done, ptr.To[int32](0))
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Capacity: capacity.New()}
	exists := func() bool {
		err := k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rs), &replicationv1alpha1.ReplicationSync{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		return err == nil
	}
	_, err := r.advance(h.ctx, &syncRun{rs: rs.DeepCopy(), now: done.Add(lastSyncHoldMax + time.Minute)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists()).To(BeTrue(), "a discovery of 8 minutes may not have seen it yet")
	_, err = r.advance(h.ctx, &syncRun{rs: rs.DeepCopy(), now: done.Add(3 * 8 * time.Minute)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists()).To(BeTrue(), "the next discovery may start 16 minutes after one that missed it, and take 8")
	_, err = r.advance(h.ctx, &syncRun{rs: rs.DeepCopy(), now: done.Add(4 * 8 * time.Minute)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists()).To(BeFalse())
}

// TestHistoryLimitWaitsForLastSync: a schedule with successfulHistoryLimit 0 deletes a succeeded run only
// once its group's lastSync shows it (or lastSyncHoldMax passed), and looks again by then.
func TestHistoryLimitWaitsForLastSync(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	g.Expect(k8sClient.Create(h.ctx, newProvider(h.ns, "array-a", "vc-creds"))).To(Succeed())
	storeGroup(t, g, h.ns, "array-a", "fd-1", "dg-1", "TARGET", "oracle")
	h.create("no-history", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.SuccessfulHistoryLimit = ptr.To[int32](0)
	})
	tick := h.nextRuns(1)[0]
	h.reconcileAt(tick)
	g.Expect(h.runs()).To(HaveLen(1))
	run := h.runs()[0]
	run.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: run.Spec.GroupIDs[0], State: replicationv1alpha1.GroupSynced}}
	completed := tick.Add(time.Minute).UTC().Truncate(time.Second)
	h.finish(run, replicationv1alpha1.SyncSucceeded, completed)

	res := h.reconcileAt(completed.Add(time.Second))
	g.Expect(h.get().Status.LastSuccessfulTime).NotTo(BeNil())
	g.Expect(h.runs()).To(HaveLen(1), "kept until its group's lastSync shows it")
	g.Expect(res.RequeueAfter).To(Equal(discoveryAfterSync))

	rg := &replicationv1alpha1.ReplicationGroup{}
	g.Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})}, rg)).To(Succeed())
	at := metav1.NewTime(completed)
	rg.Status.LastSync = &replicationv1alpha1.LastSync{Name: run.Name, PitName: run.Spec.PitName, State: replicationv1alpha1.GroupSynced, CompletionTime: &at}
	g.Expect(k8sClient.Update(h.ctx, rg)).To(Succeed()) // as the discovery after the run writes it
	h.reconcileAt(completed.Add(discoveryAfterSync + 2*time.Second))
	g.Expect(h.runs()).To(BeEmpty())
}
