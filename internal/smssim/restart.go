package smssim

import "slices"

// restartState counts SMS calls toward the next automatic restart; guarded by Sim.mu.
type restartState struct {
	after    int // Config.RestartSMSAfterCalls
	calls    int // SMS calls since the last restart
	restarts int // restarts so far
}

// RestartSMS restarts the SMS service as vCenter does on an upgrade or a crash of its storage
// service: every task object vanishes (QuerySmsTaskInfo answers ManagedObjectNotFound, since SMS
// keeps its tasks in memory), while PiTs, which the array holds, remain. Sessions stay valid, as
// they belong to vCenter's session manager, not to SMS.
//
// Assumption: a restart aborts the unfinished tasks without a PiT (SMS drives the sync; the API
// reference does not say whether an array finishes a sync whose SMS task is gone, and the model
// that loses the work is the harder one for a client, which must then issue the sync again).
// It returns the refs of the aborted tasks.
func (s *Sim) RestartSMS() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restartLocked()
}

// restartLocked is RestartSMS; callers hold s.mu.
func (s *Sim) restartLocked() []string {
	s.advance(s.now())
	aborted := make([]string, 0, len(s.taskOrder))
	for _, t := range s.taskOrder {
		aborted = append(aborted, t.ref)
	}
	slices.Sort(aborted)
	clear(s.tasks)
	s.taskOrder = nil
	s.restart.calls = 0
	s.restart.restarts++
	return aborted
}

// countSMSCall counts one SMS call and restarts SMS first when the configured number of calls
// has passed since the last restart.
func (s *Sim) countSMSCall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restart.after <= 0 {
		return
	}
	if s.restart.calls >= s.restart.after {
		s.restartLocked()
	}
	s.restart.calls++
}

// SetRestartSMSAfterCalls restarts SMS after every n SMS calls (see RestartSMS); 0 means never.
func (s *Sim) SetRestartSMSAfterCalls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restart.after, s.restart.calls = max(n, 0), 0
}

// SMSRestarts returns how many times SMS restarted so far.
func (s *Sim) SMSRestarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restart.restarts
}
