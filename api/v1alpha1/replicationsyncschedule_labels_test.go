package v1alpha1_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestScheduleLabelValue: names that fit a label value stay as they are; longer ones become a valid label
// value of 63 characters, the same for the same name and different for names that share the start. The
// expected hashes are FNV-1a 32 of the whole name, as the runs of existing schedules are labelled.
func TestScheduleLabelValue(t *testing.T) {
	cases := map[string]struct{ name, want string }{
		"short":           {"nightly", "nightly"},
		"63 characters":   {strings.Repeat("a", 63), strings.Repeat("a", 63)},
		"long":            {"nightly-oracle-production-database-cluster-east-region-replication-schedule", "nightly-oracle-production-database-cluster-east-region-0b235a02"},
		"cut at a hyphen": {strings.Repeat("a", 53) + "-b" + strings.Repeat("c", 20), strings.Repeat("a", 53) + "-c159157b"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := replicationv1alpha1.ScheduleLabelValue(tc.name)
			g.Expect(got).To(Equal(tc.want))
			g.Expect(validation.IsValidLabelValue(got)).To(BeEmpty())
		})
	}
	g := NewWithT(t)
	a := replicationv1alpha1.ScheduleLabelValue(strings.Repeat("x", 70) + "-a")
	b := replicationv1alpha1.ScheduleLabelValue(strings.Repeat("x", 70) + "-b")
	g.Expect(a).NotTo(Equal(b), "names that share their first 54 characters keep distinct values")
	g.Expect(a).To(HaveLen(63))
}
