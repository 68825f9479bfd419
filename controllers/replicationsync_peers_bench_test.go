package controllers

import (
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// BenchmarkPeerRegistry reports the heap the registry of PiT-name peers holds per run, with 10,000
// runs of their own PiT names registered: the many-syncs benchmark's shape, where the registry was the
// manager's largest structure of its own.
func BenchmarkPeerRegistry(b *testing.B) {
	const runs = 10000
	objs := make([]*replicationv1alpha1.ReplicationSync, runs)
	for i := range objs {
		objs[i] = &replicationv1alpha1.ReplicationSync{
			ObjectMeta: metav1.ObjectMeta{Namespace: "storage", Name: fmt.Sprintf("manual-%05d", i)},
			Spec: replicationv1alpha1.ReplicationSyncSpec{
				ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
				PitName:     fmt.Sprintf("manual-%05d", i),
			},
		}
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p := &pitPeers{}
		for _, rs := range objs {
			p.add(rs)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/runs, "B/run")
		runtime.KeepAlive(p)
	}
}
