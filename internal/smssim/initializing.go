package smssim

import "time"

// initPhase is where the SMS service is in its start-up after a restart.
type initPhase int

const (
	// phaseUp: the service answers normally.
	phaseUp initPhase = iota
	// phaseUnavailable: vCenter's reverse proxy has no SMS backend yet and answers HTTP 503.
	phaseUnavailable
	// phaseNotInitialized: SMS answers, but every call gets the ServiceNotInitialized fault.
	phaseNotInitialized
)

// The texts of vCenter's front proxy (envoy's wording) when SMS cannot answer. Which proxy a release
// runs, and that it answers these for SMS's endpoint, is assumed.
const (
	// NoBackendText: nothing listens behind the proxy; the request never reached SMS.
	NoBackendText = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	// UpstreamResetText: SMS took the request and its connection dropped before it answered.
	UpstreamResetText = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)

// SetServiceInitializing makes the SMS service initialize for d from now, as vCenter's storage service
// does after an upgrade or a restart: the first half of d every SMS call (both bindings) gets HTTP 503,
// the second half the ServiceNotInitialized fault. The split is assumed: field reports show both answers
// but not their order or length. Logins on /sdk keep working, since vpxd itself is up. d <= 0 ends it.
func (s *Sim) SetServiceInitializing(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initializeFor(d)
}

// initializeFor is SetServiceInitializing; callers hold s.mu.
func (s *Sim) initializeFor(d time.Duration) {
	if d <= 0 {
		s.initFrom, s.initUntil = time.Time{}, time.Time{}
		return
	}
	now := s.now()
	s.initFrom, s.initUntil = now, now.Add(d)
}

// ServiceInitializing reports whether the SMS service is still initializing.
func (s *Sim) ServiceInitializing() bool { return s.initPhase() != phaseUp }

// initPhase returns the phase of the SMS service now.
func (s *Sim) initPhase() initPhase {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.initUntil.IsZero() || !now.Before(s.initUntil) {
		return phaseUp
	}
	if now.Before(s.initFrom.Add(s.initUntil.Sub(s.initFrom) / 2)) {
		return phaseUnavailable
	}
	return phaseNotInitialized
}
