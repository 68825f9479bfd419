package controllers

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
)

// repeatPeriods are the spans after which a pitNameTemplate that leaves out part of the date renders a
// name it rendered before ("1504" after a day, "Mon-1504" after a week, "02-1504" after a month,
// "0102-1504" after a year). A repeated name finds the old PiT and the run "succeeds" without a new one.
// Each gives the same wall-clock time that much later in the schedule's zone.
var repeatPeriods = []struct {
	name  string
	later func(time.Time) time.Time
}{
	{name: "a day", later: func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	{name: "a week", later: func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }},
	{name: "a month", later: func(t time.Time) time.Time { return sameDayLater(t, 0, 1) }},
	{name: "a year", later: func(t time.Time) time.Time { return sameDayLater(t, 1, 0) }},
}

// sameDayLater is t's day of the month and clock a whole number of (years, months) steps later, in the
// first step that has that day (the 31st of the next month with 31 days, 29 February of the next leap
// year), so a template that leaves out the month or year is caught whatever day it is checked on.
func sameDayLater(t time.Time, years, months int) time.Time {
	for k := 1; k <= 8; k++ {
		later := time.Date(t.Year()+k*years, t.Month()+time.Month(k*months), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, t.Location())
		if later.Day() == t.Day() {
			return later
		}
	}
	return time.Time{}
}

// maxRunsChecked bounds the runs of the day after the next one that validTemplate renders: a day of a
// schedule every minute.
const maxRunsChecked = 1500

// validTemplate parses pitNameTemplate and renders it for every run in the day after the next one (25
// hours: a day, and the hour the end of daylight saving time repeats), and for the next run's time a day,
// a week, a month and a year later, so a template that cannot produce distinct valid PiT names
// stalls the schedule before anything is created. A day holds the repeats of a template that gets the
// hour wrong ("0304", 12-hour clock, for "1504"), which no pair of neighbouring runs shows.
// The outcome is remembered per schedule until its spec or its next scheduled time changes.
func (r *ReplicationSyncScheduleReconciler) validTemplate(s *scheduleScope, schedule *cronschedule.Schedule) (*pitname.Template, error) {
	first := schedule.Next(s.now)
	if first.IsZero() {
		first = s.now.In(schedule.Location())
	}
	key := templateCheck{uid: s.sched.UID, generation: s.sched.Generation, first: first}
	if known, ok := r.templates.get(client.ObjectKeyFromObject(s.sched), key); ok {
		return known.tmpl, known.err
	}
	key.tmpl, key.err = checkTemplate(s, schedule, first)
	r.templates.put(client.ObjectKeyFromObject(s.sched), key)
	return key.tmpl, key.err
}

// templateChecks remembers the last outcome of validTemplate per schedule. The check renders up to 1,500
// names (7.5 ms for "* * * * *") and depends only on the schedule's spec (its generation) and its next
// scheduled time, while a schedule is reconciled several times between two runs (its run created,
// started, finished). The zero value is ready to use.
type templateChecks struct {
	mu   sync.Mutex
	last map[types.NamespacedName]templateCheck
}

// templateCheck is one outcome of validTemplate and what it was computed for.
type templateCheck struct {
	uid        types.UID
	generation int64
	first      time.Time
	tmpl       *pitname.Template
	err        error
}

// get returns the outcome stored for the schedule if it was computed for what want was.
func (c *templateChecks) get(name types.NamespacedName, want templateCheck) (templateCheck, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.last[name]
	return got, ok && got.uid == want.uid && got.generation == want.generation && got.first.Equal(want.first)
}

func (c *templateChecks) put(name types.NamespacedName, check templateCheck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[types.NamespacedName]templateCheck{}
	}
	c.last[name] = check
}

// forget drops the outcome of a deleted schedule.
func (c *templateChecks) forget(name types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, name)
}

// rendersSomeRun reports why tmpl renders the PiT name of none of the runs of the 25 hours from first (a
// run after an earlier one: the message for a name that never changes): a template that fails for some
// runs only (the zone a run in a repeated hour gets makes its name too long) leaves those runs to be
// missed with their cause when due, and the others run.
func rendersSomeRun(s *scheduleScope, tmpl *pitname.Template, schedule *cronschedule.Schedule, first time.Time) error {
	var firstErr error
	at, dayEnd := first, first.Add(25*time.Hour)
	for n := 0; n < maxRunsChecked && !at.After(dayEnd); n++ {
		next := schedule.Next(at)
		var err error
		if next.IsZero() {
			_, err = tmpl.RenderRun(s.pitData(at), time.Time{})
		} else {
			_, err = tmpl.RenderRun(s.pitData(next), at)
		}
		if err == nil {
			return nil
		}
		firstErr = cmp.Or(firstErr, err)
		if next.IsZero() {
			break
		}
		at = next
	}
	return firstErr
}

// checkTemplate is validTemplate without memory, for the first run after s.now (first).
func checkTemplate(s *scheduleScope, schedule *cronschedule.Schedule, first time.Time) (*pitname.Template, error) {
	if err := validTemplateFields(s.sched.Spec.Template); err != nil {
		return nil, err
	}
	tmpl, err := pitname.Parse(s.sched.Spec.Template.PitNameTemplate)
	if err != nil {
		return nil, err
	}
	if err := rendersSomeRun(s, tmpl, schedule, first); err != nil {
		return nil, err
	}
	seen := map[string]time.Time{}
	distinct := func(at time.Time) error {
		name, err := tmpl.RunName(s.pitData(at))
		if err != nil {
			// This run's name only (the zone it gets in a repeated hour makes it too long): that run is
			// missed with its cause when due. Failing the template would stall the runs around it too, and
			// for good, as nothing wakes a stalled schedule once that time has passed.
			return nil
		}
		if earlier, ok := seen[name]; ok && !earlier.Equal(at) {
			return fmt.Errorf("pitNameTemplate %q renders the same PiT name %q for %s and %s: it repeats after %s, and a run whose PiT name exists creates no new PiT; include the full date and the time, e.g. {{ .ScheduledTime.Format \"20060102-1504\" }}",
				s.sched.Spec.Template.PitNameTemplate, name, earlier.Format(time.RFC3339), at.Format(time.RFC3339), repeatSpan(earlier, at))
		}
		seen[name] = at
		return nil
	}
	dayEnd := first.Add(25 * time.Hour)
	for at, n := first, 0; !at.IsZero() && !at.After(dayEnd) && n < maxRunsChecked; at, n = schedule.Next(at), n+1 {
		if err := distinct(at); err != nil {
			return nil, err
		}
	}
	// The time a period later, run or not: whether it is one depends on the day checked (a weekday
	// schedule's run a year later falls on another weekday), while a template that leaves out part of
	// the date repeats for some pair of runs either way.
	for _, p := range repeatPeriods {
		if at := p.later(first); !at.IsZero() {
			if err := distinct(at); err != nil {
				return nil, err
			}
		}
	}
	return tmpl, nil
}

// repeatSpan names the time between two runs whose PiT names are the same: the period of repeatPeriods
// it matches, else the duration.
func repeatSpan(earlier, later time.Time) string {
	for _, p := range slices.Backward(repeatPeriods) {
		if at := p.later(earlier); !at.IsZero() && !later.Before(at) {
			return p.name
		}
	}
	return later.Sub(earlier).String()
}

// validTemplateFields makes the API server's checks of the labels and annotations every run gets, and
// the run's own parse of its groupSelector, so a bad one stalls the schedule when it is applied instead of
// failing every run, the first maybe hours later. (CEL rules in the CRD cannot check the labels and
// annotations: over maps of unbounded strings their estimated cost is refused. Admission checks the
// selector now, but a schedule stored before may hold one it refuses.)
func validTemplateFields(t replicationv1alpha1.ReplicationSyncTemplate) error {
	path := field.NewPath("spec", "template", "metadata")
	errs := metav1validation.ValidateLabels(t.Metadata.Labels, path.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(t.Metadata.Annotations, path.Child("annotations"))...)
	if err := errs.ToAggregate(); err != nil {
		return fmt.Errorf("the template's metadata would be refused on every run (%w): fix it; no run is created until then", err)
	}
	if sel := t.Spec.GroupSelector; sel != nil {
		if _, err := metav1.LabelSelectorAsSelector(sel.LabelSelector()); err != nil {
			return fmt.Errorf("spec.template.spec.groupSelector is not a valid label selector (%w): fix it; no run is created until then", err)
		}
	}
	return nil
}

func (s *scheduleScope) pitData(at time.Time) pitname.Data {
	return pitname.Data{ScheduleName: s.sched.Name, Namespace: s.sched.Namespace, ScheduledTime: at}
}
