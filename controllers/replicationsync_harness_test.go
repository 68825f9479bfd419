package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// runHarness drives one ReplicationSync through the real reconciler against the envtest API server,
// with a scriptable provider (smsfake) and a fake clock. Status patches can be intercepted.
type runHarness struct {
	t     *testing.T
	g     *WithT
	ctx   context.Context
	fake  *smsfake.Fake
	clock *clocktesting.FakeClock
	r     *ReplicationSyncReconciler
	vp    *replicationv1alpha1.VasaProvider
	key   client.ObjectKey

	mu sync.Mutex
	// onPatch, when set, runs before each status patch of a ReplicationSync; an error fails the patch.
	onPatch func(n int, obj client.Object) error
	// afterPatch, when set, runs after each status patch of a ReplicationSync the API server applied, with
	// the patch's context; an error is what the reconciler sees instead of success.
	afterPatch func(n int, ctx context.Context) error
	patches    int
	events     []string
}

// newRunHarness creates a Ready VasaProvider and a ReplicationSync of n groups (mutate may change both).
func newRunHarness(t *testing.T, n int, mutate func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync)) *runHarness {
	g := NewWithT(t)
	h := &runHarness{t: t, g: g, ctx: context.Background(), fake: smsfake.New(),
		clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second))}
	h.vp = readyProvider(t, g)
	rs := testSync(n)
	rs.Status = replicationv1alpha1.ReplicationSyncStatus{}
	rs.Namespace, rs.Name, rs.Spec.ProviderRef.Name = h.vp.Namespace, "run", h.vp.Name
	if mutate != nil {
		vp := h.vp.DeepCopy()
		mutate(vp, rs)
		if !equality.Semantic.DeepEqual(vp.Spec, h.vp.Spec) {
			g.Expect(k8sClient.Update(h.ctx, vp)).To(Succeed())
			vp.Status = h.vp.Status
			meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition).ObservedGeneration = vp.Generation
			g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())
		}
		h.vp = vp
	}
	g.Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
	h.key = client.ObjectKeyFromObject(rs)

	c := intercepted(g, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && !dryRun(opts) {
				h.mu.Lock()
				h.patches++
				n, hook, after := h.patches, h.onPatch, h.afterPatch
				h.mu.Unlock()
				if hook != nil {
					if err := hook(n, obj); err != nil {
						return err
					}
				}
				if after != nil {
					if err := cl.SubResource(sub).Patch(ctx, obj, patch, opts...); err != nil {
						return err
					}
					return after(n, ctx)
				}
			}
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	h.r = &ReplicationSyncReconciler{
		Client: c, APIReader: c, Sessions: session.New(), Capacity: capacity.NewWithClock(h.clock.Now), Clock: h.clock,
		Dial:     func(context.Context, sms.Config) (sms.Client, error) { return h.fake, nil },
		Backoff:  backoff.Policy{Base: time.Second, Max: 10 * time.Second, Factor: 2, Rand: func() float64 { return 0 }},
		Recorder: recorderFunc(func(reason, msg string) { h.mu.Lock(); h.events = append(h.events, reason+": "+msg); h.mu.Unlock() }),
	}
	return h
}

// nextRun creates a run named name with the spec of the harness's run and a PiT name of its own, and makes
// it the harness's run: the provider's next run, after what its earlier ones taught the process.
func (h *runHarness) nextRun(name string) {
	h.t.Helper()
	next := h.get()
	next.ObjectMeta = metav1.ObjectMeta{Namespace: next.Namespace, Name: name}
	next.Spec.PitName = name
	next.Status = replicationv1alpha1.ReplicationSyncStatus{}
	h.g.Expect(k8sClient.Create(h.ctx, next)).To(Succeed())
	h.key = client.ObjectKeyFromObject(next)
}

// newProcess replaces the reconciler by one of a new manager process: nothing in memory.
func (h *runHarness) newProcess() {
	h.r = &ReplicationSyncReconciler{Client: h.r.Client, APIReader: h.r.APIReader, Dial: h.r.Dial, Clock: h.r.Clock,
		Backoff: h.r.Backoff, Recorder: h.r.Recorder, Sessions: session.New(), Capacity: capacity.NewWithClock(h.clock.Now)}
}

// peerRun creates a ReplicationSync with the spec of the harness's run (its provider, PiT name and groups),
// named after it with suffix, and returns the harness's run and it.
func (h *runHarness) peerRun(suffix string) (first, second *replicationv1alpha1.ReplicationSync) {
	first = h.get()
	second = &replicationv1alpha1.ReplicationSync{}
	second.Namespace, second.Name = first.Namespace, first.Name+suffix
	second.Spec = *first.Spec.DeepCopy()
	h.g.Expect(k8sClient.Create(h.ctx, second)).To(Succeed())
	return first, second
}

// reconcile runs one reconcile and returns its result.
func (h *runHarness) reconcile() ctrl.Result {
	h.t.Helper()
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).NotTo(HaveOccurred())
	return res
}

// runFor reconciles, moving the clock to each requested requeue, until d has passed on the clock or
// the run finished; it returns the last result.
func (h *runHarness) runFor(d time.Duration) ctrl.Result {
	h.t.Helper()
	return h.runForCalls(d, math.MaxInt)
}

// runForLimit bounds one runFor in real time; the longest take a few seconds.
const runForLimit = time.Minute

// runForCalls is runFor that also stops once the provider got more than most sync calls: a run that
// keeps calling where it should have ended then fails its test at once, not after thousands of reconciles.
// A run that keeps reconciling without end fails its test after runForLimit of real time, before the
// package's timeout ends every other test with it.
func (h *runHarness) runForCalls(d time.Duration, most int) ctrl.Result {
	h.t.Helper()
	end, started := h.clock.Now().Add(d), time.Now()
	var res ctrl.Result
	for i := 0; i < 10000 && h.clock.Now().Before(end) && len(h.fake.Calls()) <= most; i++ {
		if time.Since(started) > runForLimit {
			h.t.Fatalf("still reconciling after %s of real time, %s before the end on the test clock: %d reconciles, %d calls, groups %v",
				runForLimit, end.Sub(h.clock.Now()), i, len(h.fake.Calls()), h.states())
		}
		res = h.reconcile()
		if isFinished(h.get()) {
			return res
		}
		step := res.RequeueAfter
		if step <= 0 || h.clock.Now().Add(step).After(end) {
			step = max(time.Millisecond, min(step, end.Sub(h.clock.Now())))
		}
		h.clock.Step(step)
	}
	return res
}

// get reads the ReplicationSync.
func (h *runHarness) get() *replicationv1alpha1.ReplicationSync {
	rs := &replicationv1alpha1.ReplicationSync{}
	h.g.Expect(k8sClient.Get(h.ctx, h.key, rs)).To(Succeed())
	return rs
}

// states returns the group states.
func (h *runHarness) states() []replicationv1alpha1.GroupState {
	var out []replicationv1alpha1.GroupState
	for _, g := range h.get().Status.Groups {
		out = append(out, g.State)
	}
	return out
}

// group returns the sms id of group i.
func (h *runHarness) group(i int) sms.GroupID {
	return sms.GroupID{FaultDomainID: "fd", DeviceGroupID: fmt.Sprintf("dg-%d", i)}
}

// maxCallsPerGroup is the most sync calls any group got.
func (h *runHarness) maxCallsPerGroup(n int) int {
	most := 0
	for i := range n {
		most = max(most, h.fake.CallsOf(h.group(i)))
	}
	return most
}

func (h *runHarness) eventReasons() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

// recorderFunc is an events.EventRecorder that hands reason and message to a function.
type recorderFunc func(reason, msg string)

func (f recorderFunc) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, note string, args ...any) {
	f(reason, fmt.Sprintf(note, args...))
}

// all returns n copies of s.
func all[T any](n int, s T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// readyProvider creates a namespace with a VasaProvider whose status is Ready (no reconciler runs here).
func readyProvider(t *testing.T, g *WithT) *replicationv1alpha1.VasaProvider {
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "rsync-")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "creds"},
		StringData: map[string]string{secretUsernameKey: "admin", secretPasswordKey: "secret"},
	}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	vp := newProvider(ns.Name, "vp", secret.Name)
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
	vp.Status.ProviderRef = &replicationv1alpha1.ManagedObjectReference{Type: "VasaProvider", Value: "p1"}
	vp.Status.VCenterInstanceUUID = vcenterA
	meta.SetStatusCondition(&vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition,
		Status: metav1.ConditionTrue, Reason: replicationv1alpha1.ConnectedReason, ObservedGeneration: vp.Generation})
	g.Expect(k8sClient.Status().Update(ctx, vp)).To(Succeed())
	return vp
}

// dryRun reports whether a status patch is a dry run, which writes nothing.
func dryRun(opts []client.SubResourcePatchOption) bool {
	o := &client.SubResourcePatchOptions{}
	o.ApplyOptions(opts)
	return len(o.DryRun) > 0
}

// discovered records a completed discovery in the VasaProvider's status, as the discovery does.
func (h *runHarness) discovered() {
	h.t.Helper()
	now := metav1.NewTime(h.clock.Now())
	h.vp.Status.Discovery = &replicationv1alpha1.DiscoveryStatus{LastAttemptTime: &now, LastSuccessTime: &now}
	h.g.Expect(k8sClient.Status().Update(h.ctx, h.vp)).To(Succeed())
}

// expectEndsSyncedOnce ends every task until the run is over and expects it Succeeded, each of its n
// groups called once.
func (h *runHarness) expectEndsSyncedOnce(n int) {
	h.t.Helper()
	h.onPatch = nil
	for range 3 {
		h.fake.FinishAll(h.clock.Now())
		h.runFor(time.Minute)
	}
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	for i := range n { // each one: a group never called has no PiT of this run's making
		h.g.Expect(h.fake.CallsOf(h.group(i))).To(Equal(1), "calls of group %d", i)
	}
}

// conflict is the error of a write that lost to another writer.
func conflict() error {
	return apierrors.NewConflict(schema.GroupResource{Group: "replication.vasa.io", Resource: "replicationsyncs"}, "run", errors.New("the object has been modified"))
}
