package session

import (
	"context"
	"errors"
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

func TestClientReusedUntilFingerprintChanges(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) { dials.Add(1); return &fakeClient{}, nil }

	a, err := c.Client(context.Background(), key, "gen1/rv1", dial)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := c.Client(context.Background(), key, "gen1/rv1", dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b).To(BeIdenticalTo(a))
	g.Expect(dials.Load()).To(BeEquivalentTo(1))

	cl, ok := c.Cached(key, "gen1/rv1")
	g.Expect(ok).To(BeTrue())
	g.Expect(cl).To(BeIdenticalTo(a))
	_, ok = c.Cached(key, "gen2/rv1")
	g.Expect(ok).To(BeFalse())

	d, err := c.Client(context.Background(), key, "gen1/rv2", dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d).NotTo(BeIdenticalTo(a))
	g.Expect(dials.Load()).To(BeEquivalentTo(2))
	g.Eventually(a.(*fakeClient).closed.Load).Should(BeTrue(), "the replaced session is logged out")

	c.Invalidate(key)
	g.Eventually(d.(*fakeClient).closed.Load).Should(BeTrue())
	_, err = c.Client(context.Background(), key, "gen1/rv2", dial)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dials.Load()).To(BeEquivalentTo(3))
}

func TestClientDialErrorNotCached(t *testing.T) {
	g := NewWithT(t)
	c := New()
	boom := errors.New("boom")
	_, err := c.Client(context.Background(), key, "x", func(context.Context) (sms.Client, error) { return nil, boom })
	g.Expect(err).To(MatchError(boom))
	_, ok := c.Cached(key, "x")
	g.Expect(ok).To(BeFalse())
}

// TestRefusedLoginIsHeld: a login vCenter refused is not tried again for the same fingerprint until
// RefusedLoginHold passed (vCenter locks an account after a few failures); a new fingerprint (the Secret
// changed) dials at once.
func TestRefusedLoginIsHeld(t *testing.T) {
	g := NewWithT(t)
	c := New()
	now := time.Now()
	c.now = func() time.Time { return now }
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
		_, err := c.Client(context.Background(), key, "creds=1", dial)
		g.Expect(err).To(MatchError(refused))
	}
	g.Expect(dials.Load()).To(BeEquivalentTo(1), "one login per hold, whoever asks")
	now = now.Add(RefusedLoginHold)
	_, err := c.Client(context.Background(), key, "creds=1", dial)
	g.Expect(err).To(MatchError(refused))
	g.Expect(dials.Load()).To(BeEquivalentTo(2), "tried again after the hold")

	answer = nil
	_, err = c.Client(context.Background(), key, "creds=2", dial)
	g.Expect(err).NotTo(HaveOccurred(), "a changed Secret dials at once")
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
			got[i], _ = c.Client(context.Background(), key, "fp", dial)
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
		cl, err := c.Client(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, "gen1",
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
		_, err := c.Client(context.Background(), key, "fp", func(context.Context) (sms.Client, error) {
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
