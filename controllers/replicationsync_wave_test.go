package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// TestTooManyReplansInTheSameReconcile: the first call of a provider whose batch size is not known yet
// is refused with TooMany; the reconcile claims the wave again at that size and calls it, with no write
// in between that only says so.
func TestTooManyReplansInTheSameReconcile(t *testing.T) {
	h := newRunHarness(t, 6, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxConcurrentTasks = 2
	})
	h.fake.Sync = func(call smsfake.SyncCall) (string, error) {
		if len(call.Groups) > 2 {
			return "", &sms.TooManyError{MaxBatchSize: 2}
		}
		return h.fake.CreateTask(call.Groups, call.PitName), nil
	}
	h.reconcile()
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(3), "one refused call of all 6 groups, then 2 batches of 2")
	h.g.Expect(calls[0].Groups).To(HaveLen(6))
	h.g.Expect(h.patches).To(Equal(3), "claim, claim at the learned size, refs")
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing", "Syncing", "Syncing", "Issuing", "Issuing"}))
	h.g.Expect(h.get().Status.BatchSize).To(BeEquivalentTo(2))
}
