package controllers

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// pitOrder is the order in which a discovery asks for the newest PiTs of ids: from where the provider's
// last discovery ran out of time, when it did (resume), else from another batch every interval (rotated).
// Resuming matters once the answer budget cuts the PiT queries short: a start that moves one batch per
// interval would leave the batches past the first few unread for hours, their groups' PiTs aging into
// RPO alerts. It returns the order and the index in ids it starts at.
func (r *ReplicationGroupReconciler) pitOrder(key types.NamespacedName, ids []sms.GroupID, now time.Time, interval time.Duration) ([]sms.GroupID, int) {
	start := rotationStart(len(ids), now, interval)
	if v, ok := r.pitResume.Load(key); ok && v.(int) < len(ids) {
		start = v.(int)
	}
	return append(slices.Clone(ids[start:]), ids[:start]...), start
}

// resumePiTs remembers where the next discovery of key resumes when this one's PiT queries were cut short
// (cut): after the last group of order, which starts at index start of ids, that has an answer.
// Otherwise the next starts by rotation.
func (r *ReplicationGroupReconciler) resumePiTs(key types.NamespacedName, order []sms.GroupID, start int, pits []sms.NewestPiT, cut bool) {
	if !cut || len(order) == 0 {
		r.pitResume.Delete(key)
		return
	}
	answered := make(map[sms.GroupID]bool, len(pits))
	for _, p := range pits {
		answered[p.Group] = true
	}
	last := -1
	for i, g := range order {
		if answered[g] {
			last = i
		}
	}
	r.pitResume.Store(key, (start+last+1)%len(order))
}

// rotated returns ids starting at another batch of sms.NewestPiTBatchSize every discovery interval: the
// PiT queries stop at a batch that gets no answer at all (a timeout), and in a fixed order the batches
// after a slow one would never be read, their groups' PiTs aging into RPO alerts.
func rotated(ids []sms.GroupID, now time.Time, interval time.Duration) []sms.GroupID {
	start := rotationStart(len(ids), now, interval)
	return append(slices.Clone(ids[start:]), ids[:start]...)
}

// rotationStart is the index rotated starts at: another batch every interval.
func rotationStart(n int, now time.Time, interval time.Duration) int {
	batches := (n + sms.NewestPiTBatchSize - 1) / sms.NewestPiTBatchSize
	if batches < 2 || interval <= 0 {
		return 0
	}
	return int(now.UnixNano()/int64(interval)%int64(batches)) * sms.NewestPiTBatchSize
}
