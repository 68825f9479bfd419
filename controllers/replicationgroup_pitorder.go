package controllers

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// pitOrder is the order in which a discovery asks for the newest PiTs of ids: sorted, from where the
// provider's last discovery ran out of time, when it did (resume), else from another batch every
// interval (rotated). Resuming matters once the answer budget cuts the PiT queries short: a start
// that moves one batch per interval would leave the batches past the first few unread for hours, their
// groups' PiTs aging into RPO alerts. The resume point is a group, not a position: the listing's order
// may change between discoveries and groups come and go; sorted, a removed group's successor takes over.
func (r *ReplicationGroupReconciler) pitOrder(key types.NamespacedName, ids []sms.GroupID, now time.Time, interval time.Duration) []sms.GroupID {
	sorted := slices.SortedFunc(slices.Values(ids), sms.CompareGroupIDs)
	v, ok := r.pitResume.Load(key)
	if !ok || len(sorted) == 0 {
		return rotated(sorted, now, interval)
	}
	start, _ := slices.BinarySearchFunc(sorted, v.(sms.GroupID), sms.CompareGroupIDs)
	start %= len(sorted) // past the last group: from the first
	return slices.Concat(sorted[start:], sorted[:start])
}

// resumePiTs remembers where the next discovery of key resumes when this one's PiT queries were cut short
// (cut): at the group of order after the last one that has an answer. Otherwise the next starts by
// rotation.
func (r *ReplicationGroupReconciler) resumePiTs(key types.NamespacedName, order []sms.GroupID, pits []sms.NewestPiT, cut bool) {
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
	r.pitResume.Store(key, order[(last+1)%len(order)])
}

// rotated returns ids starting at another batch of sms.NewestPiTBatchSize every discovery interval: the
// PiT queries stop at a batch that gets no answer at all (a timeout), and in a fixed order the batches
// after a slow one would never be read, their groups' PiTs aging into RPO alerts.
func rotated(ids []sms.GroupID, now time.Time, interval time.Duration) []sms.GroupID {
	batches := (len(ids) + sms.NewestPiTBatchSize - 1) / sms.NewestPiTBatchSize
	if batches < 2 || interval <= 0 {
		return ids
	}
	start := int(now.UnixNano()/int64(interval)%int64(batches)) * sms.NewestPiTBatchSize
	return slices.Concat(ids[start:], ids[:start])
}
