package sms

import (
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// connTransport marks the error of a round trip that failed before it had a connection to send on
// (ErrNotSent), so that a sync call it refused is backed off, not in doubt: a TCP dial or a TLS handshake
// that failed (a vCenter's reverse proxy restarting resets it there), an HTTPS proxy (HTTPS_PROXY) that
// could not be reached or refused the tunnel, a context that ended while the request waited for a
// connection. net/http dials a proxy with DialContext, not DialTLSContext, and does the TLS handshake
// after the tunnel with TLSClientConfig: only a trace of the connection sees all of these. net/http sends a
// request again (on a new connection) only when none of it was written, so the last attempt's counts.
type connTransport struct{ base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t connTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { connected.Store(false) },
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}
	res, err := t.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	if err != nil && !connected.Load() {
		return nil, &connectError{err: err}
	}
	return res, err
}

// CloseIdleConnections closes the idle connections of the transport below: http.Client's closes them
// only through a transport that has the method.
func (t connTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// connectError is a round trip that failed before it had a connection: nothing was sent. Its text is its
// cause's.
type connectError struct{ err error }

func (e *connectError) Error() string   { return e.err.Error() }
func (e *connectError) Unwrap() []error { return []error{e.err, ErrNotSent} }
