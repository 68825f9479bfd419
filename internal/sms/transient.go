package sms

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ServiceUnavailableError means the SMS service is not up: it answered the ServiceNotInitialized fault, or
// vCenter answered HTTP 503 for it, as after an upgrade or a restart of vCenter's storage service.
type ServiceUnavailableError struct {
	// StatusCode is the HTTP status (503), or 0 for a fault.
	StatusCode int
	// Fault is the fault's name on the wire when it is not ServiceNotInitialized (AuthConnectionFailed:
	// SMS is up but cannot reach vCenter's vpxd).
	Fault string
	// Message is the fault's message, or the HTTP status and the start of the answer's body.
	Message string
	// MayHaveRun: vCenter's front proxy answered 503 without saying that nothing listened behind it,
	// so it may have passed the request on to SMS, which then died before answering (a restart). The
	// method may have run. False for the ServiceNotInitialized fault: SMS itself refused the call.
	MayHaveRun bool
}

// neverReached are the front proxies' 503 texts for a backend that does not listen: the request never
// reached SMS. rhttpproxy writes the first; envoy the others: older envoy says "reset reason: connection
// failure", newer "[retried and the latest ]reset reason: {local|remote} connection failure[, transport
// failure reason: delayed connect error: 111]", all for a connection to SMS that was never established.
// Its texts for a connection that failed after taking the request ("reset reason: connection
// termination", "remote reset") are not here: SMS may have got those requests.
var neverReached = []string{
	"Failed to connect to endpoint",
	"reset reason: connection failure",
	"reset reason: local connection failure",
	"reset reason: remote connection failure",
	"delayed connect error",
	"no healthy upstream",
}

// unavailableAnswer reads a 503 answer (and closes its body).
func unavailableAnswer(res *http.Response) *ServiceUnavailableError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	_ = res.Body.Close()
	// Tokens hidden before the cut, so that none straddling it leaves a part.
	text := cut(strings.TrimSpace(hideSessionTokens(string(body), res.Request)), 1<<10)
	reached := true
	for _, s := range neverReached {
		if strings.Contains(text, s) {
			reached = false
		}
	}
	if strings.Contains(text, "retried") {
		// Envoy retried and names only the last attempt's reason: an earlier one may have reached SMS.
		reached = true
	}
	msg := res.Status
	if text != "" {
		msg += ": " + text
	}
	return &ServiceUnavailableError{StatusCode: res.StatusCode, Message: msg, MayHaveRun: reached}
}

// minSessionTokenBytes is the shortest session token hideSessionTokens looks for; vCenter's are far longer.
const minSessionTokenBytes = 8

// hideSessionTokens removes from text the session tokens req carried (its cookies, the VI/JSON session
// header): a proxy's error page may echo the request's headers, and the text goes to logs, status and
// events.
func hideSessionTokens(text string, req *http.Request) string {
	if req == nil {
		return text
	}
	var tokens []string
	for _, c := range req.Cookies() {
		tokens = append(tokens, c.Value)
	}
	tokens = append(tokens, req.Header.Get(sessionHeader), req.Header.Get("Authorization"))
	for _, t := range tokens {
		if len(t) >= minSessionTokenBytes { // a short one would match ordinary text
			text = strings.ReplaceAll(text, t, "[redacted]")
		}
	}
	return text
}

// Error implements error.
func (e *ServiceUnavailableError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("sms service unavailable (HTTP %d): %s", e.StatusCode, e.Message)
	}
	return faultText(e.FaultType(), "", e.Message)
}

// FaultType implements Fault.
func (e *ServiceUnavailableError) FaultType() string {
	if e.StatusCode != 0 {
		return http.StatusText(e.StatusCode)
	}
	return cmp.Or(e.Fault, "ServiceNotInitialized")
}

// FaultMessage implements Fault.
func (e *ServiceUnavailableError) FaultMessage() string { return e.Message }

// IsTransient reports whether err is a condition that passes by itself, so the caller should back off and
// call again without counting a failure: the SMS service is starting (ServiceNotInitialized, HTTP 503), or
// the provider is busy, out of resources or unavailable for now.
func IsTransient(err error) bool {
	var (
		su   *ServiceUnavailableError
		busy *ProviderBusyError
		oor  *ProviderOutOfResourceError
		pu   *ProviderUnavailableError
	)
	return errors.As(err, &su) || errors.As(err, &busy) || errors.As(err, &oor) || errors.As(err, &pu)
}

// statusTransport turns HTTP 503, 401 and redirect answers into typed errors before govmomi's SOAP client turns
// them into an untyped status error, and bounds the answers it passes on to limit bytes.
type statusTransport struct {
	base  http.RoundTripper
	limit int64
}

// RoundTrip implements http.RoundTripper.
func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r, err := rewindable(r)
	if err != nil {
		return nil, err
	}
	res, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	switch res.StatusCode {
	case http.StatusServiceUnavailable:
		return nil, unavailableAnswer(res)
	case http.StatusUnauthorized:
		_ = res.Body.Close()
		return nil, &notAuthenticatedError{Message: "HTTP " + res.Status}
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 && res.Header.Get("Location") != "" {
		// http.Client returns a 307/308 of a SOAP body it cannot replay as an answer and follows the
		// others (as a GET): refuse them all here, as the JSON binding's CheckRedirect does.
		_ = res.Body.Close()
		return nil, redirectAnswer(res)
	}
	res.Body = limitBody(res.Body, t.limit)
	return res, nil
}

// rewindable returns r with its body buffered and GetBody set. govmomi's SOAP client sends its body as an
// io.MultiReader without GetBody, and net/http sends a request again (on a new connection, when the
// kept-alive one it picked was dead before anything was written on it) only if it can rewind the body.
// Exactly-once holds: net/http sends a POST again only when it knows none of it was written.
func rewindable(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		return r, nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	out := *r // a RoundTripper must not change the request it was given
	out.Body = replayBody{bytes.NewReader(body)}
	out.GetBody = func() (io.ReadCloser, error) { return replayBody{bytes.NewReader(body)}, nil }
	return &out, nil
}

// replayBody is a request body held in memory. It is no *bytes.Reader on purpose: for a body it does not
// know to be in memory, net/http writes the headers on their own first, so a dead connection fails there
// with nothing written, the one failure it sends a request again after (a write that fails while it copies
// a body counts as a failed body read, never sent again).
type replayBody struct{ *bytes.Reader }

// Close implements io.Closer.
func (replayBody) Close() error { return nil }

// reloginUnavailable is a 503 that met a re-login: as a *ServiceUnavailableError it says MayHaveRun false,
// the call that needed the login having been refused before it ran. It answers with a copy: the error it
// wraps may be another client's too (session.Cache hands a failed login to the logins that waited for
// the account's turn), which must still say what it said.
type reloginUnavailable struct {
	err error
	su  ServiceUnavailableError
}

func metByRelogin(err error, su *ServiceUnavailableError) error {
	e := &reloginUnavailable{err: err, su: *su}
	e.su.MayHaveRun = false
	return e
}

func (e *reloginUnavailable) Error() string { return e.err.Error() }
func (e *reloginUnavailable) Unwrap() error { return e.err }

func (e *reloginUnavailable) As(target any) bool {
	if su, ok := target.(**ServiceUnavailableError); ok {
		*su = &e.su
		return true
	}
	return false
}
