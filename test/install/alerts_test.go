package install

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

const runbookBase = "https://github.com/vasa-sync-operator/vasa-sync-operator/blob/main/docs/runbooks.md#"

// wantAlerts are the alerts the product requires, with their exact expressions and durations.
var wantAlerts = map[string]struct{ expr, forDuration string }{
	"VasaProviderNotReady":             {`vasa_sync_provider_ready == 0`, "15m"},
	"ReplicationSyncFailed":            {`increase(vasa_sync_syncs_total{result="failed"}[15m]) > 0`, ""},
	"ReplicationSyncScheduleRPOMissed": {`(time() - vasa_sync_schedule_last_success_timestamp_seconds) / vasa_sync_schedule_interval_seconds > 2`, ""},
	"VasaSyncOperatorAbsent":           {`absent(up{job=~".*vasa-sync.*"})`, "10m"},
	"ReplicationGroupRPOExceeded":      {`time() - vasa_sync_group_newest_pit_timestamp_seconds > 3600`, "15m"},
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// expectAlerts checks a rendered PrometheusRule: the required alerts, metric names that the manager
// really exports, and runbook links that resolve to a section of docs/runbooks.md.
func expectAlerts(t *testing.T, rule unstructured.Unstructured) {
	t.Helper()
	g := NewWithT(t)
	var spec struct {
		Groups []struct {
			Name  string      `json:"name"`
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	convertSpec(t, rule, &spec)
	got := map[string]alertRule{}
	for _, grp := range spec.Groups {
		for _, r := range grp.Rules {
			got[r.Alert] = r
		}
	}
	g.Expect(got).To(HaveLen(len(wantAlerts)))

	exported := exportedMetricNames()
	anchors := runbookAnchors(t)
	metricName := regexp.MustCompile(`vasa_sync_[a-z_]+`)
	for name, want := range wantAlerts {
		r, ok := got[name]
		g.Expect(ok).To(BeTrue(), "alert %s", name)
		g.Expect(r.Expr).To(Equal(want.expr), name)
		g.Expect(r.For).To(Equal(want.forDuration), name)
		g.Expect(r.Labels).To(HaveKey("severity"), name)
		g.Expect(r.Annotations).To(HaveKey("summary"), name)
		for _, m := range metricName.FindAllString(r.Expr, -1) {
			g.Expect(exported).To(HaveKey(m), "%s uses %s, which internal/metrics does not export", name, m)
		}
		url := r.Annotations["runbook_url"]
		g.Expect(url).To(HavePrefix(runbookBase), name)
		g.Expect(anchors).To(HaveKey(strings.TrimPrefix(url, runbookBase)), "%s: runbook_url %s has no heading in docs/runbooks.md", name, url)
	}
}

// exportedMetricNames returns the fully qualified names of the manager's metrics.
func exportedMetricNames() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range []prometheus.Collector{
			metrics.SyncsTotal, metrics.GroupsTotal, metrics.SyncDurationSeconds, metrics.ProviderFaultsTotal,
			metrics.TasksInFlight, metrics.LearnedBatchSize, metrics.LastSuccessTimestampSeconds, metrics.ProviderReady,
			metrics.ScheduleLastSuccessTimestampSeconds, metrics.ScheduleIntervalSeconds, metrics.ScheduleMissedRunsTotal,
			metrics.GroupNewestPiTTimestampSeconds, metrics.DiscoveredGroups, metrics.DiscoveryLastSuccessTimestampSeconds,
		} {
			c.Describe(ch)
		}
		close(ch)
	}()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// runbookAnchors returns the GitHub anchors of docs/runbooks.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docs", "runbooks.md"))
	if err != nil {
		t.Fatalf("reading docs/runbooks.md: %v", err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(title, ""), " ", "-")] = true
	}
	return anchors
}

func TestRunbooksCoverEveryAlert(t *testing.T) {
	g := NewWithT(t)
	anchors := runbookAnchors(t)
	for name := range wantAlerts {
		g.Expect(anchors).To(HaveKey(strings.ToLower(name)), "docs/runbooks.md needs a section for %s", name)
	}
}
