package pitname

import (
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestRender(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 2, 0, 0, 0, berlin)
	data := Data{ScheduleName: "nightly", Namespace: "storage", ScheduledTime: at}
	tests := map[string]struct {
		template string
		data     Data
		want     string
		wantErr  string // substring of the error; "" means success
	}{
		"default (empty)":                 {template: "", want: "nightly-20261123-0200"},
		"default spelled out":             {template: DefaultTemplate, want: "nightly-20261123-0200"},
		"namespace and zone":              {template: `{{ .Namespace }}/{{ .ScheduleName }}@{{ .ScheduledTime.Format "2006-01-02T15:04Z07:00" }}`, want: "storage/nightly@2026-11-23T02:00+01:00"},
		"UTC conversion in template":      {template: `{{ .ScheduleName }}-{{ .ScheduledTime.UTC.Format "20060102-1504" }}Z`, want: "nightly-20261123-0100Z"},
		"unix seconds":                    {template: `pit-{{ .ScheduledTime.Unix }}`, want: "pit-1795395600"},
		"surrounding space trimmed":       {template: "  {{ .ScheduleName }}\n", want: "nightly"},
		"does not parse":                  {template: `{{ .ScheduleName `, wantErr: "does not parse"},
		"unknown function":                {template: `{{ lower .ScheduleName }}`, wantErr: "does not parse"},
		"unknown field":                   {template: `{{ .Schedule }}-x`, wantErr: "does not render"},
		"bad method call":                 {template: `{{ .ScheduledTime.Format }}`, wantErr: "does not render"},
		"empty result":                    {template: `{{ if false }}x{{ end }}`, wantErr: "empty PiT name"},
		"range, which may not end":        {template: `{{ range 1000000000000 }}{{ end }}x`, wantErr: "uses range"},
		"range inside if":                 {template: `{{ if true }}{{ range 3 }}x{{ end }}{{ end }}`, wantErr: "uses range"},
		"recursion":                       {template: `{{ define "x" }}{{ template "x" }}{{ end }}{{ template "x" }}`, wantErr: "defines templates"},
		"block":                           {template: `{{ block "x" . }}y{{ end }}`, wantErr: "defines templates"},
		"with and else":                   {template: `{{ with .Namespace }}{{ . }}{{ else }}none{{ end }}-{{ .ScheduleName }}`, want: "storage-nightly"},
		"wide printf":                     {template: `{{ printf "%999999d" 1 }}`, wantErr: "a width or precision of more than 3 digits"},
		"printf width from an argument":   {template: `{{ printf "%*d" 999999 1 }}`, wantErr: "or given by *"},
		"printf wide precision":           {template: `{{ printf "%.99999f" 1.0 }}`, wantErr: "a width or precision of more than 3 digits"},
		"printf of some width":            {template: `{{ printf "%-12s|%.3s|%05d" .ScheduleName .Namespace 7 }}`, want: "nightly     |sto|00007"},
		"written wide":                    {template: `{{ printf "%999d" 1 }}{{ printf "%999d" 1 }}`, wantErr: "more than 1020 bytes, more than 255"},
		"print into a variable, doubling": {template: `{{ $a := printf "%0999d" 0 }}{{ $b := print $a $a }}{{ .ScheduleName }}`, wantErr: "more than 1020 bytes"},
		"escaping, growing":               {template: `{{ $a := printf "%0999d" 0 }}{{ $b := html $a "<<<<<<" }}{{ .ScheduleName }}`, wantErr: "more than 1020 bytes"},
		"blank result":                    {template: "   {{/* nothing */}}  ", wantErr: "empty PiT name"},
		"too long":                        {template: strings.Repeat("x", 250) + `{{ .ScheduleName }}`, wantErr: "257 bytes in UTF-8, more than 255"},
		"exactly 255":                     {template: strings.Repeat("x", 248) + `{{ .ScheduleName }}`, want: strings.Repeat("x", 248) + "nightly"},
		"255 bytes, of 2-byte characters": {template: strings.Repeat("ü", 124) + `{{ .ScheduleName }}`, want: strings.Repeat("ü", 124) + "nightly"},
		"256 bytes, of 2-byte characters": {template: strings.Repeat("ü", 124) + `x{{ .ScheduleName }}`, wantErr: "256 bytes in UTF-8, more than 255"},
		"control character inside":        {template: "{{ .ScheduleName }}\n{{ .Namespace }}", wantErr: "control character"},
		"U+FFFF inside":                   {template: "{{ .ScheduleName }}\uffff{{ .Namespace }}", wantErr: "U+FFFE or U+FFFF"},
		"error message names fields":      {template: `{{ .Nope }}`, wantErr: ".ScheduleName, .Namespace and .ScheduledTime"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			d := data
			if tc.data != (Data{}) {
				d = tc.data
			}
			got, err := func() (string, error) {
				tmpl, err := Parse(tc.template)
				if err != nil {
					return "", err
				}
				return tmpl.Render(d)
			}()
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestRenderRun(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// 25 October 2026: 02:00 CEST (00:00 UTC) and, an hour later, 02:00 CET (01:00 UTC).
	firstTwo := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC).In(berlin)
	secondTwo := time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC).In(berlin)
	tests := map[string]struct {
		template      string
		at, previous  time.Time
		want, wantErr string
	}{
		"no previous run": {
			at: firstTwo, want: "nightly-20261025-0200",
		},
		"repeated wall-clock time gets the zone whatever ran before": {
			at: secondTwo, want: "nightly-20261025-0200-CET",
		},
		"every 30 minutes through the repeated hour: 02:00 CET after 02:30 CEST": {
			at: secondTwo, previous: firstTwo.Add(30 * time.Minute), want: "nightly-20261025-0200-CET",
		},
		"every 30 minutes through the repeated hour: 02:30 CET": {
			at: secondTwo.Add(30 * time.Minute), previous: secondTwo, want: "nightly-20261025-0230-CET",
		},
		"the hour after the repeated one": {
			at: secondTwo.Add(time.Hour), previous: secondTwo.Add(30 * time.Minute), want: "nightly-20261025-0300",
		},
		"United States, 01:30 EST after 01:30 EDT": {
			at: time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC).In(newYork), previous: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC).In(newYork),
			want: "nightly-20261101-0130-EST",
		},
		"spring forward repeats nothing": {
			at: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).In(berlin), previous: time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC).In(berlin),
			want: "nightly-20260329-0300",
		},
		"distinct from the previous run": {
			at: firstTwo, previous: firstTwo.AddDate(0, 0, -1), want: "nightly-20261025-0200",
		},
		"repeated wall-clock time gets the zone": {
			at: secondTwo, previous: firstTwo, want: "nightly-20261025-0200-CET",
		},
		"template with the offset needs no repair": {
			template: `{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-1504-0700" }}`,
			at:       secondTwo, previous: firstTwo, want: "nightly-20261025-0200+0100",
		},
		"too coarse for the schedule": {
			template: `{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102" }}`,
			at:       firstTwo.Add(3 * time.Hour), previous: firstTwo.Add(2 * time.Hour),
			wantErr: `renders the same PiT name "nightly-20261025"`,
		},
		"constant name": {
			template: `nightly`, at: secondTwo.AddDate(0, 0, 1), previous: secondTwo,
			wantErr: "precisely enough to tell runs apart",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			tmpl, err := Parse(tc.template)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := tmpl.RenderRun(Data{ScheduleName: "nightly", Namespace: "ns", ScheduledTime: tc.at}, tc.previous)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// TestRenderBuildsNoLargeString: a template that multiplies a string in variables, which the output never
// shows, is refused before it allocates much: the manager renders every schedule's template many times
// per reconcile, in a pod with a memory limit.
func TestRenderBuildsNoLargeString(t *testing.T) {
	g := NewWithT(t)
	const bomb = `{{ $a := printf "%0999d" 0 }}{{ $b := printf "%s%s%s%s%s%s%s%s" $a $a $a $a $a $a $a $a }}` +
		`{{ $c := printf "%s%s%s%s%s%s%s%s" $b $b $b $b $b $b $b $b }}{{ $d := printf "%s%s%s%s%s%s%s%s" $c $c $c $c $c $c $c $c }}` +
		`{{ $e := printf "%s%s%s%s%s%s%s%s" $d $d $d $d $d $d $d $d }}{{ .ScheduleName }}-{{ len $e }}`
	g.Expect(len(bomb)).To(BeNumerically("<=", 512), "a template the CRD admits")
	tmpl, err := Parse(bomb)
	g.Expect(err).NotTo(HaveOccurred())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = tmpl.Render(Data{ScheduleName: "nightly", ScheduledTime: time.Now()})
	runtime.ReadMemStats(&after)
	g.Expect(err).To(MatchError(ContainSubstring("more than 1020 bytes")))
	g.Expect(after.TotalAlloc-before.TotalAlloc).To(BeNumerically("<", 1<<20), "bytes allocated by the render (without the caps: 4 MB, and 8 times more per step)")
}
