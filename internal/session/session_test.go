package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

type fakeClient struct {
	sms.Client
	closed atomic.Bool
}

func (f *fakeClient) Close(context.Context) error { f.closed.Store(true); return nil }

var key = types.NamespacedName{Namespace: "ns", Name: "array-a"}

// cacheAt returns an empty cache whose clock reads *now.
func cacheAt(now *time.Time) *Cache { return NewWithClock(func() time.Time { return *now }) }

// login is a login of fingerprint by one account.
func login(fingerprint string) Login {
	return Login{Fingerprint: fingerprint, Account: "svc@vc-1", Credential: "password-1"}
}

func TestClientReusedUntilFingerprintChanges(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) { dials.Add(1); return &fakeClient{}, nil }

	a, err := c.Client(context.Background(), key, login("gen1/rv1"), dial)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := c.Client(context.Background(), key, login("gen1/rv1"), dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b).To(BeIdenticalTo(a))
	g.Expect(dials.Load()).To(BeEquivalentTo(1))

	cl, ok := c.Cached(key, "gen1/rv1")
	g.Expect(ok).To(BeTrue())
	g.Expect(cl).To(BeIdenticalTo(a))
	_, ok = c.Cached(key, "gen2/rv1")
	g.Expect(ok).To(BeFalse())

	d, err := c.Client(context.Background(), key, login("gen1/rv2"), dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d).NotTo(BeIdenticalTo(a))
	g.Expect(dials.Load()).To(BeEquivalentTo(2))
	g.Eventually(a.(*fakeClient).closed.Load).Should(BeTrue(), "the replaced session is logged out")

	g.Expect(c.Drop(key, time.Time{})).To(BeTrue(), "any age")
	g.Eventually(d.(*fakeClient).closed.Load).Should(BeTrue())
	_, err = c.Client(context.Background(), key, login("gen1/rv2"), dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dials.Load()).To(BeEquivalentTo(3))
}

func TestClientDialErrorNotCached(t *testing.T) {
	g := NewWithT(t)
	c := New()
	boom := errors.New("boom")
	_, err := c.Client(context.Background(), key, login("x"), func(context.Context) (sms.Client, error) { return nil, boom })
	g.Expect(err).To(MatchError(boom))
	_, ok := c.Cached(key, "x")
	g.Expect(ok).To(BeFalse())
}

// TestRefusedLoginIsHeld: a login vCenter refused is not tried again for the same account until
// RefusedLoginHold passed (vCenter locks an account after a few failures); a changed password (another
// account) dials at once.
func TestRefusedLoginIsHeld(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	refused := &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
	var dials atomic.Int32
	answer := error(refused)
	dial := func(context.Context) (sms.Client, error) {
		dials.Add(1)
		if answer != nil {
			return nil, answer
		}
		return &fakeClient{}, nil
	}
	for range 5 {
		_, err := c.Client(context.Background(), key, login("creds=1"), dial)
		g.Expect(err).To(MatchError(refused))
	}
	g.Expect(dials.Load()).To(BeEquivalentTo(1), "one login per hold, whoever asks")
	now = now.Add(RefusedLoginHold)
	_, err := c.Client(context.Background(), key, login("creds=1"), dial)
	g.Expect(err).To(MatchError(refused))
	g.Expect(dials.Load()).To(BeEquivalentTo(2), "tried again after the hold")

	_, err = c.Client(context.Background(), key, login("creds=2"), dial)
	g.Expect(err).To(MatchError(refused), "a Secret changed without changing the password is held")
	g.Expect(dials.Load()).To(BeEquivalentTo(2))

	answer = nil
	_, err = c.Client(context.Background(), key, Login{Fingerprint: "creds=3", Account: "svc@vc-1", Credential: "password-2"}, dial)
	g.Expect(err).NotTo(HaveOccurred(), "a changed password dials at once")
	g.Expect(dials.Load()).To(BeEquivalentTo(3))
}

// TestConcurrentCallersShareOneDial: callers that arrive while a login is in flight wait for it and get
// its session; none dials a second one.
func TestConcurrentCallersShareOneDial(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var dials, started atomic.Int32
	release := make(chan struct{})
	dial := func(context.Context) (sms.Client, error) {
		dials.Add(1)
		<-release // the login takes its time: every other caller arrives meanwhile
		return &fakeClient{}, nil
	}
	var wg sync.WaitGroup
	got := make([]sms.Client, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			got[i], _ = c.Client(context.Background(), key, login("fp"), dial)
		}()
	}
	g.Eventually(started.Load).Should(BeEquivalentTo(len(got)))
	g.Consistently(dials.Load).WithTimeout(200 * time.Millisecond).Should(BeEquivalentTo(1))
	close(release)
	wg.Wait()
	g.Expect(dials.Load()).To(BeEquivalentTo(1))
	for _, cl := range got {
		g.Expect(cl).To(BeIdenticalTo(got[0]))
	}
}

// TestCloseAllLogsEverySessionOut: at exit every open session is logged out, and the cache is empty.
func TestCloseAllLogsEverySessionOut(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var opened []*fakeClient
	for _, name := range []string{"array-a", "array-b"} {
		cl, err := c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, login("gen1"),
			func(context.Context) (sms.Client, error) { return &fakeClient{}, nil })
		g.Expect(err).NotTo(HaveOccurred())
		opened = append(opened, cl.(*fakeClient))
	}
	c.CloseAll(context.Background())
	for _, cl := range opened {
		g.Expect(cl.closed.Load()).To(BeTrue())
	}
	_, ok := c.Cached(key, "gen1")
	g.Expect(ok).To(BeFalse())
}

// TestForgottenWhileDialing: a session that finishes opening after its key was forgotten (the
// VasaProvider was deleted meanwhile) is logged out, not kept where nothing would ever close it.
func TestForgottenWhileDialing(t *testing.T) {
	g := NewWithT(t)
	c := New()
	opened := &fakeClient{}
	release := make(chan struct{})
	dialing := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := c.Client(context.Background(), key, login("fp"), func(context.Context) (sms.Client, error) {
			close(dialing)
			<-release
			return opened, nil
		})
		done <- err
	}()
	<-dialing
	c.Forget(key)
	close(release)
	g.Expect(<-done).To(MatchError(ErrForgotten))
	g.Eventually(opened.closed.Load).Should(BeTrue())
	c.CloseAll(context.Background())
}

// TestForgottenKeyIsNotOpenedAgain: a run that read its VasaProvider before it was deleted reaches Client
// after Forget: it gets no session, which nothing would ever log out. A VasaProvider created again under
// the name logs in once its check reopened the key.
func TestForgottenKeyIsNotOpenedAgain(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) { dials.Add(1); return &fakeClient{}, nil }
	first, err := c.Client(context.Background(), key, login("fp"), dial)
	g.Expect(err).NotTo(HaveOccurred())

	c.Forget(key)
	g.Eventually(first.(*fakeClient).closed.Load).Should(BeTrue())
	_, err = c.Client(context.Background(), key, login("fp"), dial)
	g.Expect(err).To(MatchError(ErrForgotten))
	g.Expect(dials.Load()).To(BeEquivalentTo(1), "no login for a deleted VasaProvider")
	_, ok := c.Cached(key, "fp")
	g.Expect(ok).To(BeFalse())

	c.Reopen(key)
	_, err = c.Client(context.Background(), key, login("fp"), dial)
	g.Expect(err).NotTo(HaveOccurred(), "a VasaProvider created again under the name")
	g.Expect(dials.Load()).To(BeEquivalentTo(2))

	// The names of deleted VasaProviders are not kept for ever.
	c.Forget(key)
	now = now.Add(forgottenHold)
	c.Forget(types.NamespacedName{Namespace: "ns", Name: "array-b"})
	g.Expect(c.forgotten).To(HaveLen(1))
	c.CloseAll(context.Background())
}

// TestIdleAccountsAreDropped: an account is kept while a login of it is refused and held, not after,
// nor for one whose login went well: VasaProviders and Secrets come and go, and so do their accounts.
func TestIdleAccountsAreDropped(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	refused := &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
	ok := func(context.Context) (sms.Client, error) { return &fakeClient{}, nil }
	_, err := c.Client(context.Background(), key, login("fp"), func(context.Context) (sms.Client, error) { return nil, refused })
	g.Expect(err).To(MatchError(refused))
	_, err = c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: "array-b"},
		Login{Fingerprint: "fp", Account: "svc@vc-2", Credential: "password-1"}, ok)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.accounts).To(HaveLen(1), "the refusal is held")
	g.Expect(c.accounts).To(HaveKey("svc@vc-1"))

	now = now.Add(RefusedLoginHold)
	_, err = c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: "array-c"},
		Login{Fingerprint: "fp", Account: "svc@vc-3", Credential: "password-1"}, ok)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.accounts).To(HaveKey("svc@vc-1"), "its refusal still counts toward the budget")

	now = now.Add(refusalWindow)
	_, err = c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: "array-d"},
		Login{Fingerprint: "fp", Account: "svc@vc-4", Credential: "password-1"}, ok)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.accounts).To(BeEmpty())
	c.CloseAll(context.Background())
}

// TestPruningKeepsTheRefusalBudget: an account whose refusals are still within refusalWindow is kept
// when another account's login prunes idle ones, so that wrong passwords get refusalBudget refusals in
// the window in all, not a fresh budget after the drop.
func TestPruningKeepsTheRefusalBudget(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var refusals atomic.Int32
	refuse := func(context.Context) (sms.Client, error) {
		refusals.Add(1)
		return nil, &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
	}
	try := func(i int) {
		k := types.NamespacedName{Namespace: fmt.Sprintf("tenant-%d", i), Name: "array"}
		_, _ = c.Client(context.Background(), k, Login{Fingerprint: "x", Account: "svc@vc-1", Credential: fmt.Sprintf("wrong-%d", i)}, refuse)
		now = now.Add(time.Second)
	}
	try(0)
	try(1)
	now = now.Add(RefusedLoginHold) // the holds end; the refusals stay within the window
	_, err := c.Client(context.Background(), types.NamespacedName{Namespace: "ops", Name: "array"},
		Login{Fingerprint: "x", Account: "ops@vc-2", Credential: "right"}, func(context.Context) (sms.Client, error) { return &fakeClient{}, nil })
	g.Expect(err).NotTo(HaveOccurred())
	for i := 2; i < 5; i++ {
		try(i)
	}
	g.Expect(refusals.Load()).To(BeEquivalentTo(refusalBudget), "five tries within %s", refusalWindow)
	c.CloseAll(context.Background())
}

// unreachable is what a login to a vCenter that does not answer ends with.
var unreachable = &sms.UnreachableError{URL: "https://vc-1.example.com/sdk", Err: errors.New("dial tcp: i/o timeout")}

// unansweredLogin returns a dial that counts its calls in dials and ends with unreachable once release is
// closed: the login times out while other callers queue behind it.
func unansweredLogin() (dial Dialer, dials *atomic.Int32, release chan struct{}) {
	dials, release = &atomic.Int32{}, make(chan struct{})
	return func(context.Context) (sms.Client, error) {
		dials.Add(1)
		<-release
		return nil, unreachable
	}, dials, release
}

// TestFailedDialIsShared: callers that arrive while a login is in flight share its failure too (a
// vCenter that does not answer costs one login timeout, not one per queued caller), and a caller whose
// context ends stops waiting at once.
func TestFailedDialIsShared(t *testing.T) {
	g := NewWithT(t)
	c := New()
	dial, dials, release := unansweredLogin()
	errs := make(chan error, 10)
	for range cap(errs) {
		go func() {
			_, err := c.Client(context.Background(), key, login("fp"), dial)
			errs <- err
		}()
	}
	g.Eventually(dials.Load).Should(BeEquivalentTo(1))

	impatient, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() {
		_, err := c.Client(impatient, key, login("fp"), dial)
		gaveUp <- err
	}()
	cancel()
	g.Eventually(gaveUp).Should(Receive(MatchError(context.Canceled)), "a waiter's context ends its wait")

	close(release)
	for range cap(errs) {
		g.Eventually(errs).Should(Receive(MatchError(unreachable)))
	}
	g.Expect(dials.Load()).To(BeEquivalentTo(1), "one login for all who waited")
}

// TestAbandonedDialIsRetried: a login whose caller gave up (its context ended) says nothing about
// vCenter; a caller that waited for it logs in itself.
func TestAbandonedDialIsRetried(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var dials atomic.Int32
	dial := func(ctx context.Context) (sms.Client, error) {
		if dials.Add(1) == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &fakeClient{}, nil
	}
	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error)
	go func() {
		_, err := c.Client(first, key, login("fp"), dial)
		firstDone <- err
	}()
	g.Eventually(dials.Load).Should(BeEquivalentTo(1))
	waiter := make(chan error)
	go func() {
		_, err := c.Client(context.Background(), key, login("fp"), dial)
		waiter <- err
	}()
	g.Consistently(waiter).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
	cancel()
	g.Eventually(firstDone).Should(Receive(MatchError(context.Canceled)))
	g.Eventually(waiter).Should(Receive(BeNil()))
	g.Expect(dials.Load()).To(BeEquivalentTo(2))
}

// TestRefusalHoldsEveryVasaProviderOfTheAccount: VasaProviders that log in with one account (five arrays
// behind one vCenter, one Secret) log in one at a time, and a refused login holds them all: a wrong
// password costs one failed login per hold, not one per VasaProvider (vCenter locks the account after
// five). Another account is not held.
func TestRefusalHoldsEveryVasaProviderOfTheAccount(t *testing.T) {
	g := NewWithT(t)
	c := New()
	refused := &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) {
		dials.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil, refused
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			vp := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("array-%d", i)}
			_, err := c.Client(context.Background(), vp, Login{Fingerprint: "creds=1", Account: "svc@vc-1", Credential: "password-1"}, dial)
			g.Expect(err).To(MatchError(refused))
		})
	}
	wg.Wait()
	g.Expect(dials.Load()).To(BeEquivalentTo(1), "one failed login for the five")

	_, err := c.Client(context.Background(), key, Login{Fingerprint: "creds=2", Account: "svc@vc-2", Credential: "password-1"}, func(context.Context) (sms.Client, error) {
		return &fakeClient{}, nil
	})
	g.Expect(err).NotTo(HaveOccurred(), "another account is not held")
}

func TestLoginOf(t *testing.T) {
	g := NewWithT(t)
	a := LoginOf("fp", "vc-1.example.com", "svc", "s3cret")
	g.Expect(a).To(Equal(LoginOf("fp", "vc-1.example.com", "svc", "s3cret")))
	g.Expect(a.Account + a.Credential).NotTo(ContainSubstring("s3cret"))
	g.Expect(LoginOf("fp", "vc-1.example.com", "svc", "s3cret2").Account).To(Equal(a.Account), "one account, whatever its password")
	g.Expect(LoginOf("fp", "vc-1.example.com", "svc", "s3cret2").Credential).NotTo(Equal(a.Credential))
	for _, other := range []Login{LoginOf("fp", "vc-2.example.com", "svc", "s3cret"), LoginOf("fp", "vc-1.example.com", "svc2", "s3cret")} {
		g.Expect(other.Account).NotTo(Equal(a.Account))
	}
}

// TestLoginThatFailsFailsTheQueuedOnes: VasaProviders of one account on a vCenter that does not answer
// wait for one login timeout, not one each in turn: a login that failed while they waited fails theirs.
// A caller that comes after it tries again.
func TestLoginThatFailsFailsTheQueuedOnes(t *testing.T) {
	g := NewWithT(t)
	c := New()
	dial, dials, release := unansweredLogin()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			vp := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("array-%d", i)}
			_, err := c.Client(context.Background(), vp, login("fp"), dial)
			g.Expect(err).To(MatchError(unreachable))
		})
	}
	g.Eventually(dials.Load).Should(BeEquivalentTo(1))
	g.Consistently(dials.Load).WithTimeout(200 * time.Millisecond).Should(BeEquivalentTo(1))
	close(release)
	wg.Wait()
	g.Expect(dials.Load()).To(BeEquivalentTo(1))
	_, err := c.Client(context.Background(), key, login("fp"), dial)
	g.Expect(err).To(MatchError(unreachable))
	g.Expect(dials.Load()).To(BeEquivalentTo(2), "a later caller logs in again")

	// A failure of one VasaProvider's own settings (its TLS pin) is not the others': they log in.
	var others atomic.Int32
	release = make(chan struct{})
	dialing := make(chan struct{})
	pinned := func(context.Context) (sms.Client, error) {
		close(dialing)
		<-release
		return nil, &sms.TLSError{Err: errors.New("thumbprint mismatch")}
	}
	go func() {
		_, _ = c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: "pinned"}, login("fp"), pinned)
	}()
	<-dialing // the others come while its login is on the way
	for i := range 2 {
		wg.Go(func() {
			vp := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("ok-%d", i)}
			_, err := c.Client(context.Background(), vp, login("fp"), func(context.Context) (sms.Client, error) {
				others.Add(1)
				return &fakeClient{}, nil
			})
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	g.Expect(others.Load()).To(BeEquivalentTo(2))
}

// TestDropTakesOnlySessionsOpenedBefore: a session opened before the time given is logged out and the
// next caller logs in anew; a younger one stays.
func TestDropTakesOnlySessionsOpenedBefore(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) { dials.Add(1); return &fakeClient{}, nil }
	a, err := c.Client(context.Background(), key, login("x"), dial)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(c.Drop(key, now)).To(BeFalse(), "opened at that time, not before")
	g.Expect(c.Drop(types.NamespacedName{Name: "none"}, now.Add(time.Hour))).To(BeFalse())
	_, ok := c.Cached(key, "x")
	g.Expect(ok).To(BeTrue())

	g.Expect(c.Drop(key, now.Add(time.Second))).To(BeTrue())
	g.Eventually(a.(*fakeClient).closed.Load).Should(BeTrue(), "the expired session is logged out")
	now = now.Add(time.Hour)
	b, err := c.Client(context.Background(), key, login("x"), dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b).NotTo(BeIdenticalTo(a))
	g.Expect(dials.Load()).To(BeEquivalentTo(2), "a new login")
	g.Expect(c.Drop(key, now.Add(-time.Minute))).To(BeFalse(), "the new session is younger")
}

// TestPanickingDialFailsItsCallerOnly: a login that panics (an answer the decoder chokes on) is an error
// for its caller, and the next caller for the key dials again instead of waiting for it forever.
func TestPanickingDialFailsItsCallerOnly(t *testing.T) {
	g := NewWithT(t)
	c := New()
	_, err := c.Client(context.Background(), key, login("x"), func(context.Context) (sms.Client, error) { panic("nil ServiceContent") })
	g.Expect(err).To(MatchError(ContainSubstring("nil ServiceContent")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := c.Client(ctx, key, login("y"), func(context.Context) (sms.Client, error) { return &fakeClient{}, nil })
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cl).NotTo(BeNil())
}

// TestAccountIsNotLockedByManyPasswords: VasaProviders of several namespaces naming one vCenter account
// with different wrong passwords get at most refusalBudget refused logins within refusalWindow between
// them (vCenter locks an account after 5 within 3 minutes by default); the account is tried again once
// the oldest refusal has left the window.
func TestAccountIsNotLockedByManyPasswords(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var dials atomic.Int32
	refuse := func(context.Context) (sms.Client, error) {
		dials.Add(1)
		return nil, &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
	}
	try := func(i int) error {
		k := types.NamespacedName{Namespace: fmt.Sprintf("tenant-%d", i), Name: "array"}
		_, err := c.Client(context.Background(), k, Login{Fingerprint: "x", Account: "svc@vc-1", Credential: fmt.Sprintf("wrong-%d", i)}, refuse)
		return err
	}
	for i := range 5 {
		err := try(i)
		var le *sms.LoginError
		if i < refusalBudget {
			g.Expect(errors.As(err, &le)).To(BeTrue(), "a refused login: %v", err)
		} else {
			g.Expect(errors.As(err, &le)).To(BeFalse(), "held, not tried, and not another's refusal: %v", err)
		}
		now = now.Add(10 * time.Second)
	}
	g.Expect(dials.Load()).To(BeEquivalentTo(refusalBudget), "the others are held")
	var held *AccountHeldError
	g.Expect(errors.As(try(5), &held)).To(BeTrue())

	now = now.Add(refusalWindow)
	g.Expect(try(6)).To(HaveOccurred())
	g.Expect(dials.Load()).To(BeEquivalentTo(refusalBudget+1), "tried again after the window")
}

// TestAcceptedPasswordIsTriedWhileTheAccountIsHeld: a password vCenter accepted for the account logs in
// while other passwords' refusals hold it, once: refused then (changed in vCenter), it is held like any.
// Another password accepted meanwhile takes its place, so one at most is tried past the budget.
func TestAcceptedPasswordIsTriedWhileTheAccountIsHeld(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var dials atomic.Int32
	valid := "good"
	dial := func(password string) Dialer {
		return func(context.Context) (sms.Client, error) {
			dials.Add(1)
			if password != valid {
				return nil, &sms.LoginError{Username: "svc", Err: errors.New("InvalidLogin")}
			}
			return &fakeClient{}, nil
		}
	}
	try := func(ns, password string) error {
		k := types.NamespacedName{Namespace: ns, Name: "array"}
		_, err := c.Client(context.Background(), k, Login{Fingerprint: password, Account: "svc@vc-1", Credential: password}, dial(password))
		return err
	}
	g.Expect(try("a", "good")).To(Succeed())
	for i := range refusalBudget {
		g.Expect(try(fmt.Sprintf("b-%d", i), fmt.Sprintf("wrong-%d", i))).To(HaveOccurred())
	}
	var held *AccountHeldError
	g.Expect(errors.As(try("b-new", "wrong-new"), &held)).To(BeTrue())
	c.Drop(types.NamespacedName{Namespace: "a", Name: "array"}, time.Time{})
	g.Expect(try("a", "good")).To(Succeed(), "accepted before: tried")
	g.Expect(dials.Load()).To(BeEquivalentTo(1 + refusalBudget + 1))

	valid = "rotated" // changed in vCenter
	c.Drop(types.NamespacedName{Namespace: "a", Name: "array"}, time.Time{})
	now = now.Add(RefusedLoginHold)
	g.Expect(try("a", "good")).To(HaveOccurred())
	g.Expect(dials.Load()).To(BeEquivalentTo(1+refusalBudget+2), "refused once")
	now = now.Add(RefusedLoginHold)
	g.Expect(errors.As(try("a", "good"), &held)).To(BeTrue(), "then held like any")
}

// TestLoginOfNamesAnAccountOnce: vSphere SSO takes a user name in any case, as DOMAIN\user or
// user@domain, and without the default domain; each spelling shares the account's refusal budget.
func TestLoginOfNamesAnAccountOnce(t *testing.T) {
	g := NewWithT(t)
	want := LoginOf("f", "vc-1", "administrator@vsphere.local", "p").Account
	for _, name := range []string{"Administrator@VSPHERE.LOCAL", `VSPHERE.LOCAL\Administrator`, " administrator@vsphere.local", "administrator"} {
		g.Expect(LoginOf("f", "vc-1", name, "p").Account).To(Equal(want), name)
	}
	g.Expect(LoginOf("f", "vc-1", "svc@vsphere.local", "p").Account).NotTo(Equal(want))
}

// TestReLoginMarksItsPasswordAcceptedAgain: vCenter refused a re-login of a working password once (its
// SSO restarting), then accepted the next. That password is tried again while other namespaces' wrong
// passwords hold the account, as it was before the refusal.
func TestReLoginMarksItsPasswordAcceptedAgain(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	c := cacheAt(&now)
	var relogin func(context.Context, func(context.Context) error) error
	try := func(ns, password string) error {
		k := types.NamespacedName{Namespace: ns, Name: "array"}
		_, err := c.Client(context.Background(), k, Login{Fingerprint: password, Account: "svc@vc-1", Credential: password},
			func(ctx context.Context) (sms.Client, error) {
				if password != "good" {
					return nil, &sms.LoginError{Err: errors.New("InvalidLogin")}
				}
				relogin = ReloginFrom(ctx)
				return &fakeClient{}, nil
			})
		return err
	}
	g.Expect(try("a", "good")).To(Succeed())
	g.Expect(relogin).NotTo(BeNil())
	refused := relogin(context.Background(), func(context.Context) error { return &sms.LoginError{Err: errors.New("InvalidLogin")} })
	g.Expect(refused).To(HaveOccurred())
	now = now.Add(RefusedLoginHold)
	g.Expect(relogin(context.Background(), func(context.Context) error { return nil })).To(Succeed())

	for i := range refusalBudget - 1 {
		g.Expect(try(fmt.Sprintf("b-%d", i), fmt.Sprintf("wrong-%d", i))).To(HaveOccurred())
	}
	var held *AccountHeldError
	g.Expect(errors.As(try("b-new", "wrong-new"), &held)).To(BeTrue(), "the budget is spent")
	c.Drop(types.NamespacedName{Namespace: "a", Name: "array"}, time.Time{})
	g.Expect(try("a", "good")).To(Succeed(), "accepted by the last re-login: tried")
}

// TestOtherNamespacesCannotStarveTheRightPassword: after a restart no password is known as accepted.
// VasaProviders of four other namespaces naming the same vCenter user try new wrong passwords whenever
// the account's budget allows, from the start; the first namespace's, with the right password, begins
// trying ten minutes later. Its password is still tried within a window, and the account never sees
// more refusals than its budget in a window.
func TestOtherNamespacesCannotStarveTheRightPassword(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(0, 0)
	c := cacheAt(&now)
	dr := types.NamespacedName{Namespace: "dr", Name: "array"}
	var others []types.NamespacedName
	for _, ns := range []string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"} {
		others = append(others, types.NamespacedName{Namespace: ns, Name: "array"})
	}
	const joins = 600
	const account = "vc\x00svc-dr@vsphere.local"
	var refusals []time.Time
	refuse := func(context.Context) (sms.Client, error) {
		refusals = append(refusals, now)
		return nil, &sms.LoginError{Err: errors.New("invalid username or password")}
	}
	accept := func(context.Context) (sms.Client, error) { return &fakeClient{}, nil }
	wrong := 0
	for s := 0; s < 3600; s += 10 {
		now = time.Unix(int64(s), 0)
		for held := 0; held < len(others); {
			held = 0
			for _, other := range others {
				wrong++
				_, err := c.Client(context.Background(), other, Login{Fingerprint: fmt.Sprint(wrong), Account: account, Credential: fmt.Sprint("wrong-", wrong)}, refuse)
				if errors.As(err, new(*AccountHeldError)) {
					held++
				}
			}
		}
		if s >= joins && s%30 == 0 {
			if _, err := c.Client(context.Background(), dr, Login{Fingerprint: "dr", Account: account, Credential: "right"}, accept); err == nil {
				g.Expect(now).To(BeTemporally("<=", time.Unix(joins, 0).Add(refusalWindow)))
				g.Expect(wrong).To(BeNumerically(">", 50), "the others kept trying")
				for i := refusalBudget; i < len(refusals); i++ {
					g.Expect(refusals[i].Sub(refusals[i-refusalBudget])).To(BeNumerically(">=", refusalWindow), "more refusals than the budget in a window")
				}
				return
			}
		}
	}
	t.Fatal("the right password was not tried in an hour")
}
