package controllers

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// relayHarness runs 4 groups one per call on 2 slots: the first reconcile calls groups 0 and 1 and
// pre-claims 2 and 3; the second, after task 1 ended, calls group 2 and commits while task 2 ends.
// slowWrite is what that commit's write does: it ends task 2, moves the clock past its poll, and waits.
func relayHarness(t *testing.T, slowWrite func(h *runHarness) error) (*runHarness, *atomic.Int32) {
	h := newRunHarness(t, 4, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Issuing", "Issuing"}))

	var calledDuringWrite atomic.Int32
	h.onPatch = func(n int, _ client.Object) error {
		if n != 3 {
			return nil
		}
		h.fake.Finish("smstask-2", h.clock.Now())
		h.clock.Step(time.Second)
		awaitCalls(h, 4) // a write under load: it returns only once the relay called, or long after
		calledDuringWrite.Store(int32(len(h.fake.Calls())))
		return slowWrite(h)
	}
	h.fake.Finish("smstask-1", h.clock.Now())
	h.clock.Step(time.Second)
	h.reconcile()
	return h, &calledDuringWrite
}

// TestRelayCallsArmedBatchDuringCommit: a task that ends while a commit is written frees its slot at once:
// the armed batch is called before the write returns, and the same reconcile writes what followed.
func TestRelayCallsArmedBatchDuringCommit(t *testing.T) {
	h, calledDuringWrite := relayHarness(t, func(*runHarness) error { return nil })
	h.g.Expect(calledDuringWrite.Load()).To(BeEquivalentTo(4), "group 3 was called while the commit of group 2 was written")
	h.g.Expect(h.patches).To(Equal(4), "the commit, then what the relay did")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Syncing", "Syncing"}))
	h.g.Expect(h.get().Status.Groups[3].Task).To(Equal("smstask-4"))

	h.expectEndsSyncedOnce(4)
}

// TestRelayedRefsSurviveALostCommit: the commit the relay ran beside loses to another writer; the merge
// into the fresher object records the refs of the relayed call too, so no group is left in doubt.
func TestRelayedRefsSurviveALostCommit(t *testing.T) {
	h, calledDuringWrite := relayHarness(t, func(*runHarness) error {
		return conflict()
	})
	h.g.Expect(calledDuringWrite.Load()).To(BeEquivalentTo(4))
	h.g.Expect(h.patches).To(Equal(4), "the lost commit, then the merged one")
	rs := h.get()
	h.g.Expect(rs.Status.Groups[2].Task).To(Equal("smstask-3"))
	h.g.Expect(rs.Status.Groups[3].Task).To(Equal("smstask-4"), "the relayed call's ref is not lost")

	h.expectEndsSyncedOnce(4)
}

// TestRelayedRefsSurviveALostSecondWrite: the relay calls, during the commit's second write, a batch that
// the first write pre-claimed (armed after the read the commit started from); that write loses to
// another writer, and the merge still records the call's ref.
func TestRelayedRefsSurviveALostSecondWrite(t *testing.T) {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	h.reconcile() // groups 0 and 1 called, 2 and 3 pre-claimed
	h.onPatch = func(n int, _ client.Object) error {
		switch n {
		case 3: // the commit of group 2, which pre-claims group 4: task 2 ends, the relay calls group 3
			h.fake.Finish("smstask-2", h.clock.Now())
			h.clock.Step(10 * time.Second)
			awaitCalls(h, 4)
		case 4: // what the relay did: task 3 ends, the relay calls group 4; this write is lost
			h.fake.Finish("smstask-3", h.clock.Now())
			h.clock.Step(10 * time.Second)
			awaitCalls(h, 5)
			return conflict()
		}
		return nil
	}
	h.fake.Finish("smstask-1", h.clock.Now())
	h.clock.Step(time.Second)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(5), "groups 0-4")
	rs := h.get()
	h.g.Expect(rs.Status.Groups[3].Task).To(Equal("smstask-4"))
	h.g.Expect(rs.Status.Groups[4].Task).To(Equal("smstask-5"), "the ref of the batch armed by the first write is not lost")

	h.expectEndsSyncedOnce(6)
}

// awaitCalls stands for a slow status write: it holds the write until the provider has received n
// calls, so that the relay calls while the write is in flight however loaded the machine is. It does not
// assert (it runs in the write's goroutine): if the relay never calls, the write returns after a
// minute and the test's assertions on the calls fail.
func awaitCalls(h *runHarness, n int) {
	for deadline := time.Now().Add(time.Minute); len(h.fake.Calls()) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRelayPreclaimsNothingOnceTheManagerStops: the manager is told to stop while a relay round calls an
// armed batch during a commit. The call's ref is committed, but the round pre-claims no further group: a
// stopping manager leaves its next batches Pending, to the next one, instead of claiming groups it would
// have to give back with one more write before it exits.
func TestRelayPreclaimsNothingOnceTheManagerStops(t *testing.T) {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	h.reconcile() // groups 0 and 1 called, 2 and 3 pre-claimed
	stopping, stop := context.WithCancel(h.ctx)
	defer stop()
	h.fake.Sync = func(call smsfake.SyncCall) (string, error) {
		if slices.Contains(call.Groups, h.group(3)) {
			stop() // SIGTERM while the relay calls group 3
		}
		return h.fake.CreateTask(call.Groups, call.PitName), nil
	}
	h.onPatch = func(n int, _ client.Object) error {
		if n == 3 { // the commit of group 2, which pre-claims group 4: task 2 ends, the relay calls group 3
			h.fake.Finish("smstask-2", h.clock.Now())
			h.clock.Step(10 * time.Second)
			awaitCalls(h, 4)
		}
		return nil
	}
	h.fake.Finish("smstask-1", h.clock.Now())
	h.clock.Step(time.Second)
	_, err := h.r.Reconcile(stopping, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(h.fake.Calls()).To(HaveLen(4), "groups 0-3")
	rs := h.get()
	h.g.Expect(rs.Status.Groups[3].Task).To(Equal("smstask-4"))
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Syncing", "Syncing", "Issuing", "Pending"}),
		"group 4 was pre-claimed before the stop, group 5 not after it")
}
