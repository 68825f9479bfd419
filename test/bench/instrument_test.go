package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestInstrument runs one tiny scenario end to end and checks that every figure was measured, so
// that a broken instrument fails here rather than printing zeros in a benchmark.
func TestInstrument(t *testing.T) {
	g := NewWithT(t)
	sc := Scenario{Name: "tiny", Groups: 24, BatchSize: 4, Slots: 2, Task: 300 * time.Millisecond,
		Jitter: 100 * time.Millisecond, NaiveGroups: 3, Timeout: 2 * time.Minute, Idle: time.Second}
	res, err := env.Run(context.Background(), sc)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(env.APIServerPID).NotTo(BeZero(), "kube-apiserver is a child of the test")
	g.Expect(env.EtcdPID).NotTo(BeZero(), "etcd is a child of the test")
	g.Expect(res.Finished).To(Equal(1))
	g.Expect(res.Failed).To(BeZero())
	g.Expect(res.SyncedGroups).To(Equal(24))
	g.Expect(res.Tasks).To(BeNumerically(">=", sc.Tasks()), "at most 4 groups per task")
	g.Expect(res.SyncCalls).To(BeNumerically(">=", res.Tasks))
	g.Expect(res.Polls).To(BeNumerically(">", 0))
	g.Expect(res.Makespan).To(BeNumerically(">", 0))
	g.Expect(res.Ratio()).To(And(BeNumerically(">", 0), BeNumerically("<", math.Inf(1))))
	g.Expect(res.DrawnRatio()).To(BeNumerically(">=", 1), "no run beats the limit of its own durations")
	g.Expect(res.SlotsBusy).To(And(BeNumerically(">", 0), BeNumerically("<=", 1)))
	g.Expect(res.Naive).To(BeNumerically(">", 0))
	g.Expect(res.NaiveRatio()).To(BeNumerically(">", 0))
	// Every group seen Synced has its task's end in the simulator's log, and some task was seen ended by
	// a query: percentiles of no samples would read 0 and pass the checks below.
	g.Expect(res.LagSamples).To(Equal(res.SyncedGroups), "a lag per group seen Synced")
	g.Expect(res.NoticedSamples).To(And(BeNumerically(">", 0), BeNumerically("<=", res.Tasks)), "tasks seen ended by a query")
	// A group is seen Synced after its task ended, never at the same instant; a task is seen ended by a
	// query that came after its end.
	g.Expect(res.LagP50).To(BeNumerically(">", 0))
	g.Expect(res.LagP95).To(BeNumerically(">=", res.LagP50))
	g.Expect(res.NoticedP50).To(BeNumerically(">", 0), "noticed when a query answered it ended, never before")
	g.Expect(res.NoticedP95).To(And(BeNumerically(">=", res.NoticedP50), BeNumerically("<=", res.LagP95)),
		"a group is written Synced after its task was seen ended")
	g.Expect(res.Writes).To(BeNumerically(">", 0))
	g.Expect(res.Bytes).To(BeNumerically(">", res.Writes), "each version weighs more than a byte")
	g.Expect(res.SentBytes).To(BeNumerically(">", 0))
	g.Expect(res.PeakRSS).To(BeNumerically(">=", res.RSS))
	g.Expect(res.RSS).To(BeNumerically(">", 0))
	g.Expect(res.ManagerCPU).To(BeNumerically(">", 0))
	g.Expect(res.APIServerCPU).To(BeNumerically(">", 0))
	g.Expect(res.APIRequests).To(HaveKey(ContainSubstring("replicationsyncs")))
	g.Expect(res.IdleCalls).NotTo(BeNil())
	g.Expect(res.RestartCalls).NotTo(BeNil())

	var out bytes.Buffer
	WriteTable(&out, []Result{res})
	t.Log("\n" + out.String())
	g.Expect(out.String()).To(ContainSubstring("| tiny | 24×1 | 4 | 2 |"))
	g.Expect(strings.Count(out.String(), "\n|")).To(Equal(2), "a header, a rule and one row")
}

// TestLimitAndPercentile checks the pure arithmetic of the table.
func TestLimitAndPercentile(t *testing.T) {
	cases := map[string]struct {
		sc    Scenario
		tasks int
		limit time.Duration
	}{
		"issue 10's wave":  {Scenario{Groups: 1000, BatchSize: 16, Slots: 4, Task: 2 * time.Second}, 63, 32 * time.Second},
		"no batch limit":   {Scenario{Groups: 40, Slots: 4, Task: time.Second}, 1, time.Second},
		"one-group syncs":  {Scenario{Groups: 1, Syncs: 2000, BatchSize: 16, Slots: 64, Task: 50 * time.Millisecond}, 2000, 32 * 50 * time.Millisecond},
		"partial last one": {Scenario{Groups: 65, BatchSize: 16, Slots: 4, Task: time.Second}, 5, 2 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(tc.sc.Tasks()).To(Equal(tc.tasks))
			g.Expect(tc.sc.Limit()).To(Equal(tc.limit))
		})
	}
	g := NewWithT(t)
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	g.Expect(percentile(ds, 0.5)).To(Equal(time.Duration(5)))
	g.Expect(percentile(ds, 0.95)).To(Equal(time.Duration(10)))
	g.Expect(percentile(nil, 0.5)).To(BeZero())
}

// TestDrawnLimit replays drawn durations: each task on the first slot free, in start order, and only
// as many tasks as the scenario needs.
func TestDrawnLimit(t *testing.T) {
	g := NewWithT(t)
	at := func(i int, d time.Duration) smssim.TaskRecord {
		return smssim.TaskRecord{Start: time.Unix(0, 0).Add(time.Duration(i) * time.Millisecond), Duration: d}
	}
	// In start order: 3 s and 1 s take the two slots, 2 s the slot the 1 s freed, the last 1 s either.
	tasks := []smssim.TaskRecord{at(2, 2*time.Second), at(0, 3*time.Second), at(1, time.Second), at(3, time.Second)}
	g.Expect(drawnLimit(tasks, 4, 2)).To(Equal(4*time.Second), "slot A: 3 s then 1 s; slot B: 1 s then 2 s")
	g.Expect(drawnLimit(tasks, 3, 2)).To(Equal(3*time.Second), "the fourth task is beyond the fewest: not replayed")
	g.Expect(drawnLimit(nil, 3, 2)).To(BeZero())
}

// TestSyncedTwice: a group synced by two tasks of one PiT name is reported; one retried after a task that
// ended in error, the same group under another name, and tasks of names not the benchmark's are not.
func TestSyncedTwice(t *testing.T) {
	g := NewWithT(t)
	a, b := smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: "a"}, smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: "b"}
	task := func(pit string, failed bool, groups ...smssim.GroupID) smssim.TaskRecord {
		return smssim.TaskRecord{PitName: pit, Failed: failed, Groups: groups}
	}
	g.Expect(syncedTwice([]smssim.TaskRecord{
		task("bench-1", true, a), task("bench-1", false, a, b), task("bench-2", false, a), task("naive-1", false, b), task("naive-1", false, b),
	})).To(BeEmpty())
	g.Expect(syncedTwice([]smssim.TaskRecord{task("bench-1", false, a, b), task("bench-1", false, b)})).To(Equal([]string{"bench-1 fd/b (2 tasks)"}))
}

// TestFloor writes a few syncs' worth of protocol writes and checks that they were measured and
// cleaned up, so that the run after a floor finds none of its objects.
func TestFloor(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	f, err := env.measureFloor(ctx, 5)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Time).To(BeNumerically(">", 0))
	g.Expect(f.APIServerCPU).To(BeNumerically(">", 0))

	var syncs replicationv1alpha1.ReplicationSyncList
	g.Expect(env.Admin.List(ctx, &syncs)).To(Succeed())
	var events eventsv1.EventList
	g.Expect(env.Admin.List(ctx, &events)).To(Succeed())
	for _, o := range append(objectsOf(syncs.Items), objectsOf(events.Items)...) {
		g.Expect(o.GetNamespace()).NotTo(HavePrefix("bench-floor-"), "the floor left %s behind", o.GetName())
	}
}

// objectsOf returns pointers to items as objects.
func objectsOf[T any, PT interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}
