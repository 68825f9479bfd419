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
	"k8s.io/utils/ptr"
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

// TestSlowProviderHoldsOnlyItsShareOfWorkers: each run of a provider that stopped answering promptly holds
// a sync worker until its calls time out, and the workers serve every provider. Once a quarter of the
// workers' worth of its runs have a call waiting longer than slowCallAfter, its other runs call nothing
// and free their worker at once, saying why, and go on when the slow calls have ended. Runs count, not
// calls: one run's calls in parallel hold one worker. The calls' durations are exported per provider and
// method.
func TestSlowProviderHoldsOnlyItsShareOfWorkers(t *testing.T) {
	tests := map[string]struct {
		owners []string // of the slow calls in flight
		fenced bool
	}{
		"two runs' calls":           {owners: []string{"ns/other-1", "ns/other-2"}, fenced: true},
		"one run's calls in a wave": {owners: []string{"ns/other", "ns/other", "ns/other"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := newRunHarness(t, 1, nil)
			h.r.MaxConcurrentReconciles = 8 // two runs with slow calls allowed
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
			for _, owner := range tt.owners {
				others.Go(func() { _, _ = h.r.calls.watched(h.clock, key, owner, stalled).ReplicationGroups(h.ctx, "", nil) })
			}
			h.g.Eventually(func() int {
				h.r.calls.mu.Lock()
				defer h.r.calls.mu.Unlock()
				return len(h.r.calls.inFlight[key])
			}).Should(Equal(len(tt.owners)))
			h.clock.Step(slowCallAfter + time.Second)

			res := h.reconcile()
			c := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.ReconcilingCondition)
			if tt.fenced {
				h.g.Expect(checks.Load()).To(BeZero(), "no call while the provider's slow runs hold their share of the workers")
				h.g.Expect(res.RequeueAfter).To(BeNumerically("<=", slowProviderRetry))
				h.g.Expect(c.Reason).To(Equal(replicationv1alpha1.WaitingForProviderReason))
				h.g.Expect(c.Message).To(ContainSubstring("is slow to answer: 2 of its runs have had a call waiting for more than 10s"))
			} else {
				h.g.Expect(checks.Load()).To(BeEquivalentTo(1), "one run with slow calls holds one worker: not fenced")
				h.g.Expect(c.Message).NotTo(ContainSubstring("slow to answer"))
			}

			close(stalled.release)
			others.Wait()
			h.expectEndsSyncedOnce(1)
			h.g.Expect(checks.Load()).To(BeEquivalentTo(1))

			m := &dto.Metric{}
			h.g.Expect(metrics.ProviderCallDurationSeconds.WithLabelValues(key.Namespace, key.Name, "QueryReplicationGroup").(prometheus.Metric).Write(m)).To(Succeed())
			h.g.Expect(m.GetHistogram().GetSampleCount()).To(BeEquivalentTo(len(tt.owners) + 1))
			h.g.Expect(m.GetHistogram().GetSampleSum()).To(BeNumerically(">=", float64(len(tt.owners))*(slowCallAfter+time.Second).Seconds()))
		})
	}
}

// TestDeadlineAsksASlowProviderAnyway: when activeDeadlineSeconds passes while the provider is slow to
// answer, the run still takes its last look: a task that ended in time makes the run succeed, not fail
// with its groups "may still make the PiT".
func TestDeadlineAsksASlowProviderAnyway(t *testing.T) {
	h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	})
	h.r.MaxConcurrentReconciles = 8 // two runs with slow calls allowed
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	key := client.ObjectKeyFromObject(h.vp)
	stalled := stalledProvider{release: make(chan struct{})}
	var others sync.WaitGroup
	defer others.Wait()
	defer close(stalled.release)
	for _, owner := range []string{"ns/other-1", "ns/other-2"} {
		others.Go(func() { _, _ = h.r.calls.watched(h.clock, key, owner, stalled).ReplicationGroups(h.ctx, "", nil) })
	}
	h.g.Eventually(func() int {
		h.r.calls.mu.Lock()
		defer h.r.calls.mu.Unlock()
		return len(h.r.calls.inFlight[key])
	}).Should(Equal(2))
	h.clock.Step(599 * time.Second)
	h.fake.FinishAll(h.clock.Now())
	h.clock.Step(10 * time.Second)
	h.reconcile()
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
}
