package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// fakeSMS answers TaskInfo with taskErr (or a running task) and counts sync calls.
type fakeSMS struct {
	sms.Client
	taskErr   error
	syncCalls int
}

func (f *fakeSMS) TaskInfo(context.Context, string) (sms.TaskInfo, error) {
	if f.taskErr != nil {
		return sms.TaskInfo{}, f.taskErr
	}
	return sms.TaskInfo{State: sms.TaskRunning}, nil
}

func (f *fakeSMS) SyncReplicationGroups(context.Context, string, []sms.GroupID, string) (string, error) {
	f.syncCalls++
	return "t2", nil
}

func syncingRun(cl sms.Client) *syncRun {
	rs := testSync(2)
	for i := range rs.Status.Groups {
		rs.Status.Groups[i].State, rs.Status.Groups[i].Task = replicationv1alpha1.GroupSyncing, "t1"
	}
	return &syncRun{rs: rs, now: time.Now(), cl: cl}
}

// TestPollTasksOnlyGoneTaskIsReissued: only ManagedObjectNotFound means the task is gone; any other
// fault keeps the groups Syncing on their task (issuing again could create a second PiT).
func TestPollTasksOnlyGoneTaskIsReissued(t *testing.T) {
	tests := map[string]struct {
		err         error
		wantState   replicationv1alpha1.GroupState
		wantBackOff bool
	}{
		"unavailable":   {&sms.ProviderUnavailableError{Message: "down"}, replicationv1alpha1.GroupSyncing, true},
		"busy":          {&sms.ProviderBusyError{}, replicationv1alpha1.GroupSyncing, true},
		"out of res":    {&sms.ProviderOutOfResourceError{}, replicationv1alpha1.GroupSyncing, true},
		"other fault":   {&sms.OtherFaultError{Type: "InvalidState"}, replicationv1alpha1.GroupSyncing, false},
		"gone":          {&sms.OtherFaultError{Type: "ManagedObjectNotFound"}, replicationv1alpha1.GroupPending, false},
		"still running": {nil, replicationv1alpha1.GroupSyncing, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cl := &fakeSMS{taskErr: tt.err}
			r := &ReplicationSyncReconciler{Sessions: session.New(), Backoff: backoff.Policy{Base: time.Second}}
			run := syncingRun(cl)
			stalled, err := r.pollTasks(context.Background(), run)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(stalled).To(BeFalse())
			for _, gs := range run.rs.Status.Groups {
				g.Expect(gs.State).To(Equal(tt.wantState))
				g.Expect(gs.Attempts).To(BeZero())
				if tt.wantState == replicationv1alpha1.GroupSyncing {
					g.Expect(gs.Task).To(Equal("t1"))
				}
			}
			g.Expect(cl.syncCalls).To(BeZero())
			if tt.wantBackOff {
				g.Expect(run.rs.Status.Retry.NextRetryTime).NotTo(BeNil())
				g.Expect(run.rs.Status.Retry.NextRetryTime.Time).To(BeTemporally(">=", run.now.Add(time.Second)))
			} else if run.rs.Status.Retry != nil {
				g.Expect(run.rs.Status.Retry.NextRetryTime).To(BeNil())
			}
		})
	}
}

// TestGroupFaultBacksOff: a counted per-group fault answered for a call is not retried in the same
// reconcile: the run backs off first.
func TestGroupFaultBacksOff(t *testing.T) {
	g := NewWithT(t)
	r := &ReplicationSyncReconciler{Sessions: session.New(), Backoff: backoff.Policy{Base: time.Second, Max: time.Minute, Factor: 2, Jitter: 0}}
	run := syncingRun(nil)
	run.rs.Status.Groups[1].Attempts = 2
	out := r.applyFault(context.Background(), run, []int{0, 1}, &sms.ReplicationFaultError{Message: "journal full"})
	g.Expect(out).To(Equal(outcomeBackOff))
	for _, gs := range run.rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupPending))
	}
	g.Expect(run.rs.Status.Groups[0].Attempts).To(BeEquivalentTo(1))
	g.Expect(run.rs.Status.Retry.LastFault.Type).To(Equal("SmsReplicationFault"))
	// The delay grows with the group's attempts (3rd failure: 4x base).
	g.Expect(run.rs.Status.Retry.NextRetryTime.Time).To(BeTemporally("==", run.now.Add(4*time.Second)))
}

// TestTooManyAlwaysShrinks: a TooMany whose maxBatchSize is not below the batch still shrinks it.
func TestTooManyAlwaysShrinks(t *testing.T) {
	tests := map[string]struct {
		max   int32
		batch int
		want  int32
	}{
		"size above the batch": {10, 4, 3},
		"size equal to batch":  {4, 4, 3},
		"size below the batch": {2, 4, 2},
		"unset means one":      {0, 4, 1},
		"batch of two":         {5, 2, 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			sessions := session.New()
			r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: sessions}
			run := &syncRun{rs: testSync(tt.batch), now: time.Now()}
			run.vp = &replicationv1alpha1.VasaProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "does-not-exist"}}
			run.key = client.ObjectKeyFromObject(run.vp)
			idx := make([]int, tt.batch)
			for i := range idx {
				idx[i] = i
			}
			g.Expect(r.applyFault(context.Background(), run, idx, &sms.TooManyError{MaxBatchSize: tt.max})).To(Equal(outcomeContinue))
			g.Expect(sessions.LearnedBatchSize(run.key)).To(Equal(tt.want))
		})
	}
}

// TestTooManyOnOneGroupCountsAFailure: a single group that gets TooMany cannot be split; issuing it
// again at once would loop, so it counts as a failure of the group and backs off.
func TestTooManyOnOneGroupCountsAFailure(t *testing.T) {
	g := NewWithT(t)
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Backoff: backoff.Policy{Base: time.Second}}
	run := &syncRun{rs: testSync(1), now: time.Now()}
	run.vp = &replicationv1alpha1.VasaProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "does-not-exist"}}
	run.key = client.ObjectKeyFromObject(run.vp)
	g.Expect(r.applyFault(context.Background(), run, []int{0}, &sms.TooManyError{MaxBatchSize: 5})).To(Equal(outcomeBackOff))
	g.Expect(run.rs.Status.Groups[0].Attempts).To(Equal(int32(1)))
	g.Expect(run.rs.Status.Retry.NextRetryTime.After(run.now)).To(BeTrue())
}

// createTestSync creates a ReplicationSync of n groups in the API server, with no status yet.
func createTestSync(g Gomega, namespace, name string, n int, mutate ...func(*replicationv1alpha1.ReplicationSync)) *replicationv1alpha1.ReplicationSync {
	rs := testSync(n)
	rs.Namespace, rs.Name = namespace, name
	rs.Status = replicationv1alpha1.ReplicationSyncStatus{}
	for _, m := range mutate {
		m(rs)
	}
	g.Expect(k8sClient.Create(context.Background(), rs)).To(Succeed())
	return rs
}

// TestReconcileReturnsErrorOrResult: when the status patch fails, Reconcile returns the error and a zero result.
func TestReconcileReturnsErrorOrResult(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	rs := createTestSync(g, "default", "patch-fails", 1)
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, rs) })

	watching, err := client.NewWithWatch(cfg, client.Options{Scheme: k8sClient.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	failing := interceptor.NewClient(watching, interceptor.Funcs{
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return errors.New("apiserver says no")
		},
	})
	r := &ReplicationSyncReconciler{Client: failing, Sessions: session.New()}
	res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)})
	g.Expect(err).To(MatchError(ContainSubstring("apiserver says no")))
	g.Expect(res).To(Equal(ctrl.Result{}), "an error or a result, never both")
}

// TestProviderMessagesTruncated: provider text written to status is capped at 1 KiB with a marker.
func TestProviderMessagesTruncated(t *testing.T) {
	g := NewWithT(t)
	g.Expect(truncateMessage("short")).To(Equal("short"))
	long := strings.Repeat("é", 2000)
	got := truncateMessage(long)
	g.Expect(len(got)).To(BeNumerically("<=", maxMessageBytes))
	g.Expect(got).To(HaveSuffix(truncatedMarker))
	g.Expect(strings.ToValidUTF8(got, "?")).To(Equal(got))

	r := &ReplicationSyncReconciler{Sessions: session.New()}
	run := syncingRun(nil)
	run.rs.Spec.BackoffLimit = ptr.To[int32](0)
	r.applyFault(context.Background(), run, []int{0, 1}, &sms.ReplicationFaultError{Message: long})
	r.stall(run, replicationv1alpha1.FailedReason, failedGroupsMessage(run.rs))
	for _, gs := range run.rs.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupFailed))
		g.Expect(len(gs.Message)).To(BeNumerically("<=", maxMessageBytes))
	}
	g.Expect(len(run.rs.Status.Retry.LastFault.Message)).To(BeNumerically("<=", maxMessageBytes))
	for _, c := range run.rs.Status.Conditions {
		g.Expect(len(c.Message)).To(BeNumerically("<=", maxMessageBytes), c.Type)
	}
}

// issuingSMS answers PiT queries with NotImplemented and counts sync calls per group.
type issuingSMS struct {
	sms.Client
	calls map[sms.GroupID]int
}

func (f *issuingSMS) PointInTimeReplicas(context.Context, string, []sms.GroupID, string) ([]sms.PointInTime, error) {
	return nil, &sms.NotImplementedError{}
}

func (f *issuingSMS) SyncReplicationGroups(_ context.Context, _ string, groups []sms.GroupID, _ string) (string, error) {
	for _, g := range groups {
		f.calls[g]++
	}
	return "task-1", nil
}

func (f *issuingSMS) TaskInfo(context.Context, string) (sms.TaskInfo, error) {
	return sms.TaskInfo{State: sms.TaskRunning}, nil
}

// readyProvider creates a namespace with a VasaProvider whose status is Ready (no reconciler runs here).
func readyProvider(t *testing.T, g Gomega) *replicationv1alpha1.VasaProvider {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rsync-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "creds"},
		StringData: map[string]string{secretUsernameKey: "admin", secretPasswordKey: "secret"},
	}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	vp := newProvider(ns.Name, "vp", secret.Name)
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
	vp.Status.ProviderRef = &replicationv1alpha1.ManagedObjectReference{Type: "VasaProvider", Value: "p1"}
	meta.SetStatusCondition(&vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition,
		Status: metav1.ConditionTrue, Reason: replicationv1alpha1.ConnectedReason, ObservedGeneration: vp.Generation})
	g.Expect(k8sClient.Status().Update(ctx, vp)).To(Succeed())
	return vp
}

// TestUnpersistedTaskRefAdopted: when the status patch fails after SyncReplicationGroups returned a task,
// the next reconcile adopts that task instead of issuing the groups a second time.
func TestUnpersistedTaskRefAdopted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vp := readyProvider(t, g)
	rs := createTestSync(g, vp.Namespace, "patch-fails-once", 2)

	watching, err := client.NewWithWatch(cfg, client.Options{Scheme: k8sClient.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	fails := 0
	failing := interceptor.NewClient(watching, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && fails == 0 {
				fails++
				return errors.New("apiserver says no")
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	cl := &issuingSMS{calls: map[sms.GroupID]int{}}
	r := &ReplicationSyncReconciler{Client: failing, Sessions: session.New(),
		Dial: func(context.Context, sms.Config) (sms.Client, error) { return cl, nil }}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)}

	_, err = r.Reconcile(ctx, req)
	g.Expect(err).To(MatchError(ContainSubstring("apiserver says no")))
	g.Expect(cl.calls).To(HaveLen(2))

	_, err = r.Reconcile(ctx, req)
	g.Expect(err).NotTo(HaveOccurred())
	for grp, n := range cl.calls {
		g.Expect(n).To(Equal(1), "group %v issued again", grp)
	}
	got := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, req.NamespacedName, got)).To(Succeed())
	for _, gs := range got.Status.Groups {
		g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSyncing))
		g.Expect(gs.Task).To(Equal("task-1"))
	}
}

// pingPongSMS: each provider answers InactiveProvider naming the other as active for every fault domain.
type pingPongSMS struct {
	sms.Client
	calls int
}

func (f *pingPongSMS) PointInTimeReplicas(context.Context, string, []sms.GroupID, string) ([]sms.PointInTime, error) {
	return nil, &sms.NotImplementedError{}
}

func (f *pingPongSMS) SyncReplicationGroups(_ context.Context, provider string, _ []sms.GroupID, _ string) (string, error) {
	f.calls++
	other := map[string]string{"p1": "p2", "p2": "p1"}[provider]
	return "", &sms.InactiveProviderError{Mapping: []sms.FaultDomainMapping{{ActiveProviderRef: other, FaultDomainIDs: []string{"fd"}}}}
}

// TestInactiveProviderPingPongCounted: two providers naming each other as active do not bounce a group
// forever: after maxConsecutiveReroutes each re-route counts as an attempt, with backoff, up to Failed.
func TestInactiveProviderPingPongCounted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cl := &pingPongSMS{}
	r := &ReplicationSyncReconciler{Sessions: session.New(), Backoff: backoff.Policy{Base: time.Second, Max: time.Minute, Factor: 2}}
	rs := testSync(1)
	rs.Spec.BackoffLimit = ptr.To[int32](1)
	run := &syncRun{rs: rs, now: time.Now(), cl: cl, key: types.NamespacedName{Namespace: "ns", Name: "vp"},
		vp: &replicationv1alpha1.VasaProvider{Status: replicationv1alpha1.VasaProviderStatus{
			ProviderRef: &replicationv1alpha1.ManagedObjectReference{Value: "p1"}}}}

	out, err := r.submit(ctx, run)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(submitBackOff))
	g.Expect(cl.calls).To(Equal(maxConsecutiveReroutes + 1))
	g.Expect(rs.Status.Groups[0].Attempts).To(BeEquivalentTo(1))
	g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupPending))
	g.Expect(rs.Status.Retry.NextRetryTime).NotTo(BeNil())

	out, err = r.submit(ctx, run)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(submitNothing))
	g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupFailed), "beyond backoffLimit")
	g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("Re-routed"))
}

// finishingSMS runs one task per call that has already succeeded when first polled.
type finishingSMS struct {
	sms.Client
	tasks map[string][]sms.GroupID
}

func (f *finishingSMS) PointInTimeReplicas(context.Context, string, []sms.GroupID, string) ([]sms.PointInTime, error) {
	return nil, nil
}

func (f *finishingSMS) SyncReplicationGroups(_ context.Context, _ string, groups []sms.GroupID, _ string) (string, error) {
	ref := fmt.Sprintf("task-%d", len(f.tasks)+1)
	f.tasks[ref] = groups
	return ref, nil
}

func (f *finishingSMS) TaskInfo(_ context.Context, ref string) (sms.TaskInfo, error) {
	info := sms.TaskInfo{Ref: ref, State: sms.TaskSuccess}
	for _, grp := range f.tasks[ref] {
		info.Results = append(info.Results, sms.GroupResult{Group: grp, Succeeded: true, PitID: "pit-" + grp.DeviceGroupID, PitName: "pit", TimeStamp: time.Now()})
	}
	return info, nil
}

// TestFinishedTaskFreesSlotForNextBatch: with maxConcurrentTasks 1, the reconcile that sees a task
// finish issues the next batch at once instead of waiting a poll interval for the slot.
func TestFinishedTaskFreesSlotForNextBatch(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vp := readyProvider(t, g)
	vp.Spec.MaxConcurrentTasks, vp.Spec.MaxBatchSize = 1, 1
	g.Expect(k8sClient.Update(ctx, vp)).To(Succeed())
	vp.Status.ObservedGeneration = vp.Generation // the provider controller would confirm the new spec
	for i := range vp.Status.Conditions {
		vp.Status.Conditions[i].ObservedGeneration = vp.Generation
	}
	g.Expect(k8sClient.Status().Update(ctx, vp)).To(Succeed())
	rs := createTestSync(g, vp.Namespace, "one-slot", 2)

	cl := &finishingSMS{tasks: map[string][]sms.GroupID{}}
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(),
		Dial: func(context.Context, sms.Config) (sms.Client, error) { return cl, nil }}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)}

	for i := 0; i < 5 && len(cl.tasks) == 0; i++ { // Pending -> Running, then the first batch
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(cl.tasks).To(HaveLen(1))
	_, err := r.Reconcile(ctx, req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cl.tasks).To(HaveLen(2), "the finished task's slot was not freed for the next batch")
}

// unreachableSMS fails every sync call without a provider fault, as a dropped connection does.
type unreachableSMS struct{ sms.Client }

func (unreachableSMS) PointInTimeReplicas(context.Context, string, []sms.GroupID, string) ([]sms.PointInTime, error) {
	return nil, nil
}

func (unreachableSMS) SyncReplicationGroups(context.Context, string, []sms.GroupID, string) (string, error) {
	return "", errors.New("dial tcp 192.0.2.1:443: connect: connection refused")
}

// TestUnreachableBacksOffWithinDeadline: a call that fails without a provider fault is reported in the
// conditions and retried on the run's own backoff, never past activeDeadlineSeconds.
func TestUnreachableBacksOffWithinDeadline(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vp := readyProvider(t, g)
	rs := createTestSync(g, vp.Namespace, "unreachable", 1, func(rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
	})
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Backoff: backoff.Policy{Base: time.Minute},
		Dial: func(context.Context, sms.Config) (sms.Client, error) { return unreachableSMS{}, nil }}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)}

	got := &replicationv1alpha1.ReplicationSync{}
	var res ctrl.Result
	for i := 0; i < 5; i++ {
		var err error
		res, err = r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8sClient.Get(ctx, req.NamespacedName, got)).To(Succeed())
		if got.Status.Retry != nil && got.Status.Retry.LastFault != nil {
			break
		}
	}
	g.Expect(got.Status.Retry.LastFault.Type).To(Equal(unreachableFault))
	g.Expect(got.Status.Retry.LastFault.Message).To(ContainSubstring("connection refused"))
	reconciling := meta.FindStatusCondition(got.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
	g.Expect(reconciling.Reason).To(Equal(replicationv1alpha1.BackingOffReason))
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", 3*time.Second), "the retry must not wait past the deadline")
	g.Expect(got.Status.Groups[0].Attempts).To(BeZero())
}
