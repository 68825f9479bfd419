package runsplit

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func id(fd, dg string) replicationv1alpha1.ReplicationGroupID {
	return replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg}}
}

func TestSplit(t *testing.T) {
	ids := func(n, chars int) []replicationv1alpha1.ReplicationGroupID {
		out := make([]replicationv1alpha1.ReplicationGroupID, n)
		for i := range out {
			dg := fmt.Sprintf("dg-%05d", i)
			out[i] = id("fd-1", dg+strings.Repeat("x", max(0, chars-len("fd-1")-len(dg))))
		}
		return out
	}
	tests := map[string]struct {
		ids   []replicationv1alpha1.ReplicationGroupID
		sizes []int
	}{
		"one run holds them":       {ids(1000, 10), []int{1000}},
		"one more than a run":      {ids(1001, 10), []int{500, 501}},
		"5,000 groups":             {ids(5000, 10), []int{1000, 1000, 1000, 1000, 1000}},
		"the id budget binds":      {ids(1000, 510), []int{250, 250, 250, 250}},                    // 313 groups of 510 characters fit in 160000
		"long ids, uneven lengths": {append(ids(320, 510), ids(400, 10)...), []int{240, 240, 240}}, // halves would not fit
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			parts := Split(tc.ids)
			var sizes []int
			for _, p := range parts {
				sizes = append(sizes, len(p))
				g.Expect(Fits(p)).To(BeTrue())
			}
			g.Expect(sizes).To(Equal(tc.sizes))
			g.Expect(slices.Concat(parts...)).To(Equal(tc.ids), "every group once, in order")
		})
	}
}

func TestParseShare(t *testing.T) {
	g := NewWithT(t)
	s, err := ParseShare(Share{N: 2, Of: 5}.String())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(Equal(Share{N: 2, Of: 5}))
	for _, bad := range []string{"", "2", "0/5", "6/5", "a/5", "2/b", "-1/5"} {
		_, err := ParseShare(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

func TestInto(t *testing.T) {
	g := NewWithT(t)
	ids := []replicationv1alpha1.ReplicationGroupID{id("fd", "a"), id("fd", "b"), id("fd", "c")}
	parts, ok := Into(ids, 2)
	g.Expect(ok).To(BeTrue())
	g.Expect(parts).To(Equal([][]replicationv1alpha1.ReplicationGroupID{ids[:1], ids[1:]}))
	_, ok = Into(ids, 4)
	g.Expect(ok).To(BeFalse(), "a share would be empty")
	_, ok = Into(ids, 0)
	g.Expect(ok).To(BeFalse())
	long := make([]replicationv1alpha1.ReplicationGroupID, 400)
	for i := range long {
		long[i] = id("fd", fmt.Sprintf("%05d%s", i, strings.Repeat("x", 500)))
	}
	_, ok = Into(long, 1)
	g.Expect(ok).To(BeFalse(), "400 ids of 507 characters do not fit in one run")
}
