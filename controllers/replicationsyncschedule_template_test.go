package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
)

func TestSameDayLater(t *testing.T) {
	tests := map[string]struct {
		from          time.Time
		years, months int
		want          time.Time
	}{
		"next month":                        {from: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC), months: 1, want: time.Date(2026, 6, 4, 10, 30, 0, 0, time.UTC)},
		"31st: the next month with 31 days": {from: time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC), months: 1, want: time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)},
		"next year":                         {from: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC), years: 1, want: time.Date(2027, 5, 4, 10, 0, 0, 0, time.UTC)},
		"29 February: next leap year":       {from: time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), years: 1, want: time.Date(2032, 2, 29, 10, 0, 0, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(sameDayLater(tc.from, tc.years, tc.months)).To(BeTemporally("==", tc.want))
		})
	}
}

// TestValidTemplateRemembersItsOutcome: the template check (1,500 names for "* * * * *") runs once per
// spec and next scheduled time, not on every reconcile; a new next run, an edit or a re-created schedule
// checks again, and so does a template found invalid once fixed.
func TestValidTemplateRemembersItsOutcome(t *testing.T) {
	g := NewWithT(t)
	r := &ReplicationSyncScheduleReconciler{}
	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "every-minute", UID: "uid-1", Generation: 1},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "* * * * *",
			Template: replicationv1alpha1.ReplicationSyncTemplate{PitNameTemplate: "{{ .ScheduledTime.Format \"1504\" }}"},
		},
	}
	schedule, err := cronschedule.Parse(sched.Spec.Schedule, "")
	g.Expect(err).NotTo(HaveOccurred())
	check := func(now time.Time) (*pitname.Template, error) {
		return r.validTemplate(&scheduleScope{sched: sched, now: now}, schedule)
	}
	now := time.Date(2026, 12, 4, 3, 0, 5, 0, time.UTC)

	_, invalid := check(now)
	g.Expect(invalid).To(MatchError(ContainSubstring("repeats after a day")))
	sched.Generation, sched.Spec.Template.PitNameTemplate = 2, "{{ .ScheduledTime.Format \"20060102-1504\" }}"
	first, err := check(now)
	g.Expect(err).NotTo(HaveOccurred(), "the fixed template is checked again")

	again, err := check(now.Add(50 * time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(BeIdenticalTo(first), "same spec, same next run: not checked again")

	nextMinute, err := check(now.Add(time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nextMinute).NotTo(BeIdenticalTo(first), "a new next run is checked")

	sched.UID = "uid-2" // deleted and created again with the same name
	recreated, err := check(now.Add(time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recreated).NotTo(BeIdenticalTo(nextMinute))
}
