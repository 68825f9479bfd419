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
var wantAlerts = map[string]struct{ expr, forDuration, keepFiringFor string }{
	"VasaProviderNotReady":             {`max by (namespace, provider) (vasa_sync_provider_ready) == 0`, "15m", "10m"},
	"ReplicationSyncFailed":            {`increase(vasa_sync_syncs_total{result="failed"}[15m]) > 0 or (vasa_sync_syncs_total{result="failed"} > 0 unless vasa_sync_syncs_total{result="failed"} offset 15m) or (vasa_sync_syncs_total{result="failed"} > 0 and on (instance) time() - process_start_time_seconds{job=~".*vasa-sync.*"} < 900)`, "", ""},
	"ReplicationSyncScheduleRPOMissed": {`(time() - max by (namespace, schedule) (vasa_sync_schedule_last_success_timestamp_seconds)) / max by (namespace, schedule) (vasa_sync_schedule_interval_seconds) > 2`, "", "15m"},
	"ReplicationSyncScheduleNotReady":  {`max by (namespace, schedule) (vasa_sync_schedule_ready) == 0`, "15m", "10m"},
	"VasaSyncOperatorAbsent":           {`absent(up{job=~".*vasa-sync.*"} == 1) or max by (namespace, service) (up{job=~".*vasa-sync.*"}) == 0`, "10m", ""},
	"VasaSyncOperatorNoLeader":         {`max by (namespace, service) (vasa_sync_manager_leading) == 0`, "10m", ""},
	"VasaSyncOperatorRestarting":       {`changes(process_start_time_seconds{job=~".*vasa-sync.*"}[1h]) >= 3`, "", "10m"},
	"ReplicationGroupRPOExceeded":      {`(time() - max by (namespace, provider, group) (vasa_sync_group_newest_pit_timestamp_seconds) > 3600) unless on (namespace, provider) (count by (namespace, provider) (time() - max by (namespace, provider, group) (vasa_sync_group_newest_pit_timestamp_seconds) > 3600) > 10)`, "15m", "15m"},
	"VasaProviderRPOExceeded":          {`count by (namespace, provider) (time() - max by (namespace, provider, group) (vasa_sync_group_newest_pit_timestamp_seconds) > 3600) > 10`, "15m", "15m"},
	"ReplicationSyncStuck":             {`max by (namespace, name, provider) (vasa_sync_run_without_progress) == 1 unless on (namespace, provider) max by (namespace, provider) (max_over_time(vasa_sync_provider_ready[15m])) == 0`, "5m", "10m"},
	"ReplicationSyncInDoubtReissued":   {`increase(vasa_sync_in_doubt_reissues_total[1h]) > 0 or (vasa_sync_in_doubt_reissues_total > 0 unless vasa_sync_in_doubt_reissues_total offset 1h) or (vasa_sync_in_doubt_reissues_total > 0 and on (instance) time() - process_start_time_seconds{job=~".*vasa-sync.*"} < 3600)`, "", ""},
	"VasaProviderGone":                 {`(max by (namespace, provider, service) (vasa_sync_provider_ready offset 1h) unless on (namespace, provider) max by (namespace, provider) (vasa_sync_provider_ready)) and on (service) max by (service) (vasa_sync_manager_leading) == 1`, "15m", ""},
	"VasaProviderInsecureTLS":          {`max by (namespace, provider) (vasa_sync_provider_insecure_tls) == 1`, "", "10m"},
	"VasaProviderDiscoveryStale":       {`((time() - max by (namespace, provider) (vasa_sync_discovery_last_success_timestamp_seconds)) > 3 * max by (namespace, provider) (vasa_sync_discovery_interval_seconds) or max by (namespace, provider) (vasa_sync_discovery_interval_seconds) unless on (namespace, provider) vasa_sync_discovery_last_success_timestamp_seconds) unless on (namespace, provider) vasa_sync_provider_ready == 0`, "15m", "10m"},
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	KeepFiring  string            `json:"keep_firing_for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// alertsOf returns the alert rules of a rendered PrometheusRule by alert name.
func alertsOf(t *testing.T, rule unstructured.Unstructured) map[string]alertRule {
	t.Helper()
	var spec struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	convertSpec(t, rule, &spec)
	alerts := map[string]alertRule{}
	for _, grp := range spec.Groups {
		for _, r := range grp.Rules {
			alerts[r.Alert] = r
		}
	}
	return alerts
}

// expectAlerts checks a rendered PrometheusRule: the required alerts, metric names that the manager
// really exports, annotations that name only labels those metrics carry, and runbook links that resolve
// to a section of docs/runbooks.md.
func expectAlerts(t *testing.T, rule unstructured.Unstructured) {
	t.Helper()
	g := NewWithT(t)
	got := alertsOf(t, rule)
	g.Expect(got).To(HaveLen(len(wantAlerts)))

	exported := exportedMetrics()
	anchors := runbookAnchors(t)
	metricName := regexp.MustCompile(`vasa_sync_[a-z_]+`)
	labelRef := regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	for name, want := range wantAlerts {
		r, ok := got[name]
		g.Expect(ok).To(BeTrue(), "alert %s", name)
		g.Expect(r.Expr).To(Equal(want.expr), name)
		g.Expect(r.For).To(Equal(want.forDuration), name)
		g.Expect(r.KeepFiring).To(Equal(want.keepFiringFor), name)
		g.Expect(r.Labels).To(HaveKey("severity"), name)
		g.Expect(r.Annotations).To(HaveKey("summary"), name)
		// The labels Prometheus adds to every series from its target (the ServiceMonitor's endpoints: the
		// Prometheus operator adds the pod's); with honorLabels a metric's own label of the same name wins.
		carried := map[string]bool{"namespace": true, "service": true, "pod": true}
		for _, m := range metricName.FindAllString(r.Expr, -1) {
			g.Expect(exported).To(HaveKey(m), "%s uses %s, which internal/metrics does not export", name, m)
			for _, l := range exported[m] {
				carried[l] = true
			}
		}
		for key, text := range r.Annotations {
			for _, ref := range labelRef.FindAllStringSubmatch(text, -1) {
				g.Expect(carried).To(HaveKey(ref[1]), "%s: annotation %s names $labels.%s, which the metrics of its expression do not carry", name, key, ref[1])
			}
		}
		url := r.Annotations["runbook_url"]
		g.Expect(url).To(HavePrefix(runbookBase), name)
		g.Expect(anchors).To(HaveKey(strings.TrimPrefix(url, runbookBase)), "%s: runbook_url %s has no heading in docs/runbooks.md", name, url)
	}
}

// managerCollectors are the manager's metrics (TestDocsListEveryMetric checks the list against their source).
func managerCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		metrics.SyncsTotal, metrics.GroupsTotal, metrics.SyncDurationSeconds, metrics.ProviderFaultsTotal,
		metrics.TasksInFlight, metrics.LearnedBatchSize, metrics.LastSuccessTimestampSeconds, metrics.ProviderReady,
		metrics.ProviderInsecureTLS,
		metrics.ScheduleLastSuccessTimestampSeconds, metrics.ScheduleIntervalSeconds, metrics.ScheduleMissedRunsTotal,
		metrics.ScheduleReady,
		metrics.GroupNewestPiTTimestampSeconds, metrics.DiscoveredGroups, metrics.DiscoveryLastSuccessTimestampSeconds,
		metrics.DiscoveryIntervalSeconds,
		metrics.InDoubtReissuesTotal, metrics.RunWithoutProgress, metrics.ManagerLeading, metrics.ProviderCallDurationSeconds,
	}
}

// exportedMetrics returns the fully qualified names of the manager's metrics with their variable labels.
func exportedMetrics() map[string][]string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range managerCollectors() {
			c.Describe(ch)
		}
		close(ch)
	}()
	names := map[string][]string{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	variable := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		var labels []string
		if v := variable.FindStringSubmatch(d.String()); v != nil && v[1] != "" {
			labels = strings.Split(v[1], ",")
		}
		names[m[1]] = labels
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
