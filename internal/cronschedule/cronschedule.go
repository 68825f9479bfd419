package cronschedule

import (
	"fmt"
	"strings"
	"time"

	// The manager image (distroless/static) has no zoneinfo: embed it so timeZone always resolves.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

const (
	// MaxMissed is how many skipped runs Window lists. Beyond it Window.TooMany is set, as CronJob does
	// for more than 100 missed start times, and they are counted without being listed.
	MaxMissed = 100

	// MinInterval is the shortest interval of an @every schedule. Runs are named after the
	// minute they were scheduled for, so two runs must never fall into the same minute.
	MinInterval = time.Minute

	// maxLookback bounds the backwards search for the latest scheduled time; robfig/cron gives
	// up after five years when searching forward, so nothing can be found farther back either.
	maxLookback = 6 * 366 * 24 * time.Hour
)

// parser is the standard five-field parser with descriptors (@hourly, @every 1h), as CronJob uses.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// neverFiresReference is the instant from which Parse checks that a schedule fires at all.
var neverFiresReference = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Schedule is a parsed cron schedule read in a time zone.
type Schedule struct {
	sched cron.Schedule
	loc   *time.Location
	// every is the interval of an @every schedule, zero for calendar schedules.
	every time.Duration
}

// Parse parses a cron expression or descriptor and an IANA time zone ("" means UTC).
// Errors say what to change.
func Parse(spec, timeZone string) (*Schedule, error) {
	loc, err := LoadLocation(timeZone)
	if err != nil {
		return nil, err
	}
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("schedule %q sets a time zone with TZ= or CRON_TZ=: remove it and set spec.timeZone instead", spec)
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q does not parse (%w): use five fields (minute hour day-of-month month day-of-week) or a descriptor such as @hourly or @every 1h", spec, err)
	}
	s := &Schedule{sched: sched, loc: loc}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		if every.Delay < MinInterval {
			return nil, fmt.Errorf("schedule %q runs more often than once a minute: use an interval of at least %s", spec, MinInterval)
		}
		s.every = every.Delay
	}
	if s.Next(neverFiresReference).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires (no such date): fix the day-of-month and month fields", spec)
	}
	return s, nil
}

// LoadLocation resolves an IANA time zone name; "" means UTC. Names whose meaning depends on the
// machine are refused: "Local" and "localtime" (its zone), "posixrules", and the "posix/" and "right/"
// trees some systems' zoneinfo has and the operator's embedded one lacks.
func LoadLocation(name string) (*time.Location, error) {
	switch {
	case name == "":
		return time.UTC, nil
	case name == "Local" || name == "localtime" || name == "posixrules" || strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/"):
		return nil, fmt.Errorf("timeZone %q depends on the operator's machine: name an IANA time zone such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timeZone %q is not a known IANA time zone (%w): use a name such as Europe/Berlin or UTC", name, err)
	}
	return loc, nil
}

// Location is the time zone the schedule is read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next is the first scheduled time after t, in the schedule's zone; zero if there is none within
// five years. For @every schedules the times are counted from t.
func (s *Schedule) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.In(s.loc)
}

// Previous is the latest scheduled time before t, in the schedule's zone; zero if there is none.
// For @every schedules it is t minus the interval (t is taken to be a scheduled time).
func (s *Schedule) Previous(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(-s.every).In(s.loc)
	}
	return s.latestAtOrBefore(t.Add(-time.Nanosecond))
}

// RPOInterval is how long the schedule may go between recovery points while next is its next
// scheduled time: the larger of the gap next closes (next minus the scheduled time before it) and the
// gap before that one, which the run started at that earlier time may still be closing. So "0 8,9 * * *"
// gives 23h from 09:00 to 08:00 and keeps 23h from 08:00 to 09:00 (the 08:00 run may still run); a
// weekday schedule gives the weekend gap around the weekend. Zero when next is zero. For the first run
// of a new schedule the earlier times lie before its creation: the gaps are still the schedule's own.
func (s *Schedule) RPOInterval(next time.Time) time.Duration {
	if next.IsZero() {
		return 0
	}
	prev := s.Previous(next)
	if prev.IsZero() {
		// No scheduled time within the lookback: the gap after next is the best guess.
		if after := s.Next(next); !after.IsZero() {
			return after.Sub(next)
		}
		return 0
	}
	gap := next.Sub(prev)
	if before := s.Previous(prev); !before.IsZero() {
		gap = max(gap, prev.Sub(before))
	}
	return gap
}

// latestAtOrBefore finds the latest scheduled time <= t of a calendar schedule by looking back
// over doubling windows, so it costs a few dozen Next calls however long ago that was.
func (s *Schedule) latestAtOrBefore(t time.Time) time.Time {
	for d := time.Minute; d <= maxLookback; d *= 2 {
		found := s.Next(t.Add(-d))
		if found.IsZero() || found.After(t) {
			continue
		}
		// The window (t-d/2, t] held no scheduled time, so this walk stays within (t-d, t-d/2].
		for {
			n := s.Next(found)
			if n.IsZero() || n.After(t) {
				return found
			}
			found = n
		}
	}
	return time.Time{}
}

// Window is what is due between a watermark (the last scheduled time already accounted for) and now.
// All times are in the schedule's zone.
type Window struct {
	// MostRecent is the latest scheduled time in (after, now]; zero when none is due.
	MostRecent time.Time
	// Skipped counts the scheduled times in (after, MostRecent): runs superseded by MostRecent.
	// Past maxCounted it is an estimate at the average interval of those counted.
	Skipped int
	// LastSkipped is the latest of the skipped times; zero when Skipped is 0.
	LastSkipped time.Time
	// TooMany is set when more than MaxMissed runs were skipped; they were not enumerated.
	TooMany bool
	// Next is the first scheduled time after now; zero when the schedule never fires again.
	Next time.Time
}

// GridAtOrBefore is the latest time at or before t of the @every grid that starts at anchor (the after of
// Window), so that a Window from it holds the grid's times after t; for a cron schedule, whose times do
// not depend on an anchor, it is t.
func (s *Schedule) GridAtOrBefore(anchor, t time.Time) time.Time {
	if s.every <= 0 || t.Before(anchor) {
		return t
	}
	base := s.everyBase(anchor)
	return base.Add(t.Sub(base) / s.every * s.every)
}

// everyBase is the start of the @every grid anchored at after: robfig/cron's ConstantDelaySchedule
// drops the sub-second part of its argument.
func (s *Schedule) everyBase(after time.Time) time.Time {
	return after.Add(-time.Duration(after.Nanosecond())).In(s.loc)
}

// Window computes the runs due in (after, now].
func (s *Schedule) Window(after, now time.Time) Window {
	if s.every > 0 {
		return s.everyWindow(after, now)
	}
	var (
		w     Window
		times []time.Time
		t     = after
	)
	for {
		t = s.Next(t)
		if t.IsZero() || t.After(now) {
			break
		}
		if len(times) == MaxMissed+2 {
			return s.tooManyWindow(times, now)
		}
		times = append(times, t)
	}
	w.Next = t
	if n := len(times); n > 0 {
		w.MostRecent = times[n-1]
		w.Skipped = n - 1
		if n > 1 {
			w.LastSkipped = times[n-2]
		}
		w.TooMany = w.Skipped > MaxMissed
	}
	return w
}

// tooManyWindow finds the most recent run and counts the skipped ones without keeping them: exactly up
// to maxCounted of them, past that at the average interval of those counted. The interval between the
// first two alone would count an uneven schedule (08:00 and 09:00 daily, business hours) several times
// over.
func (s *Schedule) tooManyWindow(first []time.Time, now time.Time) Window {
	w := Window{TooMany: true}
	w.MostRecent = s.latestAtOrBefore(now)
	w.LastSkipped = s.Previous(w.MostRecent)
	w.Next = s.Next(w.MostRecent)
	n, t := len(first), first[len(first)-1] // n: the times in [first[0], t]
	for t.Before(w.MostRecent) && n < maxCounted {
		t = s.Next(t)
		n++
	}
	w.Skipped = n - 1
	if t.Before(w.MostRecent) {
		w.Skipped += int(w.MostRecent.Sub(t) / (t.Sub(first[0]) / time.Duration(n-1)))
	}
	w.Skipped = max(w.Skipped, MaxMissed+1)
	return w
}

// maxCounted bounds the skipped runs tooManyWindow counts one by one (a few milliseconds of work).
const maxCounted = 20000

// everyWindow is Window for @every schedules, whose times are after + k*interval: exact arithmetic.
func (s *Schedule) everyWindow(after, now time.Time) Window {
	base := s.everyBase(after)
	var w Window
	if !now.Before(base) {
		k := int64(now.Sub(base) / s.every)
		if k > 0 {
			w.MostRecent = base.Add(time.Duration(k) * s.every)
			w.Skipped = int(k - 1)
			if k > 1 {
				w.LastSkipped = w.MostRecent.Add(-s.every)
			}
			w.TooMany = w.Skipped > MaxMissed
		}
	}
	if w.MostRecent.IsZero() {
		w.Next = base.Add(s.every)
	} else {
		w.Next = w.MostRecent.Add(s.every)
	}
	return w
}
