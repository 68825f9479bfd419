package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestScheduleEditNeverReusesAPitName: 02:00 in Berlin (01:00 UTC) ran; the time zone is then removed, and
// 02:00 UTC the same night would render the same PiT name, whose PiT exists: the run would succeed without
// a new one. It gets the zone appended instead.
func TestScheduleEditNeverReusesAPitName(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("edit", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Schedule = "0 2 * * *"
		s.Spec.TimeZone = ptr.To("Europe/Berlin")
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
	})
	s := h.get()
	s.Status.LastScheduleTime = &metav1.Time{Time: time.Date(2030, 1, 14, 1, 0, 0, 0, time.UTC)}
	g.Expect(k8sClient.Status().Update(h.ctx, s)).To(Succeed())

	h.reconcileAt(time.Date(2030, 1, 15, 1, 0, 30, 0, time.UTC))
	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.TimeZone = nil })
	h.reconcileAt(time.Date(2030, 1, 15, 1, 30, 0, 0, time.UTC))
	h.reconcileAt(time.Date(2030, 1, 15, 2, 0, 30, 0, time.UTC))

	var pits []string
	for _, rs := range h.runs() {
		pits = append(pits, rs.Spec.PitName)
	}
	g.Expect(pits).To(Equal([]string{"edit-20300115-0200", "edit-20300115-0200-UTC"}))
}

// TestScheduleRunWithoutAUsableNameIsSkipped: a run whose PiT name is taken even with its zone appended
// is skipped with InvalidTemplate, and the next run is tried when it is due without an edit.
func TestScheduleRunWithoutAUsableNameIsSkipped(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("taken", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
	})
	times := h.nextRuns(2)
	// Runs made by hand from the template own both names the first run could have.
	pit := "taken-" + times[0].Format("20060102-1504")
	sched := h.get()
	h.manualRun(sched, "by-hand", pit, true)
	h.manualRun(sched, "by-hand-again", pit+"-UTC", true)

	res := h.reconcileAt(times[0].Add(time.Second))
	s := h.get()
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.InvalidTemplateReason))
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Message).To(ContainSubstring("this run is skipped"))
	g.Expect(res.RequeueAfter).To(BeNumerically("~", time.Hour-time.Second, time.Second), "woken for the next run")
	g.Expect(s.Status.NextScheduleTime).NotTo(BeNil(), "the next run is still scheduled")
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[1]))
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))
	g.Expect(h.events()).To(ContainElement(And(HavePrefix("Warning "+replicationv1alpha1.MissedScheduleReason), ContainSubstring("without a usable PiT name"))))

	// Woken before the next run (a run of the schedule changed): it still says why this run was skipped.
	h.reconcileAt(times[0].Add(10 * time.Minute))
	s = h.get()
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.InvalidTemplateReason))
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[1]))
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))

	h.reconcileAt(times[1].Add(time.Second))
	s = h.get()
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))
	g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", times[1]))
}

// TestScheduleHistoryKeepsASuccessUntilStored: with successfulHistoryLimit 0, a succeeded run is deleted
// only once status holds its success; a status write that fails first must not lose it.
func TestScheduleHistoryKeepsASuccessUntilStored(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("kept", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.SuccessfulHistoryLimit = ptr.To[int32](0)
	})
	hour := h.nextRuns(1)[0]
	h.reconcileAt(hour.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, hour.Add(time.Minute))

	conflicts := 1
	h.r.Client = intercepted(g, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: replicationv1alpha1.GroupVersion.Group, Resource: "replicationsyncschedules"}, obj.GetName(), nil)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	h.reconcileAt(hour.Add(2 * time.Minute))
	g.Expect(h.runs()).To(HaveLen(1), "kept while its success is not stored")

	h.reconcileAt(hour.Add(2*time.Minute + time.Second))
	g.Expect(h.get().Status.LastSuccessfulTime).NotTo(BeNil())
	g.Expect(h.runs()).To(BeEmpty())
}

// manualRun creates a run made by hand from the schedule's template with PiT name pit, as `kubectl vasa
// sync --from-schedule` and the Argo CD action make it: labelled, and owned (not controlled) if owned.
func (h *scheduleHarness) manualRun(sched *replicationv1alpha1.ReplicationSyncSchedule, name, pit string, owned bool) replicationv1alpha1.ReplicationSync {
	h.t.Helper()
	rs := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name,
			Labels: map[string]string{replicationv1alpha1.ScheduleLabel: sched.Name}},
		Spec: sched.Spec.Template.Spec.SyncSpec(pit),
	}
	if owned {
		rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: replicationv1alpha1.GroupVersion.String(),
			Kind: "ReplicationSyncSchedule", Name: sched.Name, UID: sched.UID}}
	}
	h.g.Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
	return *rs
}
