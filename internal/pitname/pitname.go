package pitname

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"
)

const (
	// DefaultTemplate is used when pitNameTemplate is empty (the CRD defaults it to the same text).
	DefaultTemplate = `{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-1504" }}`

	// MaxLength is the longest PiT name a ReplicationSync accepts, in bytes (UTF-8): the CRD bounds it in
	// characters and in bytes, and 255 bytes are never more than 255 characters.
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
	tmpl, err := template.New("pitNameTemplate").Option("missingkey=error").Funcs(cappedFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("pitNameTemplate %q does not parse (%w): it is a Go text/template that may use %s", text, err, fields)
	}
	if err := bounded(tmpl); err != nil {
		return nil, fmt.Errorf("pitNameTemplate %q %w: a PiT name needs text and actions such as {{ .ScheduledTime.Format \"20060102-1504\" }}, with if and with at most", text, err)
	}
	return &Template{text: text, tmpl: tmpl}, nil
}

// bounded refuses what would let one schedule's template run without end in the manager, which renders
// it many times per reconcile (validTemplate): range (over 1000000000000, say), and templates that
// define or call templates (recursion).
func bounded(tmpl *template.Template) error {
	if len(tmpl.Templates()) > 1 {
		return errors.New("defines templates (define or block)")
	}
	var walk func(parse.Node) error
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			return errors.Join(walk(n.List), walk(n.ElseList))
		case *parse.WithNode:
			return errors.Join(walk(n.List), walk(n.ElseList))
		case *parse.RangeNode:
			return errors.New("uses range")
		case *parse.TemplateNode:
			return errors.New("calls a template")
		}
		return nil
	}
	return walk(tmpl.Tree.Root)
}

// maxRendered bounds what rendering may write (bytes), whatever the template computes (printf with a
// wide field, say): four times what a PiT name may have, so that trimming white space still leaves a
// name MaxLength can judge.
const maxRendered = 4 * MaxLength

// errRenderedTooLong stops a rendering that wrote more than maxRendered bytes.
var errRenderedTooLong = fmt.Errorf("more than %d bytes", maxRendered)

// cappedFuncs replace the built-in functions that build strings. The cap on what rendering writes does not
// see a string built in a variable ({{ $a := print $b $b $b }}, each step multiplying the last), so each
// of them refuses a result of more than maxRendered bytes, and printf a width or precision that would
// build a large one before it could be refused.
var cappedFuncs = template.FuncMap{
	"print":   func(args ...any) (string, error) { return capped(fmt.Sprint(args...)) },
	"println": func(args ...any) (string, error) { return capped(fmt.Sprintln(args...)) },
	"printf": func(format string, args ...any) (string, error) {
		if wideVerb.MatchString(format) {
			return "", fmt.Errorf("printf %q: a width or precision of more than 3 digits, or given by *, is refused", format)
		}
		return capped(fmt.Sprintf(format, args...))
	},
	"html":     func(args ...any) (string, error) { return capped(template.HTMLEscaper(args...)) },
	"js":       func(args ...any) (string, error) { return capped(template.JSEscaper(args...)) },
	"urlquery": func(args ...any) (string, error) { return capped(template.URLQueryEscaper(args...)) },
}

// wideVerb matches a printf verb with a width or precision of four digits or more, or one taken from the
// arguments (*).
var wideVerb = regexp.MustCompile(`%[-+# 0]*(\*|[1-9][0-9]{3,}|[0-9]*\.(\*|0*[1-9][0-9]{3,}))`)

// capped refuses a string of more than maxRendered bytes.
func capped(s string) (string, error) {
	if len(s) > maxRendered {
		return "", errRenderedTooLong
	}
	return s, nil
}

// cappedBuilder is a strings.Builder that refuses to grow past maxRendered.
type cappedBuilder struct{ strings.Builder }

func (b *cappedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errRenderedTooLong
	}
	return b.Builder.Write(p)
}

// Render executes the template for one run and checks the result is a usable PiT name:
// surrounding white space is trimmed, and the name must be non-empty, at most MaxLength
// bytes and free of control characters.
func (t *Template) Render(d Data) (string, error) {
	var b cappedBuilder
	if err := t.tmpl.Execute(&b, d); errors.Is(err, errRenderedTooLong) {
		return "", fmt.Errorf("pitNameTemplate %q renders a PiT name of %w, more than %d: shorten the template", t.text, err, MaxLength)
	} else if err != nil {
		return "", fmt.Errorf("pitNameTemplate %q does not render (%w): it may use only %s", t.text, err, fields)
	}
	name := strings.TrimSpace(b.String())
	switch {
	case name == "":
		return "", fmt.Errorf("pitNameTemplate %q renders an empty PiT name: include at least {{ .ScheduleName }} and the scheduled time", t.text)
	case len(name) > MaxLength: // bytes, as the CRD's rule on pitName counts them
		return "", fmt.Errorf("pitNameTemplate %q renders a PiT name of %d bytes in UTF-8, more than %d: shorten the template", t.text, len(name), MaxLength)
	case strings.IndexFunc(name, Unsendable) >= 0:
		return "", fmt.Errorf("pitNameTemplate %q renders a PiT name with a control character, U+FFFE or U+FFFF (%q): remove line breaks and tabs from the template", t.text, name)
	}
	return name, nil
}

// Sendable reports whether the API takes s as a PiT name or a groupIds id: no white space around it and
// no Unsendable character (the CRD's rules, which catch typing mistakes as well).
func Sendable(s string) bool {
	return s == strings.TrimSpace(s) && strings.IndexFunc(s, Unsendable) < 0
}

// Unsendable reports a character the API refuses in PiT names and group ids: a control character, or
// U+FFFE or U+FFFF, which XML cannot carry (the SOAP encoder sends U+FFFD in their place, so the provider
// would get another name, and the PiT lookup that keeps a run exactly-once would never find it).
func Unsendable(r rune) bool {
	return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF
}

// RenderRun renders the PiT name of the run at d.ScheduledTime (RunName) and makes sure the template
// tells it from the run before it (at previous; zero when there is none), because a PiT name that
// already exists counts as synced and the run would create nothing. A collision other than a
// wall-clock time repeated when daylight saving time ends means the template is too coarse.
func (t *Template) RenderRun(d Data, previous time.Time) (string, error) {
	name, err := t.RunName(d)
	if err != nil || previous.IsZero() {
		return name, err
	}
	prev := d
	prev.ScheduledTime = previous.In(d.ScheduledTime.Location())
	prevName, err := t.Render(prev)
	if err != nil {
		return "", err
	}
	if rendered, _ := t.Render(d); rendered != prevName {
		return name, nil
	}
	if first, repeated := firstShowing(d.ScheduledTime); repeated && first.Equal(prev.ScheduledTime) {
		return name, nil
	}
	return "", fmt.Errorf("pitNameTemplate %q renders the same PiT name %q for the runs at %s and %s: include .ScheduledTime precisely enough to tell runs apart, e.g. {{ .ScheduledTime.Format \"20060102-1504\" }}",
		t.text, prevName, prev.ScheduledTime.Format(time.RFC3339), d.ScheduledTime.Format(time.RFC3339))
}

// RunName renders the PiT name of the run at d.ScheduledTime. A wall-clock time that occurs twice when
// daylight saving time ends (02:00 CEST, then 02:00 CET) renders the same name twice with most
// templates, so the second gets the zone abbreviation appended ("-CET") whenever the first would render
// the same name: the repair depends on the time alone, not on which runs the schedule fires around it
// (a schedule every 30 minutes fires 02:00 CEST, 02:30 CEST, 02:00 CET, 02:30 CET).
func (t *Template) RunName(d Data) (string, error) {
	name, err := t.Render(d)
	if err != nil {
		return "", err
	}
	first, repeated := firstShowing(d.ScheduledTime)
	if !repeated {
		return name, nil
	}
	earlier := d
	earlier.ScheduledTime = first
	if firstName, err := t.Render(earlier); err != nil || firstName != name {
		return name, err
	}
	return WithZone(name, d.ScheduledTime)
}

// WithZone appends the abbreviation of at's time zone to name, as long as the result is a usable length.
func WithZone(name string, at time.Time) (string, error) {
	zoned := name + "-" + at.Format("MST")
	if n := len(zoned); n > MaxLength {
		return "", fmt.Errorf("PiT name %q needs its time zone appended to tell it from an earlier run's, and would then have %d bytes in UTF-8, more than %d: shorten the pitNameTemplate",
			name, n, MaxLength)
	}
	return zoned, nil
}

// firstShowing returns the earlier instant at which the clock of t's zone showed what it shows at t,
// when t lies in the span a change back from daylight saving time repeats (02:00-03:00 on the last
// Sunday of October in Europe, 01:00-02:00 on the first Sunday of November in the United States).
func firstShowing(t time.Time) (time.Time, bool) {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return time.Time{}, false
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, offset := t.Zone()
	back := time.Duration(before-offset) * time.Second
	if back <= 0 || t.Sub(start) >= back {
		return time.Time{}, false
	}
	return t.Add(-back), true
}
