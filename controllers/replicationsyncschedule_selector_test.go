package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestScheduleTemplateGroupSelector: a template with a groupSelector stamps out runs with that selector
// (each run resolves it when it starts) and no groupIds.
func TestScheduleTemplateGroupSelector(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	selector := replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{
		replicationv1alpha1.SourceGroupLabel: "oracle", replicationv1alpha1.StateLabel: "TARGET",
	}})
	h.create("oracle", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Spec.GroupIDs = nil
		s.Spec.Template.Spec.GroupSelector = selector
	})
	h.reconcileAt(h.nextRuns(1)[0])
	runs := h.runs()
	g.Expect(runs).To(HaveLen(1))
	g.Expect(runs[0].Spec.GroupIDs).To(BeEmpty())
	g.Expect(runs[0].Spec.GroupSelector).To(Equal(selector))
}
