package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestExistingPiTIsNeverSyncedAgain: a run whose groups already have a PiT of its name (a ReplicationSync
// deleted and re-created by GitOps, or the PiT of a manager that crashed before it wrote anything) makes
// those groups Synced to that PiT without a call; only the other groups are called.
func TestExistingPiTIsNeverSyncedAgain(t *testing.T) {
	h := newRunHarness(t, 3, nil)
	earlier := h.fake.CreateTask([]sms.GroupID{h.group(0), h.group(1)}, h.get().Spec.PitName) // not a call of this run
	h.fake.Finish(earlier, h.clock.Now())
	h.reconcile()
	rs := h.get()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Synced", "Synced", "Syncing"}))
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-" + earlier + "-dg-0"))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("already existed"))
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(1))
	h.g.Expect(calls[0].Groups).To(Equal([]sms.GroupID{h.group(2)}))
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(BeEquivalentTo("Succeeded"))
	h.g.Expect([]int{h.fake.CallsOf(h.group(0)), h.fake.CallsOf(h.group(1)), h.fake.CallsOf(h.group(2))}).To(Equal([]int{0, 0, 1}))
}
