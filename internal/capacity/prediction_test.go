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
	g.Expect(l.TypicalTaskDuration(key)).To(Equal(2000*time.Millisecond), "the median")
}

func TestQueuedShareIsLearnedFromProgress(t *testing.T) {
	g := NewWithT(t)
	l := New()
	g.Expect(l.QueuedShare(key)).To(BeZero(), "nothing seen: progress is taken to count from the call")
	// Tasks of 2 s queued for 0.5 s: at 1.5 s they show (1.5-0.5)/1.5 = 66 %.
	for range 5 {
		l.ObserveQueuedShare(key, 1500*time.Millisecond, 2*time.Second, 66)
	}
	g.Expect(l.QueuedShare(key)).To(BeNumerically("~", 0.25, 0.02))

	l.ObserveQueuedShare(key, time.Second, 2*time.Second, 0)
	l.ObserveQueuedShare(key, 0, 2*time.Second, 50)
	g.Expect(l.QueuedShare(key)).To(BeNumerically("~", 0.25, 0.02), "no progress sample, nothing learned")

	other := New()
	other.ObserveQueuedShare(key, 1900*time.Millisecond, 2*time.Second, 10)
	g.Expect(other.QueuedShare(key)).To(Equal(0.9), "capped: a task never counts as all queue")
}
