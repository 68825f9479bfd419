package capacity

import (
	"math"
	"time"
)

// Sample is a task's progress seen at an age (from its call): whole percents, 1-99, rounded down.
type Sample struct {
	Age     time.Duration
	Percent int32
}

// EndWindow returns the earliest and the latest end (as ages) consistent with samples of a task whose
// progress counts at one pace from some moment after its call (a provider that queues the task shows
// 0 % until then). ok is false with fewer than two samples, or when no single pace fits them.
//
// A sample (a, p) says that progress started at s with a pace of π per percent such that
// s + p·π <= a < s + (p+1)·π, and s >= 0. Every pair of samples bounds π; the end s + 100·π grows with
// π, so the slowest pace that fits gives the latest end and the fastest the earliest. Samples taken
// close to a percent's change pin s, so a few of them narrow the window well below one percent.
//
// pace is the middle of the paces that fit, per percent.
func EndWindow(samples []Sample) (earliest, latest, pace time.Duration, ok bool) {
	if len(samples) < 2 {
		return 0, 0, 0, false
	}
	fastest, slowest := 0.0, math.Inf(1) // seconds per percent
	for j, b := range samples {
		if b.Percent <= 0 || b.Percent >= 100 {
			return 0, 0, 0, false
		}
		slowest = min(slowest, b.Age.Seconds()/float64(b.Percent))
		for _, a := range samples[:j] {
			dt, dp := (b.Age - a.Age).Seconds(), float64(b.Percent-a.Percent)
			if dt <= 0 || dp < 0 {
				return 0, 0, 0, false
			}
			fastest = max(fastest, dt/(dp+1))
			if dp > 1 {
				slowest = min(slowest, dt/(dp-1))
			}
		}
	}
	if fastest >= slowest {
		return 0, 0, 0, false
	}
	lo, hi := 100*fastest, math.Inf(1)
	for _, s := range samples {
		lo = max(lo, s.Age.Seconds()+float64(99-s.Percent)*fastest)
		hi = min(hi, s.Age.Seconds()+float64(100-s.Percent)*slowest)
	}
	if lo > hi {
		return 0, 0, 0, false
	}
	return seconds(lo), seconds(hi), seconds((fastest + slowest) / 2), true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
