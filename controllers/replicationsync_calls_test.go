package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// TestGroupQueriesAskChunksAtOnce: 250 groups are asked about in 3 queries sent at once; the answers of
// all chunks are merged, a per-group fault in one chunk holds only that group, and any other error of a
// chunk is the query's error.
func TestGroupQueriesAskChunksAtOnce(t *testing.T) {
	g := NewWithT(t)
	ids := make([]sms.GroupID, 250)
	for i := range ids {
		ids[i] = sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%03d", i)}
	}
	// Each query waits (up to 5 s) until all three have arrived: asked one after the other, none would see
	// the others.
	var arrived, sawAll, oversized atomic.Int32
	atOnce := func() {
		arrived.Add(1)
		for deadline := time.Now().Add(5 * time.Second); arrived.Load() < 3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if arrived.Load() == 3 {
			sawAll.Add(1)
		}
	}
	fake := smsfake.New()
	fake.PiTs = func(_ string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		atOnce()
		if len(groups) > groupQueryChunk {
			oversized.Add(1)
		}
		switch {
		case slices.Contains(groups, ids[120]):
			return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{ids[120]: &sms.OtherFaultError{Type: "SystemError"}}}
		case slices.Contains(groups, ids[249]):
			return []sms.PointInTime{{Group: ids[249], ID: "pit-249", Name: pitName}}, nil
		}
		return nil, nil
	}
	found, unknown, err := findPiTs(context.Background(), fake, "p1", ids, "nightly")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(HaveLen(1))
	g.Expect(found).To(HaveKey(ids[249]))
	g.Expect(unknown).To(HaveLen(1))
	g.Expect(unknown).To(HaveKey(ids[120]))
	g.Expect(sawAll.Load()).To(BeEquivalentTo(3), "the three chunks were asked at once")
	g.Expect(oversized.Load()).To(BeZero())

	fake.Groups = func(groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
		if slices.Contains(groups, ids[249]) {
			return nil, errors.New("connection reset")
		}
		return nil, nil
	}
	_, err = queryGroups(context.Background(), fake, "p1", ids)
	g.Expect(err).To(MatchError(ContainSubstring("checking 50 replication groups at p1: connection reset")))
}
