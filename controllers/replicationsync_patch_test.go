package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

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
