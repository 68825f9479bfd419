package controllers

import (
	"time"

	"k8s.io/utils/clock"
)

// clockNow is the time of a reconciler's Clock; nil means the real clock.
func clockNow(c clock.PassiveClock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}
