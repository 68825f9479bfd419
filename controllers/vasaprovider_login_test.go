package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// vcenterPassword is the password the simulators of these tests take.
const vcenterPassword = "the-right-one"

// loginWorld is a simulator taking vcenterPassword whose provider array-a holds group fd-1/dg-1, with
// Secret "creds" holding secretPassword.
func loginWorld(t *testing.T, secretPassword string) *vpWorld {
	t.Helper()
	w := newVPWorld(t, smssim.Config{Password: vcenterPassword, Providers: []smssim.ProviderConfig{{
		Name: "array-a", Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}},
	}}})
	setPassword(t, w.ns, secretPassword)
	return w
}

// connectedLoginWorld is loginWorld with the right password and its VasaProvider checked once: Ready,
// with a session open. It returns the VasaProvider's key.
func connectedLoginWorld(t *testing.T) (*vpWorld, client.ObjectKey) {
	t.Helper()
	w := loginWorld(t, vcenterPassword)
	vpKey := w.create(t, w.simProvider())
	_, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: vpKey})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return w, vpKey
}

// create stores vp, whose session the test's end forgets, and returns its key.
func (w *vpWorld) create(t *testing.T, vp *replicationv1alpha1.VasaProvider) client.ObjectKey {
	t.Helper()
	NewWithT(t).Expect(k8sClient.Create(context.Background(), vp)).To(Succeed())
	key := client.ObjectKeyFromObject(vp)
	t.Cleanup(func() { w.r.Sessions.Forget(key) })
	return key
}

// syncReconciler is a ReplicationSyncReconciler sharing w's sessions.
func (w *vpWorld) syncReconciler(checks chan<- event.GenericEvent) *ReplicationSyncReconciler {
	return &ReplicationSyncReconciler{Client: k8sClient, APIReader: k8sClient, Sessions: w.r.Sessions,
		Capacity: w.r.Capacity, Recorder: recorderFunc(func(string, string) {}), ProviderEvents: checks}
}

// oneGroupSync is ReplicationSync name of namespace ns syncing group fd-1/dg-1 of provider to pitName.
func oneGroupSync(ns, name, provider, pitName string) *replicationv1alpha1.ReplicationSync {
	return &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider},
			PitName:     pitName,
			GroupIDs: []replicationv1alpha1.ReplicationGroupID{{
				FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"},
				DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-1"},
			}},
		},
	}
}

// TestDeletedVasaProviderLogsInNoMore: a run or discovery that read its VasaProvider before it was deleted
// asks for its session after the deletion was reconciled: it gets none (nothing would ever log it out).
// A VasaProvider created again under the name connects.
func TestDeletedVasaProviderLogsInNoMore(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vpKey := connectedLoginWorld(t)
	read := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, vpKey, read)).To(Succeed())
	g.Expect(k8sClient.Delete(ctx, read)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, vpKey, &replicationv1alpha1.VasaProvider{}))
	}).Should(BeTrue())
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = providerClient(ctx, k8sClient, k8sClient, w.r.Sessions, nil, read)
	g.Expect(err).To(MatchError(session.ErrForgotten))

	w.create(t, w.simProvider())
	vp := w.recheck(ctx, t, read)
	g.Expect(vpCondition(vp, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
}

// TestWrongPasswordIsTriedOnce: a Secret with a password vCenter refuses costs one failed login, however
// many reconciles need the session within the hold (vCenter locks the account after a few): runs that
// still see the VasaProvider Ready and the VasaProvider's own checks alike; the fixed Secret logs in at
// once.
func TestWrongPasswordIsTriedOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vpKey := connectedLoginWorld(t)
	rr := w.syncReconciler(nil)

	// The password in the Secret is changed to a wrong one: runs, which still see the provider Ready,
	// need a session for the new Secret.
	setPassword(t, w.ns, "a-typo")
	var runs []*replicationv1alpha1.ReplicationSync
	for i := range 3 {
		rs := oneGroupSync(w.ns, fmt.Sprintf("run-%d", i), vpKey.Name, "typo-check")
		g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		runs = append(runs, rs)
		for range 2 {
			_, _ = rr.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)})
		}
	}
	g.Expect(w.sim.FailedLogins()).To(Equal(1))
	for _, rs := range runs {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
		g.Expect(rs.Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("rejected the login"))), "run %s met the refused login", rs.Name)
	}
	_, _ = w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
	g.Expect(w.sim.FailedLogins()).To(Equal(1))
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
	g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))

	setPassword(t, w.ns, vcenterPassword)
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
	g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(w.sim.FailedLogins()).To(Equal(1))
}

// arraysOnOneSecret is a world of five arrays behind one vCenter whose VasaProviders share its Secret.
func arraysOnOneSecret(t *testing.T) (*vpWorld, []client.ObjectKey) {
	t.Helper()
	var providers []smssim.ProviderConfig
	for i := range 5 {
		providers = append(providers, smssim.ProviderConfig{Name: fmt.Sprintf("array-%d", i)})
	}
	w := newVPWorld(t, smssim.Config{Password: vcenterPassword, Providers: providers})
	var keys []client.ObjectKey
	for i := range providers {
		vp := w.simProvider()
		vp.Name, vp.Spec.Provider.Name = providers[i].Name, providers[i].Name
		keys = append(keys, w.create(t, vp))
	}
	return w, keys
}

// checkAtOnceRefusedOnce checks the VasaProviders at once (as a Secret's watch wakes them all) and expects
// one refused login between them, each saying the login was refused.
func (w *vpWorld) checkAtOnceRefusedOnce(t *testing.T, keys []client.ObjectKey) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() { _, _ = w.r.Reconcile(ctx, ctrl.Request{NamespacedName: key}) })
	}
	wg.Wait()
	g.Expect(w.sim.FailedLogins()).To(Equal(1))
	for _, key := range keys {
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
		g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason), key.Name)
	}
}

// TestVasaProvidersSharingASecretFailOneLogin: five arrays behind one vCenter, their VasaProviders on
// one Secret, checked at once after a wrong password is put in it (the Secret's watch wakes them all):
// one failed login, not five (vCenter locks the account after five), and each says the login was refused.
func TestVasaProvidersSharingASecretFailOneLogin(t *testing.T) {
	w, keys := arraysOnOneSecret(t)
	setPassword(t, w.ns, "a-typo")
	w.checkAtOnceRefusedOnce(t, keys)
}

// TestSessionsEndedAtOnceReLogInOnceWithAChangedPassword: five VasaProviders on one Secret, connected; the
// password is changed in vCenter, which then ends every session (a restart in a failover). Their clients'
// own re-logins take the account's turn: one refused login, not five (vCenter locks the account after
// five), and each VasaProvider says the login was refused.
func TestSessionsEndedAtOnceReLogInOnceWithAChangedPassword(t *testing.T) {
	w, keys := arraysOnOneSecret(t)
	for _, key := range keys {
		_, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
	}
	w.sim.SetPassword("changed-in-vcenter")
	w.sim.ExpireSessions()
	w.checkAtOnceRefusedOnce(t, keys)
}

// TestManyWrongPasswordsForOneAccountDoNotLockIt: VasaProviders (of any namespaces) naming one vCenter user
// with five different wrong passwords make three refused logins between them, not five (vCenter locks
// the account after five within three minutes), whether their URLs name the vCenter by address or by
// name; the others say why they did not try.
func TestManyWrongPasswordsForOneAccountDoNotLockIt(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newVPWorld(t, smssim.Config{Password: vcenterPassword})
	var held []string
	for i := range 5 {
		secret := fmt.Sprintf("creds-%d", i)
		g.Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: secret},
			StringData: map[string]string{secretUsernameKey: w.sim.Username(), secretPasswordKey: fmt.Sprintf("wrong-%d", i)},
		})).To(Succeed())
		vp := w.simProvider()
		vp.Name, vp.Spec.VCenter.CredentialsSecretRef.Name = fmt.Sprintf("array-%d", i), secret
		if i%2 == 1 {
			g.Expect(vp.Spec.VCenter.URL).To(ContainSubstring("127.0.0.1"))
			vp.Spec.VCenter.URL = strings.Replace(vp.Spec.VCenter.URL, "127.0.0.1", "localhost", 1)
		}
		key := w.create(t, vp)
		_, _ = w.r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
		ready := vpCondition(got, replicationv1alpha1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason), key.Name)
		if strings.Contains(ready.Message, "This VasaProvider's password was not tried") {
			held = append(held, key.Name)
		}
	}
	g.Expect(w.sim.FailedLogins()).To(Equal(3))
	g.Expect(held).To(Equal([]string{"array-3", "array-4"}))
}

// TestWrongPasswordsElsewhereDoNotHoldAWorkingOne: VasaProviders of another namespace naming the same
// vCenter user (spelt otherwise) with wrong passwords spend the account's refusal budget; a VasaProvider
// whose password vCenter accepted logs in anew all the same (its session renewed after --session-max-age),
// while a new wrong password waits, says that it was not tried and names no one else's Secret, and is
// checked again soon.
func TestWrongPasswordsElsewhereDoNotHoldAWorkingOne(t *testing.T) {
	g := NewWithT(t)
	w, good := connectedLoginWorld(t)
	other := newNamespace(t, g, k8sClient, "vp-other-")
	check := func(key client.ObjectKey) (metav1.Condition, ctrl.Result) { return w.check(t, key) }
	wrong := func(i int, password string) client.ObjectKey { return w.elsewhere(t, other.Name, i, password) }
	for i := range 3 {
		ready, _ := check(wrong(i, fmt.Sprintf("wrong-%d\n", i)))
		g.Expect(ready.Message).To(ContainSubstring("rejected the login"))
	}
	g.Expect(w.sim.FailedLogins()).To(Equal(3))

	w.r.Sessions.Drop(good, time.Time{}) // as after --session-max-age
	ready, _ := check(good)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ConnectedReason))

	ready, res := check(wrong(3, "wrong-3"))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
	g.Expect(ready.Message).To(And(ContainSubstring("This VasaProvider's password was not tried"), ContainSubstring(`Secret "creds-3"`)))
	g.Expect(ready.Message).NotTo(Or(ContainSubstring("white space"), ContainSubstring("creds-0"), ContainSubstring(w.sim.Username())))
	g.Expect(res.RequeueAfter).To(Equal(ProviderUnreachableRetryInterval))
	g.Expect(w.sim.FailedLogins()).To(Equal(3), "held: not tried")
}

// check reconciles the VasaProvider of key once and returns its Ready condition and the result.
func (w *vpWorld) check(t *testing.T, key client.ObjectKey) (metav1.Condition, ctrl.Result) {
	t.Helper()
	g := NewWithT(t)
	res, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(context.Background(), key, got)).To(Succeed())
	return vpCondition(got, replicationv1alpha1.ReadyCondition), res
}

// elsewhere creates VasaProvider array-<i> of namespace ns for w's simulator, logging in as w's user
// (spelt otherwise) with password from its own Secret creds-<i>, and returns its key.
func (w *vpWorld) elsewhere(t *testing.T, ns string, i int, password string) client.ObjectKey {
	t.Helper()
	secret := fmt.Sprintf("creds-%d", i)
	NewWithT(t).Expect(k8sClient.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret},
		StringData: map[string]string{secretUsernameKey: strings.ToUpper(w.sim.Username()), secretPasswordKey: password},
	})).To(Succeed())
	vp := w.simProvider()
	vp.Namespace, vp.Name, vp.Spec.VCenter.CredentialsSecretRef.Name = ns, fmt.Sprintf("array-%d", i), secret
	return w.create(t, vp)
}

// TestHeldReLoginIsCheckedAgainSoon: the password was rotated in vCenter and another VasaProvider logged
// in with the new one; others' wrong passwords spent the account's refusal budget. vCenter then ends the
// old session: its re-login is held, not tried, and the VasaProvider's check says so and looks again
// within ProviderUnreachableRetryInterval, as the hold ends within minutes.
func TestHeldReLoginIsCheckedAgainSoon(t *testing.T) {
	g := NewWithT(t)
	w, old := connectedLoginWorld(t)
	other := newNamespace(t, g, k8sClient, "vp-held-")
	w.sim.SetPassword("rotated")
	ready, _ := w.check(t, w.elsewhere(t, other.Name, 0, "rotated"))
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ConnectedReason))
	for i := 1; i <= 3; i++ {
		ready, _ := w.check(t, w.elsewhere(t, other.Name, i, fmt.Sprintf("wrong-%d", i)))
		g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
	}
	g.Expect(w.sim.FailedLogins()).To(Equal(3))

	w.sim.ExpireSessions()
	ready, res := w.check(t, old)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
	g.Expect(ready.Message).To(ContainSubstring("not tried"))
	g.Expect(res.RequeueAfter).To(Equal(ProviderUnreachableRetryInterval))
	g.Expect(w.sim.FailedLogins()).To(Equal(3), "held: not tried")
}

// TestRefusedReLoginRechecksTheProvider: a run whose session's re-login vCenter refuses (the password
// was rotated in vCenter only) has the VasaProvider checked at once, rather than shown Connected until
// its next check, minutes away.
func TestRefusedReLoginRechecksTheProvider(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vpKey := connectedLoginWorld(t)

	checks := make(chan event.GenericEvent, 1)
	rr := w.syncReconciler(checks)
	rs := oneGroupSync(w.ns, "run", vpKey.Name, "rotated")
	g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	w.sim.SetPassword("set-in-vcenter-only")
	w.sim.ExpireSessions()
	_, _ = rr.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)})
	g.Expect(w.sim.FailedLogins()).To(Equal(1), "the run's call met the refused re-login")
	g.Expect(checks).To(HaveLen(1), "the VasaProvider is checked again")
}

// TestPasswordChangedInVCenterShowsWithinSessionMaxAge: vCenter keeps a session whose password was changed
// (or expired) there, and rechecks keep it in use; the first check after SessionMaxAge logs in anew, so
// the change shows as InvalidCredentials then, not when vCenter next ends the session. A session younger
// than that serves on, and one renewed with a right password stays Connected.
func TestPasswordChangedInVCenterShowsWithinSessionMaxAge(t *testing.T) {
	for _, b := range []replicationv1alpha1.Binding{replicationv1alpha1.BindingSOAP, replicationv1alpha1.BindingJSON} {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			clk := clocktesting.NewFakePassiveClock(time.Now())
			w := loginWorld(t, vcenterPassword)
			w.r.Clock, w.r.SessionMaxAge, w.r.Sessions = clk, time.Hour, session.NewWithClock(clk.Now)
			vp := w.simProvider()
			vp.Spec.Binding = b
			vpKey := w.create(t, vp)
			check := func(after time.Duration) metav1.Condition {
				clk.SetTime(clk.Now().Add(after))
				_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
				g.Expect(err).NotTo(HaveOccurred())
				got := &replicationv1alpha1.VasaProvider{}
				g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
				return vpCondition(got, replicationv1alpha1.ReadyCondition)
			}
			g.Expect(check(0).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
			logins := w.sim.LoginAttempts()

			g.Expect(check(61 * time.Minute).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
			g.Expect(w.sim.LoginAttempts()).To(Equal(logins+1), "the session older than an hour is renewed")

			w.sim.SetPassword("changed-in-vcenter")
			g.Expect(check(59*time.Minute).Reason).To(Equal(replicationv1alpha1.ConnectedReason), "the session serves on")
			g.Expect(w.sim.LoginAttempts()).To(Equal(logins + 1))
			ready := check(2 * time.Minute)
			g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
			g.Expect(ready.Message).To(ContainSubstring("the account in vCenter"))
			g.Expect(w.sim.FailedLogins()).To(Equal(1))
		})
	}
}

// renewingSessions hands a run, once armed, its session just as the VasaProvider's check renewed it:
// logged out, and no longer the cached one.
type renewingSessions struct {
	Sessions
	renewNext atomic.Bool
}

func (s *renewingSessions) Cached(key client.ObjectKey, fingerprint string) (sms.Client, bool) {
	cl, ok := s.Sessions.Cached(key, fingerprint)
	if ok && s.renewNext.CompareAndSwap(true, false) {
		s.Drop(key, time.Time{})
		_ = cl.Close(context.Background()) // at once, not as the cache does it, in the background
	}
	return cl, ok
}

// TestSessionRenewedUnderARunIsNoFault: a run whose session is logged out between its lookup and its
// calls (the VasaProvider's check renewed it) sent nothing: it records no fault, does not back off,
// and goes on with the new session; its group is synced by one call.
func TestSessionRenewedUnderARunIsNoFault(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vpKey := connectedLoginWorld(t)
	rr := w.syncReconciler(nil)
	renewing := &renewingSessions{Sessions: w.r.Sessions}
	rr.Sessions = renewing
	rs := oneGroupSync(w.ns, "run", vpKey.Name, "renewed")
	g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	key := client.ObjectKeyFromObject(rs)

	logins := w.sim.LoginAttempts()
	for range 20 {
		renewing.renewNext.Store(true)
		_, err := rr.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8sClient.Get(ctx, key, rs)).To(Succeed())
		g.Expect(rs.Status.Retry).To(Or(BeNil(), HaveField("LastFault", BeNil())), "no fault, no backoff")
		if rs.Status.Phase == replicationv1alpha1.SyncSucceeded {
			break
		}
	}
	g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	g.Expect(w.sim.LoginAttempts()).To(BeNumerically(">", logins), "the run took new sessions")
	g.Expect(w.sim.CallCounts("renewed")).To(And(HaveLen(1), HaveEach(1)), "one call")
}

// TestSpecEditKeepsTheSession: editing what the session does not depend on (maxConcurrentTasks) keeps
// the session the runs use; editing the vCenter part (the binding) opens a new one.
func TestSpecEditKeepsTheSession(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := loginWorld(t, vcenterPassword)
	vpKey := w.create(t, w.simProvider())
	edit := func(mutate func(*replicationv1alpha1.VasaProvider)) {
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
		mutate(got)
		g.Expect(k8sClient.Update(ctx, got)).To(Succeed())
		_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
		g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
	g.Expect(err).NotTo(HaveOccurred())
	logins := w.sim.LoginAttempts()

	edit(func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.MaxConcurrentTasks = 7 })
	g.Expect(w.sim.LoginAttempts()).To(Equal(logins), "same session")

	edit(func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.Binding = replicationv1alpha1.BindingJSON })
	g.Expect(w.sim.LoginAttempts()).To(BeNumerically(">", logins), "a new session for another binding")
}

// TestChecksReadSecretValuesOnlyToBuildASession: a VasaProvider whose session is open and whose Secret
// did not change is checked without reading the password again; a changed Secret is read once.
func TestChecksReadSecretValuesOnlyToBuildASession(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w, vpKey := connectedLoginWorld(t)
	reads := &secretValueReads{Reader: k8sClient}
	w.r.APIReader = reads
	for range 2 {
		_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(reads.n.Load()).To(BeZero(), "the open session's Secret did not change")

	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "creds"}, secret)).To(Succeed())
	secret.Labels = map[string]string{"rotated": "yes"} // a new resourceVersion
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reads.n.Load()).To(BeEquivalentTo(1))
}

// secretValueReads counts the reads of Secrets (their values) through it.
type secretValueReads struct {
	client.Reader
	n atomic.Int32
}

func (r *secretValueReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		r.n.Add(1)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestUnansweredCheckKeepsTheSession: a provider check vCenter does not answer (the connection dropped)
// leaves the session the runs share open: the next check goes on with it, without a new login.
func TestUnansweredCheckKeepsTheSession(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := loginWorld(t, vcenterPassword)
	proxy, err := faultproxy.Start(faultproxy.Options{Target: w.sim.URL(), TargetCA: w.sim.CACertPEM()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	vp := w.simProvider()
	vp.Spec.VCenter.URL = proxy.URL()
	vp.Spec.VCenter.TLS.Thumbprint = sms.FormatThumbprint(proxy.CertificateDER())
	vpKey := w.create(t, vp)
	check := func() metav1.Condition {
		_, _ = w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
		return vpCondition(got, replicationv1alpha1.ReadyCondition)
	}
	g.Expect(check().Status).To(Equal(metav1.ConditionTrue))
	logins := w.sim.LoginAttempts()

	g.Expect(proxy.AddRule(faultproxy.Rule{Method: "QueryProvider", Action: faultproxy.Drop, Times: 1})).To(Succeed())
	g.Expect(check().Reason).To(Equal(replicationv1alpha1.UnreachableReason))
	g.Expect(check().Status).To(Equal(metav1.ConditionTrue))
	g.Expect(w.sim.LoginAttempts()).To(Equal(logins), "the session stayed open")
}

// noPermissionClient answers the provider lookup with NoPermission, as vCenter does to a user without
// the privilege.
type noPermissionClient struct{ *smsfake.Fake }

func (noPermissionClient) FindProvider(context.Context, string, string) (sms.ProviderInfo, error) {
	return sms.ProviderInfo{}, &sms.OtherFaultError{Type: "NoPermission", Message: "Permission to perform this operation was denied."}
}

// TestMissingPrivilegeStalls: a user that may log in but lacks the privilege SMS needs is no outage
// to wait out: the VasaProvider is Stalled with reason VCenterFault, saying which privilege to grant.
// Each check logs in anew, since vCenter may grant a privilege given since only to a new login.
func TestMissingPrivilegeStalls(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newVPWorld(t, smssim.Config{})
	var dials int
	w.r.Dial = func(context.Context, sms.Config) (sms.Client, error) {
		dials++
		return noPermissionClient{smsfake.New()}, nil
	}
	vpKey := w.create(t, w.simProvider())
	for range 2 {
		_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: vpKey})
		g.Expect(err).NotTo(HaveOccurred())
	}
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, vpKey, got)).To(Succeed())
	ready := vpCondition(got, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.VCenterFaultReason))
	g.Expect(ready.Message).To(And(ContainSubstring("NoPermission"), ContainSubstring("StorageViews.ConfigureService")))
	g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeTrue())
	g.Expect(dials).To(Equal(2), "a new login for each check")
}

// TestOtherProvidersFaultsAreNoLastingFault: a lookup that did not find the provider among those it
// could read carries the faults of the others (one being registered again): that passes, and is
// retried as Unreachable, not Stalled as the user's own missing privilege is.
func TestOtherProvidersFaultsAreNoLastingFault(t *testing.T) {
	g := NewWithT(t)
	vp := newProvider("ns", "array", "creds")
	own := &sms.OtherFaultError{Type: "NoPermission", Message: "Permission to perform this operation was denied."}
	unread := fmt.Errorf("provider with name %q is not among the vasa providers whose info could be read; 1 %w: %w",
		"array-a", sms.ErrProviderInfoUnread, errors.Join(own))
	reason, _ := classifyConnectError(vp, unread)
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason))
	g.Expect(keepSession(context.Background(), unread)).To(BeTrue())
	reason, msg := classifyConnectError(vp, own)
	g.Expect(reason).To(Equal(replicationv1alpha1.VCenterFaultReason))
	g.Expect(msg).To(ContainSubstring("StorageViews.ConfigureService"))
	g.Expect(keepSession(context.Background(), own)).To(BeFalse())
}
