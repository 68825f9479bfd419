package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestScheduleRunRejected: a run the API server refuses to create (here an admission policy of the
// cluster that wants a cost-center label on every ReplicationSync) turns the schedule Ready=False
// RunRejected with the server's message and a Warning event, and the run is tried again a minute later
// (the controller's backoff would reach 16 minutes). The first run created after the fix clears it.
func TestScheduleRunRejected(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	requireCostCenter(t, g, h.ns)
	h.create("rejected", nil)
	times := h.nextRuns(2)

	h.clock.SetTime(times[0].Add(time.Second))
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(time.Minute))
	g.Expect(h.runs()).To(BeEmpty())
	s := h.get()
	ready := condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunRejectedReason))
	g.Expect(ready.Message).To(And(ContainSubstring(costCenterMessage), ContainSubstring(times[0].Format(time.RFC3339))))
	g.Expect(condition(s, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.InProgressStatus))
	g.Expect(s.Status.LastScheduleTime).To(BeNil(), "the run did not start")
	g.Expect(h.events()).To(ContainElement(And(HavePrefix("Warning "+replicationv1alpha1.RunRejectedReason), ContainSubstring(costCenterMessage))))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "rejected"))).To(BeZero())

	// Fixed: the run due is created and the schedule is Ready again.
	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Metadata.Labels = map[string]string{"cost-center": "dr-ops"}
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

// TestScheduleRunRejectedPastItsDeadline: a refused run that passes startingDeadlineSeconds is reported
// missed, and the schedule stays Ready=False RunRejected (so the NotReady alert can fire after 15 minutes)
// until a run is created; it did turn Ready after the deadline before.
func TestScheduleRunRejectedPastItsDeadline(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	requireCostCenter(t, g, h.ns)
	h.create("rejected-late", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.StartingDeadlineSeconds = ptr.To[int64](300)
	})
	times := h.nextRuns(2)

	h.clock.SetTime(times[0].Add(time.Second))
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(time.Minute), "tried again while its deadline lasts")
	h.clock.SetTime(times[0].Add(4*time.Minute + 30*time.Second))
	res, err = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(15*time.Second), "tried again halfway to its deadline, not at it")

	h.reconcileAt(times[0].Add(20 * time.Minute))
	s := h.get()
	g.Expect(s.Status.LastMissedTime).NotTo(BeNil())
	g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", times[0]))
	ready := condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunRejectedReason))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "rejected-late"))).To(BeZero())
	g.Expect(condition(s, replicationv1alpha1.ReconcilingCondition).Status).To(Equal(metav1.ConditionFalse), "nothing retries before the next run")
	g.Expect(condition(s, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(s, replicationv1alpha1.StalledCondition).Message).To(ContainSubstring("Next run at " + times[1].Format(time.RFC3339)))
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.FailedStatus))
	g.Expect(s.Status.NextScheduleTime).NotTo(BeNil())
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[1]))

	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Metadata.Labels = map[string]string{"cost-center": "dr-ops"}
	})
	h.reconcileAt(times[1].Add(time.Second))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("rejected-late", times[1]))))
	g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ScheduledReason))
	g.Expect(condition(h.get(), replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionFalse))
}

const costCenterMessage = "every ReplicationSync needs a cost-center label"

// requireCostCenter installs, for namespace ns only, an admission policy that denies a ReplicationSync
// without a cost-center label, and waits until the API server enforces it.
func requireCostCenter(t *testing.T, g *WithT, ns string) {
	t.Helper()
	ctx := context.Background()
	remove, err := testenv.RefuseSyncs(ctx, k8sClient, ns, "cost-center-"+ns,
		"has(object.metadata.labels) && 'cost-center' in object.metadata.labels", costCenterMessage)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(remove)
	probe := newSelectorSync(ns, "policy-probe", "array-a", &metav1.LabelSelector{})
	g.Eventually(func() error {
		return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll)
	}).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(MatchError(ContainSubstring(costCenterMessage)),
		"the policy is enforced (once the API server's policy informer has it: seconds on a loaded machine)")
}

// TestScheduleTemplateMetadataInvalid: template labels or annotations the API server would refuse on
// every run stall the schedule as soon as it is applied, naming the field; fixing them resumes it.
func TestScheduleTemplateMetadataInvalid(t *testing.T) {
	for name, mutate := range map[string]func(*replicationv1alpha1.ReplicationSyncSchedule){
		"label value with a space": func(s *replicationv1alpha1.ReplicationSyncSchedule) {
			s.Spec.Template.Metadata.Labels = map[string]string{"team": "dr ops"}
		},
		"label key with a space": func(s *replicationv1alpha1.ReplicationSyncSchedule) {
			s.Spec.Template.Metadata.Labels = map[string]string{"dr team": "ops"}
		},
		"annotation key too long": func(s *replicationv1alpha1.ReplicationSyncSchedule) {
			s.Spec.Template.Metadata.Annotations = map[string]string{strings.Repeat("a", 64): "x"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("bad-template", mutate)

			h.reconcileAt(h.clock.Now())
			s := h.get()
			ready := condition(s, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidTemplateReason))
			g.Expect(ready.Message).To(And(ContainSubstring("spec.template."), ContainSubstring("fix it")))
			g.Expect(condition(s, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(kstatusOf(g, s)).To(Equal(kstatus.FailedStatus), "Argo CD and Flux see it at once")

			h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.Metadata = replicationv1alpha1.TemplateMetadata{Labels: map[string]string{"team": "dr-ops"}}
			})
			h.reconcileAt(h.clock.Now())
			g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ScheduledReason))
		})
	}
}

func TestClassifyCreateError(t *testing.T) {
	gr := schema.GroupResource{Group: replicationv1alpha1.GroupVersion.Group, Resource: "replicationsyncs"}
	tests := map[string]struct {
		err          error
		wantRejected bool
	}{
		"invalid":                            {err: apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "ReplicationSync"}, "x", field.ErrorList{field.Invalid(field.NewPath("metadata", "labels"), "dr ops", "bad")}), wantRejected: true},
		"forbidden":                          {err: apierrors.NewForbidden(gr, "x", errors.New("exceeded quota")), wantRejected: true},
		"webhook denial without a code":      {err: apierrors.NewBadRequest(`admission webhook "policy.example.com" denied the request: no owner`), wantRejected: true},
		"internal (a webhook not answering)": {err: apierrors.NewInternalError(errors.New(`failed calling webhook "policy.example.com"`))},
		"throttled":                          {err: apierrors.NewTooManyRequests("slow down", 1)},
		"no API status":                      {err: errors.New("connection refused")},
		"conflict":                           {err: apierrors.NewConflict(gr, "x", errors.New("changed"))},
		"unavailable":                        {err: apierrors.NewServiceUnavailable("etcd")},
		"timeout":                            {err: apierrors.NewTimeoutError("slow", 1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := classifyCreateError(tc.err)
			classified, ok := asRunRejected(got)
			g.Expect(ok).To(BeTrue(), "every failed create is handled on the schedule's clock")
			g.Expect(classified.rejected).To(Equal(tc.wantRejected))
			g.Expect(errors.Is(got, tc.err)).To(BeTrue(), "the API error stays inspectable")
		})
	}
}

// TestScheduleRunCreateFailureRetriesOnTheScheduleClock: a create that fails without the API server
// refusing the object (here an admission webhook that does not answer) turns the schedule Ready=False
// and is tried again 10 s later, not on the controller's backoff, which reaches 16 minutes: the run
// starts within its starting deadline once the webhook answers.
func TestScheduleRunCreateFailureRetriesOnTheScheduleClock(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	webhookDown := true
	h.r.Client = intercepted(g, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && webhookDown {
				return apierrors.NewInternalError(errors.New(`failed calling webhook "policy.example.com": context deadline exceeded`))
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	h.create("webhook", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.StartingDeadlineSeconds = ptr.To[int64](300)
	})
	due := h.nextRuns(1)[0]

	h.clock.SetTime(due.Add(time.Second))
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	g.Expect(err).NotTo(HaveOccurred(), "not left to the controller's backoff")
	g.Expect(res.RequeueAfter).To(Equal(runCreateRetry))
	ready := condition(h.get(), replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunRejectedReason))
	g.Expect(ready.Message).To(And(ContainSubstring("failed to create"), ContainSubstring("failed calling webhook")))

	webhookDown = false
	h.reconcileAt(due.Add(time.Second + runCreateRetry))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("webhook", due))))
	g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
}

// TestRejectedRunRetriedBeforeAShortDeadline: with a starting deadline under the minute between retries,
// a rejected run is tried again before the deadline, not at it (where it would count as missed at once).
func TestRejectedRunRetriedBeforeAShortDeadline(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	creates := 0
	h.r.Client = intercepted(g, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok {
				if creates++; creates == 1 {
					return apierrors.NewForbidden(schema.GroupResource{Resource: "replicationsyncs"}, obj.GetName(), errors.New("exceeded quota"))
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	h.create("short", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.StartingDeadlineSeconds = ptr.To[int64](30)
	})
	due := h.nextRuns(1)[0]

	res := h.reconcileAt(due.Add(time.Second))
	g.Expect(res.RequeueAfter).To(BeNumerically("<", 29*time.Second))
	h.reconcileAt(due.Add(time.Second + res.RequeueAfter))
	g.Expect(creates).To(Equal(2))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("short", due))))
}

// TestReplaceKeepsTheActiveRunWhenTheNewOneIsNotCreated: with concurrencyPolicy Replace, a run whose
// create the API server refuses leaves the active run going; it was deleted first, and the schedule was
// left with no run at all until a create worked. The active run goes once the new one is created.
func TestReplaceKeepsTheActiveRunWhenTheNewOneIsNotCreated(t *testing.T) {
	g := NewWithT(t)
	h, times, active := replacingWithActiveRun(t, g, "replace")
	refusing := true
	h.r.Client = intercepted(g, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && refusing {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "replicationsyncs"}, obj.GetName(), errors.New("exceeded quota"))
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	h.reconcileAt(times[1].Add(time.Second))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", active.Name)), "the active run goes on")
	g.Expect(h.get().Status.Active).To(ConsistOf(HaveField("Name", active.Name)))

	refusing = false
	h.reconcileAt(times[1].Add(time.Second + runRejectedRetry))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("replace", times[1]))), "replaced once the new run exists")
	g.Expect(h.get().Status.Active).To(ConsistOf(HaveField("Name", runName("replace", times[1]))))
}

// TestReplaceDeleteRefusedTurnsScheduleNotReady: with concurrencyPolicy Replace, an earlier run the API
// server does not let the schedule delete (a policy on DELETE) turns the schedule Ready=False, so the
// NotReady alert can fire, and the delete is tried again on the schedule's clock. It left Ready=True with
// the message of the tick before, and retried on the controller's backoff.
func TestReplaceDeleteRefusedTurnsScheduleNotReady(t *testing.T) {
	g := NewWithT(t)
	h, times, active := replacingWithActiveRun(t, g, "undeletable")
	refusing := true
	h.r.Client = intercepted(g, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && refusing {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "replicationsyncs"}, obj.GetName(), errors.New("deletes need approval"))
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	h.events()

	res := h.reconcileAt(times[1].Add(time.Second)) // no error: the controller's backoff stays out of it
	g.Expect(res.RequeueAfter).To(Equal(runRejectedRetry))
	g.Expect(h.runs()).To(HaveLen(2), "the new run is created; the earlier one is not deleted")
	s := h.get()
	ready := condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunNotReplacedReason))
	g.Expect(ready.Message).To(And(ContainSubstring(active.Name), ContainSubstring("deletes need approval")))
	g.Expect(ready.ObservedGeneration).To(Equal(s.Generation))
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.InProgressStatus))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "undeletable"))).To(BeZero())
	g.Expect(h.events()).To(ContainElement(And(HavePrefix("Warning "+replicationv1alpha1.RunNotReplacedReason), ContainSubstring("deletes need approval"))))

	refusing = false
	h.reconcileAt(times[1].Add(time.Second + runRejectedRetry))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("undeletable", times[1]))))
	g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "undeletable"))).To(Equal(1.0))
}

// TestScheduleRunNameTakenTurnsScheduleNotReady: a ReplicationSync the schedule does not control holding
// the name of the run due keeps that run from being created; the schedule turns Ready=False saying what to
// do, and tries again every minute. It left Ready=True and retried on the controller's backoff.
func TestScheduleRunNameTakenTurnsScheduleNotReady(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("taken", nil)
	due := h.nextRuns(1)[0]
	g.Expect(k8sClient.Create(h.ctx, newSelectorSync(h.ns, runName("taken", due), "array-a", &metav1.LabelSelector{}))).To(Succeed())

	res := h.reconcileAt(due.Add(time.Second))
	g.Expect(res.RequeueAfter).To(Equal(runRejectedRetry))
	ready := condition(h.get(), replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RunRejectedReason))
	g.Expect(ready.Message).To(And(ContainSubstring("not controlled by schedule taken"), ContainSubstring("delete or rename it")))
	g.Expect(testutil.ToFloat64(metrics.ScheduleReady.WithLabelValues(h.ns, "taken"))).To(BeZero())
}

// replacingWithActiveRun creates a schedule of concurrencyPolicy Replace whose first run is still
// running; it returns the schedule's first two run times and that run.
func replacingWithActiveRun(t *testing.T, g *WithT, name string) (*scheduleHarness, []time.Time, replicationv1alpha1.ReplicationSync) {
	h := newScheduleHarness(t, g)
	h.create(name, func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.ReplaceConcurrent
	})
	times := h.nextRuns(2)
	h.reconcileAt(times[0].Add(time.Second))
	active := h.runs()[0]
	h.finish(active, replicationv1alpha1.SyncRunning, times[0])
	return h, times, active
}

// createsTimingOut is a client whose creates of ReplicationSyncs are done but answered with a timeout
// (a slow etcd).
func createsTimingOut(g *WithT) client.Client {
	return intercepted(g, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok {
				return apierrors.NewTimeoutError("request did not complete within the allotted timeout", 1)
			}
			return nil
		},
	})
}

// TestRunCreatedThoughItsCreateTimedOutIsNoRejection: the API server created the run but its answer was a
// timeout (a slow etcd). The next reconcile finds the run: the schedule is Ready and records the run's
// start, not Stalled on a rejection until the next run a day later.
func TestRunCreatedThoughItsCreateTimedOutIsNoRejection(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.r.Client = createsTimingOut(g)
	h.create("slow-etcd", nil)
	due := h.nextRuns(1)[0]
	h.reconcileAt(due.Add(time.Second))
	g.Expect(scheduleReadyReason(h.get())).To(Equal(replicationv1alpha1.RunRejectedReason))

	h.reconcileAt(due.Add(time.Second + runCreateRetry))
	s := h.get()
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("slow-etcd", due))))
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(s, replicationv1alpha1.StalledCondition)).To(Or(BeNil(), HaveField("Status", metav1.ConditionFalse)))
	g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", due))
	g.Expect(s.Status.MissedRuns).To(BeZero())
}

// TestMissedRunsCountedWhenTheirStatusWriteFails: the manager was down for three runs; the reconcile that
// starts the latest one counts the two before it as missed, but its status write conflicts. The next
// reconcile finds the run started and still records the two missed.
func TestMissedRunsCountedWhenTheirStatusWriteFails(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	conflicts := 1
	h.r.Client = intercepted(g, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSyncSchedule); ok && conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: "replication.vasa.io", Resource: "replicationsyncschedules"}, obj.GetName(), errors.New("the object has been modified"))
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	h.create("down", nil)
	times := h.nextRuns(3)
	h.clock.SetTime(times[2].Add(time.Minute))
	_, _ = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key}) // its status write conflicts
	g.Expect(h.runs()).To(HaveLen(1))

	h.reconcileAt(times[2].Add(time.Minute + time.Second))
	s := h.get()
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("down", times[2]))))
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(2))
	g.Expect(s.Status.LastMissedTime).NotTo(BeNil())
	g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", times[1]))
}

// TestRunCreatedUnrecordedAfterAnEditCountsNoRunOfTheOldSchedule: the schedule went from hourly to every
// 5 minutes; the first run of the new one was created though its create answered a timeout. The runs of
// the old schedule before the edit are not counted missed, as with a create answered normally.
func TestRunCreatedUnrecordedAfterAnEditCountsNoRunOfTheOldSchedule(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("edited", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
		s.Spec.StartingDeadlineSeconds = ptr.To[int64](60) // the 15-minute run is not started late at the edit
	})
	first := h.nextRuns(1)[0]
	h.reconcileAt(first.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))

	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "*/5 * * * *" })
	edit := first.Add(17*time.Minute + 30*time.Second)
	h.reconcileAt(edit) // observes the edit
	h.r.Client = createsTimingOut(g)
	due := first.Add(20 * time.Minute)
	h.reconcileAt(due.Add(time.Second))
	h.reconcileAt(due.Add(time.Second + runCreateRetry))
	g.Expect(h.runs()).To(HaveLen(2))
	g.Expect(h.get().Status.MissedRuns).To(BeZero())
}
