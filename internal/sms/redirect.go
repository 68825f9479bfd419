package sms

import (
	"fmt"
	"net/http"
)

// RedirectError means vCenter answered a request with an HTTP redirect. The client never follows one: Go's
// http.Client would send a 307/308 POST body again (a VI/JSON Login carries the password) and copy
// custom headers such as vmware-api-session-id to whatever host and scheme the Location names.
type RedirectError struct {
	// StatusCode is the redirect's HTTP status, e.g. 307.
	StatusCode int
	// From is the address that answered with the redirect (scheme://host/path, no query).
	From string
	// To is the redirect's target (scheme://host/path, without user information or query).
	To string
}

// Error implements error.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("vcenter %s answered HTTP %d redirecting to %s: redirects are not followed, so that the credentials and the session go only to the configured url; set the url to the address that serves the API",
		e.From, e.StatusCode, e.To)
}

// refuseRedirect is the CheckRedirect of every HTTP client of this package.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	e := &RedirectError{To: bareURL(req)}
	if len(via) > 0 {
		e.From = bareURL(via[len(via)-1])
	}
	if req.Response != nil {
		e.StatusCode = req.Response.StatusCode
	}
	return e
}

// bareURL renders a request's URL without user information, query or fragment, for messages.
func bareURL(r *http.Request) string {
	if r == nil || r.URL == nil {
		return ""
	}
	u := *r.URL
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

// redirectAnswer is the RedirectError of a redirect response.
func redirectAnswer(res *http.Response) *RedirectError {
	e := &RedirectError{StatusCode: res.StatusCode, From: bareURL(res.Request)}
	if loc, err := res.Location(); err == nil {
		e.To = bareURL(&http.Request{URL: loc})
	}
	return e
}
