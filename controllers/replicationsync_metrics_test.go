package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// syncsSeries returns the vasa_sync_syncs_total series of one provider that exist, by result, without
// creating any (WithLabelValues would).
func syncsSeries(g *WithT, namespace, provider string) map[string]float64 {
	ch := make(chan prometheus.Metric, 256)
	go func() { metrics.SyncsTotal.Collect(ch); close(ch) }()
	got := map[string]float64{}
	for m := range ch {
		var out dto.Metric
		g.Expect(m.Write(&out)).To(Succeed())
		labels := map[string]string{}
		for _, l := range out.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels[metrics.LabelNamespace] == namespace && labels[metrics.LabelProvider] == provider {
			got[labels[metrics.LabelResult]] = out.GetCounter().GetValue()
		}
	}
	return got
}

var bothResultsAtZero = map[string]float64{"succeeded": 0, "failed": 0}

// TestSyncsTotalExistsBeforeTheFirstRunEnds: the ReplicationSync reconciler creates its provider's
// series at its first reconcile, at 0, so the alert's increase() counts the first failed run. It creates
// none for a VasaProvider that does not exist (a typo, one deleted): nothing would ever drop them.
func TestSyncsTotalExistsBeforeTheFirstRunEnds(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.g.Expect(syncsSeries(h.g, h.vp.Namespace, h.vp.Name)).To(BeEmpty())
	h.reconcile()
	h.g.Expect(h.get().Status.Phase).NotTo(BeElementOf(replicationv1alpha1.SyncSucceeded, replicationv1alpha1.SyncFailed))
	h.g.Expect(syncsSeries(h.g, h.vp.Namespace, h.vp.Name)).To(Equal(bothResultsAtZero))

	typo := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ProviderRef.Name = "not-there"
	})
	typo.reconcile()
	typo.g.Expect(syncsSeries(typo.g, typo.vp.Namespace, "not-there")).To(BeEmpty())
}

// providerSeries names the series of every metric the manager registered that carry the VasaProvider's
// namespace and name.
func providerSeries(g *WithT, namespace, provider string) []string {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels[metrics.LabelNamespace] == namespace && labels[metrics.LabelProvider] == provider {
				out = append(out, fmt.Sprintf("%s%v", f.GetName(), labels))
			}
		}
	}
	return out
}

// TestDeletedVasaProviderLeavesNoSeries: a VasaProvider whose run synced, after a busy answer, is deleted:
// none of its series stays, not even after its finished run is reconciled again, nor one that a reconcile
// under way at the deletion writes after it (dropped once more a while later).
func TestDeletedVasaProviderLeavesNoSeries(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	var busy atomic.Bool
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		if busy.CompareAndSwap(false, true) {
			return "", &sms.ProviderBusyError{Message: "busy"}
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	for range 60 {
		if h.reconcile(); isFinished(h.get()) {
			break
		}
		h.fake.FinishAll(h.clock.Now())
		h.clock.Step(time.Second)
	}
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	metrics.ProviderReady.WithLabelValues(h.vp.Namespace, h.vp.Name).Set(1) // as its check would
	h.g.Expect(providerSeries(h.g, h.vp.Namespace, h.vp.Name)).To(ContainElements(
		HavePrefix("vasa_sync_syncs_total"), HavePrefix("vasa_sync_sync_duration_seconds"), HavePrefix("vasa_sync_groups_total"),
		HavePrefix("vasa_sync_last_success_timestamp_seconds"), HavePrefix("vasa_sync_in_doubt_reissues_total"),
		HavePrefix("vasa_sync_provider_faults_total"), HavePrefix("vasa_sync_tasks_in_flight")))

	vpr := &VasaProviderReconciler{Client: k8sClient, Sessions: h.r.Sessions, Capacity: h.r.Capacity, Clock: h.clock}
	vpKey := client.ObjectKeyFromObject(h.vp)
	h.g.Expect(k8sClient.Delete(h.ctx, h.vp)).To(Succeed())
	res, err := vpr.Reconcile(h.ctx, ctrl.Request{NamespacedName: vpKey})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(providerSeries(h.g, h.vp.Namespace, h.vp.Name)).To(BeEmpty())

	h.reconcile() // its finished run, at a manager's start, say
	h.g.Expect(providerSeries(h.g, h.vp.Namespace, h.vp.Name)).To(BeEmpty())

	// A run's reconcile that read the VasaProvider before it went records a fault after the drop.
	metrics.ProviderFaultsTotal.WithLabelValues(h.vp.Namespace, h.vp.Name, "Unreachable").Inc()
	h.g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	h.clock.Step(res.RequeueAfter)
	res, err = vpr.Reconcile(h.ctx, ctrl.Request{NamespacedName: vpKey})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(res.RequeueAfter).To(BeZero(), "dropped twice, then done")
	h.g.Expect(providerSeries(h.g, h.vp.Namespace, h.vp.Name)).To(BeEmpty())
}

// TestVasaProviderCreatesSyncsTotal: a VasaProvider's reconcile (at a manager's start, before any run of
// it ends) creates its series at 0.
func TestVasaProviderCreatesSyncsTotal(t *testing.T) {
	g := NewWithT(t)
	w := newVPWorld(t, smssim.Config{})
	g.Expect(syncsSeries(g, w.ns, "array")).To(BeEmpty())
	vp, _ := w.reconcile(t, nil)
	g.Expect(syncsSeries(g, w.ns, "array")).To(Equal(bothResultsAtZero))

	// Another reconcile leaves counts alone.
	metrics.SyncsTotal.WithLabelValues(w.ns, "array", "failed").Inc()
	_, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(syncsSeries(g, w.ns, "array")).To(Equal(map[string]float64{"succeeded": 0, "failed": 1}))
}

// groupsFailed reads vasa_sync_groups_total{result="failed"} of the harness's provider.
func groupsFailed(h *runHarness) float64 {
	return testutil.ToFloat64(metrics.GroupsTotal.WithLabelValues(h.vp.Namespace, h.vp.Name, "failed"))
}

// TestRunEndCountedOnceWhenItsWriteIsLost: the write that ends a run loses to another writer; the next
// reconcile ends it again. The run and its group are counted once, and its Failed event recorded once.
func TestRunEndCountedOnceWhenItsWriteIsLost(t *testing.T) {
	h := deadlineRun(t)
	h.reconcile()
	failedBefore := syncsSeries(h.g, h.vp.Namespace, h.vp.Name)["failed"]
	groupsFailedBefore := groupsFailed(h)
	lost := 1
	h.onPatch = func(_ int, obj client.Object) error {
		if rs, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && rs.Status.Phase == replicationv1alpha1.SyncFailed && lost > 0 {
			lost--
			return conflict()
		}
		return nil
	}
	h.clock.Step(30 * time.Second) // the deadline counts from creationTimestamp, a moment after the clock's start
	for range 2 {
		_, _ = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	}
	h.g.Expect(lost).To(BeZero(), "the first write of the end was lost")
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(syncsSeries(h.g, h.vp.Namespace, h.vp.Name)["failed"] - failedBefore).To(BeEquivalentTo(1))
	h.g.Expect(groupsFailed(h) - groupsFailedBefore).To(BeEquivalentTo(1))
	var failedEvents int
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "Failed: ") {
			failedEvents++
		}
	}
	h.g.Expect(failedEvents).To(Equal(1))
}

// TestRunEndCountedWhenItsWriteMayHaveBeenApplied: the write that ends a run is applied, but its answer
// is lost (etcd timed out). The next reconcile reads the run as finished: its end was counted all the
// same, so that ReplicationSyncFailed fires.
func TestRunEndCountedWhenItsWriteMayHaveBeenApplied(t *testing.T) {
	h := deadlineRun(t)
	h.reconcile()
	failedBefore := syncsSeries(h.g, h.vp.Namespace, h.vp.Name)["failed"]
	groupsFailedBefore := groupsFailed(h)
	var lost atomic.Bool
	h.afterPatch = func(int, context.Context) error {
		if h.get().Status.Phase == replicationv1alpha1.SyncFailed && lost.CompareAndSwap(false, true) {
			return apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
		}
		return nil
	}
	h.clock.Step(30 * time.Second)
	for range 2 {
		_, _ = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	}
	h.g.Expect(lost.Load()).To(BeTrue())
	h.g.Expect(syncsSeries(h.g, h.vp.Namespace, h.vp.Name)["failed"] - failedBefore).To(BeEquivalentTo(1))
	h.g.Expect(groupsFailed(h) - groupsFailedBefore).To(BeEquivalentTo(1))
	h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix("Failed: ")))
}

// TestInDoubtReissueCountedOnceWhenItsClaimIsLost: the write that re-issues an in-doubt group loses to
// another writer; the next reconcile decides the re-issue again. It is one call, counted once and
// announced by one event.
func TestInDoubtReissueCountedOnceWhenItsClaimIsLost(t *testing.T) {
	h := newRunHarness(t, 1, shortWindow)
	answerOnce(h.fake, timeoutErr)
	h.fake.NoPiTSupport = true
	reissues := func() float64 {
		return testutil.ToFloat64(metrics.InDoubtReissuesTotal.WithLabelValues(h.vp.Namespace, h.vp.Name))
	}
	h.runFor(window - time.Second)
	before := reissues()
	lost := 1
	h.onPatch = func(_ int, obj client.Object) error {
		if rs, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && len(rs.Status.Groups) == 1 && rs.Status.Groups[0].Reissues > 0 && lost > 0 {
			lost--
			return conflict()
		}
		return nil
	}
	h.runFor(2 * time.Second)
	h.g.Expect(lost).To(BeZero(), "the first write of the re-issue was lost")
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	h.g.Expect(h.get().Status.Groups[0].Reissues).To(BeEquivalentTo(1))
	h.g.Expect(reissues() - before).To(BeEquivalentTo(1))
	var events int
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "InDoubtReissued") {
			events++
		}
	}
	h.g.Expect(events).To(Equal(1))
}

// TestTasksInFlightDropsWhenARunIsDeleted: a run deleted with its task in flight no longer counts in
// vasa_sync_tasks_in_flight, even before another run of the provider reconciles.
// TestTasksInFlightDropsWhenARunEndsAtItsDeadline: a run ended by activeDeadlineSeconds with a task in
// flight gives its slot back, and the gauge says so at once, not when another run of the provider
// reconciles.
func TestTasksInFlightDropsWhenARunEndsAtItsDeadline(t *testing.T) {
	h := deadlineRun(t)
	h.reconcile()
	inFlight := func() float64 {
		return testutil.ToFloat64(metrics.TasksInFlight.WithLabelValues(h.vp.Namespace, h.vp.Name))
	}
	h.g.Expect(inFlight()).To(BeEquivalentTo(1))
	h.clock.Step(30 * time.Second)
	h.reconcile()
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(inFlight()).To(BeZero())
}

func TestTasksInFlightDropsWhenARunIsDeleted(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.reconcile()
	inFlight := func() float64 {
		return testutil.ToFloat64(metrics.TasksInFlight.WithLabelValues(h.vp.Namespace, h.vp.Name))
	}
	h.g.Expect(inFlight()).To(BeEquivalentTo(1))
	h.g.Expect(k8sClient.Delete(h.ctx, h.get())).To(Succeed())
	h.reconcile()
	h.g.Expect(inFlight()).To(BeZero())
}

// deadlineRun is a run harness of one group whose run has activeDeadlineSeconds 10.
func deadlineRun(t *testing.T) *runHarness {
	return newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	})
}
