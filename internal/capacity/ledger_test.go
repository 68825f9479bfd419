package capacity

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
)

var (
	key = types.NamespacedName{Namespace: "ns", Name: "array-a"}
	t0  = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
)

func TestLearnedBatchSize(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.LearnedBatchSize(key)).To(BeZero())
	l.LoadLearnedBatchSize(key, 16)
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(16))
	g.Expect(l.LearnBatchSize(key, 7)).To(BeTrue())
	g.Expect(l.LearnBatchSize(key, 7)).To(BeFalse())
	l.LoadLearnedBatchSize(key, 16)
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(7), "memory wins over a stale status")
	g.Expect(l.LearnBatchSize(key, 0)).To(BeTrue())
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(1), "TooMany without a size means 1")
}

func TestTaskDurationIsTheLongestRecent(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.TaskDuration(key)).To(BeZero())
	l.LoadTaskDuration(key, time.Minute)
	g.Expect(l.TaskDuration(key)).To(Equal(time.Minute), "seeded from status until a task is seen")
	g.Expect(l.ObserveTask(key, 2*time.Second)).To(BeTrue())
	g.Expect(l.ObserveTask(key, time.Second)).To(BeFalse())
	g.Expect(l.TaskDuration(key)).To(Equal(2 * time.Second))
	l.ObserveTask(key, 1500*time.Millisecond)
	g.Expect(l.TypicalTaskDuration(key)).To(Equal(1500 * time.Millisecond))
	for range recentTasks {
		l.ObserveTask(key, 500*time.Millisecond)
	}
	g.Expect(l.TaskDuration(key)).To(Equal(500*time.Millisecond), "old durations age out")
}

func TestReserveAndHold(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.Primed(key)).To(BeFalse())
	l.Prime(key, map[string]int{"ns/a": 2, "ns/b": 1})
	g.Expect(l.Primed(key)).To(BeTrue())
	g.Expect(l.InFlight(key)).To(Equal(3))

	g.Expect(l.Reserve(key, "ns/a", t0, 3, 4)).To(Equal(1), "only the free slot is given")
	g.Expect(l.Reserve(key, "ns/b", t0, 1, 4)).To(BeZero())
	l.Hold(key, "ns/a", 1, 4) // a's status shows one task after the wave
	g.Expect(l.InFlight(key)).To(Equal(2))
	g.Expect(l.Reserve(key, "ns/b", t0, 5, 4)).To(Equal(2))

	l.Forget(key)
	g.Expect(l.InFlight(key)).To(BeZero())
	g.Expect(l.Primed(key)).To(BeFalse())
}

func TestForgetOwner(t *testing.T) {
	g := NewWithT(t)
	l := New()
	other := types.NamespacedName{Namespace: "ns", Name: "array-b"}
	l.Hold(key, "ns/a", 1, 4)
	l.Hold(other, "ns/a", 1, 4)
	l.Hold(other, "ns/b", 1, 4)
	l.ForgetOwner("ns/a")
	g.Expect(l.InFlight(key)).To(BeZero())
	g.Expect(l.InFlight(other)).To(Equal(1))
}

// TestPrimeNeverResurrectsAnOwner reproduces the restart race: sync Y reads a list that still shows sync X
// running, X finishes (and forgets itself), then Y primes from its stale list. X is never reconciled
// again, so slots written back for it would be held until the next restart.
func TestPrimeNeverResurrectsAnOwner(t *testing.T) {
	tests := map[string]struct {
		settle func(l *Ledger)
	}{
		"owner forgot itself": {func(l *Ledger) {
			l.Hold(key, "ns/x", 1, 4)
			l.ForgetOwner("ns/x")
		}},
		"owner holds nothing":       {func(l *Ledger) { l.Hold(key, "ns/x", 0, 4) }},
		"another primer came first": {func(l *Ledger) { l.Prime(key, map[string]int{"ns/y": 1}) }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			l := New()
			stale := map[string]int{"ns/x": 1, "ns/y": 1}
			tt.settle(l)
			l.Prime(key, stale)
			g.Expect(l.Primed(key)).To(BeTrue())
			g.Expect(l.InFlight(key)).To(Equal(1))
		})
	}
}

// TestWaitingIsAFairQueue: owners that find no slot wait oldest first; a freed slot wakes the oldest
// waiter at once, and a younger owner cannot take the slot ahead of it.
func TestWaitingIsAFairQueue(t *testing.T) {
	g := NewWithT(t)
	l := New()
	var woken []string
	l.SetWake(func(o string) { woken = append(woken, o) })
	g.Expect(l.Reserve(key, "ns/a", t0, 1, 1)).To(Equal(1))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(2*time.Minute), 1, 1)).To(BeZero())
	g.Expect(l.Reserve(key, "ns/old", t0.Add(time.Minute), 1, 1)).To(BeZero())
	g.Expect(l.Waiting(key)).To(Equal(2))
	g.Expect(woken).To(BeEmpty(), "nothing wakes while no slot frees")

	l.Hold(key, "ns/a", 0, 1)
	g.Expect(woken).To(Equal([]string{"ns/old"}), "the oldest waiter, only as many as slots freed")
	g.Expect(l.Reserve(key, "ns/young", t0.Add(2*time.Minute), 1, 1)).To(BeZero(), "no overtaking")
	g.Expect(l.Reserve(key, "ns/old", t0.Add(time.Minute), 1, 1)).To(Equal(1))
	g.Expect(l.Waiting(key)).To(Equal(1))

	woken = nil
	l.ForgetOwner("ns/old")
	g.Expect(woken).To(Equal([]string{"ns/young"}))
	l.ForgetOwner("ns/young")
	g.Expect(l.Waiting(key)).To(BeZero())
}
