package cronschedule

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		spec, zone string
		wantErr    string // substring; "" means valid
	}{
		"five fields":                    {spec: "0 2 * * *"},
		"five fields in a zone":          {spec: "*/15 8-18 * * 1-5", zone: "Europe/Berlin"},
		"descriptor":                     {spec: "@hourly"},
		"every":                          {spec: "@every 1h30m"},
		"month and weekday names":        {spec: "0 3 * JAN,JUL SUN"},
		"TZ prefix":                      {spec: "TZ=UTC 0 2 * * *", wantErr: "set spec.timeZone instead"},
		"CRON_TZ prefix":                 {spec: "CRON_TZ=Europe/Berlin 0 2 * * *", wantErr: "set spec.timeZone instead"},
		"four fields":                    {spec: "0 2 * *", wantErr: "use five fields"},
		"six fields (seconds)":           {spec: "0 0 2 * * *", wantErr: "use five fields"},
		"garbage":                        {spec: "every night", wantErr: "does not parse"},
		"minute out of range":            {spec: "61 * * * *", wantErr: "does not parse"},
		"every faster than a minute":     {spec: "@every 30s", wantErr: "at least 1m0s"},
		"date that never exists":         {spec: "0 0 30 2 *", wantErr: "never fires"},
		"unknown zone":                   {spec: "0 2 * * *", zone: "Mars/Olympus_Mons", wantErr: "not a known IANA time zone"},
		"Local is machine dependent":     {spec: "0 2 * * *", zone: "Local", wantErr: "IANA time zone"},
		"localtime is machine dependent": {spec: "0 2 * * *", zone: "localtime", wantErr: "depends on the operator's machine"},
		"right/ is machine dependent":    {spec: "0 2 * * *", zone: "right/UTC", wantErr: "depends on the operator's machine"},
		"empty zone is UTC":              {spec: "0 2 * * *", zone: ""},
		"zone is case sensitive name":    {spec: "0 2 * * *", zone: "europe/berlin", wantErr: "not a known IANA time zone"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.spec, tc.zone)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(s).NotTo(BeNil())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

// TestNextDST pins down robfig/cron's behaviour (which CronJob shares) around the daylight saving
// changes in Europe/Berlin in 2026: clocks jump from 02:00 CET to 03:00 CEST on 29 March and
// from 03:00 CEST back to 02:00 CET on 25 October.
//
//   - A wall-clock time that does not exist on the spring-forward day ("30 2 * * *") is skipped
//     for that day: no run on 29 March, the next is 30 March 02:30.
//   - A wall-clock time that exists twice on the fall-back day ("0 2 * * *") runs twice, at
//     02:00 CEST and, an hour later, at 02:00 CET.
//   - Hourly schedules simply follow real time: 01:00 CET is followed by 03:00 CEST.
func TestNextDST(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	cest := time.FixedZone("CEST", 2*3600)
	cet := time.FixedZone("CET", 3600)
	tests := map[string]struct {
		spec string
		from time.Time
		want []time.Time
	}{
		"spring forward skips the missing 02:30": {
			spec: "30 2 * * *",
			from: time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			want: []time.Time{
				time.Date(2026, 3, 30, 2, 30, 0, 0, cest),
				time.Date(2026, 3, 31, 2, 30, 0, 0, cest),
			},
		},
		"spring forward keeps 01:30 and 03:30": {
			spec: "30 1,3 * * *",
			from: time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			want: []time.Time{
				time.Date(2026, 3, 29, 1, 30, 0, 0, cet),
				time.Date(2026, 3, 29, 3, 30, 0, 0, cest),
				time.Date(2026, 3, 30, 1, 30, 0, 0, cest),
			},
		},
		"fall back runs the repeated 02:00 twice": {
			spec: "0 2 * * *",
			from: time.Date(2026, 10, 24, 12, 0, 0, 0, berlin),
			want: []time.Time{
				time.Date(2026, 10, 25, 2, 0, 0, 0, cest),
				time.Date(2026, 10, 25, 2, 0, 0, 0, cet),
				time.Date(2026, 10, 26, 2, 0, 0, 0, cet),
			},
		},
		"hourly across spring forward": {
			spec: "0 * * * *",
			from: time.Date(2026, 3, 29, 0, 30, 0, 0, berlin),
			want: []time.Time{
				time.Date(2026, 3, 29, 1, 0, 0, 0, cet),
				time.Date(2026, 3, 29, 3, 0, 0, 0, cest),
			},
		},
		"daily in Berlin is 01:00 or 00:00 UTC": {
			spec: "0 2 * * *",
			from: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			want: []time.Time{
				time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC),
				time.Date(2026, 1, 2, 1, 0, 0, 0, time.UTC),
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.spec, "Europe/Berlin")
			g.Expect(err).NotTo(HaveOccurred())
			at := tc.from
			for i, want := range tc.want {
				at = s.Next(at)
				g.Expect(at).To(BeTemporally("==", want), "run %d", i)
				g.Expect(at.Location()).To(Equal(berlin), "times are reported in the schedule's zone")
			}
			// Previous walks the same times backwards.
			for i := len(tc.want) - 1; i > 0; i-- {
				g.Expect(s.Previous(tc.want[i])).To(BeTemporally("==", tc.want[i-1]))
			}
		})
	}
}

func TestWindow(t *testing.T) {
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC) // a Monday
	tests := map[string]struct {
		spec, zone string
		after, now time.Time
		want       Window
	}{
		"nothing due yet": {
			spec: "0 * * * *", after: base, now: base.Add(59 * time.Minute),
			want: Window{Next: base.Add(time.Hour)},
		},
		"due exactly now": {
			spec: "0 * * * *", after: base, now: base.Add(time.Hour),
			want: Window{MostRecent: base.Add(time.Hour), Next: base.Add(2 * time.Hour)},
		},
		"one due, a little late": {
			spec: "0 * * * *", after: base, now: base.Add(time.Hour + 5*time.Minute),
			want: Window{MostRecent: base.Add(time.Hour), Next: base.Add(2 * time.Hour)},
		},
		"three due: two superseded": {
			spec: "0 * * * *", after: base, now: base.Add(3*time.Hour + time.Second),
			want: Window{MostRecent: base.Add(3 * time.Hour), Skipped: 2, LastSkipped: base.Add(2 * time.Hour), Next: base.Add(4 * time.Hour)},
		},
		"exactly 101 superseded is too many": {
			spec: "* * * * *", after: base, now: base.Add(102 * time.Minute),
			want: Window{MostRecent: base.Add(102 * time.Minute), Skipped: 101, LastSkipped: base.Add(101 * time.Minute), TooMany: true, Next: base.Add(103 * time.Minute)},
		},
		"exactly 100 superseded is counted": {
			spec: "* * * * *", after: base, now: base.Add(101 * time.Minute),
			want: Window{MostRecent: base.Add(101 * time.Minute), Skipped: 100, LastSkipped: base.Add(100 * time.Minute), Next: base.Add(102 * time.Minute)},
		},
		"a day of minutes is too many and estimated": {
			spec: "* * * * *", after: base, now: base.Add(24*time.Hour + 30*time.Second),
			want: Window{MostRecent: base.Add(24 * time.Hour), Skipped: 24*60 - 1, LastSkipped: base.Add(24*time.Hour - time.Minute), TooMany: true, Next: base.Add(24*time.Hour + time.Minute)},
		},
		"a year of hours is too many": {
			spec: "0 * * * *", after: base, now: base.AddDate(1, 0, 0).Add(90 * time.Minute),
			want: Window{MostRecent: base.AddDate(1, 0, 0).Add(time.Hour), Skipped: 365*24 - 0, LastSkipped: base.AddDate(1, 0, 0), TooMany: true, Next: base.AddDate(1, 0, 0).Add(2 * time.Hour)},
		},
		"two a day for 60 days: counted, not taken from the first gap": {
			spec: "0 8,9 * * *", after: base, now: base.AddDate(0, 0, 60),
			want: Window{MostRecent: time.Date(2026, 7, 3, 9, 0, 0, 0, time.UTC), Skipped: 119, LastSkipped: time.Date(2026, 7, 3, 8, 0, 0, 0, time.UTC), TooMany: true, Next: time.Date(2026, 7, 4, 8, 0, 0, 0, time.UTC)},
		},
		"business hours for 60 days": {
			spec: "*/15 8-18 * * 1-5", after: base, now: base.AddDate(0, 0, 60),
			want: Window{MostRecent: time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC), Skipped: 1935, LastSkipped: time.Date(2026, 7, 3, 9, 45, 0, 0, time.UTC), TooMany: true, Next: time.Date(2026, 7, 3, 10, 15, 0, 0, time.UTC)},
		},
		"weekdays only: the weekend is not missed": {
			spec: "0 9 * * 1-5", after: base.AddDate(0, 0, 4), now: base.AddDate(0, 0, 7), // Friday 10:00 -> Monday 10:00
			want: Window{MostRecent: time.Date(2026, 5, 11, 9, 0, 0, 0, time.UTC), Next: time.Date(2026, 5, 12, 9, 0, 0, 0, time.UTC)},
		},
		"every: counted from the watermark": {
			spec: "@every 90m", after: base.Add(7 * time.Second), now: base.Add(5 * time.Hour),
			want: Window{MostRecent: base.Add(270*time.Minute + 7*time.Second), Skipped: 2, LastSkipped: base.Add(180*time.Minute + 7*time.Second), Next: base.Add(360*time.Minute + 7*time.Second)},
		},
		"every: none due": {
			spec: "@every 1h", after: base, now: base.Add(30 * time.Minute),
			want: Window{Next: base.Add(time.Hour)},
		},
		"every: too many is exact": {
			spec: "@every 1m", after: base, now: base.Add(200 * time.Minute),
			want: Window{MostRecent: base.Add(200 * time.Minute), Skipped: 199, LastSkipped: base.Add(199 * time.Minute), TooMany: true, Next: base.Add(201 * time.Minute)},
		},
		"clock behind the watermark": {
			spec: "0 * * * *", after: base, now: base.Add(-time.Hour),
			want: Window{Next: base.Add(time.Hour)},
		},
		"fall back in Berlin: both 02:00 runs": {
			spec: "0 2 * * *", zone: "Europe/Berlin",
			after: time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), now: time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
			want: Window{MostRecent: time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), Skipped: 1, LastSkipped: time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), Next: time.Date(2026, 10, 26, 1, 0, 0, 0, time.UTC)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.spec, tc.zone)
			g.Expect(err).NotTo(HaveOccurred())
			got := s.Window(tc.after, tc.now)
			g.Expect(got.MostRecent).To(BeTemporally("==", tc.want.MostRecent), "MostRecent")
			g.Expect(got.LastSkipped).To(BeTemporally("==", tc.want.LastSkipped), "LastSkipped")
			g.Expect(got.Next).To(BeTemporally("==", tc.want.Next), "Next")
			g.Expect(got.TooMany).To(Equal(tc.want.TooMany), "TooMany")
			g.Expect(got.Skipped).To(Equal(tc.want.Skipped), "Skipped")
			if !got.MostRecent.IsZero() {
				g.Expect(got.MostRecent.Location()).To(Equal(s.Location()))
			}
		})
	}
}

// TestWindowEstimatesPastWhatItCounts: a year of minutes is counted up to maxCounted and estimated past
// that, within 1%.
func TestWindowEstimatesPastWhatItCounts(t *testing.T) {
	g := NewWithT(t)
	s, err := Parse("* * * * *", "")
	g.Expect(err).NotTo(HaveOccurred())
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	w := s.Window(base, base.AddDate(1, 0, 0))
	g.Expect(w.TooMany).To(BeTrue())
	g.Expect(w.Skipped).To(BeNumerically("~", 365*24*60-1, 365*24*60/100))
}

// TestRPOInterval: the interval the RPO alert scales with is the gap the next run closes or the one
// before it, whichever is larger, never the gap after the next run.
func TestRPOInterval(t *testing.T) {
	monday := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	at := func(day, hour int) time.Time { return monday.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour) }
	tests := map[string]struct {
		spec, zone string
		next       time.Time
		want       time.Duration
	}{
		"hourly":                             {spec: "0 * * * *", next: at(0, 10), want: time.Hour},
		"08:00 and 09:00, next 08:00":        {spec: "0 8,9 * * *", next: at(1, 8), want: 23 * time.Hour},
		"08:00 and 09:00, next 09:00":        {spec: "0 8,9 * * *", next: at(1, 9), want: 23 * time.Hour},
		"weekdays, next Monday":              {spec: "0 9 * * 1-5", next: at(7, 9), want: 72 * time.Hour},
		"weekdays, next Tuesday":             {spec: "0 9 * * 1-5", next: at(8, 9), want: 72 * time.Hour},
		"weekdays, next Wednesday":           {spec: "0 9 * * 1-5", next: at(2, 9), want: 24 * time.Hour},
		"every 90m":                          {spec: "@every 90m", next: at(0, 3), want: 90 * time.Minute},
		"none":                               {spec: "0 * * * *", want: 0},
		"daily across spring forward Berlin": {spec: "0 4 * * *", zone: "Europe/Berlin", next: time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC), want: 24 * time.Hour},
		"monthly: February after January":    {spec: "0 0 1 * *", next: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), want: 31 * 24 * time.Hour},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := Parse(tc.spec, tc.zone)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.RPOInterval(tc.next)).To(Equal(tc.want))
		})
	}
}

// TestRPOIntervalAcrossSpringForward: a daily 02:30 run in Europe/Berlin does not happen on 29 March
// 2026, so the gap the 30 March run closes is 47 hours, as the runbook says.
func TestRPOIntervalAcrossSpringForward(t *testing.T) {
	g := NewWithT(t)
	s, err := Parse("30 2 * * *", "Europe/Berlin")
	g.Expect(err).NotTo(HaveOccurred())
	next := s.Next(time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC))
	g.Expect(next).To(BeTemporally("==", time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC)))
	g.Expect(s.RPOInterval(next)).To(Equal(47 * time.Hour))
}
