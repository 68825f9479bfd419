package capacity

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A 60-s task queued for 15 s, then 0.45 s per percent: it ends at 60 s.
func sampleAt(age time.Duration) Sample {
	return Sample{Age: age, Percent: int32((age - 15*time.Second) / (450 * time.Millisecond))}
}

func TestEndWindowHoldsTheEnd(t *testing.T) {
	g := NewWithT(t)
	_, _, _, ok := EndWindow([]Sample{sampleAt(26 * time.Second)})
	g.Expect(ok).To(BeFalse(), "one sample gives no pace")

	wide := []Sample{sampleAt(25600 * time.Millisecond), sampleAt(32 * time.Second)}
	lo, hi, _, ok := EndWindow(wide)
	g.Expect(ok).To(BeTrue())
	g.Expect(lo).To(BeNumerically("<=", 60*time.Second))
	g.Expect(hi).To(BeNumerically(">=", 60*time.Second))
	g.Expect(hi-lo).To(BeNumerically(">", 2*time.Second), "15 percents in 6.4 s: the pace is known to a few per cent")

	// Two samples either side of a percent's change pin when progress started counting.
	pinned := append(wide, sampleAt(58600*time.Millisecond), sampleAt(58700*time.Millisecond))
	g.Expect(pinned[2].Percent).NotTo(Equal(pinned[3].Percent))
	lo2, hi2, _, ok := EndWindow(pinned)
	g.Expect(ok).To(BeTrue())
	g.Expect(lo2).To(BeNumerically("<=", 60*time.Second))
	g.Expect(hi2).To(BeNumerically(">=", 60*time.Second))
	g.Expect(hi2 - lo2).To(BeNumerically("<", 150*time.Millisecond))
}

func TestEndWindowRejectsSamplesNoPaceFits(t *testing.T) {
	g := NewWithT(t)
	_, _, _, ok := EndWindow([]Sample{{Age: 10 * time.Second, Percent: 40}, {Age: 12 * time.Second, Percent: 30}})
	g.Expect(ok).To(BeFalse(), "progress went back")
	_, _, _, ok = EndWindow([]Sample{{Age: 10 * time.Second, Percent: 10}, {Age: 20 * time.Second, Percent: 11}, {Age: 21 * time.Second, Percent: 90}})
	g.Expect(ok).To(BeFalse(), "a percent in 10 s, then 79 in 1 s")
}
