package smssim

import (
	"math"
	"time"
)

// drawTaskDuration returns the duration of a new task of p: TaskDuration, spread by
// TaskDurationJitter so that no two tasks take exactly as long, as on real arrays whose sync time
// depends on the data changed since the last PiT. Callers hold s.mu (it uses s.rnd).
func (s *Sim) drawTaskDuration(p *providerState) time.Duration {
	d, j := p.cfg.TaskDuration.Duration, p.cfg.TaskDurationJitter.Duration
	if d <= 0 || j <= 0 {
		return d
	}
	switch p.cfg.TaskDurationDistribution {
	case DistributionLognormal:
		// Median d; sigma j/d, so the spread grows with the jitter relative to the duration.
		sigma := float64(j) / float64(d)
		return time.Duration(float64(d) * math.Exp(sigma*s.rnd.NormFloat64()))
	default:
		// Uniform in [d-j, d+j], never below a millisecond (a task always takes some time).
		v := d - j + time.Duration(s.rnd.Int64N(int64(2*j)+1))
		return max(v, time.Millisecond)
	}
}

// SetTaskDurationJitter spreads new tasks' durations around the task duration with the given
// distribution ("" or DistributionUniform, DistributionLognormal); a zero jitter turns it off.
func (h *Provider) SetTaskDurationJitter(jitter time.Duration, distribution string) {
	h.with(func(p *providerState) {
		p.cfg.TaskDurationJitter = Duration{jitter}
		p.cfg.TaskDurationDistribution = distribution
	})
}
