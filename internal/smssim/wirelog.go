package smssim

import "slices"

// WireRequest is one request as it arrived on the wire, for transcripts and for checking what a client
// sends (the SOAPAction version, the JSON session header).
type WireRequest struct {
	// Binding is "SOAP" or "JSON".
	Binding string
	// Method is the HTTP method and Path the URL path.
	Method, Path string
	// SOAPAction is the SOAPAction header as sent (SOAP only).
	SOAPAction string
	// ContentType and Accept are the request's headers.
	ContentType, Accept string
	// Session is the vmware-api-session-id header (JSON only); "" when absent.
	Session string
	// Body is the request body.
	Body string
}

// SetWireLog turns recording of SMS requests (and VI/JSON logins) on or off; turning it on clears the log.
// It is off by default so that a long-running simulator does not grow without bound.
func (s *Sim) SetWireLog(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wireOn, s.wireLog = on, nil
}

// WireLog returns the recorded requests in arrival order.
func (s *Sim) WireLog() []WireRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.wireLog)
}

func (s *Sim) logWire(r WireRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wireOn {
		s.wireLog = append(s.wireLog, r)
	}
}
