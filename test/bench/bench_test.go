package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sweepBase is the sweep's centre: each row changes one of its knobs.
var sweepBase = Scenario{Groups: 256, BatchSize: 16, Slots: 4, Task: 2 * time.Second, Jitter: 500 * time.Millisecond}

// BenchmarkSweep varies group count, batch size, slots and task duration one at a time around
// sweepBase, and adds a small many-syncs row. `make bench` runs it (about 10 minutes on 2 cores).
func BenchmarkSweep(b *testing.B) {
	rows := []Scenario{
		with(sweepBase, "groups-64", func(s *Scenario) { s.Groups = 64 }),
		with(sweepBase, "base-256", func(*Scenario) {}),
		with(sweepBase, "batch-8", func(s *Scenario) { s.BatchSize = 8 }),
		with(sweepBase, "batch-32", func(s *Scenario) { s.BatchSize = 32 }),
		with(sweepBase, "slots-2", func(s *Scenario) { s.Slots = 2 }),
		with(sweepBase, "slots-8", func(s *Scenario) { s.Slots = 8 }),
		with(sweepBase, "task-500ms", func(s *Scenario) { s.Task, s.Jitter = 500*time.Millisecond, 125*time.Millisecond }),
		with(sweepBase, "task-5s", func(s *Scenario) { s.Task, s.Jitter = 5*time.Second, 1250*time.Millisecond }),
		{Name: "many-200", Groups: 1, Syncs: 200, BatchSize: 16, Slots: 64, Task: 50 * time.Millisecond, Jitter: 10 * time.Millisecond},
	}
	for _, sc := range rows {
		if sc.NaiveGroups == 0 {
			sc.NaiveGroups = naiveSample(sc.Task)
		}
		sc.Timeout = max(10*sc.Limit(), 3*time.Minute)
		b.Run(sc.Name, func(b *testing.B) { runScenario(b, sc) })
	}
}

// BenchmarkGoals runs the rows of issue 10's goals table; select one with -bench Goals/<name>.
//   - wave-1000: 1000 groups, B=16, C=4, 2-s tasks.
//   - tasks-60s: 60-s tasks with 256 groups (four waves, about 4 minutes at the limit, not 1000 groups):
//     the first wave is the manager learning the provider's pace, so three waves are steady state, 12
//     tasks (with two waves, 4 tasks made one more query move steady polls per task by 0.25).
//   - many-2000: 2000 one-group syncs on a fast provider (50-ms tasks, 64 slots), then 30 s idle and
//     30 s after a manager restart.
//   - many-<n>: n one-group syncs created at once on the same provider, for each n of BENCH_SYNCS
//     (default 10000), capped by BENCH_MANY_TIMEOUT (default 20m), then idle and restart as above.
func BenchmarkGoals(b *testing.B) {
	fast := Scenario{Groups: 1, BatchSize: 16, Slots: 64, Task: 50 * time.Millisecond, Jitter: 10 * time.Millisecond,
		NaiveGroups: 100, Idle: 30 * time.Second, Timeout: 10 * time.Minute}
	rows := []Scenario{
		{Name: "wave-1000", Groups: 1000, BatchSize: 16, Slots: 4, Task: 2 * time.Second, Jitter: 500 * time.Millisecond,
			NaiveGroups: naiveSample(2 * time.Second), Timeout: 10 * time.Minute},
		{Name: "tasks-60s", Groups: 256, BatchSize: 16, Slots: 4, Task: time.Minute, Jitter: 15 * time.Second,
			NaiveGroups: 2, Timeout: 15 * time.Minute},
		with(fast, "many-2000", func(s *Scenario) { s.Syncs = 2000 }),
	}
	timeout := envDuration(b, "BENCH_MANY_TIMEOUT", 20*time.Minute)
	for _, n := range envInts(b, "BENCH_SYNCS", []int{10000}) {
		rows = append(rows, with(fast, fmt.Sprintf("many-%d", n), func(s *Scenario) { s.Syncs, s.Timeout = n, timeout }))
	}
	for _, sc := range rows {
		b.Run(sc.Name, func(b *testing.B) { runScenario(b, sc) })
	}
}

// runScenario measures sc b.N times (`make bench` sets -benchtime=1x), reporting each run as metrics
// and as a table row.
func runScenario(b *testing.B, sc Scenario) {
	for range b.N {
		res, err := env.Run(context.Background(), sc)
		if err != nil {
			b.Fatal(err)
		}
		record(res)
		b.ReportMetric(res.Makespan.Seconds(), "makespan-s")
		b.ReportMetric(res.Ratio(), "x-limit")
		b.ReportMetric(res.DrawnRatio(), "x-drawn")
		b.ReportMetric(res.NaiveRatio(), "naive/op")
		b.ReportMetric(res.PollsPerTask(), "polls/task")
		b.ReportMetric(res.SteadyPollsPerTask(), "steady-polls/task")
		b.ReportMetric(res.LagP50.Seconds(), "lag-p50-s")
		b.ReportMetric(res.WritesPerGroup(), "writes/group")
		b.ReportMetric(res.BytesPerGroup(), "B/group")
		b.ReportMetric(float64(res.PeakRSS)/(1<<20), "RSS-MiB")
		if res.Finished < sc.syncs() {
			b.Logf("%s: only %d of %d syncs finished within %v", sc.Name, res.Finished, sc.syncs(), sc.Timeout)
		}
	}
}

// naiveSample is how many groups the naive client syncs: about 60 s of work, at least 2. Its estimate
// carries the dice of the durations it drew: with 2-s tasks ± 25 %, 10 groups (20 s) moved it by ±4.4 %
// (one standard deviation), 30 groups by ±2.5 %.
func naiveSample(task time.Duration) int { return max(2, int(time.Minute/task)) }

// with returns a copy of base named name and changed by f.
func with(base Scenario, name string, f func(*Scenario)) Scenario {
	base.Name = name
	f(&base)
	return base
}

// envInts reads a comma-separated list of positive integers from the environment.
func envInts(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	return out
}

// envDuration reads a duration from the environment.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s: %q is not a positive duration", name, v)
	}
	return d
}
