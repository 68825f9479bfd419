package sms

import "net/http"

// NewStatusTransport exposes statusTransport to the tests of package sms_test.
func NewStatusTransport(base http.RoundTripper) http.RoundTripper { return statusTransport{base} }
