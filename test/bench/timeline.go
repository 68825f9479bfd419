package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// writeTimeline writes, when BENCH_KEEP_LOGS is set, one line per task of the row beside its manager
// log (<row>.tasks.tsv): seconds from the first create to its start, end and first answer that it had
// ended, its polls, and when the watch first saw its earliest and latest group Synced. It is what tells
// which task a lag tail belongs to; the table only has percentiles.
func (e *Env) writeTimeline(sc Scenario, start time.Time, tasks []smssim.TaskRecord, w *Watcher) error {
	if os.Getenv("BENCH_KEEP_LOGS") == "" {
		return nil
	}
	synced := map[string]map[GroupKey]time.Time{}
	for i := range sc.syncs() {
		synced[pitName(i)] = w.SyncedAt(syncName(i))
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.3f", t.Sub(start).Seconds())
	}
	var b strings.Builder
	b.WriteString("task\tpit\tgroups\tstart\tend\tseen_end\tpolls\tfirst_synced\tlast_synced\n")
	for _, t := range slices.SortedFunc(slices.Values(tasks), func(a, b smssim.TaskRecord) int { return a.Start.Compare(b.Start) }) {
		if !strings.HasPrefix(t.PitName, "bench-") {
			continue
		}
		var first, last time.Time
		for _, g := range t.Groups {
			s, ok := synced[t.PitName][keyOf(g)]
			if !ok {
				continue
			}
			if first.IsZero() || s.Before(first) {
				first = s
			}
			if s.After(last) {
				last = s
			}
		}
		fmt.Fprintf(&b, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Ref, t.PitName, len(t.Groups),
			at(t.Start), at(t.End), at(t.SeenEnd), t.Queries, at(first), at(last))
	}
	return os.WriteFile(filepath.Join(e.Dir, sc.Name+".tasks.tsv"), []byte(b.String()), 0o600)
}
