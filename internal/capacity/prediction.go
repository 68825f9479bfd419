package capacity

import (
	"cmp"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// What the ledger learned about when a provider's tasks end, for polling them near that moment.

// EarlyTaskDuration returns the first quartile of the provider's recent task durations (0 = none
// seen): by then a quarter of the tasks have ended and the rest report progress to extrapolate from.
func (l *Ledger) EarlyTaskDuration(key types.NamespacedName) time.Duration {
	return l.durationQuantile(key, 4)
}

// ShortTaskDuration returns the 10th percentile of the provider's recent task durations (0 = none
// seen): by then few of the tasks have ended.
func (l *Ledger) ShortTaskDuration(key types.NamespacedName) time.Duration {
	return l.durationQuantile(key, 10)
}

// TypicalTaskDuration returns the median of the provider's recent task durations (0 = none seen).
func (l *Ledger) TypicalTaskDuration(key types.NamespacedName) time.Duration {
	return l.durationQuantile(key, 2)
}

// durationQuantile returns the recent duration at rank len/div.
func (l *Ledger) durationQuantile(key types.NamespacedName, div int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.providers[key]; ok {
		return quantile(p.durations, div)
	}
	return 0
}

// ObserveQueuedShare records which share of a finished task's duration passed before its progress
// started to count: a task of duration d that showed progress pct (1-99) at age a was queued for
// (a - pct·d) / (1 - pct) of it. Providers that queue tasks report 0 % for a while, so progress alone
// predicts their end late.
func (l *Ledger) ObserveQueuedShare(key types.NamespacedName, age, d time.Duration, pct int32) {
	if d <= 0 || pct <= 0 || pct >= 100 || age <= 0 {
		return
	}
	// Progress is whole percents rounded down: the middle of its percent is the unbiased guess (the
	// bottom would learn too large a share, and polls would come early).
	f := (float64(pct) + 0.5) / 100
	share := (age.Seconds() - f*d.Seconds()) / (d.Seconds() * (1 - f))
	share = min(max(share, 0), 0.9)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	p.queued = recent(p.queued, share)
}

// QueuedShare returns the median queued share of the provider's recent tasks; ok is false while none
// has been learned (a task that ended before any poll saw it running teaches nothing).
func (l *Ledger) QueuedShare(key types.NamespacedName) (share float64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, found := l.providers[key]; found && len(p.queued) > 0 {
		return quantile(p.queued, 2), true
	}
	return 0, false
}

// recent appends v to the most recent values s, keeping recentTasks of them.
func recent[T any](s []T, v T) []T {
	s = append(s, v)
	if len(s) > recentTasks {
		s = s[1:]
	}
	return s
}

// quantile returns the value at rank len/div of s in order (zero when s is empty).
func quantile[T cmp.Ordered](s []T, div int) T {
	var zero T
	if len(s) == 0 {
		return zero
	}
	sorted := slices.Sorted(slices.Values(s))
	return sorted[len(sorted)/div]
}
