package smssim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestTaskResultsComeInNoSetOrder: a task's per-group results are one per group, but not in the order
// of the request, so a client that pairs them by position breaks here.
func TestTaskResultsComeInNoSetOrder(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim, ids := startOne(t, 8, nil)
			c := dialSim(t, sim, b, 5*time.Second)
			reordered := false
			// Three tasks of eight groups all in request order: about one chance in 6.5e13.
			for i := range 3 {
				ref, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "order-"+string(rune('a'+i)))
				g.Expect(err).NotTo(HaveOccurred())
				info := waitDone(t, c, ref)
				var got []smssim.GroupID
				for _, r := range info.Results {
					g.Expect(r.Succeeded).To(BeTrue())
					got = append(got, r.Group)
				}
				g.Expect(got).To(ConsistOf(ids))
				reordered = reordered || !slices.Equal(got, ids)
			}
			g.Expect(reordered).To(BeTrue(), "results came in request order every time")
		})
	}
}
