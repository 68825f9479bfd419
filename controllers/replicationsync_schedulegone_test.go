package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// madeBySchedule makes rs a run of a schedule for due as the schedule controller makes one: the
// scheduled-time annotation and a controller reference to a schedule that exists. It returns the schedule.
func madeBySchedule(g *WithT, rs *replicationv1alpha1.ReplicationSync, due time.Time) *replicationv1alpha1.ReplicationSyncSchedule {
	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: rs.Namespace, Name: "hourly"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "0 * * * *",
			Template: replicationv1alpha1.ReplicationSyncTemplate{Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
				ProviderRef: rs.Spec.ProviderRef, GroupIDs: rs.Spec.GroupIDs,
			}},
		},
	}
	g.Expect(k8sClient.Create(context.Background(), sched)).To(Succeed())
	rs.Annotations = map[string]string{replicationv1alpha1.ScheduledTimeAnnotation: due.Format(time.RFC3339)}
	g.Expect(controllerutil.SetControllerReference(sched, rs, testenv.Scheme)).To(Succeed())
	return sched
}

// TestRunOfAScheduleThatIsGoneIsNotStarted: a schedule's run restored without its status (Velero drops
// status and owner references) or applied into a cluster where its schedule is another object would
// sync its groups again under an old PiT name. It calls nothing and says why, Stalled, until a human
// removes its scheduled-time annotation; then it runs. A run whose schedule exists starts at once.
func TestRunOfAScheduleThatIsGoneIsNotStarted(t *testing.T) {
	due := time.Now().Truncate(time.Second)
	for name, c := range map[string]struct {
		orphan func(g *WithT, rs *replicationv1alpha1.ReplicationSync)
		why    string // "" when the run starts
	}{
		"restored without owner references": {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) {
			madeBySchedule(g, rs, due)
			rs.OwnerReferences = nil
		}, "no controller reference"},
		"its schedule deleted": {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) {
			sched := madeBySchedule(g, rs, due)
			g.Expect(k8sClient.Delete(context.Background(), sched)).To(Succeed())
		}, "no longer exists"},
		"a schedule of its name that is another object": {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) {
			madeBySchedule(g, rs, due)
			rs.OwnerReferences[0].UID = types.UID("uid-of-the-schedule-before-the-restore")
		}, "another object"},
		"its schedule being deleted with its runs": {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) {
			sched := madeBySchedule(g, rs, due)
			// No garbage collector here: the foreground deletion's finalizer keeps the schedule.
			g.Expect(k8sClient.Delete(context.Background(), sched, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		}, "being deleted"},
		"its schedule exists":               {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) { madeBySchedule(g, rs, due) }, ""},
		"its schedule not in the cache yet": {func(g *WithT, rs *replicationv1alpha1.ReplicationSync) { madeBySchedule(g, rs, due) }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
				c.orphan(NewWithT(t), rs)
				rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) // a held run outlives it
			})
			if name == "its schedule not in the cache yet" {
				h.r.APIReader = h.r.Client
				h.r.Client = intercepted(h.g, interceptor.Funcs{Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*replicationv1alpha1.ReplicationSyncSchedule); ok {
						return apierrors.NewNotFound(replicationv1alpha1.GroupVersion.WithResource("replicationsyncschedules").GroupResource(), key.Name)
					}
					return cl.Get(ctx, key, obj, opts...)
				}})
			}
			if c.why == "" {
				h.runFor(time.Minute)
				h.g.Expect(h.fake.Calls()).NotTo(BeEmpty())
				h.g.Expect(h.get().Status.StartTime).NotTo(BeNil())
				return
			}
			for range 3 { // nothing to wait for: it asks for no requeue, past its deadline too
				h.g.Expect(h.reconcile()).To(BeZero())
				h.clock.Step(time.Minute)
			}
			rs := h.get()
			h.g.Expect(h.fake.Calls()).To(BeEmpty())
			h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
			h.g.Expect(rs.Status.StartTime).To(BeNil())
			stalled := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
			h.g.Expect(stalled).NotTo(BeNil())
			h.g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.ScheduleGoneReason))
			h.g.Expect(stalled.Message).To(And(ContainSubstring(c.why), ContainSubstring("kubectl vasa sync --from-schedule")))
			h.g.Expect(h.eventReasons()).To(HaveExactElements(HavePrefix(replicationv1alpha1.ScheduleGoneReason)), "said once")

			delete(rs.Annotations, replicationv1alpha1.ScheduledTimeAnnotation)
			rs.Spec.ActiveDeadlineSeconds = nil
			h.g.Expect(k8sClient.Update(h.ctx, rs)).To(Succeed())
			h.runFor(time.Minute)
			h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1), "run by hand once the annotation is removed")
			h.g.Expect(meta.IsStatusConditionTrue(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
		})
	}
}
