package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// scheduleHarness drives one schedule's reconciler with a fake clock in a namespace of its own.
type scheduleHarness struct {
	t        *testing.T
	g        *WithT
	ctx      context.Context
	ns       string
	clock    *clocktesting.FakePassiveClock
	recorder *events.FakeRecorder
	r        *ReplicationSyncScheduleReconciler
	key      client.ObjectKey
}

func newScheduleHarness(t *testing.T, g *WithT) *scheduleHarness {
	t.Helper()
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "rsched-")
	h := &scheduleHarness{
		t: t, g: g, ctx: ctx, ns: ns.Name,
		clock:    clocktesting.NewFakePassiveClock(time.Now()),
		recorder: events.NewFakeRecorder(1000),
	}
	h.r = &ReplicationSyncScheduleReconciler{Client: k8sClient, Scheme: testenv.Scheme, Recorder: h.recorder, Clock: h.clock}
	return h
}

// create creates a schedule named name (hourly, UTC, Forbid unless mutate says otherwise), reads
// it back and sets the clock to its creation time.
func (h *scheduleHarness) create(name string, mutate func(*replicationv1alpha1.ReplicationSyncSchedule)) *replicationv1alpha1.ReplicationSyncSchedule {
	h.t.Helper()
	s := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "0 * * * *",
			Template: replicationv1alpha1.ReplicationSyncTemplate{
				Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
					ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
					GroupIDs: []replicationv1alpha1.ReplicationGroupID{{
						FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"},
						DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-1"},
					}},
				},
			},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	h.g.Expect(k8sClient.Create(h.ctx, s)).To(Succeed())
	h.key = client.ObjectKeyFromObject(s)
	s = h.get()
	h.clock.SetTime(s.CreationTimestamp.Time)
	return s
}

func (h *scheduleHarness) get() *replicationv1alpha1.ReplicationSyncSchedule {
	h.t.Helper()
	s := &replicationv1alpha1.ReplicationSyncSchedule{}
	h.g.Expect(k8sClient.Get(h.ctx, h.key, s)).To(Succeed())
	return s
}

// update changes the schedule's spec.
func (h *scheduleHarness) update(mutate func(*replicationv1alpha1.ReplicationSyncSchedule)) {
	h.t.Helper()
	s := h.get()
	mutate(s)
	h.g.Expect(k8sClient.Update(h.ctx, s)).To(Succeed())
}

// nextRuns are the first n scheduled times after the schedule's creation.
func (h *scheduleHarness) nextRuns(n int) []time.Time {
	h.t.Helper()
	s := h.get()
	parsed, err := cronschedule.Parse(s.Spec.Schedule, ptr.Deref(s.Spec.TimeZone, ""))
	h.g.Expect(err).NotTo(HaveOccurred())
	var times []time.Time
	at := s.CreationTimestamp.Time
	for range n {
		at = parsed.Next(at)
		times = append(times, at)
	}
	return times
}

func (h *scheduleHarness) reconcileAt(at time.Time) ctrl.Result {
	h.t.Helper()
	h.clock.SetTime(at)
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).NotTo(HaveOccurred())
	return res
}

// runs lists the schedule's ReplicationSyncs that are not being deleted, oldest first.
func (h *scheduleHarness) runs() []replicationv1alpha1.ReplicationSync {
	h.t.Helper()
	list := &replicationv1alpha1.ReplicationSyncList{}
	h.g.Expect(k8sClient.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
	var out []replicationv1alpha1.ReplicationSync
	for _, rs := range list.Items {
		if rs.DeletionTimestamp.IsZero() {
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, func(a, b replicationv1alpha1.ReplicationSync) int { return compareRuns(&a, &b) })
	return out
}

// finish sets a run's phase (and completion time) through the status subresource, as the
// ReplicationSync controller would.
func (h *scheduleHarness) finish(rs replicationv1alpha1.ReplicationSync, phase replicationv1alpha1.SyncPhase, at time.Time) {
	h.t.Helper()
	rs.Status.Phase = phase
	if phase == replicationv1alpha1.SyncSucceeded || phase == replicationv1alpha1.SyncFailed {
		rs.Status.CompletionTime = &metav1.Time{Time: at}
	}
	h.g.Expect(k8sClient.Status().Update(h.ctx, &rs)).To(Succeed())
}

// events drains the recorded events.
func (h *scheduleHarness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func condition(s *replicationv1alpha1.ReplicationSyncSchedule, condType string) *metav1.Condition {
	return meta.FindStatusCondition(s.Status.Conditions, condType)
}

func kstatusOf(g *WithT, s *replicationv1alpha1.ReplicationSyncSchedule) kstatus.Status {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func TestScheduleCreatesRunOnTime(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("nightly", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Metadata.Labels = map[string]string{"team": "storage"}
		s.Spec.Template.Metadata.Annotations = map[string]string{"note": "from git"}
		s.Spec.Template.Spec.BackoffLimit = ptr.To[int32](2)
		s.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
		s.Spec.Template.Spec.ProgressDeadlineSeconds = ptr.To[int32](1800)
		s.Spec.Template.PitNameTemplate = `{{ .Namespace }}-{{ .ScheduleName }}-{{ .ScheduledTime.Format "2006-01-02T15:04" }}`
	})
	times := h.nextRuns(2)

	// Before the first scheduled time: nothing runs, requeue for it.
	res := h.reconcileAt(times[0].Add(-10 * time.Minute))
	g.Expect(res.RequeueAfter).To(Equal(10*time.Minute + scheduleRequeueSlack))
	g.Expect(h.runs()).To(BeEmpty())
	s := h.get()
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[0]))
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).ObservedGeneration).To(Equal(s.Generation))
	g.Expect(s.Status.ObservedGeneration).To(Equal(s.Generation))
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.CurrentStatus))

	// At the scheduled time: one run, named after the schedule and the minute.
	res = h.reconcileAt(times[0].Add(5 * time.Second))
	g.Expect(res.RequeueAfter).To(Equal(time.Hour - 5*time.Second + scheduleRequeueSlack))
	runs := h.runs()
	g.Expect(runs).To(HaveLen(1))
	rs := runs[0]
	g.Expect(rs.Name).To(Equal(runName("nightly", times[0])))
	g.Expect(rs.Name).To(HavePrefix("nightly-"))
	g.Expect(rs.Spec.PitName).To(Equal(h.ns + "-nightly-" + times[0].UTC().Format("2006-01-02T15:04")))
	g.Expect(rs.Spec.ProviderRef.Name).To(Equal("array-a"))
	g.Expect(rs.Spec.GroupIDs).To(HaveLen(1))
	g.Expect(rs.Spec.BackoffLimit).To(HaveValue(BeEquivalentTo(2)))
	g.Expect(rs.Spec.ActiveDeadlineSeconds).To(HaveValue(BeEquivalentTo(600)))
	g.Expect(rs.Spec.ProgressDeadlineSeconds).To(HaveValue(BeEquivalentTo(1800)))
	g.Expect(rs.Labels).To(HaveKeyWithValue(replicationv1alpha1.ScheduleLabel, "nightly"))
	g.Expect(rs.Labels).To(HaveKeyWithValue("team", "storage"))
	g.Expect(rs.Annotations).To(HaveKeyWithValue("note", "from git"))
	g.Expect(rs.Annotations).To(HaveKeyWithValue(replicationv1alpha1.ScheduledTimeAnnotation, times[0].Format(time.RFC3339)))
	owner := metav1.GetControllerOf(&rs)
	g.Expect(owner).NotTo(BeNil())
	g.Expect(owner.Kind).To(Equal("ReplicationSyncSchedule"))
	g.Expect(owner.Name).To(Equal("nightly"))

	s = h.get()
	g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", times[0]))
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[1]))
	g.Expect(s.Status.Active).To(ConsistOf(HaveField("Name", rs.Name)))
	g.Expect(s.Status.Active[0].UID).To(Equal(rs.UID))
	g.Expect(s.Status.MissedRuns).To(BeZero())
	g.Expect(h.events()).To(ConsistOf(ContainSubstring(EventRunCreated)))

	// Idempotent: the same instant again creates nothing new.
	h.reconcileAt(times[0].Add(5 * time.Second))
	g.Expect(h.runs()).To(HaveLen(1))

	// A crash after creating the run but before storing status: the run is found, not duplicated.
	s = h.get()
	s.Status.LastScheduleTime = nil
	s.Status.Active = nil
	g.Expect(k8sClient.Status().Update(h.ctx, s)).To(Succeed())
	h.reconcileAt(times[0].Add(30 * time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	s = h.get()
	g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", times[0]))
	g.Expect(s.Status.MissedRuns).To(BeZero())

	// The run finishes: the schedule records the success.
	completed := times[0].Add(3 * time.Minute)
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, completed)
	h.reconcileAt(completed.Add(time.Second))
	s = h.get()
	g.Expect(s.Status.Active).To(BeEmpty())
	g.Expect(s.Status.LastSuccessfulTime.Time).To(BeTemporally("==", completed))
	g.Expect(testutil.ToFloat64(metrics.ScheduleLastSuccessTimestampSeconds.WithLabelValues(h.ns, "nightly"))).To(BeEquivalentTo(completed.Unix()))
	g.Expect(testutil.ToFloat64(metrics.ScheduleIntervalSeconds.WithLabelValues(h.ns, "nightly"))).To(BeEquivalentTo(3600))
}

func TestScheduleConcurrencyPolicy(t *testing.T) {
	tests := map[string]struct {
		policy replicationv1alpha1.ConcurrencyPolicy
		// wantRuns are the scheduled runs (index into the schedule's times) that exist after the
		// second scheduled time while the first run is still active.
		wantRuns   []int
		wantActive int
		wantEvent  string
	}{
		"Forbid skips while active": {policy: replicationv1alpha1.ForbidConcurrent, wantRuns: []int{0}, wantActive: 1},
		"default is Forbid":         {policy: "", wantRuns: []int{0}, wantActive: 1},
		"Allow creates a second":    {policy: replicationv1alpha1.AllowConcurrent, wantRuns: []int{0, 1}, wantActive: 2, wantEvent: EventRunCreated},
		"Replace deletes the active one and creates the new": {
			policy: replicationv1alpha1.ReplaceConcurrent, wantRuns: []int{1}, wantActive: 1, wantEvent: EventRunReplaced,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("hourly", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.ConcurrencyPolicy = tc.policy
			})
			times := h.nextRuns(3)
			h.reconcileAt(times[0].Add(time.Second))
			first := h.runs()
			g.Expect(first).To(HaveLen(1))
			h.finish(first[0], replicationv1alpha1.SyncRunning, times[0])
			h.events()

			h.reconcileAt(times[1].Add(time.Second))
			var names []string
			for _, rs := range h.runs() {
				names = append(names, rs.Name)
			}
			var want []string
			for _, i := range tc.wantRuns {
				want = append(want, runName("hourly", times[i]))
			}
			g.Expect(names).To(Equal(want))
			s := h.get()
			g.Expect(s.Status.Active).To(HaveLen(tc.wantActive))
			if tc.wantEvent != "" {
				g.Expect(h.events()).To(ContainElement(ContainSubstring(tc.wantEvent)))
			}

			if tc.policy != replicationv1alpha1.ForbidConcurrent && tc.policy != "" {
				g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", times[1]))
				return
			}
			// Forbid: the run waits, says so, and is not yet counted as started or missed.
			g.Expect(s.Status.LastScheduleTime.Time).To(BeTemporally("==", times[0]))
			g.Expect(s.Status.MissedRuns).To(BeZero())
			ready := condition(s, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Message).To(ContainSubstring("concurrencyPolicy is Forbid"))
			g.Expect(h.events()).To(BeEmpty())

			// The active run finishes: the waiting run starts late (no startingDeadlineSeconds).
			h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, times[1].Add(10*time.Minute))
			h.reconcileAt(times[1].Add(10*time.Minute + time.Second))
			g.Expect(h.runs()).To(HaveLen(2))
			g.Expect(h.runs()[1].Name).To(Equal(runName("hourly", times[1])))

			// Held back past the next scheduled time, a run is reported missed (superseded).
			h.reconcileAt(times[2].Add(time.Second)) // times[2] waits for the run of times[1]
			h.finish(h.runs()[1], replicationv1alpha1.SyncSucceeded, times[2].Add(time.Hour+time.Minute))
			h.reconcileAt(times[2].Add(time.Hour + 2*time.Minute)) // times[3] is due now
			s = h.get()
			g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))
			g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", times[2]))
			g.Expect(h.runs()[len(h.runs())-1].Name).To(Equal(runName("hourly", times[2].Add(time.Hour))))
		})
	}
}

func TestScheduleMissedRuns(t *testing.T) {
	tests := map[string]struct {
		schedule string
		deadline *int64
		// lateBy is how long after the Nth scheduled time (runIndex) the operator reconciles.
		runIndex int
		lateBy   time.Duration
		// wantStarted is the index of the run that is started; -1 for none.
		wantStarted    int
		wantMissed     int32
		wantLastMissed int // index; -1 for none
		wantMessage    string
	}{
		"within the deadline: started": {
			deadline: ptr.To[int64](300), runIndex: 0, lateBy: 200 * time.Second,
			wantStarted: 0, wantLastMissed: -1,
		},
		"past the deadline: reported, not started": {
			deadline: ptr.To[int64](300), runIndex: 0, lateBy: 301 * time.Second,
			wantStarted: -1, wantMissed: 1, wantLastMissed: 0, wantMessage: "not started within startingDeadlineSeconds (300s)",
		},
		"no deadline, three hours down: latest started, two superseded": {
			runIndex: 2, lateBy: 10 * time.Minute,
			wantStarted: 2, wantMissed: 2, wantLastMissed: 1, wantMessage: "2 run(s) missed",
		},
		"deadline, three hours down: all three missed": {
			deadline: ptr.To[int64](60), runIndex: 2, lateBy: 10 * time.Minute,
			wantStarted: -1, wantMissed: 3, wantLastMissed: 2, wantMessage: "overtaken by a later scheduled time",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("late", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.StartingDeadlineSeconds = tc.deadline
			})
			times := h.nextRuns(tc.runIndex + 2)
			missedBefore := testutil.ToFloat64(metrics.ScheduleMissedRunsTotal.WithLabelValues(h.ns, "late"))

			res := h.reconcileAt(times[tc.runIndex].Add(tc.lateBy))
			g.Expect(res.RequeueAfter).To(Equal(times[tc.runIndex+1].Sub(times[tc.runIndex].Add(tc.lateBy)) + scheduleRequeueSlack))
			runs := h.runs()
			if tc.wantStarted < 0 {
				g.Expect(runs).To(BeEmpty())
			} else {
				g.Expect(runs).To(HaveLen(1))
				g.Expect(runs[0].Name).To(Equal(runName("late", times[tc.wantStarted])))
			}
			s := h.get()
			g.Expect(s.Status.MissedRuns).To(Equal(tc.wantMissed))
			if tc.wantLastMissed < 0 {
				g.Expect(s.Status.LastMissedTime).To(BeNil())
			} else {
				g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", times[tc.wantLastMissed]))
			}
			g.Expect(testutil.ToFloat64(metrics.ScheduleMissedRunsTotal.WithLabelValues(h.ns, "late")) - missedBefore).To(BeEquivalentTo(tc.wantMissed))
			evs := h.events()
			if tc.wantMissed > 0 {
				g.Expect(evs).To(ContainElement(And(HavePrefix("Warning "+replicationv1alpha1.MissedScheduleReason), ContainSubstring(tc.wantMessage))))
			} else {
				g.Expect(evs).NotTo(ContainElement(ContainSubstring(replicationv1alpha1.MissedScheduleReason)))
			}
			// Ready stays True: missing a run is reported, the schedule itself is fine.
			g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))

			// Reported once: reconciling again later reports nothing new.
			h.reconcileAt(times[tc.runIndex].Add(tc.lateBy + time.Second))
			g.Expect(h.get().Status.MissedRuns).To(Equal(tc.wantMissed))
			g.Expect(h.events()).To(BeEmpty())
		})
	}
}

func TestScheduleTooManyMissedRuns(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("every-minute", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Schedule = "* * * * *"
		s.Spec.StartingDeadlineSeconds = ptr.To[int64](30)
	})
	times := h.nextRuns(1)
	// A day later (operator down, or a clock jump): about 1440 runs were missed.
	now := times[0].Add(24*time.Hour + 10*time.Second)
	h.reconcileAt(now)
	s := h.get()
	g.Expect(s.Status.MissedRuns).To(BeNumerically(">", cronschedule.MaxMissed))
	g.Expect(s.Status.MissedRuns).To(BeNumerically("~", 24*60-1, 30))
	g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", times[0].Add(23*time.Hour+59*time.Minute)))
	g.Expect(h.events()).To(ContainElement(And(ContainSubstring(replicationv1alpha1.MissedScheduleReason), ContainSubstring("More than 100 runs were missed"))))
	// The run due at the current minute is within the deadline and starts.
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("every-minute", times[0].Add(24*time.Hour)))))
}

func TestScheduleSuspendResume(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("paused", func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Suspend = ptr.To(true) })
	times := h.nextRuns(3)

	res := h.reconcileAt(times[0].Add(time.Second))
	g.Expect(res.RequeueAfter).To(BeZero(), "a suspended schedule waits for a spec change")
	g.Expect(h.runs()).To(BeEmpty())
	s := h.get()
	ready := condition(s, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.SuspendedReason))
	g.Expect(s.Status.NextScheduleTime).To(BeNil())
	g.Expect(kstatusOf(g, s)).To(Equal(kstatus.CurrentStatus))

	// Resumed after two scheduled times passed: as for a CronJob, the latest one starts and the
	// earlier one counts as missed.
	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Suspend = ptr.To(false) })
	h.reconcileAt(times[1].Add(time.Minute))
	g.Expect(h.runs()).To(ConsistOf(HaveField("Name", runName("paused", times[1]))))
	s = h.get()
	g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ScheduledReason))
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))
	g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", times[2]))
	g.Expect(s.Status.ObservedGeneration).To(Equal(s.Generation))

	// Suspending again keeps the active run going.
	h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Suspend = ptr.To(true) })
	h.reconcileAt(times[2].Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	g.Expect(h.get().Status.Active).To(HaveLen(1))
}

func TestScheduleHistoryLimits(t *testing.T) {
	tests := map[string]struct {
		successful, failed *int32
		// phases of the runs, oldest first.
		phases   []replicationv1alpha1.SyncPhase
		wantKept []int
	}{
		"defaults keep 3 succeeded and 1 failed": {
			phases: []replicationv1alpha1.SyncPhase{
				replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed, replicationv1alpha1.SyncSucceeded,
				replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed,
			},
			wantKept: []int{2, 3, 4, 5},
		},
		"oldest go first, running ones are kept": {
			successful: ptr.To[int32](1), failed: ptr.To[int32](1),
			phases: []replicationv1alpha1.SyncPhase{
				replicationv1alpha1.SyncFailed, replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed,
				replicationv1alpha1.SyncRunning, replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncPending,
			},
			wantKept: []int{2, 3, 4, 5},
		},
		"zero keeps no finished runs": {
			successful: ptr.To[int32](0), failed: ptr.To[int32](0),
			phases: []replicationv1alpha1.SyncPhase{
				replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed, replicationv1alpha1.SyncRunning,
			},
			wantKept: []int{2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("history", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
				s.Spec.SuccessfulHistoryLimit = tc.successful
				s.Spec.FailedHistoryLimit = tc.failed
			})
			times := h.nextRuns(len(tc.phases))
			for _, at := range times {
				h.reconcileAt(at.Add(time.Second))
			}
			runs := h.runs()
			g.Expect(runs).To(HaveLen(len(tc.phases)))
			for i, rs := range runs {
				if tc.phases[i] != replicationv1alpha1.SyncPending {
					h.finish(rs, tc.phases[i], times[len(times)-1].Add(time.Duration(i)*time.Second))
				}
			}

			h.reconcileAt(times[len(times)-1].Add(time.Minute))
			var got, want []string
			for _, rs := range h.runs() {
				got = append(got, rs.Name)
			}
			for _, i := range tc.wantKept {
				want = append(want, runName("history", times[i]))
			}
			g.Expect(got).To(Equal(want))
		})
	}
}

// TestReplaceKeepsARunThatSucceededMeanwhile: a run that succeeds between the schedule's read of it and
// Replace's delete is kept, and its success reaches lastSuccessfulTime; deleted on the stale read, it was
// lost.
func TestReplaceKeepsARunThatSucceededMeanwhile(t *testing.T) {
	g := NewWithT(t)
	h, times, first := replacingWithActiveRun(t, g, "replace")
	succeeded := times[1].Add(time.Second)
	h.r.Client = intercepted(g, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if obj.GetName() == first.Name {
				h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, succeeded) // it ends as the delete is on its way
			}
			return c.Delete(ctx, obj, opts...)
		},
	})

	h.clock.SetTime(times[1].Add(time.Second))
	_, _ = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key}) // the delete meets the changed run
	h.reconcileAt(times[1].Add(2 * time.Second))
	g.Expect(h.runs()).To(ContainElement(HaveField("Name", first.Name)), "the run that succeeded is kept")
	g.Expect(h.runs()).To(ContainElement(HaveField("Name", runName("replace", times[1]))))
	g.Expect(h.get().Status.LastSuccessfulTime).NotTo(BeNil())
	g.Expect(h.get().Status.LastSuccessfulTime.Time).To(BeTemporally("==", succeeded))
}

// TestScheduleHistoryDeleteFailureKeepsTheSchedule: a finished run the history limit would delete but the
// API server does not let go (a policy on DELETE) is kept, with a Warning event, and tried again within a
// minute; the schedule still wakes for its next run, not on the controller's backoff.
func TestScheduleHistoryDeleteFailureKeepsTheSchedule(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.create("undeletable", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.SuccessfulHistoryLimit = ptr.To[int32](0)
	})
	times := h.nextRuns(2)
	h.reconcileAt(times[0].Add(time.Second))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, times[0].Add(time.Minute))
	refusing := true
	h.r.Client = intercepted(g, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && refusing {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "replicationsyncs"}, obj.GetName(), errors.New("deletes need approval"))
			}
			return c.Delete(ctx, obj, opts...)
		},
	})

	res := h.reconcileAt(times[0].Add(2 * time.Minute)) // no error: the controller's backoff stays out of it
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", time.Minute))
	g.Expect(h.runs()).To(HaveLen(1))
	g.Expect(h.events()).To(ContainElement(And(HavePrefix("Warning "+EventFailedDelete), ContainSubstring("deletes need approval"))))

	refusing = false
	h.reconcileAt(times[0].Add(3 * time.Minute))
	g.Expect(h.runs()).To(BeEmpty())
}

func TestScheduleTimeZoneAndDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		schedule string
		// lastRun is the run before the test (stored as status.lastScheduleTime).
		lastRun time.Time
		// reconcile at these times (UTC).
		at []time.Time
		// wantPits are the PiT names created, in order.
		wantPits []string
		wantNext time.Time
	}{
		// 27 October 2030: 03:00 CEST becomes 02:00 CET; 02:00 happens twice, robfig/cron runs both.
		"fall back: 02:00 CEST and 02:00 CET are two runs with distinct PiT names": {
			schedule: "0 2 * * *",
			lastRun:  time.Date(2030, 10, 26, 2, 0, 0, 0, berlin),
			at: []time.Time{
				time.Date(2030, 10, 27, 0, 0, 30, 0, time.UTC),
				time.Date(2030, 10, 27, 1, 0, 30, 0, time.UTC),
			},
			wantPits: []string{"tz-20301027-0200", "tz-20301027-0200-CET"},
			wantNext: time.Date(2030, 10, 28, 2, 0, 0, 0, berlin),
		},
		"fall back every 30 minutes: four runs in the repeated hour, four PiT names": {
			schedule: "*/30 * * * *",
			lastRun:  time.Date(2030, 10, 27, 1, 30, 0, 0, berlin),
			at: []time.Time{
				time.Date(2030, 10, 27, 0, 0, 30, 0, time.UTC),
				time.Date(2030, 10, 27, 0, 30, 30, 0, time.UTC),
				time.Date(2030, 10, 27, 1, 0, 30, 0, time.UTC),
				time.Date(2030, 10, 27, 1, 30, 30, 0, time.UTC),
			},
			wantPits: []string{"tz-20301027-0200", "tz-20301027-0230", "tz-20301027-0200-CET", "tz-20301027-0230-CET"},
			wantNext: time.Date(2030, 10, 27, 2, 0, 0, 0, time.UTC),
		},
		// 31 March 2030: 02:00 CET becomes 03:00 CEST; 02:30 does not exist and that day is skipped.
		"spring forward: the missing 02:30 does not run and is not missed": {
			schedule: "30 2 * * *",
			lastRun:  time.Date(2030, 3, 30, 2, 30, 0, 0, berlin),
			at:       []time.Time{time.Date(2030, 3, 31, 4, 0, 0, 0, time.UTC)},
			wantNext: time.Date(2030, 4, 1, 2, 30, 0, 0, berlin),
		},
		"winter: 02:00 Berlin is 01:00 UTC": {
			schedule: "0 2 * * *",
			lastRun:  time.Date(2030, 1, 14, 2, 0, 0, 0, berlin),
			at:       []time.Time{time.Date(2030, 1, 15, 1, 0, 1, 0, time.UTC)},
			wantPits: []string{"tz-20300115-0200"},
			wantNext: time.Date(2030, 1, 16, 2, 0, 0, 0, berlin),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("tz", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = tc.schedule
				s.Spec.TimeZone = ptr.To("Europe/Berlin")
				s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
				s.Spec.StartingDeadlineSeconds = ptr.To[int64](300)
			})
			s := h.get()
			s.Status.LastScheduleTime = &metav1.Time{Time: tc.lastRun}
			g.Expect(k8sClient.Status().Update(h.ctx, s)).To(Succeed())

			for _, at := range tc.at {
				h.reconcileAt(at)
			}
			var pits []string
			for _, rs := range h.runs() {
				pits = append(pits, rs.Spec.PitName)
			}
			g.Expect(pits).To(Equal(tc.wantPits))
			s = h.get()
			g.Expect(s.Status.MissedRuns).To(BeZero())
			g.Expect(s.Status.NextScheduleTime.Time).To(BeTemporally("==", tc.wantNext))
			for _, rs := range h.runs() {
				// The annotation carries the zone's offset and the name the UTC minute.
				ts, ok := scheduledTimeOf(&rs)
				g.Expect(ok).To(BeTrue())
				g.Expect(rs.Name).To(Equal(runName("tz", ts)))
				_, offset := ts.Zone()
				_, want := ts.In(berlin).Zone()
				g.Expect(offset).To(Equal(want))
			}
		})
	}
}

func TestScheduleInvalidSpec(t *testing.T) {
	tests := map[string]struct {
		mutate      func(*replicationv1alpha1.ReplicationSyncSchedule)
		wantReason  string
		wantMessage string
	}{
		"template does not parse": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = "{{ .ScheduleName "
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "does not parse",
		},
		"template names an unknown field": {
			mutate:     func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Template.PitNameTemplate = "{{ .Name }}" },
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "it may use only .ScheduleName, .Namespace and .ScheduledTime",
		},
		"template renders blank": {
			mutate:     func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Template.PitNameTemplate = `{{ "  " }}` },
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "empty PiT name",
		},
		"template renders more than 255 characters": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = strings.Repeat("p", 250) + `{{ .ScheduledTime.Unix }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "more than 255: shorten the template",
		},
		"template renders the same name every run": {
			mutate:     func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Template.PitNameTemplate = "nightly" },
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "precisely enough to tell runs apart",
		},
		"template repeats after a day": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a day",
		},
		"template repeats after a week": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "Mon-1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a week",
		},
		"template repeats after a month": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "02-1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a month",
		},
		"template repeats after a year": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "0102-1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a year",
		},
		"template repeats after a year, weekly": {
			// A year after a Monday is no Monday: the check must not depend on a run falling on that day.
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = "0 2 * * 1"
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "0102-1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a year",
		},
		"template repeats after a day, every 8 hours": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = "@every 8h"
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "1504" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "repeats after a day",
		},
		"template with a 12-hour clock repeats within a day": {
			mutate: func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = "0 */6 * * *"
				s.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-0304" }}`
			},
			wantReason: replicationv1alpha1.InvalidTemplateReason, wantMessage: "it repeats after 12h0m0s",
		},
		"schedule range backwards": {
			mutate:     func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "5-1 * * * *" },
			wantReason: replicationv1alpha1.InvalidScheduleReason, wantMessage: "does not parse",
		},
		"schedule never fires": {
			mutate:     func(s *replicationv1alpha1.ReplicationSyncSchedule) { s.Spec.Schedule = "0 0 30 2 *" },
			wantReason: replicationv1alpha1.InvalidScheduleReason, wantMessage: "never fires",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newScheduleHarness(t, g)
			h.create("broken", tc.mutate)
			// Two hours in, a run would be due if the spec were valid.
			at := h.get().CreationTimestamp.Add(2 * time.Hour)

			res := h.reconcileAt(at)
			g.Expect(res.RequeueAfter).To(BeZero(), "nothing to wait for until the spec changes")
			g.Expect(h.runs()).To(BeEmpty())
			s := h.get()
			ready := condition(s, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(tc.wantReason))
			g.Expect(ready.Message).To(ContainSubstring(tc.wantMessage))
			stalled := condition(s, replicationv1alpha1.StalledCondition)
			g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(stalled.Reason).To(Equal(tc.wantReason))
			g.Expect(stalled.ObservedGeneration).To(Equal(s.Generation))
			g.Expect(s.Status.NextScheduleTime).To(BeNil())
			g.Expect(kstatusOf(g, s)).To(Equal(kstatus.FailedStatus))

			// Fixing the spec recovers.
			h.update(func(s *replicationv1alpha1.ReplicationSyncSchedule) {
				s.Spec.Schedule = "0 * * * *"
				s.Spec.Template.PitNameTemplate = ""
			})
			h.reconcileAt(at)
			s = h.get()
			g.Expect(condition(s, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(s, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionFalse))
			g.Expect(s.Status.ObservedGeneration).To(Equal(s.Generation))
		})
	}
}

func TestScheduleRunNames(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		schedule string
		wantLen  int
		want     string
	}{
		"short name is name-unixminutes": {schedule: "nightly", want: "nightly-29923320"},
		"long name stays within 253":     {schedule: strings.Repeat("a", 250), wantLen: 253},
		"long name with dots trims them": {schedule: strings.Repeat("a.", 125) + "b", wantLen: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := runName(tc.schedule, at)
			if tc.want != "" {
				g.Expect(got).To(Equal(tc.want))
			}
			if tc.wantLen > 0 {
				g.Expect(got).To(HaveLen(tc.wantLen))
			}
			g.Expect(len(got)).To(BeNumerically("<=", maxObjectNameLength))
			g.Expect(got).To(HaveSuffix("-29923320"))
			g.Expect(got).NotTo(ContainSubstring(".-"))
			g.Expect(runName(tc.schedule, at.Add(time.Minute))).NotTo(Equal(got))
			g.Expect(runName(tc.schedule+"x", at)).NotTo(Equal(got))
			g.Expect(len(replicationv1alpha1.ScheduleLabelValue(tc.schedule))).To(BeNumerically("<=", 63))
		})
	}
}

func TestScheduleDeletedForgetsMetrics(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	s := h.create("gone", nil)
	times := h.nextRuns(1)
	h.reconcileAt(times[0].Add(time.Second))
	g.Expect(testutil.CollectAndCount(metrics.ScheduleIntervalSeconds)).To(BeNumerically(">", 0))
	g.Expect(k8sClient.Delete(h.ctx, s)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(h.ctx, h.key, &replicationv1alpha1.ReplicationSyncSchedule{}))
	}).Should(BeTrue())
	h.reconcileAt(times[0].Add(2 * time.Second))
	g.Expect(metrics.ScheduleIntervalSeconds.DeleteLabelValues(h.ns, "gone")).To(BeFalse(), "the series was already dropped")
}

// createNamedAtTheLimitInBerlin creates schedule name on spec (Europe/Berlin, Allow) whose PiT names have
// 252 bytes, too long by one for the zone a run in the repeated hour of the autumn clock change gets, and
// records lastRun as its last run.
func (h *scheduleHarness) createNamedAtTheLimitInBerlin(name, spec string, lastRun time.Time) {
	h.t.Helper()
	h.create(name, func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Schedule = spec
		s.Spec.TimeZone = ptr.To("Europe/Berlin")
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.AllowConcurrent
		s.Spec.Template.PitNameTemplate = strings.Repeat("p", 238) + `-{{ .ScheduledTime.Format "20060102-1504" }}`
	})
	s := h.get()
	s.Status.LastScheduleTime = &metav1.Time{Time: lastRun}
	h.g.Expect(k8sClient.Status().Update(h.ctx, s)).To(Succeed())
}

// TestNameTooLongForOneRunStallsOnlyThatRun: a pitNameTemplate whose names fit, but not with the zone a
// run in the repeated hour of the autumn clock change gets. The run of the day before and the first 02:30
// start; the repeated 02:30 is missed, with its cause; the next day's run starts again.
func TestNameTooLongForOneRunStallsOnlyThatRun(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.createNamedAtTheLimitInBerlin("long", "30 2 * * *", time.Date(2030, 10, 25, 0, 30, 0, 0, time.UTC)) // 02:30 CEST

	h.reconcileAt(time.Date(2030, 10, 26, 0, 30, 30, 0, time.UTC)) // 02:30 CEST, the day before
	g.Expect(scheduleReadyReason(h.get())).NotTo(Equal(replicationv1alpha1.InvalidTemplateReason), "%+v", condition(h.get(), replicationv1alpha1.ReadyCondition))
	h.reconcileAt(time.Date(2030, 10, 27, 0, 30, 30, 0, time.UTC)) // 02:30 CEST
	h.reconcileAt(time.Date(2030, 10, 27, 1, 30, 30, 0, time.UTC)) // 02:30 CET: too long with "-CET"
	g.Expect(scheduleReadyReason(h.get())).To(Equal(replicationv1alpha1.InvalidTemplateReason))
	h.reconcileAt(time.Date(2030, 10, 28, 1, 30, 30, 0, time.UTC)) // 02:30 CET, the day after
	g.Expect(scheduleReadyReason(h.get())).NotTo(Equal(replicationv1alpha1.InvalidTemplateReason))

	g.Expect(h.runs()).To(HaveLen(3))
	s := h.get()
	g.Expect(s.Status.MissedRuns).To(BeEquivalentTo(1))
	g.Expect(s.Status.LastMissedTime.Time).To(BeTemporally("==", time.Date(2030, 10, 27, 1, 30, 0, 0, time.UTC)))
}

// TestFrequentRunsInTheRepeatedHourStallOnlyThoseRuns: every 10 minutes, names too long with the zone:
// the six runs of the repeated hour are missed, each with its cause, and the schedule runs again after it.
func TestFrequentRunsInTheRepeatedHourStallOnlyThoseRuns(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.createNamedAtTheLimitInBerlin("often", "*/10 * * * *", time.Date(2030, 10, 27, 0, 50, 0, 0, time.UTC)) // 02:50 CEST

	res := h.reconcileAt(time.Date(2030, 10, 27, 1, 0, 30, 0, time.UTC)) // 02:00 CET, in the repeated hour
	g.Expect(scheduleReadyReason(h.get())).To(Equal(replicationv1alpha1.InvalidTemplateReason))
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0), "woken for the next run")
	h.reconcileAt(time.Date(2030, 10, 27, 2, 0, 30, 0, time.UTC)) // 03:00 CET
	g.Expect(scheduleReadyReason(h.get())).NotTo(Equal(replicationv1alpha1.InvalidTemplateReason))
	g.Expect(h.runs()).To(HaveLen(1))
}
