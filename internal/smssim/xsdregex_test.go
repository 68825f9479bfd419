package smssim

import "testing"

func TestCompileXSDRegex(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{`db\+nightly\(1\)\.\[x\]$`, []string{`db+nightly(1).[x]$`}, []string{`xdb+nightly(1).[x]$`, `db+nightly(1).[x]$y`}},
		{`a$b^c`, []string{`a$b^c`}, []string{`ab`, `a`}},
		{`nightly-\d+`, []string{`nightly-1`, `nightly-42`}, []string{`nightly-`, `xnightly-1`, `nightly-1x`}},
		{`a|b`, []string{`a`, `b`}, []string{`ab`}},
		{`[^a-c]x`, []string{`dx`}, []string{`ax`}},
		{`\i\c*`, []string{`_a-1`}, []string{`1a`}},
		{`\p{Lu}+`, []string{`ABC`}, []string{`AbC`}},
		{`\\\|\.\?\*\+\(\)\{\}\-\[\]\^`, []string{`\|.?*+(){}-[]^`}, nil},
	}
	for _, c := range cases {
		re, err := compileXSDRegex(c.pattern)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		for _, s := range c.match {
			if !re.MatchString(s) {
				t.Errorf("%q does not match %q", c.pattern, s)
			}
		}
		for _, s := range c.noMatch {
			if re.MatchString(s) {
				t.Errorf("%q matches %q", c.pattern, s)
			}
		}
	}
	for _, bad := range []string{`\$`, `x\`, `(a`, `a)`, `(?i)a`, `[a`, `[a-z-[aeiou]]`, `\Q`, `\p{Lu`, `*a`} {
		if _, err := compileXSDRegex(bad); err == nil {
			t.Errorf("%q compiled, want an error", bad)
		}
	}
}
