package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// stalledProvider answers ReplicationGroups once release is closed, as a provider that stopped answering
// promptly; nothing else is called on it.
type stalledProvider struct {
	syncProvider
	release chan struct{}
}

func (p stalledProvider) ReplicationGroups(context.Context, string, []sms.GroupID) ([]sms.ReplicationGroup, error) {
	<-p.release
	return nil, nil
}

// TestSlowProviderHoldsOnlyItsShareOfWorkers: each call to a provider that stopped answering promptly
// holds a sync worker until it times out, and the workers serve every provider. Once a quarter of the
// workers' worth of its calls have waited longer than slowCallAfter, its other runs call nothing and
// free their worker at once, saying why, and go on when the slow calls have ended. The calls' durations
// are exported per provider and method.
func TestSlowProviderHoldsOnlyItsShareOfWorkers(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.r.MaxConcurrentReconciles = 8 // two slow calls allowed
	var checks atomic.Int32
	h.fake.Groups = func(ids []sms.GroupID) ([]sms.ReplicationGroup, error) {
		checks.Add(1)
		out := make([]sms.ReplicationGroup, len(ids))
		for i, id := range ids {
			out[i] = sms.ReplicationGroup{Group: id, State: "TARGET"}
		}
		return out, nil
	}
	key := client.ObjectKeyFromObject(h.vp)
	stalled := stalledProvider{release: make(chan struct{})}
	var others sync.WaitGroup
	for range 2 { // other runs' calls
		others.Go(func() { _, _ = h.r.calls.watched(h.clock, key, stalled).ReplicationGroups(h.ctx, "", nil) })
	}
	h.g.Eventually(func() int {
		h.r.calls.mu.Lock()
		defer h.r.calls.mu.Unlock()
		return len(h.r.calls.inFlight[key])
	}).Should(Equal(2))
	h.clock.Step(slowCallAfter + time.Second)

	res := h.reconcile()
	h.g.Expect(checks.Load()).To(BeZero(), "no call while the provider's slow calls hold their share of the workers")
	h.g.Expect(res.RequeueAfter).To(BeNumerically("<=", slowProviderRetry))
	c := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition)
	h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.WaitingForProviderReason))
	h.g.Expect(c.Message).To(ContainSubstring("is slow to answer: 2 calls of its runs have been waiting for more than 10s"))

	close(stalled.release)
	others.Wait()
	h.expectEndsSyncedOnce(1)
	h.g.Expect(checks.Load()).To(BeEquivalentTo(1))

	m := &dto.Metric{}
	h.g.Expect(metrics.ProviderCallDurationSeconds.WithLabelValues(key.Namespace, key.Name, "QueryReplicationGroup").(prometheus.Metric).Write(m)).To(Succeed())
	h.g.Expect(m.GetHistogram().GetSampleCount()).To(BeEquivalentTo(3))
	h.g.Expect(m.GetHistogram().GetSampleSum()).To(BeNumerically(">=", 2*(slowCallAfter+time.Second).Seconds()))
}
