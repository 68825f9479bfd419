package sms_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// BenchmarkSync40Groups syncs 40 groups over HTTPS against the simulator, in batches of 1 (the
// baseline: what a client without batching does), 8 and 40, and waits for every task. Compare the
// batch sizes and the two bindings within one run.
func BenchmarkSync40Groups(b *testing.B) {
	for _, binding := range bindings {
		for _, batch := range []int{1, 8, 40} {
			b.Run(fmt.Sprintf("%s/batch=%d", binding, batch), func(b *testing.B) {
				sim := startSim(b, func(c *smssim.Config) { c.Providers[0].TaskDuration = smssim.Duration{} })
				c := dial(b, sim, binding)
				ctx := context.Background()
				p, err := c.FindProvider(ctx, "array-a", "")
				if err != nil {
					b.Fatal(err)
				}
				ids, _ := groups("fd-1", 40)
				b.ResetTimer()
				for i := range b.N {
					pit := fmt.Sprintf("bench-%d", i)
					for start := 0; start < len(ids); start += batch {
						ref, err := c.SyncReplicationGroups(ctx, p.Ref, ids[start:min(start+batch, len(ids))], pit)
						if err != nil {
							b.Fatal(err)
						}
						if info := waitTask(b, c, ref); info.State != sms.TaskSuccess {
							b.Fatalf("task %s ended %s: %v", ref, info.State, info.Err)
						}
					}
				}
			})
		}
	}
}
