package controllers

import (
	"math"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// seconds turns a count of seconds from the spec into a duration, saturating instead of overflowing:
// admission bounds the fields, but an object stored before it did may hold any int64, and an overflowed
// deadline lies in the past (a run failed at once, every scheduled run missed).
func seconds(n int64) time.Duration {
	const most = int64(math.MaxInt64 / time.Second)
	return time.Duration(min(max(n, -most), most)) * time.Second
}

// MaxConditionMessage bounds every condition message the operator writes, on every kind, in bytes: a
// provider's fault text or a long list must not bloat objects (or their watchers).
const MaxConditionMessage = 1024

// setStatusCondition sets one condition, stamped with the object's generation. The transition time only
// moves when the status flips. The message is cut to MaxConditionMessage bytes.
func setStatusCondition(conds *[]metav1.Condition, generation int64, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            boundMessage(message),
		ObservedGeneration: generation,
	})
}

// conditionStatus turns a bool into a condition status.
func conditionStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// boundMessage cuts s to at most MaxConditionMessage bytes on a rune boundary, marking the cut with "...".
func boundMessage(s string) string { return cutMessage(s, MaxConditionMessage, "...") }

// cutMessage cuts s to at most limit bytes on a rune boundary, ending the cut with mark.
func cutMessage(s string, limit int, mark string) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
