package bench

import (
	"fmt"
	"math"
	"time"
)

// Scenario is one measured run: Syncs ReplicationSyncs of Groups groups each, created at once, against
// one provider with the given limits.
type Scenario struct {
	// Name names the row.
	Name string
	// Groups is the number of groups per ReplicationSync.
	Groups int
	// Syncs is the number of ReplicationSyncs; 0 means 1.
	Syncs int
	// BatchSize is the provider's maxBatchSize (TooMany beyond it); 0 means no limit.
	BatchSize int32
	// Slots is the provider's maxConcurrentTasks (ProviderBusy beyond it), also set as the
	// VasaProvider's spec.maxConcurrentTasks, as an administrator would.
	Slots int
	// Task is the median task duration; Jitter spreads it uniformly by ± Jitter.
	Task, Jitter time.Duration
	// NaiveGroups is how many groups the naive client syncs to estimate its time for all of them
	// (it is sequential, so its time per group does not depend on how many there are); 0 skips it.
	NaiveGroups int
	// Timeout bounds the wait for every sync to finish.
	Timeout time.Duration
	// Idle, when set, counts provider calls for that long after every sync finished, then again for
	// that long after a manager restart.
	Idle time.Duration
}

// syncs returns Syncs with its default.
func (s Scenario) syncs() int { return max(s.Syncs, 1) }

// manySyncs tells a row of many one-group syncs, whose baseline is the API floor (floor.go).
func (s Scenario) manySyncs() bool { return s.Groups == 1 && s.syncs() > 1 }

// Tasks is the fewest sync tasks the provider allows: each sync's groups in batches of BatchSize.
func (s Scenario) Tasks() int {
	b := s.Groups
	if s.BatchSize > 0 {
		b = min(b, int(s.BatchSize))
	}
	return s.syncs() * int(math.Ceil(float64(s.Groups)/float64(b)))
}

// Limit is the provider's limit on the makespan: ⌈tasks / C⌉ waves of T.
func (s Scenario) Limit() time.Duration {
	waves := math.Ceil(float64(s.Tasks()) / float64(max(s.Slots, 1)))
	return time.Duration(waves) * s.Task
}

// validate names the first bad field.
func (s Scenario) validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("scenario: name is empty")
	case s.Groups < 1:
		return fmt.Errorf("scenario %s: groups must be at least 1", s.Name)
	case s.Slots < 1 || s.Slots > 64:
		return fmt.Errorf("scenario %s: slots must be 1..64 (the VasaProvider's bounds)", s.Name)
	case s.Task <= 0:
		return fmt.Errorf("scenario %s: task must be positive", s.Name)
	case s.Jitter < 0 || s.Jitter >= s.Task:
		return fmt.Errorf("scenario %s: jitter must be in [0, task)", s.Name)
	case s.Timeout <= 0:
		return fmt.Errorf("scenario %s: timeout must be positive", s.Name)
	}
	return nil
}

// Result is what one scenario measured.
type Result struct {
	Scenario Scenario
	// Finished is how many syncs finished before the timeout; Failed how many of them Failed.
	Finished, Failed int
	// Created is how long creating the syncs took.
	Created time.Duration
	// Makespan runs from the first create to the last sync seen finished.
	Makespan time.Duration
	// DrawnLimit is the provider's limit for the task durations drawn in this run (measure.go).
	DrawnLimit time.Duration
	// SlotsBusy is the share of C × makespan the provider spent running this run's tasks.
	SlotsBusy float64
	// Naive is the naive client's estimated time for every group; 0 when not measured.
	Naive time.Duration
	// Floor is the API floor measured before a many-syncs run; zero for the other rows.
	Floor Floor
	// Tasks is how many sync tasks the run created; SyncCalls how many sync calls it made.
	Tasks, SyncCalls int
	// Polls is how many QuerySmsTaskInfo calls the manager made.
	Polls int
	// SteadyTasks and SteadyPolls count the tasks that started after the run's first task ended (the
	// manager knew the provider's task durations by then) and the queries the simulator answered for them.
	SteadyTasks, SteadyPolls int
	// LagP50 and LagP95 are the delays from a task's end to its group seen Synced.
	LagP50, LagP95 time.Duration
	// NoticedP50 and NoticedP95 are the delays from a task's end to the first query answered that it
	// ended: the part of the lag that is the polls' (the rest is the status write and the watch).
	NoticedP50, NoticedP95 time.Duration
	// LagSamples and NoticedSamples are how many delays the lag and noticed percentiles were drawn from
	// (groups seen Synced after a task of theirs ended, tasks seen ended by a query): with none, the
	// percentiles read 0, as a run without any delay would.
	LagSamples, NoticedSamples int
	// IdleP50 and IdleP95 are how long a slot freed by a task stood free before the next task took it.
	IdleP50, IdleP95 time.Duration
	// SyncedGroups is how many groups were seen Synced.
	SyncedGroups int
	// Writes and Bytes are the ReplicationSync versions the watch saw and their JSON size.
	Writes int
	Bytes  int64
	// SentBytes is the request bytes the manager sent to the API server.
	SentBytes int64
	// APIRequests are the manager's API requests by "verb resource".
	APIRequests map[string]int
	// ProviderCalls are the manager's provider calls by method during the run.
	ProviderCalls map[string]int
	// PeakRSS and RSS are the manager's VmHWM and VmRSS at the end, in bytes.
	PeakRSS, RSS uint64
	// ManagerCPU, APIServerCPU and EtcdCPU are CPU seconds used during the run.
	ManagerCPU, APIServerCPU, EtcdCPU float64
	// BenchCPU is what this process used meanwhile: creating the syncs, the simulator, the proxies
	// and the watch. On a small machine it competes with the rest for the same cores.
	BenchCPU float64
	// IdleCalls and RestartCalls are provider calls by method during Idle after the run and after a
	// manager restart; RestartSyncCalls counts sync calls after the restart.
	IdleCalls, RestartCalls map[string]int
}

// Ratio is makespan / limit.
func (r Result) Ratio() float64 { return seconds(r.Makespan) / seconds(r.Scenario.Limit()) }

// DrawnRatio is makespan / the limit for the durations drawn in this run; 0 when no task ran.
func (r Result) DrawnRatio() float64 {
	if r.DrawnLimit == 0 {
		return 0
	}
	return seconds(r.Makespan) / seconds(r.DrawnLimit)
}

// NaiveRatio is naive / makespan; 0 when the naive client was not measured.
func (r Result) NaiveRatio() float64 {
	if r.Naive == 0 || r.Makespan == 0 {
		return 0
	}
	return seconds(r.Naive) / seconds(r.Makespan)
}

// FloorRatio is makespan / API floor; 0 when the floor was not measured.
func (r Result) FloorRatio() float64 {
	if r.Floor.Time == 0 {
		return 0
	}
	return seconds(r.Makespan) / seconds(r.Floor.Time)
}

// PollsPerTask is QuerySmsTaskInfo calls per task.
func (r Result) PollsPerTask() float64 { return perN(float64(r.Polls), r.Tasks) }

// SteadyPollsPerTask is queries per task once the manager had seen a task of the provider end.
func (r Result) SteadyPollsPerTask() float64 { return perN(float64(r.SteadyPolls), r.SteadyTasks) }

// WritesPerGroup and BytesPerGroup divide the status writes by the synced groups.
func (r Result) WritesPerGroup() float64 { return perN(float64(r.Writes), r.SyncedGroups) }

// BytesPerGroup is the JSON bytes of the written versions per synced group.
func (r Result) BytesPerGroup() float64 { return perN(float64(r.Bytes), r.SyncedGroups) }

// SentPerGroup is the request bytes the manager sent per synced group.
func (r Result) SentPerGroup() float64 { return perN(float64(r.SentBytes), r.SyncedGroups) }

// perN is v/n, 0 when n is 0.
func perN(v float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return v / float64(n)
}

// seconds is d in seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }
