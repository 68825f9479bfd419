package sms

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"
)

// minEchoedPassword is the shortest password withoutPassword looks for.
const minEchoedPassword = 8

// minEchoedPrefix is the shortest start of a password that withoutPassword takes out of a quote cut inside
// the password: two characters tell little, and would match the ends of ordinary words.
const minEchoedPrefix = 3

// withoutPassword keeps a password out of a login's error. A proxy or a broken server may echo the Login
// request in its answer (an HTTP 500 or 503 quoting it), and the client quotes the start of unexpected
// answers; such an error would reach the VasaProvider's condition, events and logs. The password is
// replaced wherever it appears, as sent or escaped for XML or JSON; the error keeps its kind where the
// callers tell kinds apart (service unavailable, a fault), and is otherwise a plain error of the text.
//
// A password shorter than minEchoedPassword is left alone: replacing so short a string would mangle the
// error's own words and addresses (a test's "p" in "https"). vCenter's default policy wants 8 characters.
func withoutPassword(err error, password string) error {
	if err == nil || len(password) < minEchoedPassword {
		return err
	}
	forms := []string{password, html.EscapeString(password)}
	if quoted, mErr := json.Marshal(password); mErr == nil {
		forms = append(forms, strings.Trim(string(quoted), `"`))
	}
	whole := func(s string) string {
		for _, f := range forms {
			s = strings.ReplaceAll(s, f, "***")
		}
		return s
	}
	// The client quotes only the start of an answer (a 503's body, a fault's text, an unknown fault): a
	// quote cut inside the password ends with the password's start (and maybe an ellipsis), which no
	// longer matches it whole. Only such quotes are looked at so: any other error's last word may begin
	// as the password does.
	quoted := func(s string) string {
		s = whole(s)
		end := strings.TrimSuffix(s, ellipsis)
		for _, f := range forms {
			for n := len(f) - 1; n >= minEchoedPrefix; n-- {
				if strings.HasSuffix(end, f[:n]) {
					return end[:len(end)-n] + "***" + s[len(end):]
				}
			}
		}
		return s
	}
	text := whole(err.Error())
	var (
		su    *ServiceUnavailableError
		other *OtherFaultError
		fault Fault
		login *LoginError
	)
	switch {
	case errors.As(err, &su):
		if text == err.Error() && quoted(su.Message) == su.Message {
			return err
		}
		c := *su
		c.Message = quoted(c.Message)
		return &c
	case errors.As(err, &other):
		if text == err.Error() && quoted(other.Message) == other.Message {
			return err
		}
		c := *other
		c.Message = quoted(c.Message)
		return &c
	case errors.As(err, &login):
		// A refusal quotes no answer, and must stay a LoginError, counted against the account.
	case errors.As(err, &fault), strings.Contains(text, unknownFaultText):
		text = quoted(text) // any other fault's text quotes the server's answer
	}
	if text == err.Error() {
		return err
	}
	return fmt.Errorf("%s", text)
}
