package smssim

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// xsdSingleEscapes are the characters XSD allows after a backslash as single-character escapes
// (https://www.w3.org/TR/xmlschema-2/#regexs), besides n, r and t.
const xsdSingleEscapes = `\|.?*+(){}-[]^`

// compileXSDRegex compiles an XML Schema regular expression, which is implicitly anchored to the
// whole string, as a Go regexp. It covers what providers see in practice: '^' and '$' are ordinary
// characters outside character classes; escapes are XSD's single-character escapes, \n \r \t, the
// multi-character escapes \s \S \d \D \w \W (\i \I \c \C approximated for ASCII) and \p{..} \P{..}.
// Anything else that XSD rejects (e.g. "\$", "(?", a dangling '\') is an error; so is character class
// subtraction, which Go's syntax lacks.
func compileXSDRegex(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?:`)
	inClass := false
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, errors.New("trailing backslash")
			}
			i++
			e := rs[i]
			switch {
			case strings.ContainsRune(xsdSingleEscapes, e), strings.ContainsRune("nrtsSdDwW", e):
				b.WriteRune('\\')
				b.WriteRune(e)
			case e == 'i' || e == 'I' || e == 'c' || e == 'C':
				if inClass {
					return nil, fmt.Errorf(`\%c inside a character class is not supported`, e)
				}
				b.WriteString(map[rune]string{
					'i': `[_:A-Za-z]`, 'I': `[^_:A-Za-z]`, 'c': `[-._:A-Za-z0-9]`, 'C': `[^-._:A-Za-z0-9]`,
				}[e])
			case e == 'p' || e == 'P':
				end := slices.Index(rs[i:], '}')
				if i+1 >= len(rs) || rs[i+1] != '{' || end < 0 {
					return nil, fmt.Errorf(`malformed \%c{...}`, e)
				}
				b.WriteRune('\\')
				b.WriteString(string(rs[i : i+end+1]))
				i += end // now at '}'
			default:
				return nil, fmt.Errorf(`invalid escape \%c`, e)
			}
		case inClass:
			switch {
			case r == '-' && i+1 < len(rs) && rs[i+1] == '[':
				return nil, errors.New("character class subtraction is not supported")
			case r == '[':
				return nil, errors.New("unescaped '[' inside a character class")
			case r == ']':
				inClass = false
			}
			b.WriteRune(r)
		case r == '[':
			inClass = true
			b.WriteRune(r)
			if i+1 < len(rs) && rs[i+1] == '^' {
				b.WriteRune('^')
				i++
			}
		case r == '^' || r == '$':
			b.WriteRune('\\') // ordinary characters in XSD
			b.WriteRune(r)
		case r == '(' && i+1 < len(rs) && rs[i+1] == '?':
			return nil, errors.New("'(?' is not XSD syntax")
		default:
			b.WriteRune(r)
		}
	}
	if inClass {
		return nil, errors.New("unterminated character class")
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	return re, nil
}
