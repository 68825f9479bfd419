package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/tools/events"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestScheduleConcurrencyReachesTheController: the schedule controller runs as many reconciles at once as
// MaxConcurrentReconciles says (--schedule-concurrency), DefaultMaxConcurrentScheduleReconciles when unset.
// With one at a time, schedules sharing a tick could pass a short starting deadline waiting in line.
func TestScheduleConcurrencyReachesTheController(t *testing.T) {
	for name, tc := range map[string]struct {
		set, want int
	}{
		"set":   {set: 3, want: 3},
		"unset": {set: 0, want: DefaultMaxConcurrentScheduleReconciles},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, g, k8sClient, "rsched-workers-")
			mgr := namespaceManager(g, ns.Name)
			r := &ReplicationSyncScheduleReconciler{Client: mgr.GetClient(), Scheme: testenv.Scheme,
				Recorder: events.NewFakeRecorder(10), MaxConcurrentReconciles: tc.set}
			g.Expect(r.SetupWithManager(mgr)).To(Succeed())
			startManager(t, g, mgr)
			// controller-runtime exports the number of workers a controller starts with.
			g.Eventually(func() float64 { return maxConcurrentReconciles(g, "replicationsyncschedule") }).
				WithTimeout(20 * time.Second).Should(BeEquivalentTo(tc.want))
		})
	}
}

// maxConcurrentReconciles reads controller-runtime's controller_runtime_max_concurrent_reconciles of a
// controller; -1 before the controller started.
func maxConcurrentReconciles(g *WithT, controller string) float64 {
	families, err := crmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "controller_runtime_max_concurrent_reconciles" {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabel(m, "controller", controller) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
