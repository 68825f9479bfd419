package controllers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// vpWorld is one namespace with credentials for a simulator and a reconciler that dials it for real. The
// simulator has provider array-a without groups unless cfg names providers.
type vpWorld struct {
	ns       string
	sim      *smssim.Sim
	r        *VasaProviderReconciler
	recorder *events.FakeRecorder
}

func newVPWorld(t *testing.T, cfg smssim.Config) *vpWorld {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	if len(cfg.Providers) == 0 {
		cfg.Providers = []smssim.ProviderConfig{{Name: "array-a"}}
	}
	sim, err := smssim.Start(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(sim.Close)
	ns := newNamespace(t, g, k8sClient, "vp-wire-")
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "creds"},
		StringData: map[string]string{secretUsernameKey: sim.Username(), secretPasswordKey: sim.Password()},
	})).To(Succeed())
	rec := events.NewFakeRecorder(10)
	sessions := session.New()
	return &vpWorld{ns: ns.Name, sim: sim, recorder: rec, r: &VasaProviderReconciler{
		Client: k8sClient, APIReader: k8sClient, Sessions: sessions, Capacity: capacity.New(), Recorder: rec,
	}}
}

// simProvider returns VasaProvider "array" of w's namespace, reaching its simulator with Secret "creds".
func (w *vpWorld) simProvider() *replicationv1alpha1.VasaProvider {
	vp := newProvider(w.ns, "array", "creds")
	vp.Spec.VCenter.URL = w.sim.URL()
	vp.Spec.VCenter.TLS.Thumbprint = w.sim.Thumbprint()
	return vp
}

// connectedVPWorld is a world whose VasaProvider on the simulator is checked once, Connected.
func connectedVPWorld(t *testing.T) (*vpWorld, *replicationv1alpha1.VasaProvider) {
	t.Helper()
	w := newVPWorld(t, smssim.Config{})
	vp, _ := w.reconcile(t, nil)
	NewWithT(t).Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	return w, vp
}

// recheck reconciles the existing vp once more (with ctx) and returns it re-read.
func (w *vpWorld) recheck(ctx context.Context, t *testing.T, vp *replicationv1alpha1.VasaProvider) *replicationv1alpha1.VasaProvider {
	t.Helper()
	g := NewWithT(t)
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
	return got
}

// reconcile creates the VasaProvider (mutated), reconciles it once and returns it re-read.
func (w *vpWorld) reconcile(t *testing.T, mutate func(*replicationv1alpha1.VasaProvider)) (*replicationv1alpha1.VasaProvider, ctrl.Result) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	vp := w.simProvider()
	if mutate != nil {
		mutate(vp)
	}
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
	t.Cleanup(func() { w.r.Sessions.Forget(client.ObjectKeyFromObject(vp)) })
	res, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
	return got, res
}

func vpCondition(vp *replicationv1alpha1.VasaProvider, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(vp.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func TestVasaProviderShowsVersions(t *testing.T) {
	for _, b := range []replicationv1alpha1.Binding{replicationv1alpha1.BindingSOAP, replicationv1alpha1.BindingJSON} {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			w := newVPWorld(t, smssim.Config{Release: smssim.Release80U2})
			vp, _ := w.reconcile(t, func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = b })
			g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
			g.Expect(vp.Status.SMSVersion).To(Equal("8.0.2.0"))
			g.Expect(vp.Status.VCenterVersion).To(Equal("8.0.2 build-22385739"))
			g.Expect(vp.Status.VCenterInstanceUUID).To(And(Not(BeEmpty()), Equal(w.sim.About().InstanceUuid)))
			g.Expect(vp.Status.TLSVerification).To(Equal(replicationv1alpha1.TLSVerificationThumbprint))
		})
	}
}

// TestVasaProviderMovedToAnotherVCenterLearnsAnew: the batch size and task durations learned from one
// vCenter's array say nothing of another's; a VasaProvider edited to reach another vCenter forgets them,
// and shows the vCenter it now reaches (runs compare it with theirs).
func TestVasaProviderMovedToAnotherVCenterLearnsAnew(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := learnedProvider(t, 16, 2*time.Second)
	g.Expect(vp.Status.VCenterInstanceUUID).To(Equal(w.sim.About().InstanceUuid))

	other, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{Name: "array-a"}}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(other.Close)
	vp.Spec.VCenter.URL, vp.Spec.VCenter.TLS.Thumbprint = other.URL(), other.Thumbprint()
	g.Expect(k8sClient.Update(ctx, vp)).To(Succeed())
	vp = w.recheck(ctx, t, vp)
	g.Expect(vp.Status.VCenterInstanceUUID).To(And(Equal(other.About().InstanceUuid), Not(Equal(w.sim.About().InstanceUuid))))
	expectLearnedAnew(g, w, vp)
}

// learnedProvider is a connected VasaProvider of a new world whose batch size and task duration were
// learned (size, d) and recorded in its status.
func learnedProvider(t *testing.T, size int32, d time.Duration) (*vpWorld, *replicationv1alpha1.VasaProvider) {
	t.Helper()
	g := NewWithT(t)
	w := newVPWorld(t, smssim.Config{})
	vp, _ := w.reconcile(t, nil)
	key := client.ObjectKeyFromObject(vp)
	w.r.Capacity.LearnBatchSize(key, size)
	w.r.Capacity.ObserveTask(key, d)
	vp = w.recheck(context.Background(), t, vp)
	g.Expect(vp.Status.LearnedMaxBatchSize).To(BeEquivalentTo(size))
	g.Expect(vp.Status.ObservedTaskDuration).NotTo(BeNil())
	return w, vp
}

// expectLearnedAnew expects vp, connected, to keep nothing learned, in its status or in memory.
func expectLearnedAnew(g Gomega, w *vpWorld, vp *replicationv1alpha1.VasaProvider) {
	g.ExpectWithOffset(1, vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	g.ExpectWithOffset(1, vp.Status.LearnedMaxBatchSize).To(BeZero())
	g.ExpectWithOffset(1, vp.Status.ObservedTaskDuration).To(BeNil())
	g.ExpectWithOffset(1, w.r.Capacity.LearnedBatchSize(client.ObjectKeyFromObject(vp))).To(BeZero())
	g.ExpectWithOffset(1, w.r.Capacity.TaskDuration(client.ObjectKeyFromObject(vp))).To(BeZero())
}

// TestVasaProviderCreatedAgainLearnsAnew: a VasaProvider deleted and created again under its name before
// the deletion was reconciled (kubectl replace --force, a GitOps replace) does not inherit the batch size
// and task durations the old object learned, which may describe another array.
func TestVasaProviderCreatedAgainLearnsAnew(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := learnedProvider(t, 1, time.Hour)
	key := client.ObjectKeyFromObject(vp)

	g.Expect(k8sClient.Delete(ctx, vp)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &replicationv1alpha1.VasaProvider{})) }).Should(BeTrue())
	again := w.simProvider()
	g.Expect(k8sClient.Create(ctx, again)).To(Succeed())
	again = w.recheck(ctx, t, again)
	expectLearnedAnew(g, w, again)

	// What the new object learns is kept, across checks and a restart alike.
	w.r.Capacity.LearnBatchSize(key, 8)
	again = w.recheck(ctx, t, again)
	g.Expect(again.Status.LearnedMaxBatchSize).To(BeEquivalentTo(8))
	w.r.Capacity = capacity.New()
	again = w.recheck(ctx, t, again)
	g.Expect(again.Status.LearnedMaxBatchSize).To(BeEquivalentTo(8))
}

// TestUpgradedProviderLearnsAnew: a batch size learned from one version of the provider (a TooMany
// without a size teaches 1) is not kept once the provider shows another version: a learned size only ever
// shrinks, and an upgrade may accept more.
func TestUpgradedProviderLearnsAnew(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := learnedProvider(t, 1, time.Minute)
	vp = w.recheck(ctx, t, vp)
	g.Expect(vp.Status.LearnedMaxBatchSize).To(BeEquivalentTo(1), "kept while the version stays")

	// As the last check before the provider's upgrade recorded it.
	vp.Status.ProviderInfo.Version = "2.0"
	g.Expect(k8sClient.Status().Update(ctx, vp)).To(Succeed())
	vp = w.recheck(ctx, t, vp)
	g.Expect(vp.Status.ProviderInfo.Version).To(Equal("3.0"))
	expectLearnedAnew(g, w, vp)
}

func TestVasaProviderWireFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg       smssim.Config
		mutate    func(*replicationv1alpha1.VasaProvider)
		reason    string
		stalled   bool
		inMessage string
	}{
		"JSON on a vCenter without VI/JSON": {
			cfg:    smssim.Config{Release: smssim.Release70U3},
			mutate: func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = replicationv1alpha1.BindingJSON },
			reason: replicationv1alpha1.JSONBindingUnsupportedReason, stalled: true, inMessage: "set spec.binding to SOAP",
		},
		"pinned version the vCenter refuses": {
			cfg:    smssim.Config{Release: smssim.Release70U3},
			mutate: func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.VCenter.SMSVersion = "8.0.1.0" },
			reason: replicationv1alpha1.SMSVersionUnsupportedReason, stalled: true, inMessage: "spec.vcenter.smsVersion",
		},
		"provider name in the wrong case": {
			mutate: func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Provider.Name = "Array-A" },
			reason: replicationv1alpha1.ProviderNotFoundReason, stalled: true, inMessage: `check spec.provider.name (registered: "array-a" (`,
		},
		"SMS starting after an upgrade": {
			cfg:    smssim.Config{ServiceInitializingFor: smssim.Duration{Duration: time.Minute}},
			reason: replicationv1alpha1.ServiceInitializingReason, stalled: false, inMessage: "retrying. If this lasts over 15 minutes, check the vmware-sps service",
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			w := newVPWorld(t, tc.cfg)
			vp, res := w.reconcile(t, tc.mutate)
			ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(tc.reason))
			g.Expect(ready.Message).To(ContainSubstring(tc.inMessage))
			g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(conditionStatus(tc.stalled)))
			g.Expect(vpCondition(vp, replicationv1alpha1.ReconcilingCondition).Status).To(Equal(conditionStatus(!tc.stalled)))
			if !tc.stalled {
				g.Expect(res.RequeueAfter).To(Equal(ProviderUnreachableRetryInterval))
			}
		})
	}
}

// TestVasaProviderMisconfigurationStalls: a vCenter url that answers with a redirect (a proxy or load
// balancer in front of vCenter) and a credentials Secret the manager may not read are not outages: no
// retry clears them, so the VasaProvider is Stalled with what to fix, not Reconciling for ever.
func TestVasaProviderMisconfigurationStalls(t *testing.T) {
	t.Run("redirect", func(t *testing.T) {
		g := NewWithT(t)
		w := newVPWorld(t, smssim.Config{})
		front := httptest.NewTLSServer(http.RedirectHandler(w.sim.URL(), http.StatusFound))
		t.Cleanup(front.Close)
		vp, _ := w.reconcile(t, func(vp *replicationv1alpha1.VasaProvider) {
			vp.Spec.VCenter.URL = front.URL
			vp.Spec.VCenter.TLS.Thumbprint = sms.FormatThumbprint(front.Certificate().Raw)
		})
		ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.RedirectedReason))
		g.Expect(ready.Message).To(And(ContainSubstring("HTTP 302"), ContainSubstring("spec.vcenter.url")))
		g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	})
	t.Run("Secret forbidden", func(t *testing.T) {
		g := NewWithT(t)
		w := newVPWorld(t, smssim.Config{})
		w.r.APIReader = secretsForbidden{k8sClient}
		vp, _ := w.reconcile(t, nil)
		ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.SecretNotFoundReason))
		g.Expect(ready.Message).To(And(ContainSubstring("may not read"), ContainSubstring(`"creds"`)))
		g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	})
}

// secretsForbidden reads as the manager does without RBAC on Secrets.
type secretsForbidden struct{ client.Reader }

func (r secretsForbidden) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	m, metadata := obj.(*metav1.PartialObjectMetadata)
	if _, ok := obj.(*corev1.Secret); ok || metadata && m.Kind == "Secret" {
		return apierrors.NewForbidden(corev1.Resource("secrets"), key.Name, errors.New("no RBAC policy matched"))
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func TestVasaProviderCABundleNotPEM(t *testing.T) {
	g := NewWithT(t)
	w := newVPWorld(t, smssim.Config{})
	g.Expect(k8sClient.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "vc-ca"},
		StringData: map[string]string{"bundle.der": "this is not PEM"},
	})).To(Succeed())
	vp, _ := w.reconcile(t, func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.VCenter.TLS.Thumbprint = ""
		vp.Spec.VCenter.TLS.CABundleSecretRef = &replicationv1alpha1.SecretKeySelector{Name: "vc-ca", Key: "bundle.der"}
	})
	ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCABundleReason))
	g.Expect(ready.Message).To(And(ContainSubstring(`"vc-ca"`), ContainSubstring(`"bundle.der"`), ContainSubstring("PEM")))
	g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(w.sim.LoginAttempts()).To(BeZero(), "nothing is dialed with an unusable CA bundle")
}

func TestVasaProviderInsecureIsVisible(t *testing.T) {
	g := NewWithT(t)
	w := newVPWorld(t, smssim.Config{})
	vp, _ := w.reconcile(t, func(vp *replicationv1alpha1.VasaProvider) {
		vp.Spec.VCenter.TLS = replicationv1alpha1.TLSSpec{InsecureSkipVerify: true}
	})
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	g.Expect(vp.Status.TLSVerification).To(Equal(replicationv1alpha1.TLSVerificationDisabled))
	g.Expect(testutil.ToFloat64(metrics.ProviderInsecureTLS.WithLabelValues(w.ns, "array"))).To(Equal(1.0))
	g.Expect(w.recorder.Events).To(Receive(And(HavePrefix("Warning "+InsecureTLSEventReason), ContainSubstring("insecureSkipVerify"))))

	// A second reconcile of the same generation does not repeat the event.
	_, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.recorder.Events).NotTo(Receive())
}

func TestConditionMessagesAreBounded(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("é", 2000) // 4000 bytes of two-byte runes
	var conds []metav1.Condition
	setStatusCondition(&conds, 1, replicationv1alpha1.ReadyCondition, metav1.ConditionFalse, "X", long)
	msg := conds[0].Message
	g.Expect(len(msg)).To(BeNumerically("<=", MaxConditionMessage))
	g.Expect(msg).To(HaveSuffix("..."))
	g.Expect(strings.ToValidUTF8(msg, "?")).To(Equal(msg), "cut on a rune boundary")
	g.Expect(boundMessage("short")).To(Equal("short"))
}

func TestMessagesNeverCarryUserinfo(t *testing.T) {
	g := NewWithT(t)
	vp := newProvider("ns", "vp", "creds")
	vp.Spec.VCenter.URL = "https://admin:s3cret@vcenter.example.com/sdk" // stored before admission refused it
	for _, msg := range []string{providerNotFoundMessage(vp, nil), func() string { _, m := classifyConnectError(vp, context.DeadlineExceeded); return m }()} {
		g.Expect(msg).To(ContainSubstring("https://vcenter.example.com/sdk"))
		g.Expect(msg).NotTo(Or(ContainSubstring("s3cret"), ContainSubstring("admin")))
	}
}

// TestVasaProviderKeepsItsSessionWhileSMSStarts: a provider lookup answered 503 or ServiceNotInitialized
// keeps the session (the runs on it go on after SMS is up); only an unusable session is dropped.
func TestVasaProviderKeepsItsSessionWhileSMSStarts(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := connectedVPWorld(t)
	logins := w.sim.LoginAttempts()
	again := func() *replicationv1alpha1.VasaProvider { return w.recheck(ctx, t, vp) }

	w.sim.SetServiceInitializing(time.Minute)
	g.Expect(vpCondition(again(), replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ServiceInitializingReason))
	w.sim.SetServiceInitializing(0)
	g.Expect(vpCondition(again(), replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	g.Expect(w.sim.LoginAttempts()).To(Equal(logins), "the session outlived the restart of SMS")
}

// TestProviderBeingRegisteredAgainIsNotStalled: a provider registered again (a renewed certificate) is
// unlisted for a moment. Found minutes before, it is looked for again every 30 s, not Stalled and held
// for the 5-minute recheck; found again, it is Connected at its new moId. Still missing long after, it
// needs a human.
func TestProviderBeingRegisteredAgainIsNotStalled(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newVPWorld(t, smssim.Config{})
	clk := clocktesting.NewFakePassiveClock(time.Now())
	w.r.Clock = clk
	vp, _ := w.reconcile(t, nil)
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))

	array := w.sim.Provider("array-a")
	array.Unregister()
	clk.SetTime(clk.Now().Add(time.Minute))
	res, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vp)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(ProviderUnreachableRetryInterval))
	vp = w.recheck(ctx, t, vp)
	ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ProviderNotFoundReason))
	g.Expect(ready.Message).To(ContainSubstring("registered again"))
	g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(vpCondition(vp, replicationv1alpha1.ReconcilingCondition).Status).To(Equal(metav1.ConditionTrue))

	ref := array.Reregister()
	vp = w.recheck(ctx, t, vp)
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	g.Expect(vp.Status.ProviderRef.Value).To(Equal(ref))

	array.Unregister() // for good
	clk.SetTime(clk.Now().Add(providerReregisterGrace + time.Second))
	vp = w.recheck(ctx, t, vp)
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ProviderNotFoundReason))
	g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
}

// TestProviderNameEditedToAMissingOneIsStalled: a VasaProvider edited to name a provider that is not
// registered is Stalled at every check, not "being registered again" from its second check on because
// the provider of its old spec was found a moment ago.
func TestProviderNameEditedToAMissingOneIsStalled(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := connectedVPWorld(t)
	vp.Spec.Provider.Name = "array-typo"
	g.Expect(k8sClient.Update(ctx, vp)).To(Succeed())
	for check := range 3 {
		vp = w.recheck(ctx, t, vp)
		ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ProviderNotFoundReason), "check %d", check)
		g.Expect(ready.Message).NotTo(ContainSubstring("registered again"), "check %d", check)
		g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue), "check %d", check)
	}
}

// TestSecretNoLongerReadableEndsTheSession: the manager loses get on the credentials Secret (or it is
// deleted) while a session is open: the next check says so, Stalled, and the session goes with it.
func TestSecretNoLongerReadableEndsTheSession(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vp := connectedVPWorld(t)
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "creds"}, secret)).To(Succeed())
	isOpen := func() bool {
		_, open := w.r.Sessions.Cached(client.ObjectKeyFromObject(vp), sessionFingerprint(vp, secret.ResourceVersion, ""))
		return open
	}
	g.Expect(isOpen()).To(BeTrue())

	w.r.APIReader = secretsForbidden{k8sClient}
	vp = w.recheck(ctx, t, vp)
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.SecretNotFoundReason))
	g.Expect(vpCondition(vp, replicationv1alpha1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(isOpen()).To(BeFalse(), "the session went")
	g.Expect(w.sim.LoginAttempts()).To(Equal(1))
}
