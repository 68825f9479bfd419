package sms

import "net/http"

// PickProvider exposes pickProvider to the tests of package sms_test.
var PickProvider = pickProvider

// NewStatusTransport exposes statusTransport to the tests of package sms_test.
func NewStatusTransport(base http.RoundTripper) http.RoundTripper { return statusTransport{base} }

// IsVersionFault exposes isVersionFault to the tests of package sms_test.
var IsVersionFault = isVersionFault
