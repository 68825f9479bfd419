package smssim

import "time"

// SetClock makes s read the time from now: tests order task states by moving it, instead of waiting.
// Set it before the simulator is used.
func (s *Sim) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetSleep makes the providers' latencies wait with sleep: tests see a call inside its latency.
func (s *Sim) SetSleep(sleep func(time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sleep = sleep
}
