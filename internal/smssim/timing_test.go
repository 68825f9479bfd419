package smssim_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestTaskDurationJitter reads each task's start and completion time over the wire: durations
// differ and stay within the distribution's bounds.
func TestTaskDurationJitter(t *testing.T) {
	cases := map[string]struct {
		distribution string
		lo, hi       time.Duration
	}{
		"uniform":   {smssim.DistributionUniform, 60 * time.Millisecond, 140 * time.Millisecond},
		"lognormal": {smssim.DistributionLognormal, time.Millisecond, time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 12, func(p *smssim.ProviderConfig) {
				p.TaskDuration = smssim.Duration{Duration: 100 * time.Millisecond}
				p.TaskDurationJitter = smssim.Duration{Duration: 40 * time.Millisecond}
				p.TaskDurationDistribution = tc.distribution
			})
			c := govmomiSMS(t, sim)
			var refs []vimtypes.ManagedObjectReference
			for _, id := range ids {
				res, err := methods.SyncReplicationGroup_Task(ctx, c, &smstypes.SyncReplicationGroup_Task{
					This:    vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vasaprovider-1"},
					GroupId: []vimtypes.ReplicationGroupId{{FaultDomainId: vimtypes.FaultDomainId{Id: id.FaultDomainID}, DeviceGroupId: vimtypes.DeviceGroupId{Id: id.DeviceGroupID}}},
					PitName: "jitter",
				})
				g.Expect(err).NotTo(HaveOccurred())
				refs = append(refs, res.Returnval)
			}
			durations := map[time.Duration]bool{}
			for _, ref := range refs {
				g.Eventually(func(g Gomega) {
					res, err := methods.QuerySmsTaskInfo(ctx, c, &smstypes.QuerySmsTaskInfo{This: ref})
					g.Expect(err).NotTo(HaveOccurred())
					info := res.Returnval
					g.Expect(info.State).To(Equal("success"))
					d := info.CompletionTime.Sub(*info.StartTime)
					g.Expect(d).To(And(BeNumerically(">=", tc.lo), BeNumerically("<=", tc.hi)))
					durations[d] = true
				}).WithTimeout(5 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
			}
			g.Expect(len(durations)).To(BeNumerically(">", len(refs)/2), "durations differ: %v", durations)
		})
	}
}

// TestTaskProgress: progress grows while the task runs and is 100 when it is done.
func TestTaskProgress(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 1, func(p *smssim.ProviderConfig) { p.TaskDuration = smssim.Duration{Duration: 800 * time.Millisecond} })
	c := dialSim(t, sim, sms.BindingJSON, 5*time.Second)
	ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "progress")
	g.Expect(err).NotTo(HaveOccurred())
	seen := map[sms.TaskState][]int32{}
	g.Eventually(func(g Gomega) {
		info, err := c.TaskInfo(ctx, ref)
		g.Expect(err).NotTo(HaveOccurred())
		seen[info.State] = append(seen[info.State], info.Progress)
		g.Expect(info.State).To(Equal(sms.TaskSuccess))
	}).WithTimeout(5 * time.Second).WithPolling(25 * time.Millisecond).Should(Succeed())
	g.Expect(seen[sms.TaskQueued]).To(HaveEach(BeZero()))
	running := seen[sms.TaskRunning]
	g.Expect(len(running)).To(BeNumerically(">=", 3))
	for i := 1; i < len(running); i++ {
		g.Expect(running[i]).To(BeNumerically(">=", running[i-1]))
	}
	g.Expect(running[len(running)-1]).To(BeNumerically(">", running[0]), "progress grows: %v", running)
	g.Expect(running).To(HaveEach(BeNumerically("<", 100)))
	g.Expect(seen[sms.TaskSuccess]).To(HaveEach(BeEquivalentTo(100)))
}

// TestLatencyDoesNotSerialiseCalls: calls to one provider overlap, as on a real provider: every call is
// inside its latency at once. Serialised, the second would enter only once the first one's latency
// ended, and none ends until every one is inside.
func TestLatencyDoesNotSerialiseCalls(t *testing.T) {
	g := NewWithT(t)
	const calls = 6
	sim, ids := startOne(t, calls, func(p *smssim.ProviderConfig) { p.Latency = smssim.Duration{Duration: time.Second} })
	c := dialSim(t, sim, sms.BindingSOAP, time.Minute)
	var inside atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	sim.SetSleep(func(time.Duration) {
		inside.Add(1)
		<-release
	})
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			_, errs[i] = c.ReplicationGroups(context.Background(), "vasaprovider-1", ids[i:i+1])
		})
	}
	g.Eventually(inside.Load).WithTimeout(20*time.Second).Should(BeEquivalentTo(calls), "calls inside their latency at once")
	free()
	wg.Wait()
	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
}

// TestCallLog: every call with its outcome; Calls returns a copy.
func TestCallLog(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 3, func(p *smssim.ProviderConfig) { p.MaxBatchSize = 2 })
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	before := time.Now()
	_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "log")
	g.Expect(faultType(err)).To(Equal("TooMany"))
	ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:2], "log")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:], "other")
	g.Expect(err).NotTo(HaveOccurred())

	calls := sim.Calls()
	g.Expect(calls).To(HaveLen(3))
	g.Expect(calls[0]).To(And(
		HaveField("Provider", "p"), HaveField("Groups", ids), HaveField("PitName", "log"),
		HaveField("Task", ""), HaveField("Fault", "TooMany"), HaveField("Response", ""),
	))
	g.Expect(calls[1].Task).To(Equal(ref))
	g.Expect(calls[1].Fault).To(BeEmpty())
	for i, call := range calls {
		g.Expect(call.Time).To(BeTemporally(">=", before))
		if i > 0 {
			g.Expect(call.Time).To(BeTemporally(">=", calls[i-1].Time))
		}
	}
	g.Expect(sim.CallCounts("log")).To(Equal(map[smssim.GroupID]int{ids[0]: 2, ids[1]: 2, ids[2]: 1}))
	g.Expect(sim.CallCounts("other")).To(Equal(map[smssim.GroupID]int{ids[2]: 1}))
	g.Expect(sim.CallCounts("none")).To(BeEmpty())

	calls[0].Groups[0] = smssim.GroupID{FaultDomainID: "changed"}
	calls[0].Fault = "changed"
	g.Expect(sim.Calls()[0].Groups[0]).To(Equal(ids[0]))
	g.Expect(sim.Calls()[0].Fault).To(Equal("TooMany"))
}
