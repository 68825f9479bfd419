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
// they belong to vCenter's session manager, not to SMS. With Config.ServiceInitializingFor, SMS then
// initializes for that long, as at start (SetServiceInitializing); a call already past vCenter's proxy
// when it restarts is answered by the restarted service.
//
// Assumption: the array finishes the syncs whose SMS tasks are gone. The VASA provider runs the sync
// on the array, apart from vCenter, and nothing tells it to stop; its PiT appears when it ends, and
// until then a sync of its groups answers SyncOngoing naming the task SMS no longer knows. The API
// reference is silent; this is the harder case for a client, which must not take a forgotten task
// for a sync that never ran and issue a second one.
// It returns the refs of the unfinished tasks that vanished.
func (s *Sim) RestartSMS() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restartLocked()
}

// restartLocked is RestartSMS; callers hold s.mu.
func (s *Sim) restartLocked() []string {
	s.advance(s.now())
	forgotten := make([]string, 0, len(s.taskOrder))
	for _, t := range s.taskOrder {
		forgotten = append(forgotten, t.ref)
	}
	slices.Sort(forgotten)
	// s.taskOrder keeps the unfinished tasks: they run on the array, finish and leave their PiTs.
	clear(s.tasks)
	if s.startup > 0 {
		s.initializeFor(s.startup)
	}
	s.restart.calls = 0
	s.restart.restarts++
	return forgotten
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
