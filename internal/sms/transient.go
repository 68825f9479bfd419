package sms

import (
	"errors"
	"fmt"
	"net/http"
)

// ServiceUnavailableError means the SMS service is not up: it answered the ServiceNotInitialized fault, or
// vCenter answered HTTP 503 for it, as after an upgrade or a restart of vCenter's storage service.
type ServiceUnavailableError struct {
	// StatusCode is the HTTP status (503), or 0 for the ServiceNotInitialized fault.
	StatusCode int
	// Message is the fault's message or the HTTP status text.
	Message string
}

// Error implements error.
func (e *ServiceUnavailableError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("sms service unavailable (HTTP %d): %s", e.StatusCode, e.Message)
	}
	return faultText("ServiceNotInitialized", "", e.Message)
}

// FaultType implements Fault.
func (e *ServiceUnavailableError) FaultType() string {
	if e.StatusCode != 0 {
		return http.StatusText(e.StatusCode)
	}
	return "ServiceNotInitialized"
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

// statusTransport turns HTTP 503 and 401 answers into typed errors before govmomi's SOAP client turns
// them into an untyped status error.
type statusTransport struct{ base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	switch res.StatusCode {
	case http.StatusServiceUnavailable:
		_ = res.Body.Close()
		return nil, &ServiceUnavailableError{StatusCode: res.StatusCode, Message: res.Status}
	case http.StatusUnauthorized:
		_ = res.Body.Close()
		return nil, &notAuthenticatedError{Message: "HTTP " + res.Status}
	}
	return res, nil
}
