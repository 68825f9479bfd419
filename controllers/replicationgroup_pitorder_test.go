package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestPiTQueriesResumeAtAGroupNotAPosition: a discovery cut short resumes at the first group it did not
// read, even when the next listing names the groups in another order and that group is gone.
func TestPiTQueriesResumeAtAGroupNotAPosition(t *testing.T) {
	g := NewWithT(t)
	var ids []sms.GroupID
	for i := range 3 * sms.NewestPiTBatchSize {
		ids = append(ids, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%04d", i)})
	}
	r := &ReplicationGroupReconciler{}
	key := types.NamespacedName{Namespace: "ns", Name: "array-a"}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	order := r.pitOrder(key, ids, now, DefaultDiscoveryInterval)
	var read []sms.NewestPiT
	for _, id := range order[:sms.NewestPiTBatchSize] {
		read = append(read, sms.NewestPiT{Group: id})
	}
	next := order[sms.NewestPiTBatchSize]
	r.resumePiTs(key, order, read, true)

	relisted := slices.Clone(ids)
	slices.Reverse(relisted)
	relisted = slices.DeleteFunc(relisted, func(id sms.GroupID) bool { return id == next })
	resumed := r.pitOrder(key, relisted, now.Add(DefaultDiscoveryInterval), DefaultDiscoveryInterval)
	g.Expect(resumed).To(ConsistOf(relisted))
	g.Expect(resumed[:len(relisted)-sms.NewestPiTBatchSize]).To(Equal(order[sms.NewestPiTBatchSize+1:]), "from the group after the unread one that is gone")

	r.resumePiTs(key, resumed, nil, false)
	g.Expect(r.pitOrder(key, ids, now, DefaultDiscoveryInterval)).To(Equal(order), "not cut short: rotated again")
}

// TestPiTQueriesStartAtAnotherBatchEachInterval: the PiT queries of successive discovery intervals start at
// every batch in turn, so that no batch is always last behind one that times out.
func TestPiTQueriesStartAtAnotherBatchEachInterval(t *testing.T) {
	g := NewWithT(t)
	var ids []sms.GroupID
	for i := range 2*sms.NewestPiTBatchSize + 50 {
		ids = append(ids, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%04d", i)})
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	starts := map[sms.GroupID]bool{}
	for k := range 3 {
		got := rotated(ids, now.Add(time.Duration(k)*DefaultDiscoveryInterval), DefaultDiscoveryInterval)
		g.Expect(got).To(ConsistOf(ids))
		starts[got[0]] = true
	}
	g.Expect(starts).To(HaveKey(ids[0]))
	g.Expect(starts).To(HaveKey(ids[sms.NewestPiTBatchSize]))
	g.Expect(starts).To(HaveKey(ids[2*sms.NewestPiTBatchSize]))
	g.Expect(rotated(ids[:sms.NewestPiTBatchSize], now, DefaultDiscoveryInterval)).To(Equal(ids[:sms.NewestPiTBatchSize]), "one batch: as listed")
}
