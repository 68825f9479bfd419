package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestRunsOfOnePiTNameSyncAGroupOnce: a second ReplicationSync names the harness run's group and PiT name
// while the first one's task runs. A PiT check cannot tell it apart from a group never synced (and the
// first sync may end between the second's check and call): the second run waits for the first, and takes
// its PiT. One call, on an array with PiT support and on one without (whose results name no PiT id: the
// second run takes the first one's sync, its time and its empty id).
func TestRunsOfOnePiTNameSyncAGroupOnce(t *testing.T) {
	for name, pitSupport := range map[string]bool{"PiT support": true, "no PiT support": false} {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 1, nil)
			h.fake.NoPiTSupport = !pitSupport
			h.reconcile()
			h.g.Expect(h.fake.Calls()).To(HaveLen(1))

			first, second := h.peerRun("-again")
			reconcileSecond := func() {
				_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(second)})
				h.g.Expect(err).NotTo(HaveOccurred())
			}
			reconcileSecond()
			h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1), "the second run waits for the first one's sync")

			h.fake.FinishAll(h.clock.Now())
			for range 20 {
				h.clock.Step(time.Second)
				h.reconcile()
				reconcileSecond()
			}
			h.g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(second), second)).To(Succeed())
			h.g.Expect(second.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
			firstGroup, secondGroup := h.get().Status.Groups[0], second.Status.Groups[0]
			if pitSupport {
				h.g.Expect(firstGroup.PitID).NotTo(BeEmpty())
			} else {
				// Nothing to find by name: only the first run's status shows the group synced.
				h.g.Expect(firstGroup.PitID).To(BeEmpty(), "an array without PiT support names no PiT")
				h.g.Expect(secondGroup.Message).To(ContainSubstring("Synced by ReplicationSync " + first.Name))
			}
			h.g.Expect(secondGroup.PitID).To(Equal(firstGroup.PitID))
			h.g.Expect(secondGroup.TimeStamp).NotTo(BeNil())
			h.g.Expect(secondGroup.TimeStamp.Equal(firstGroup.TimeStamp)).To(BeTrue(), "the first run's sync: %v, %v", secondGroup.TimeStamp, firstGroup.TimeStamp)
			h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
		})
	}
}

// TestOldPeerSyncIsNotTaken: a run of the same PiT name synced the group before this run was created; on
// an array without PiT support nothing shows that its PiT still exists (retention may have dropped it),
// so the new run syncs the group itself instead of reporting the old recovery point.
func TestOldPeerSyncIsNotTaken(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.fake.NoPiTSupport = true
	h.reconcile()
	h.fake.FinishAll(h.clock.Now().Add(-time.Hour))
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))

	later := &replicationv1alpha1.ReplicationSync{}
	later.Namespace, later.Name = h.key.Namespace, h.key.Name+"-later"
	later.Spec = *h.get().Spec.DeepCopy()
	h.g.Expect(k8sClient.Create(h.ctx, later)).To(Succeed())
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(later)})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(2))
}

// TestPreClaimedGroupWaitingForAPeerIsNotInDoubt: a pre-claimed group (Issuing) that another run of the
// PiT name is syncing goes back to Pending when its batch is called: left Issuing without a call, it would
// read as in doubt and be issued again after the window, beside the peer's sync.
func TestPreClaimedGroupWaitingForAPeerIsNotInDoubt(t *testing.T) {
	h := preclaimHarness(t)
	h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Issuing", "Issuing", "Pending", "Pending"}))

	first := h.get()
	peer := &replicationv1alpha1.ReplicationSync{}
	peer.Namespace, peer.Name = first.Namespace, first.Name+"-peer"
	peer.Spec = *first.Spec.DeepCopy()
	peer.Spec.GroupIDs = peer.Spec.GroupIDs[2:3]
	h.g.Expect(k8sClient.Create(h.ctx, peer)).To(Succeed())
	peer.Status.Phase = replicationv1alpha1.SyncRunning
	peer.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: first.Status.Groups[2].ReplicationGroupID,
		State: replicationv1alpha1.GroupSyncing, Task: "smstask-peer", Provider: first.Status.Groups[0].Provider}}
	h.g.Expect(k8sClient.Status().Update(h.ctx, peer)).To(Succeed())
	h.r.peers.add(peer)

	for range 30 { // the run's other tasks end; the peer's goes on
		h.fake.FinishAll(h.clock.Now())
		h.clock.Step(5 * time.Second)
		h.reconcile()
	}
	g := h.get().Status.Groups[2]
	h.g.Expect(g.Reissues).To(BeZero(), "%+v", g)
	h.g.Expect(h.fake.CallsOf(h.group(2))).To(BeZero())
	h.g.Expect(stateStrings(h.states())[3:]).To(Equal([]string{"Synced", "Synced", "Synced"}))
}

// TestPitPeersHoldARunUnderOneKey: a ReplicationSync deleted and created again under its name with
// another PiT name, its events merged so that no reconcile saw it gone, is a peer of its new PiT name
// only, also when a reconcile of its old version comes after the watch's event; once deleted it is
// nobody's peer.
func TestPitPeersHoldARunUnderOneKey(t *testing.T) {
	g := NewWithT(t)
	run := func(pitName string) *replicationv1alpha1.ReplicationSync {
		rs := &replicationv1alpha1.ReplicationSync{}
		rs.Namespace, rs.Name = "ns", "nightly"
		rs.Spec.ProviderRef.Name, rs.Spec.PitName = "array-a", pitName
		return rs
	}
	peerOf := func(pitName string) *replicationv1alpha1.ReplicationSync {
		rs := run(pitName)
		rs.Name = "other"
		return rs
	}
	var p pitPeers
	p.add(run("monday"))
	p.add(run("tuesday"))
	g.Expect(p.others(peerOf("monday"))).To(BeEmpty(), "the run moved to its new PiT name")
	g.Expect(p.others(peerOf("tuesday"))).To(ConsistOf(types.NamespacedName{Namespace: "ns", Name: "nightly"}))
	p.know(run("monday")) // a reconcile holding the old version, after the watch registered the new one
	g.Expect(p.others(peerOf("monday"))).To(BeEmpty(), "the watch's newer version stands")
	g.Expect(p.others(peerOf("tuesday"))).To(HaveLen(1))

	p.forget(types.NamespacedName{Namespace: "ns", Name: "nightly"})
	g.Expect(p.others(peerOf("tuesday"))).To(BeEmpty())
	g.Expect(p.byKey).To(BeEmpty())
}

// TestDeletedRunLeavesItsPeers: a reconcile that read a run just before it was deleted registers it
// after the watch's delete took it out; the reconcile that then finds it gone takes it out again, or it
// would stay registered for good (PiT names are not used again).
func TestDeletedRunLeavesItsPeers(t *testing.T) {
	h := newRunHarness(t, 1, shortWindow)
	stale := h.get()
	h.g.Expect(k8sClient.Delete(h.ctx, stale)).To(Succeed())
	h.g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(h.ctx, h.key, stale)) }).Should(BeTrue())
	h.r.peers.forget(h.key) // the watch's delete
	h.r.peers.know(stale)   // the reconcile that read it before
	h.reconcile()
	h.r.peers.mu.Lock()
	defer h.r.peers.mu.Unlock()
	h.g.Expect(h.r.peers.keyOf).To(BeEmpty())
}

// TestRunsOfOnePiTNameReconciledAtOnceSyncAGroupOnce: two runs of one PiT name and group, reconciled at
// the same moment by two workers, on an array without PiT support: both ask for the PiT at once, and
// each would read the other before either claim is written. They take turns between reading their
// peers and writing their claims: one call.
func TestRunsOfOnePiTNameReconciledAtOnceSyncAGroupOnce(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.fake.NoPiTSupport = true
	both, asked := make(chan struct{}), atomic.Int32{}
	h.fake.PiTs = func(string, []sms.GroupID, string) ([]sms.PointInTime, error) {
		if asked.Add(1) == 2 {
			close(both)
		}
		select { // both runs have checked the array before either reads its peers
		case <-both:
		case <-time.After(5 * time.Second):
		}
		return nil, &sms.NotImplementedError{Message: "QueryPointInTimeReplica is not implemented by this provider"}
	}
	_, second := h.peerRun("-at-once")

	var wg sync.WaitGroup
	for _, key := range []client.ObjectKey{h.key, client.ObjectKeyFromObject(second)} {
		wg.Go(func() {
			_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: key})
			h.g.Expect(err).NotTo(HaveOccurred())
		})
	}
	wg.Wait()
	h.g.Expect(asked.Load()).To(BeEquivalentTo(2), "both runs checked the array")
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
}

// TestPitTurnsAreTakenPerGroup: runs of one PiT name with no group in common (the shares of a schedule's
// tick) do not wait for each other; a run naming a group another holds waits until it is released; once
// all are released nothing is kept.
func TestPitTurnsAreTakenPerGroup(t *testing.T) {
	g := NewWithT(t)
	var p pitPeers
	k := pitKey{"ns", "array-a", "nightly"}
	first := mustLock(g, &p, context.Background(), k, "dg-1", "dg-2")
	mustLock(g, &p, context.Background(), k, "dg-3")() // no group in common: at once

	overlapping := make(chan func())
	go func() { overlapping <- mustLock(g, &p, context.Background(), k, "dg-3", "dg-2") }()
	g.Consistently(overlapping).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
	first()
	var unlock func()
	g.Eventually(overlapping).Should(Receive(&unlock))
	unlock()
	g.Expect(p.turns).To(BeEmpty())
}

// TestPitTurnWaitEnds: a run waiting for a turn another run holds gives up when its context ends (the
// manager stopping) or after peerTurnWait, instead of pinning its worker for as long as the holder
// walks PiT queries; the turns it had taken meanwhile are free again.
func TestPitTurnWaitEnds(t *testing.T) {
	g := NewWithT(t)
	var p pitPeers
	k := pitKey{"ns", "array-a", "nightly"}
	holder := mustLock(g, &p, context.Background(), k, "dg-2")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := p.lock(ctx, k, turnGroups("dg-1", "dg-2"))
	g.Expect(err).To(MatchError(context.Canceled))
	mustLock(g, &p, context.Background(), k, "dg-1")() // taken before the wait, given back

	begin := time.Now()
	_, err = p.lock(context.Background(), k, turnGroups("dg-2"))
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
	g.Expect(time.Since(begin)).To(BeNumerically("~", peerTurnWait, time.Second))
	holder()
	g.Expect(p.turns).To(BeEmpty())
}

func turnGroups(dgs ...string) []replicationv1alpha1.ReplicationGroupID {
	out := make([]replicationv1alpha1.ReplicationGroupID, len(dgs))
	for i, dg := range dgs {
		out[i] = replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg}}
	}
	return out
}

func mustLock(g Gomega, p *pitPeers, ctx context.Context, k pitKey, dgs ...string) func() {
	unlock, err := p.lock(ctx, k, turnGroups(dgs...))
	g.Expect(err).NotTo(HaveOccurred())
	return unlock
}

// TestPeerNotReadCallsNothing: the API server cannot answer for a peer of the same PiT name (too many
// requests) while that peer syncs the group. Taken for a peer without claims, it would be synced twice,
// on an array without PiT support whatever the timing: the run calls nothing and looks again.
func TestPeerNotReadCallsNothing(t *testing.T) {
	h := calledWithoutPiTSupport(t)

	_, second := h.peerRun("-unread")
	h.r.APIReader = intercepted(h.g, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if key == h.key {
				return apierrors.NewTooManyRequests("the API server is overloaded", 1)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(second)})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(res.RequeueAfter).To(BeNumerically("<=", peerReadRetry))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
}

// TestRunWaitingForAPeersTurnFreesItsWorker: a run holds its turn among the runs of its PiT name through
// a claim write the API server is slow to answer. A second run naming its group does not wait for it past
// peerTurnWait: it calls nothing, gives back the slot it reserved and looks again soon, so its worker and
// the provider's slot serve other runs meanwhile. Once the first run's claim is written, the second waits
// for that run's sync: one call.
func TestRunWaitingForAPeersTurnFreesItsWorker(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.fake.NoPiTSupport = true
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.onPatch = func(_ int, obj client.Object) error {
		if rs := obj.(*replicationv1alpha1.ReplicationSync); rs.Name == h.key.Name && rs.Status.Groups[0].State == replicationv1alpha1.GroupIssuing {
			once.Do(func() { close(blocked); <-release }) // the first run's claim, turn held
		}
		return nil
	}
	first, second := h.peerRun("-second")

	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
		h.g.Expect(err).NotTo(HaveOccurred())
	}()
	<-blocked
	secondDone := make(chan ctrl.Result)
	go func() {
		res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(second)})
		h.g.Expect(err).NotTo(HaveOccurred())
		secondDone <- res
	}()
	var res ctrl.Result
	h.g.Eventually(secondDone).WithTimeout(3*peerTurnWait).Should(Receive(&res), "the second run waited for the turn for good")
	h.g.Expect(res.RequeueAfter).To(BeNumerically("<=", peerReadRetry))
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.g.Expect(h.r.Capacity.InFlight(client.ObjectKeyFromObject(h.vp))).To(Equal(1), "only the first run's slot is held")

	close(release)
	<-firstDone
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.expectWaitsForPeer(first, second)
}

// TestPeersKnownAfterARestart: a run of one PiT name syncs a group when the manager restarts; the new
// process reconciles a second run of the name and group first. The informer's first list registered the
// first run (registerPeers), so the second waits for its sync, on an array without PiT support too,
// instead of meeting only the PiT check (no PiT there: a second sync).
func TestPeersKnownAfterARestart(t *testing.T) {
	h := calledWithoutPiTSupport(t)
	first, second := h.peerRun("-after-restart")

	h.newProcess()
	list := &replicationv1alpha1.ReplicationSyncList{}
	h.g.Expect(k8sClient.List(h.ctx, list, client.InNamespace(first.Namespace))).To(Succeed())
	for i := range list.Items { // the informer's first list, before any worker starts
		h.g.Expect(registerPeers(&h.r.peers).Create(event.CreateEvent{Object: &list.Items[i]})).To(BeTrue())
	}
	h.expectWaitsForPeer(first, second)

	registerPeers(&h.r.peers).Delete(event.DeleteEvent{Object: first})
	h.g.Expect(h.r.peers.others(second)).To(BeEmpty(), "a deleted run is no one's peer")
}

// expectWaitsForPeer reconciles second and expects it to call nothing and to wait for first, which syncs
// the harness's group 0.
func (h *runHarness) expectWaitsForPeer(first, second *replicationv1alpha1.ReplicationSync) {
	h.t.Helper()
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(second)})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	got := &replicationv1alpha1.ReplicationSync{}
	h.g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(second), got)).To(Succeed())
	h.g.Expect(got.Status.Groups[0].Message).To(ContainSubstring("Waiting for ReplicationSync " + first.Name))
}

// calledWithoutPiTSupport is a harness whose run has called its one group, on an array without PiT
// support: only the runs of its PiT name keep a second run from syncing the group again.
func calledWithoutPiTSupport(t *testing.T) *runHarness {
	h := newRunHarness(t, 1, nil)
	h.fake.NoPiTSupport = true
	h.reconcile()
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	return h
}
