package pitname

import (
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// DefaultTemplate is used when pitNameTemplate is empty (the CRD defaults it to the same text).
	DefaultTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-1504" }}`

	// MaxLength is the longest PiT name a ReplicationSync accepts.
	MaxLength = 255

	// fields names what a template may use, for error messages.
	fields = ".ScheduleName, .Namespace and .ScheduledTime (a time.Time in the schedule's time zone)"
)

// Data is what a pitNameTemplate is executed with.
type Data struct {
	// ScheduleName is the ReplicationSyncSchedule's name.
	ScheduleName string
	// Namespace is the schedule's namespace.
	Namespace string
	// ScheduledTime is the run's scheduled time in the schedule's time zone.
	ScheduledTime time.Time
}

// Template is a parsed pitNameTemplate.
type Template struct {
	text string
	tmpl *template.Template
}

// Parse parses a pitNameTemplate; "" means DefaultTemplate.
func Parse(text string) (*Template, error) {
	if text == "" {
		text = DefaultTemplate
	}
	tmpl, err := template.New("pitNameTemplate").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("pitNameTemplate %q does not parse (%w): it is a Go text/template that may use %s", text, err, fields)
	}
	return &Template{text: text, tmpl: tmpl}, nil
}

// Render executes the template for one run and checks the result is a usable PiT name:
// surrounding white space is trimmed, and the name must be non-empty, at most MaxLength
// characters and free of control characters.
func (t *Template) Render(d Data) (string, error) {
	var b strings.Builder
	if err := t.tmpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("pitNameTemplate %q does not render (%w): it may use only %s", t.text, err, fields)
	}
	name := strings.TrimSpace(b.String())
	switch {
	case name == "":
		return "", fmt.Errorf("pitNameTemplate %q renders an empty PiT name: include at least {{ .ScheduleName }} and the scheduled time", t.text)
	case utf8.RuneCountInString(name) > MaxLength: // characters, as the CRD's maxLength counts them
		return "", fmt.Errorf("pitNameTemplate %q renders a PiT name of %d characters, more than %d: shorten the template", t.text, utf8.RuneCountInString(name), MaxLength)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", fmt.Errorf("pitNameTemplate %q renders a PiT name with a control character (%q): remove line breaks and tabs from the template", t.text, name)
	}
	return name, nil
}

// RenderRun renders the PiT name of the run at d.ScheduledTime and makes sure it differs from
// the name of the run before it (at previous; zero when there is none), because a PiT name that
// already exists counts as synced and the run would create nothing.
//
// The one collision it repairs is a wall-clock time that occurs twice when daylight saving time
// ends (e.g. 02:00 CEST and 02:00 CET): the second run gets the zone abbreviation appended
// ("-CET"). Any other collision means the template is too coarse and is an error.
func (t *Template) RenderRun(d Data, previous time.Time) (string, error) {
	name, err := t.Render(d)
	if err != nil || previous.IsZero() {
		return name, err
	}
	prev := d
	prev.ScheduledTime = previous.In(d.ScheduledTime.Location())
	prevName, err := t.Render(prev)
	if err != nil || prevName != name {
		return name, err
	}
	_, offset := d.ScheduledTime.Zone()
	_, prevOffset := prev.ScheduledTime.Zone()
	if offset != prevOffset {
		zoned := name + "-" + d.ScheduledTime.Format("MST")
		if utf8.RuneCountInString(zoned) <= MaxLength {
			return zoned, nil
		}
	}
	return "", fmt.Errorf("pitNameTemplate %q renders the same PiT name %q for the runs at %s and %s: include .ScheduledTime precisely enough to tell runs apart, e.g. {{ .ScheduledTime.Format \"20060102-1504\" }}",
		t.text, name, prev.ScheduledTime.Format(time.RFC3339), d.ScheduledTime.Format(time.RFC3339))
}
