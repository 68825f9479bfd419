package capacity

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestEarlyAndTypicalTaskDurations(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.EarlyTaskDuration(key)).To(BeZero())
	for _, ms := range []int{2400, 1600, 2000, 1800, 2200, 1500, 2500, 1900} {
		l.ObserveTask(key, time.Duration(ms)*time.Millisecond)
	}
	g.Expect(l.EarlyTaskDuration(key)).To(Equal(1800*time.Millisecond), "the first quartile")
	g.Expect(l.ShortTaskDuration(key)).To(Equal(1500*time.Millisecond), "the 10th percentile")
	g.Expect(l.TypicalTaskDuration(key)).To(Equal(2000*time.Millisecond), "the median")
}

func TestQueuedShareIsLearnedFromProgress(t *testing.T) {
	g := NewWithT(t)
	l := New()
	_, known := l.QueuedShare(key)
	g.Expect(known).To(BeFalse(), "nothing seen")
	// Tasks of 2 s queued for 0.5 s: at 1.5 s they show (1.5-0.5)/1.5 = 66 %.
	for range 5 {
		l.ObserveQueuedShare(key, 1500*time.Millisecond, 2*time.Second, 66)
	}
	g.Expect(share(l)).To(BeNumerically("~", 0.25, 0.01), "66 % read as 66.5 %, not as 66 % (0.265: polls would come early)")

	l.ObserveQueuedShare(key, time.Second, 2*time.Second, 0)
	l.ObserveQueuedShare(key, 0, 2*time.Second, 50)
	g.Expect(share(l)).To(BeNumerically("~", 0.25, 0.02), "no progress sample, nothing learned")

	other := New()
	other.ObserveQueuedShare(key, 1900*time.Millisecond, 2*time.Second, 10)
	g.Expect(share(other)).To(Equal(0.9), "capped: a task never counts as all queue")
}

func share(l *Ledger) float64 {
	s, _ := l.QueuedShare(key)
	return s
}
