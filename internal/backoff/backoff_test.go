package backoff

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestDelay(t *testing.T) {
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := map[string]struct {
		policy   Policy
		attempts int32
		want     time.Duration
	}{
		"first fault waits base":         {Policy{Base: time.Second, Max: time.Minute, Factor: 2, Rand: fixed(0)}, 1, time.Second},
		"zero attempts treated as first": {Policy{Base: time.Second, Max: time.Minute, Factor: 2, Rand: fixed(0)}, 0, time.Second},
		"grows exponentially":            {Policy{Base: time.Second, Max: time.Minute, Factor: 2, Rand: fixed(0)}, 4, 8 * time.Second},
		"capped at max":                  {Policy{Base: time.Second, Max: 10 * time.Second, Factor: 2, Rand: fixed(0)}, 10, 10 * time.Second},
		"huge attempts do not overflow":  {Policy{Base: time.Second, Max: 10 * time.Second, Factor: 2, Rand: fixed(0)}, 1 << 30, 10 * time.Second},
		"jitter adds a fraction":         {Policy{Base: time.Second, Max: time.Minute, Factor: 2, Jitter: 0.5, Rand: fixed(0.5)}, 1, 1250 * time.Millisecond},
		"jitter applies after the cap":   {Policy{Base: time.Second, Max: 2 * time.Second, Factor: 2, Jitter: 0.5, Rand: fixed(0.5)}, 5, 2500 * time.Millisecond},
		"zero policy uses defaults":      {Policy{Rand: fixed(0)}, 1, DefaultBase},
		"zero policy has jitter":         {Policy{Rand: fixed(0.5)}, 1, DefaultBase + time.Duration(float64(DefaultBase)*DefaultJitter*0.5)},
		"out of range random ignored":    {Policy{Base: time.Second, Jitter: 0.5, Rand: fixed(7)}, 1, time.Second},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(tt.policy.Delay(tt.attempts)).To(Equal(tt.want))
		})
	}
}

func TestJitterBounds(t *testing.T) {
	g := NewWithT(t)
	p := Policy{Base: time.Second, Max: time.Minute, Factor: 2, Jitter: 0.2}
	for i := 0; i < 1000; i++ {
		d := p.Delay(3)
		g.Expect(d).To(BeNumerically(">=", 4*time.Second))
		g.Expect(d).To(BeNumerically("<", 4800*time.Millisecond))
	}
}

func TestNextWithFakeClock(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
	p := Policy{Base: time.Second, Max: time.Minute, Factor: 2, Rand: func() float64 { return 0 }}

	next := p.Next(2, clk.Now())
	g.Expect(next).To(Equal(clk.Now().Add(2 * time.Second)))
	g.Expect(Remaining(next, clk.Now())).To(Equal(2 * time.Second))

	clk.Step(1500 * time.Millisecond)
	g.Expect(Remaining(next, clk.Now())).To(Equal(500 * time.Millisecond))

	clk.Step(time.Second)
	g.Expect(Remaining(next, clk.Now())).To(BeZero(), "a passed retry time means retry now")
}
