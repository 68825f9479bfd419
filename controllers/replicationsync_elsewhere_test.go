package controllers

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// TestPiTMadeElsewhereIsReported: a PiT of the run's name that another writer made while the run existed
// (the same schedule in a second cluster) is taken, as before, and reported in a Warning event: found by
// the check before the group's call, or made by a task the run waited for (SyncOngoing). A PiT from
// before the run (an object re-applied from Git) is no other writer's.
func TestPiTMadeElsewhereIsReported(t *testing.T) {
	for name, c := range map[string]struct {
		setup func(h *runHarness) (afterFirstReconcile func())
		want  bool
	}{
		"found before the call": {func(h *runHarness) func() {
			h.fake.Finish(h.fake.CreateTask([]sms.GroupID{h.group(1)}, h.get().Spec.PitName), h.get().CreationTimestamp.Add(time.Second))
			return nil
		}, true},
		"from before the run": {func(h *runHarness) func() {
			h.fake.Finish(h.fake.CreateTask([]sms.GroupID{h.group(1)}, h.get().Spec.PitName), h.get().CreationTimestamp.Add(-time.Hour))
			return nil
		}, false},
		"made by a task the run waited for": {func(h *runHarness) func() {
			other := h.fake.CreateTask([]sms.GroupID{h.group(1)}, h.get().Spec.PitName) // running when the run calls
			h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
				if slices.Contains(c.Groups, h.group(1)) {
					return "", &sms.SyncOngoingError{TaskRef: other}
				}
				return h.fake.CreateTask(c.Groups, c.PitName), nil
			}
			return func() { h.fake.Finish(other, h.get().CreationTimestamp.Add(time.Second)) }
		}, true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 2, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
				vp.Spec.MaxBatchSize = 1
			})
			after := c.setup(h)
			h.reconcile()
			if after != nil {
				after()
			}
			h.fake.FinishAll(h.clock.Now())
			h.runFor(time.Minute)
			h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
			h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
			reported := ContainElement(HavePrefix(replicationv1alpha1.PiTMadeElsewhereReason))
			if c.want {
				h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix(replicationv1alpha1.PiTMadeElsewhereReason + ": 1 groups")))
			} else {
				h.g.Expect(h.eventReasons()).NotTo(reported)
			}
		})
	}
}

// TestPiTOfAPeerRunIsNotMadeElsewhere: a second run of the same PiT name in this cluster takes the PiTs
// the first one made without reporting another writer: its peers' claims are this API server's.
func TestPiTOfAPeerRunIsNotMadeElsewhere(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	first := h.get()
	second := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: first.Namespace, Name: "second"},
		Spec:       *first.Spec.DeepCopy(),
	}
	h.g.Expect(k8sClient.Create(h.ctx, second)).To(Succeed())
	h.reconcile()
	h.fake.FinishAll(second.CreationTimestamp.Add(time.Second)) // younger than either run
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))

	h.key = client.ObjectKeyFromObject(second)
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.g.Expect(h.eventReasons()).NotTo(ContainElement(HavePrefix(replicationv1alpha1.PiTMadeElsewhereReason)))
}
