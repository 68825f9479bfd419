package backoff

import (
	"math"
	"math/rand/v2"
	"time"
)

// Default policy values for provider-wide faults (busy, out of resource, unavailable).
const (
	// DefaultBase is the delay after the first fault.
	DefaultBase = 5 * time.Second
	// DefaultMax caps the delay.
	DefaultMax = 5 * time.Minute
	// DefaultFactor multiplies the delay per further fault.
	DefaultFactor = 2.0
	// DefaultJitter is the fraction of the delay added at random (0.2 = up to +20%).
	DefaultJitter = 0.2
)

// Policy describes exponential backoff with jitter. The zero value uses the defaults.
type Policy struct {
	// Base is the delay after the first fault.
	Base time.Duration
	// Max caps the delay before jitter.
	Max time.Duration
	// Factor multiplies the delay per further fault.
	Factor float64
	// Jitter is the fraction of the delay added at random, in (0,1]; 0 means DefaultJitter, so a
	// zero Policy spreads retries too. Tests that need exact delays set Rand.
	Jitter float64
	// Rand returns a number in [0,1); nil uses math/rand/v2. Tests set it to make jitter deterministic.
	Rand func() float64
}

func (p Policy) withDefaults() Policy {
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Factor < 1 {
		p.Factor = DefaultFactor
	}
	if p.Jitter <= 0 || p.Jitter > 1 {
		p.Jitter = DefaultJitter
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Delay returns the wait after the attempts-th consecutive fault (attempts >= 1):
// min(Base*Factor^(attempts-1), Max), plus up to Jitter of it at random.
func (p Policy) Delay(attempts int32) time.Duration {
	p = p.withDefaults()
	if attempts < 1 {
		attempts = 1
	}
	d := float64(p.Base) * math.Pow(p.Factor, float64(attempts-1))
	if d > float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.Max)
	}
	r := p.Rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(d + d*p.Jitter*r)
}

// Next returns the time of the next try after the attempts-th consecutive fault seen at now.
func (p Policy) Next(attempts int32, now time.Time) time.Time {
	return now.Add(p.Delay(attempts))
}

// Remaining returns how long to wait from now until next; 0 when next has passed.
func Remaining(next, now time.Time) time.Duration {
	if d := next.Sub(now); d > 0 {
		return d
	}
	return 0
}
