package smssim_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestTasksRecordStartAndEnd checks the task log against what the wire shows: one record per task,
// in start order, ended at start plus its drawn duration once the task is over, with the queries
// that asked for it and when one first answered that it had ended. The simulator's clock stands still
// until the test moves it past every task's end.
func TestTasksRecordStartAndEnd(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 3, func(p *smssim.ProviderConfig) {
		p.TaskDuration = smssim.Duration{Duration: 80 * time.Millisecond}
		p.TaskDurationJitter = smssim.Duration{Duration: 30 * time.Millisecond}
	})
	clock := clocktesting.NewFakeClock(time.Now())
	sim.SetClock(clock.Now)
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	ref := sim.Provider("p").Ref()
	var refs []string
	for i, id := range ids {
		task, err := c.SyncReplicationGroups(ctx, ref, []sms.GroupID{id}, "log")
		g.Expect(err).NotTo(HaveOccurred(), "call %d", i)
		refs = append(refs, task)
	}
	running := sim.Tasks()
	g.Expect(running).To(HaveLen(3))
	for i, r := range running {
		g.Expect(r.Ref).To(Equal(refs[i]))
		g.Expect(r.Groups).To(Equal([]sms.GroupID{ids[i]}))
		g.Expect(r.PitName).To(Equal("log"))
		g.Expect(r.Provider).To(Equal("p"))
		g.Expect(r.Duration).To(And(BeNumerically(">=", 50*time.Millisecond), BeNumerically("<=", 110*time.Millisecond)))
	}
	for _, r := range running {
		g.Expect(r.Queries).To(BeZero())
	}
	info, err := c.TaskInfo(ctx, refs[0])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.State).To(BeElementOf(sms.TaskQueued, sms.TaskRunning))
	asked := sim.Tasks()
	g.Expect([]int{asked[0].Queries, asked[1].Queries, asked[2].Queries}).To(Equal([]int{1, 0, 0}), "counted per task")
	g.Expect(asked[0].SeenEnd.IsZero()).To(BeTrue(), "asked while running")
	clock.Step(time.Second)
	for _, task := range refs {
		info := waitDone(t, c, task)
		g.Expect(info.State).To(Equal(sms.TaskSuccess))
	}
	for _, r := range sim.Tasks() {
		g.Expect(r.Done).To(BeTrue())
		g.Expect(r.Failed).To(BeFalse())
		g.Expect(r.End).To(Equal(r.Start.Add(r.Duration)))
		g.Expect(r.SeenEnd).To(BeTemporally(">=", r.End), "first answered ended by the query that saw it")
	}
}
