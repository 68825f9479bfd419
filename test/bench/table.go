package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// header is the table's head; Columns in the package README explain each.
var header = []string{
	"run", "groups×syncs", "B", "C", "T", "limit s", "makespan s", "×limit", "drawn limit s", "×drawn", "slots busy", "naive s", "naive/op", "API floor s", "×floor",
	"polls/task", "steady polls/task", "lag p50", "lag p95", "noticed p50", "noticed p95", "slot idle p50", "slot idle p95", "writes/grp", "KiB/grp", "sent KiB/grp", "RSS MiB", "mgr CPU s",
	"apiserver CPU s", "etcd CPU s", "bench CPU s",
}

// WriteTable writes results as a Markdown table, then per run the counts that do not fit in a cell.
func WriteTable(w io.Writer, results []Result) {
	rows := [][]string{header}
	for _, r := range results {
		rows = append(rows, row(r))
	}
	for i, cells := range rows {
		_, _ = fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		if i == 0 {
			_, _ = fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(cells)))
		}
	}
	_, _ = fmt.Fprintln(w)
	for _, r := range results {
		writeDetails(w, r)
	}
}

// row formats one result.
func row(r Result) []string {
	sc := r.Scenario
	makespan := fmt.Sprintf("%.1f", r.Makespan.Seconds())
	if r.Finished < sc.syncs() {
		makespan = fmt.Sprintf(">%.0f (%d/%d done)", r.Makespan.Seconds(), r.Finished, sc.syncs())
	}
	naive, naiveRatio := "-", "-"
	if r.Naive > 0 {
		naive, naiveRatio = fmt.Sprintf("%.0f", r.Naive.Seconds()), fmt.Sprintf("%.1f×", r.NaiveRatio())
	}
	floor, floorRatio := "-", "-"
	if r.Floor.Time > 0 {
		floor, floorRatio = fmt.Sprintf("%.1f", r.Floor.Time.Seconds()), fmt.Sprintf("%.2f×", r.FloorRatio())
	}
	batch := "∞"
	if sc.BatchSize > 0 {
		batch = fmt.Sprint(sc.BatchSize)
	}
	return []string{
		sc.Name, fmt.Sprintf("%d×%d", sc.Groups, sc.syncs()), batch, fmt.Sprint(sc.Slots),
		fmt.Sprintf("%v±%v", sc.Task, sc.Jitter), fmt.Sprintf("%.1f", sc.Limit().Seconds()), makespan,
		fmt.Sprintf("%.2f×", r.Ratio()), fmt.Sprintf("%.1f", r.DrawnLimit.Seconds()), fmt.Sprintf("%.2f×", r.DrawnRatio()), fmt.Sprintf("%.0f%%", 100*r.SlotsBusy), naive, naiveRatio, floor, floorRatio,
		fmt.Sprintf("%.2f", r.PollsPerTask()), fmt.Sprintf("%.2f", r.SteadyPollsPerTask()), fmtLag(r.LagP50), fmtLag(r.LagP95),
		fmtLag(r.NoticedP50), fmtLag(r.NoticedP95), fmtLag(r.IdleP50), fmtLag(r.IdleP95),
		fmt.Sprintf("%.2f", r.WritesPerGroup()), fmt.Sprintf("%.1f", r.BytesPerGroup()/1024),
		fmt.Sprintf("%.2f", r.SentPerGroup()/1024), fmt.Sprintf("%.0f", float64(r.PeakRSS)/(1<<20)),
		fmt.Sprintf("%.1f", r.ManagerCPU), fmt.Sprintf("%.1f", r.APIServerCPU), fmt.Sprintf("%.1f", r.EtcdCPU), fmt.Sprintf("%.1f", r.BenchCPU),
	}
}

// fmtLag prints a lag in seconds with two decimals.
func fmtLag(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// writeDetails writes the per-method and per-verb counts of one run.
func writeDetails(w io.Writer, r Result) {
	sc := r.Scenario
	throughput := 0.0
	if r.Makespan > 0 {
		throughput = float64(r.Finished) / r.Makespan.Seconds()
	}
	_, _ = fmt.Fprintf(w, "%s: %d tasks (fewest possible %d), %d sync calls, %d of %d syncs finished (%d failed, %.1f syncs/s), created in %.1fs, RSS at end %.0f MiB\n",
		sc.Name, r.Tasks, sc.Tasks(), r.SyncCalls, r.Finished, sc.syncs(), r.Failed, throughput,
		r.Created.Seconds(), float64(r.RSS)/(1<<20))
	if f := r.Floor; f.Time > 0 {
		n := float64(sc.syncs())
		_, _ = fmt.Fprintf(w, "  API floor: %.1fs (%.1f syncs/s); per sync kube-apiserver %.1f ms, etcd %.1f ms CPU; the run: %.1f ms, %.1f ms\n",
			f.Time.Seconds(), n/f.Time.Seconds(), 1000*f.APIServerCPU/n, 1000*f.EtcdCPU/n, 1000*r.APIServerCPU/n, 1000*r.EtcdCPU/n)
	}
	_, _ = fmt.Fprintf(w, "  provider calls: %s\n", formatCounts(r.ProviderCalls, 0))
	_, _ = fmt.Fprintf(w, "  API requests per sync: %s\n", formatCounts(r.APIRequests, float64(sc.syncs())))
	if r.IdleCalls != nil {
		_, _ = fmt.Fprintf(w, "  provider calls in %v idle: %d {%s}; in %v after a restart: %d {%s}\n",
			sc.Idle, sum(r.IdleCalls), formatCounts(r.IdleCalls, 0), sc.Idle, sum(r.RestartCalls), formatCounts(r.RestartCalls, 0))
	}
}

// sum adds the values of m.
func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
