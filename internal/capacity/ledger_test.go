package capacity

import (
	"fmt"
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
	l.LoadLearnedBatchSize(key, "", 16)
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(16))
	g.Expect(l.LearnBatchSize(key, 7)).To(BeTrue())
	g.Expect(l.LearnBatchSize(key, 7)).To(BeFalse())
	l.LoadLearnedBatchSize(key, "", 16)
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(7), "memory wins over a stale status")
	g.Expect(l.LearnBatchSize(key, 0)).To(BeTrue())
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(1), "TooMany without a size means 1")
}

func TestTaskDurationIsTheLongestRecent(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.TaskDuration(key)).To(BeZero())
	g.Expect(l.ObserveTask(key, 2*time.Second)).To(BeTrue())
	g.Expect(l.ObserveTask(key, time.Second)).To(BeFalse())
	g.Expect(l.TaskDuration(key)).To(Equal(2 * time.Second))
	g.Expect(l.ObserveTask(key, 2200*time.Millisecond)).To(BeFalse(), "a small move is not worth a status write")
	g.Expect(l.TaskDuration(key)).To(Equal(2200 * time.Millisecond))
	g.Expect(l.ObserveTask(key, 3*time.Second)).To(BeTrue())
	g.Expect(l.TypicalTaskDuration(key)).To(Equal(2200 * time.Millisecond))
	for range recentTasks {
		l.ObserveTask(key, 500*time.Millisecond)
	}
	g.Expect(l.TaskDuration(key)).To(Equal(500*time.Millisecond), "old durations age out")
}

// TestLoadedTaskDurationHoldsForAWindow: the longest duration status kept after a restart holds until a
// full window of tasks was seen, so one quick task cannot shrink the in-doubt window under tasks that
// may still run.
func TestLoadedTaskDurationHoldsForAWindow(t *testing.T) {
	g := NewWithT(t)
	l := New()
	l.LoadTaskDuration(key, "", time.Minute)
	g.Expect(l.TaskDuration(key)).To(Equal(time.Minute), "seeded from status")
	l.ObserveTask(key, 2*time.Second)
	g.Expect(l.TaskDuration(key)).To(Equal(time.Minute), "one quick task does not replace it")
	g.Expect(l.TypicalTaskDuration(key)).To(Equal(2*time.Second), "the typical duration is what was seen")
	for range recentTasks - 2 {
		l.ObserveTask(key, time.Second)
	}
	g.Expect(l.TaskDuration(key)).To(Equal(time.Minute))
	l.ObserveTask(key, time.Second)
	g.Expect(l.TaskDuration(key)).To(Equal(2*time.Second), "a full window replaces it")
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
	g.Expect(l.Reserve(key, "ns/b", t0, 5, 4)).To(Equal(1), "of the two free slots, one is kept for a: older, and short of what it asked")
	g.Expect(l.Reserve(key, "ns/a", t0, 2, 4)).To(Equal(1))

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
		"owner holds nothing":                               {func(l *Ledger) { l.Hold(key, "ns/x", 0, 4) }},
		"owner forgot itself before the provider was known": {func(l *Ledger) { l.ForgetOwner("ns/x") }},
		"another primer came first":                         {func(l *Ledger) { l.Prime(key, map[string]int{"ns/y": 1}) }},
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

// TestIdleProviderForgetsOldSettledOwners: a provider no run of this process starts is never primed, yet
// every run of its namespace that ends is settled on it. Those older than settledMemory go; a recent one
// still wins over a stale list.
func TestIdleProviderForgetsOldSettledOwners(t *testing.T) {
	g := NewWithT(t)
	l := New()
	now := t0
	fakeNow(l, &now)
	l.LoadLearnedBatchSize(key, "", 16) // known from its status after a restart, never primed
	for i := range 1000 {
		l.ForgetOwner(fmt.Sprintf("ns/run-%d", i))
		now = now.Add(time.Minute)
	}
	l.ForgetOwner("ns/x")
	g.Expect(len(l.providers[key].settled.at)).To(BeNumerically("<", 50), "the runs of the last minutes at most, not 1000")
	g.Expect(l.providers[key].settled.at).To(HaveKey("ns/x"))

	l.Prime(key, map[string]int{"ns/x": 1, "ns/y": 1})
	g.Expect(l.InFlight(key)).To(Equal(1), "the run that ended a moment ago holds nothing")
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

// TestWokenWaiterThatLeavesWakesTheNext: the waiter woken for a freed slot is deleted (or passes its
// deadline) before it takes the slot: the next waiter is woken, not left asleep until it asks again
// (up to MaxAskInterval) while the slot stays free.
func TestWokenWaiterThatLeavesWakesTheNext(t *testing.T) {
	g := NewWithT(t)
	l := New()
	var woken []string
	l.SetWake(func(o string) { woken = append(woken, o) })
	l.Hold(key, "ns/x", 1, 1)
	g.Expect(l.Reserve(key, "ns/old", t0, 1, 1)).To(BeZero())
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 1)).To(BeZero())
	l.Hold(key, "ns/x", 0, 1)
	g.Expect(woken).To(Equal([]string{"ns/old"}))

	woken = nil
	l.ForgetOwner("ns/old")
	g.Expect(woken).To(Equal([]string{"ns/young"}))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 1)).To(Equal(1))
}

// TestRelearnIsNotUndoneByAnOlderStatus: after a Relearn for a new provider version, a status of the old
// one (a run or check that read the VasaProvider from the cache before the relearn's write reached it)
// seeds nothing, or the old batch size would be written back for good. A Relearn for what was learned
// anew already (a check reading that older status too) forgets nothing.
func TestRelearnIsNotUndoneByAnOlderStatus(t *testing.T) {
	g := NewWithT(t)
	l := New()
	l.LoadLearnedBatchSize(key, "uid/1.0@vc", 1)
	l.LoadTaskDuration(key, "uid/1.0@vc", 45*time.Second)
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(1))

	l.Relearn(key, "uid/2.0@vc")
	l.LoadLearnedBatchSize(key, "uid/1.0@vc", 1)
	l.LoadTaskDuration(key, "uid/1.0@vc", 45*time.Second)
	g.Expect(l.LearnedBatchSize(key)).To(BeZero())
	g.Expect(l.TaskDuration(key)).To(BeZero())

	g.Expect(l.LearnBatchSize(key, 8)).To(BeTrue())
	l.Relearn(key, "uid/2.0@vc")
	g.Expect(l.LearnedBatchSize(key)).To(BeEquivalentTo(8))
	l.LoadTaskDuration(key, "uid/2.0@vc", 10*time.Second)
	g.Expect(l.TaskDuration(key)).To(Equal(10 * time.Second))
}

// fakeNow makes l read its time from *now.
func fakeNow(l *Ledger, now *time.Time) { l.now = func() time.Time { return *now } }

// TestWaiterKeepsItsPlaceWhileItSleeps: a waiting owner asks again at least every MaxAskInterval (its
// longest sleep); slots that free slower than that still go to it, not to a younger owner.
func TestWaiterKeepsItsPlaceWhileItSleeps(t *testing.T) {
	g := NewWithT(t)
	l := New()
	now := t0
	fakeNow(l, &now)
	var woken []string
	l.SetWake(func(o string) { woken = append(woken, o) })
	l.Hold(key, "ns/x", 1, 1)
	g.Expect(l.Reserve(key, "ns/old", t0, 1, 1)).To(BeZero())

	now = now.Add(MaxAskInterval) // old sleeps its longest
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 1)).To(BeZero())
	l.Hold(key, "ns/x", 0, 1)
	g.Expect(woken).To(Equal([]string{"ns/old"}))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 1)).To(BeZero(), "no overtaking a waiter that sleeps")
	g.Expect(l.Reserve(key, "ns/old", t0, 1, 1)).To(Equal(1))

	now = now.Add(waiterTTL + time.Second) // young's run ended elsewhere: it never asks again
	g.Expect(l.Reserve(key, "ns/other", t0.Add(2*time.Minute), 1, 2)).To(Equal(1), "a waiter silent beyond the TTL is dropped")
	g.Expect(l.Waiting(key)).To(BeZero())
}

// TestPartlyServedOwnerKeepsItsPlace: an owner given fewer slots than it asked for still waits for the
// rest, ahead of younger owners.
func TestPartlyServedOwnerKeepsItsPlace(t *testing.T) {
	g := NewWithT(t)
	l, woken := oldPartlyServedYoungWaiting(g)
	l.Hold(key, "ns/x", 0, 2)
	g.Expect(*woken).To(Equal([]string{"ns/old"}))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 2)).To(BeZero(), "no overtaking")
	g.Expect(l.Reserve(key, "ns/old", t0, 1, 2)).To(Equal(1))
	g.Expect(l.Waiting(key)).To(Equal(1), "old got what it asked for")
}

// TestBackingOffOwnerLeavesTheQueue: an owner that backs off asks for nothing until then; its place in
// the queue would keep a free slot from younger owners, so it leaves the queue, and they are woken.
func TestBackingOffOwnerLeavesTheQueue(t *testing.T) {
	g := NewWithT(t)
	l, woken := oldPartlyServedYoungWaiting(g)
	l.Hold(key, "ns/x", 0, 2)
	g.Expect(*woken).To(Equal([]string{"ns/old"}))

	*woken = nil
	l.StopWaiting(key, "ns/old") // its call was refused: it backs off with its one slot's worth of work
	g.Expect(*woken).To(Equal([]string{"ns/young"}))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 2)).To(Equal(1))
	g.Expect(l.Waiting(key)).To(BeZero())
	l.StopWaiting(key, "ns/nobody")
	g.Expect(*woken).To(Equal([]string{"ns/young"}), "nothing to wake when the queue did not change")
}

// TestOwnSlotsFreedDoNotWakeTheOwner: an owner that frees slots is reconciling and asks for more in the
// same reconcile; waking it too would only cost a reconcile that finds nothing to do.
func TestOwnSlotsFreedDoNotWakeTheOwner(t *testing.T) {
	g := NewWithT(t)
	l, woken := oldPartlyServedYoungWaiting(g)
	l.Hold(key, "ns/old", 0, 2) // old's task ended; old is the oldest waiter, so the slot is its own
	g.Expect(*woken).To(BeEmpty())
	g.Expect(l.Reserve(key, "ns/old", t0, 2, 2)).To(Equal(1))

	l.Hold(key, "ns/x", 0, 2)
	*woken = nil
	l.Hold(key, "ns/old", 0, 2) // two slots free: old takes one, the next waiter is woken for the other
	g.Expect(*woken).To(Equal([]string{"ns/young"}))
}

// oldPartlyServedYoungWaiting returns a ledger of two slots, one held by ns/x, where ns/old got one of
// the two it asked for and ns/young, younger, got none; and the owners woken so far.
func oldPartlyServedYoungWaiting(g *WithT) (*Ledger, *[]string) {
	l := New()
	woken := &[]string{}
	l.SetWake(func(o string) { *woken = append(*woken, o) })
	l.Hold(key, "ns/x", 1, 2)
	g.Expect(l.Reserve(key, "ns/old", t0, 2, 2)).To(Equal(1))
	g.Expect(l.Reserve(key, "ns/young", t0.Add(time.Minute), 1, 2)).To(BeZero())
	g.Expect(l.Waiting(key)).To(Equal(2))
	return l, woken
}
