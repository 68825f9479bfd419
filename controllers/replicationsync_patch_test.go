package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestStatusPatchIsSmallAndLocked: a write of one changed group among 1000 sends that entry only, and a
// write planned on an old resourceVersion is refused with a conflict.
func TestStatusPatchIsSmallAndLocked(t *testing.T) {
	g := NewWithT(t)
	h := newRunHarness(t, 1000, nil)
	rs := h.get()
	initSyncStatus(rs)
	before := rs.DeepCopy()
	before.Status = replicationv1alpha1.ReplicationSyncStatus{}
	g.Expect(h.r.patchStatus(context.Background(), before, rs)).To(Succeed())

	stale := rs.DeepCopy()
	next := rs.DeepCopy()
	next.Status.Groups[7].State = replicationv1alpha1.GroupSynced
	patch, err := statusPatch(rs, next)
	g.Expect(err).NotTo(HaveOccurred())
	data, err := patch.Data(next)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(data)).To(BeNumerically("<", 300), string(data))
	g.Expect(h.r.patchStatus(context.Background(), rs, next)).To(Succeed())
	g.Expect(h.get().Status.Groups[7].State).To(Equal(replicationv1alpha1.GroupSynced))

	again := stale.DeepCopy()
	again.Status.Groups[8].State = replicationv1alpha1.GroupFailed
	err = h.r.patchStatus(context.Background(), stale, again)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
	g.Expect(h.get().Status.Groups[8].State).To(Equal(replicationv1alpha1.GroupPending))
}

// TestProviderEventsThatWakeRuns: what runs taught the provider, or a periodic re-check, does not wake
// every run of the provider; a change of readiness or spec does.
func TestProviderEventsThatWakeRuns(t *testing.T) {
	g := NewWithT(t)
	vp := newProvider("ns", "vp", "creds")
	vp.Generation = 1
	meta.SetStatusCondition(&vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Connected", ObservedGeneration: 1})
	update := func(mutate func(*replicationv1alpha1.VasaProvider)) bool {
		after := vp.DeepCopy()
		mutate(after)
		return providerUsabilityChanged().Update(event.UpdateEvent{ObjectOld: vp, ObjectNew: after})
	}
	g.Expect(update(func(v *replicationv1alpha1.VasaProvider) { v.Status.LearnedMaxBatchSize = 16 })).To(BeFalse())
	g.Expect(update(func(v *replicationv1alpha1.VasaProvider) { v.Status.LastCheckedTime = &metav1.Time{} })).To(BeFalse())
	g.Expect(update(func(v *replicationv1alpha1.VasaProvider) {
		meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: "Unreachable", ObservedGeneration: 1})
	})).To(BeTrue())
	g.Expect(update(func(v *replicationv1alpha1.VasaProvider) { v.Generation = 2 })).To(BeTrue())
	g.Expect(update(func(v *replicationv1alpha1.VasaProvider) {
		meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Connected", Message: "now via a new path", ObservedGeneration: 1})
	})).To(BeTrue(), "why it is (not) Ready is in the runs' conditions too")
}
