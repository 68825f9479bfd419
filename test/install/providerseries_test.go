package install

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// TestForgetProviderDropsEveryProviderSeries: every metric with a provider label, a new one too, loses its
// series of a deleted VasaProvider; another provider's series stay. Except run_without_progress: its
// series are a run's, which outlives its provider, waiting for one of that name, and pages as stuck
// (ForgetRun drops them when the run ends).
func TestForgetProviderDropsEveryProviderSeries(t *testing.T) {
	g := NewWithT(t)
	variable := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	perProvider := map[string]prometheus.Collector{} // by description
	for _, c := range managerCollectors() {
		if c == prometheus.Collector(metrics.RunWithoutProgress) {
			continue
		}
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		desc := (<-ch).String()
		m := variable.FindStringSubmatch(desc)
		if m == nil || !slices.Contains(strings.Split(m[1], ","), metrics.LabelProvider) {
			continue
		}
		perProvider[desc] = c
		for _, provider := range []string{"gone", "kept"} {
			labels := prometheus.Labels{}
			for _, l := range strings.Split(m[1], ",") {
				labels[l] = "x"
			}
			labels[metrics.LabelNamespace], labels[metrics.LabelProvider] = "forget-provider", provider
			switch vec := c.(type) {
			case *prometheus.CounterVec:
				vec.With(labels).Inc()
			case *prometheus.GaugeVec:
				vec.With(labels).Set(1)
			case *prometheus.HistogramVec:
				vec.With(labels).Observe(1)
			default:
				t.Fatalf("%T: a metric kind this test does not know", c)
			}
		}
	}
	g.Expect(perProvider).NotTo(BeEmpty(), "sanity: metrics with a provider label were found")

	metrics.ForgetProvider("forget-provider", "gone")
	for desc, c := range perProvider {
		ch := make(chan prometheus.Metric, 64)
		go func() { c.Collect(ch); close(ch) }()
		var left []string
		for m := range ch {
			var out dto.Metric
			g.Expect(m.Write(&out)).To(Succeed())
			for _, l := range out.GetLabel() {
				if l.GetName() == metrics.LabelProvider {
					left = append(left, l.GetValue())
				}
			}
		}
		g.Expect(left).To(ConsistOf("kept"), "series of a deleted VasaProvider left: %s", desc)
		if vec, ok := c.(interface {
			DeletePartialMatch(prometheus.Labels) int
		}); ok {
			vec.DeletePartialMatch(prometheus.Labels{metrics.LabelNamespace: "forget-provider"})
		}
	}
}
