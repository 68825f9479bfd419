package controllers

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// TestScheduleRunRejected: a run the API server refuses to create (here a template label value with a
// space) turns the schedule Ready=False RunRejected with the server's message and a Warning event, and
// the reconcile fails so it is retried on backoff. The first run created after the fix clears it.
func TestScheduleRunRejected(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("rejected", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Metadata.Labels = map[string]string{"team": "dr ops"}
	})
	times := h.nextRuns(2)

	h.clock.SetTime(times[0].Add(time.Second))
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	g.Expect(err).To(HaveOccurred(), "retried on the controller's backoff")
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue())
	g.Expect(h.runs()).To(BeEmpty())
	s := h.get()
	ready := condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunRejectedReason))
	g.Expect(ready.Message).To(And(ContainSubstring("dr ops"), ContainSubstring(times[0].Format(time.RFC3339))))
	g.Expect(condition(s, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.InProgressStatus))
	g.Expect(s.Status.LastScheduleTime).To(BeNil(), "the run did not start")
	g.Expect(h.events()).To(ContainElement(And(HavePrefix("Warning "+replicationv1alpha1.RunRejectedReason), ContainSubstring("dr ops"))))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "rejected"))).To(BeZero())

	// Fixed: the run due is created and the schedule is Ready again.
	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Metadata.Labels = map[string]string{"team": "dr-ops"}
	})
	h.reconcileAt(times[0].Add(time.Minute))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("rejected", times[0]))))
	s = h.get()
	ready = condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ScheduledReason))
	g.Expect(condition(s, replicationv1alpha1.ReconcilingCondition).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "rejected"))).To(Equal(1.0))
}

func TestClassifyCreateError(t *testing.T) {
	gr := schema.GroupResource{Group: replicationv1alpha1.GroupVersion.Group, Resource: "replicationsyncs"}
	tests := map[string]struct {
		err          error
		wantRejected bool
	}{
		"invalid":     {err: apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "ReplicationSync"}, "x", field.ErrorList{field.Invalid(field.NewPath("metadata", "labels"), "dr ops", "bad")}), wantRejected: true},
		"forbidden":   {err: apierrors.NewForbidden(gr, "x", errors.New("exceeded quota")), wantRejected: true},
		"conflict":    {err: apierrors.NewConflict(gr, "x", errors.New("changed"))},
		"unavailable": {err: apierrors.NewServiceUnavailable("etcd")},
		"timeout":     {err: apierrors.NewTimeoutError("slow", 1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := classifyCreateError(tc.err)
			_, rejected := asRunRejected(got)
			g.Expect(rejected).To(Equal(tc.wantRejected))
			g.Expect(errors.Is(got, tc.err)).To(BeTrue(), "the API error stays inspectable")
		})
	}
}
