package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

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

func TestConcurrentCallersShareOneDial(t *testing.T) {
	g := NewWithT(t)
	c := New()
	var dials atomic.Int32
	dial := func(context.Context) (sms.Client, error) { dials.Add(1); return &fakeClient{}, nil }
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Client(context.Background(), key, "fp", dial)
		}()
	}
	wg.Wait()
	g.Expect(dials.Load()).To(BeEquivalentTo(1))
}

func TestLearnedBatchSize(t *testing.T) {
	g := NewWithT(t)
	c := New()
	g.Expect(c.LearnedBatchSize(key)).To(BeZero())
	c.LoadLearnedBatchSize(key, 16)
	g.Expect(c.LearnedBatchSize(key)).To(BeEquivalentTo(16))
	g.Expect(c.Learn(key, 7)).To(BeTrue())
	g.Expect(c.Learn(key, 7)).To(BeFalse())
	c.LoadLearnedBatchSize(key, 16)
	g.Expect(c.LearnedBatchSize(key)).To(BeEquivalentTo(7), "memory wins over a stale status")
	g.Expect(c.Learn(key, 0)).To(BeTrue())
	g.Expect(c.LearnedBatchSize(key)).To(BeEquivalentTo(1), "TooMany without a size means 1")
	c.Invalidate(key)
	g.Expect(c.LearnedBatchSize(key)).To(BeEquivalentTo(1), "a new session keeps what was learned")
}

func TestInFlightAccounting(t *testing.T) {
	g := NewWithT(t)
	c := New()
	g.Expect(c.Primed(key)).To(BeFalse())
	c.Prime(key, map[string][]string{"ns/a": {"t1", "t2"}, "ns/b": {"t2", "t3"}})
	g.Expect(c.Primed(key)).To(BeTrue())
	g.Expect(c.InFlight(key)).To(Equal(3), "tasks are counted once even if two syncs wait on them")

	s, ok := c.Reserve(key, "ns/a", 4)
	g.Expect(ok).To(BeTrue())
	g.Expect(c.InFlight(key)).To(Equal(4))
	_, ok = c.Reserve(key, "ns/b", 4)
	g.Expect(ok).To(BeFalse(), "limit reached while a reservation is outstanding")
	s.Commit("t4")
	s.Release() // no-op after commit
	g.Expect(c.InFlight(key)).To(Equal(4))
	g.Expect(c.Tasks(key, "ns/a")).To(Equal([]string{"t1", "t2", "t4"}))

	c.SetTasks(key, "ns/a", nil)
	g.Expect(c.InFlight(key)).To(Equal(2))
	s, ok = c.Reserve(key, "ns/b", 4)
	g.Expect(ok).To(BeTrue())
	s.Release()
	g.Expect(c.InFlight(key)).To(Equal(2))

	c.Forget(key)
	g.Expect(c.InFlight(key)).To(BeZero())
	g.Expect(c.Primed(key)).To(BeFalse())
}

func TestForgetOwner(t *testing.T) {
	g := NewWithT(t)
	c := New()
	other := types.NamespacedName{Namespace: "ns", Name: "array-b"}
	c.SetTasks(key, "ns/a", []string{"t1"})
	c.SetTasks(other, "ns/a", []string{"t2"})
	c.SetTasks(other, "ns/b", []string{"t3"})
	c.ForgetOwner("ns/a")
	g.Expect(c.InFlight(key)).To(BeZero())
	g.Expect(c.InFlight(other)).To(Equal(1))
}

// TestPrimeNeverResurrectsAnOwner reproduces the restart race: sync Y reads a cached list that still
// shows sync X Running, X finishes (and forgets itself), then Y primes from its stale list. X is never
// reconciled again, so a task written back for it would hold a slot until the next restart.
func TestPrimeNeverResurrectsAnOwner(t *testing.T) {
	tests := map[string]struct {
		settle func(c *Cache)
	}{
		"owner forgot itself": {func(c *Cache) {
			c.SetTasks(key, "ns/x", []string{"tx"})
			c.ForgetOwner("ns/x")
		}},
		"owner set no tasks":        {func(c *Cache) { c.SetTasks(key, "ns/x", nil) }},
		"another primer came first": {func(c *Cache) { c.Prime(key, map[string][]string{"ns/y": {"ty"}}) }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c := New()
			g.Expect(c.Primed(key)).To(BeFalse()) // Y checks, then lists: X Running with tx, Y with ty
			stale := map[string][]string{"ns/x": {"tx"}, "ns/y": {"ty"}}
			tt.settle(c) // meanwhile
			c.Prime(key, stale)
			g.Expect(c.Primed(key)).To(BeTrue())
			g.Expect(c.Tasks(key, "ns/x")).To(BeEmpty())
			g.Expect(c.InFlight(key)).To(Equal(1))
		})
	}
}

// TestPrimeOnce: a second Prime (a concurrent reconcile that also saw Primed false) changes nothing.
func TestPrimeOnce(t *testing.T) {
	g := NewWithT(t)
	c := New()
	c.Prime(key, map[string][]string{"ns/y": {"ty"}})
	c.SetTasks(key, "ns/y", nil)
	c.Prime(key, map[string][]string{"ns/y": {"ty"}, "ns/z": {"tz"}})
	g.Expect(c.InFlight(key)).To(BeZero())
}
