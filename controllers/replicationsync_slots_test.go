package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestSlotsHeldCountsEachClaimsBatches: groups Issuing without a task hold as many slots as their calls
// may have started. Groups of different providers or claims never shared a call, so a run holding a
// partial batch on each of two providers, or two partial batches in doubt, holds two slots, not one.
func TestSlotsHeldCountsEachClaimsBatches(t *testing.T) {
	g := NewWithT(t)
	t0 := metav1.NewMicroTime(time.Now())
	t1 := metav1.NewMicroTime(t0.Add(time.Minute))
	issuing := func(provider string, at metav1.MicroTime, n int) []replicationv1alpha1.GroupStatus {
		out := make([]replicationv1alpha1.GroupStatus, n)
		for i := range out {
			out[i] = replicationv1alpha1.GroupStatus{State: replicationv1alpha1.GroupIssuing, Provider: provider, ClaimTime: &at}
		}
		return out
	}
	syncing := replicationv1alpha1.GroupStatus{State: replicationv1alpha1.GroupSyncing, Task: "smstask-1"}
	cases := map[string]struct {
		groups []replicationv1alpha1.GroupStatus
		want   int
	}{
		"one wave, one provider":       {issuing("", t0, 20), 3},
		"one wave re-routed in part":   {append(issuing("p1", t0, 3), issuing("p2", t0, 2)...), 2},
		"two partial batches in doubt": {append(issuing("", t0, 3), issuing("", t1, 4)...), 2},
		"a task and a claim":           {append(issuing("", t0, 1), syncing, syncing), 2},
		"nothing in flight":            {[]replicationv1alpha1.GroupStatus{{State: replicationv1alpha1.GroupSynced}}, 0},
	}
	for name, c := range cases {
		rs := &replicationv1alpha1.ReplicationSync{Status: replicationv1alpha1.ReplicationSyncStatus{Groups: c.groups}}
		g.Expect(slotsHeld(rs, 8, nil)).To(Equal(c.want), name)
	}
}
