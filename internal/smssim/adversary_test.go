package smssim_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestNoPitSupport: results carry no pitId and the PiT query is not implemented, but the simulator
// still records the sync for tests.
func TestNoPitSupport(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 2, func(p *smssim.ProviderConfig) { p.NoPitSupport = true })
			c := dialSim(t, sim, b, 5*time.Second)
			ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "nopit")
			g.Expect(err).NotTo(HaveOccurred())
			info := waitDone(t, c, ref)
			g.Expect(info.Results).To(HaveLen(2))
			for _, r := range info.Results {
				g.Expect(r.Succeeded).To(BeTrue())
				g.Expect(r.PitID).To(BeEmpty())
				g.Expect(r.PitName).To(Equal("nopit"))
			}
			_, err = c.PointInTimeReplicas(ctx, "vasaprovider-1", ids, "nopit")
			var ni *sms.NotImplementedError
			g.Expect(errors.As(err, &ni)).To(BeTrue(), "%v", err)

			g.Expect(sim.PiTCounts("nopit")).To(Equal(map[smssim.GroupID]int{ids[0]: 1, ids[1]: 1}))
			pits := sim.PiTsOf("p", ids[0])
			g.Expect(pits).To(HaveLen(1))
			g.Expect(pits[0].PitID).To(BeEmpty())
			g.Expect(pits[0].TaskRef).To(Equal(ref))
			g.Expect(sim.CallCounts("nopit")).To(Equal(map[smssim.GroupID]int{ids[0]: 1, ids[1]: 1}))

			sim.Provider("p").SetNoPitSupport(false)
			pit, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", ids, "nopit")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pit).To(BeEmpty(), "syncs without PiT support left no PiT to find")
		})
	}
}

// TestMaxConcurrentTasks: a sync while the provider runs that many tasks, its own or foreign, is busy.
func TestMaxConcurrentTasks(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 4, func(p *smssim.ProviderConfig) {
		p.MaxConcurrentTasks = 2
		p.TaskDuration = smssim.Duration{Duration: time.Minute}
	})
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	first, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "cap")
	g.Expect(err).NotTo(HaveOccurred())
	foreign := sim.Provider("p").StartForeignSync(ids[1:2], "theirs", 0)
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:3], "cap")
	var busy *sms.ProviderBusyError
	g.Expect(errors.As(err, &busy)).To(BeTrue(), "%v", err)
	g.Expect(sim.Calls()[1].Fault).To(Equal("ProviderBusy"))
	g.Expect(sim.Calls()[1].Task).To(BeEmpty())
	g.Expect(sim.Provider("p").UnfinishedTasks()).To(Equal(2))

	// A restart forgets both tasks, but they still run on the array and hold their slots; raising the
	// limit works while running.
	g.Expect(sim.RestartSMS()).To(ConsistOf(first, foreign))
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:3], "cap")
	g.Expect(errors.As(err, &busy)).To(BeTrue(), "%v", err)
	g.Expect(sim.Provider("p").UnfinishedTasks()).To(Equal(2))
	sim.Provider("p").SetMaxConcurrentTasks(4)
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:3], "cap")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[3:4], "cap")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sim.Provider("p").UnfinishedTasks()).To(Equal(4))
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "cap")
	g.Expect(faultType(err)).To(Equal("SyncOngoing"), "the forgotten task of the group still runs: %v", err)
}

// TestRestartSMS: task objects vanish and PiTs remain; unfinished syncs finish on the array and leave
// their PiTs, and until then hold their groups (SyncOngoing naming the vanished task).
func TestRestartSMS(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 3, nil)
			c := dialSim(t, sim, b, 5*time.Second)
			done, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "before")
			g.Expect(err).NotTo(HaveOccurred())
			waitDone(t, c, done)
			sim.Provider("p").SetTaskDuration(time.Minute)
			running, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:2], "before")
			g.Expect(err).NotTo(HaveOccurred())
			sim.Provider("p").SetTaskDuration(2 * time.Second)
			short, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:], "before")
			g.Expect(err).NotTo(HaveOccurred())

			g.Expect(sim.RestartSMS()).To(ConsistOf(running, short))
			g.Expect(sim.SMSRestarts()).To(Equal(1))
			for _, ref := range []string{done, running, short} {
				_, err := c.TaskInfo(ctx, ref)
				g.Expect(faultType(err)).To(Equal("ManagedObjectNotFound"), "%s: %v", ref, err)
			}
			pits, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", ids[:2], "before")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pits).To(HaveLen(1))
			g.Expect(pits[0].Group).To(Equal(ids[0]))
			// The forgotten short sync ends on the array and leaves its PiT.
			g.Eventually(func() []smssim.PiTRecord { return sim.PiTsOf("p", ids[2]) }).WithTimeout(10 * time.Second).
				Should(ContainElement(HaveField("TaskRef", short)))

			// The array still runs the forgotten long sync: a new one meets it.
			_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:2], "before")
			var ongoing *sms.SyncOngoingError
			g.Expect(errors.As(err, &ongoing)).To(BeTrue(), "%v", err)
			g.Expect(ongoing.TaskRef).To(Equal(running))
			_, err = c.TaskInfo(ctx, ongoing.TaskRef)
			g.Expect(faultType(err)).To(Equal("ManagedObjectNotFound"), "%v", err)
			g.Expect(sim.Provider("p").UnfinishedTasks()).To(Equal(1))
		})
	}
}

// TestRestartSMSAfterCalls restarts SMS after every N SMS calls, from YAML.
func TestRestartSMSAfterCalls(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := startYAML(t, `
restartSMSAfterCalls: 4
providers:
- name: p
  taskDuration: 1m
  groups: [{faultDomain: fd, deviceGroup: dg-1}]
`)
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second) // one SMS call: QueryStorageManager
	id := []smssim.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg-1"}}
	ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", id, "r") // call 2
	g.Expect(err).NotTo(HaveOccurred())
	for range 2 { // calls 3 and 4
		_, err = c.TaskInfo(ctx, ref)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(sim.SMSRestarts()).To(BeZero())
	_, err = c.TaskInfo(ctx, ref) // call 5 meets a restarted SMS
	g.Expect(faultType(err)).To(Equal("ManagedObjectNotFound"), "%v", err)
	g.Expect(sim.SMSRestarts()).To(Equal(1))
}

// TestForeignSyncWithoutPitName: SyncOngoing names a task whose results carry no pitName.
func TestForeignSyncWithoutPitName(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 2, func(p *smssim.ProviderConfig) {
		p.TaskDuration = smssim.Duration{Duration: 600 * time.Millisecond}
		p.Groups[1].SyncOngoing, p.Groups[1].SyncOngoingWithoutPitName = true, true
	})
	c := dialSim(t, sim, sms.BindingJSON, 5*time.Second)
	foreign := sim.Provider("p").StartForeignSync(ids[:1], "", 300*time.Millisecond)
	_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "ours")
	var so *sms.SyncOngoingError
	g.Expect(errors.As(err, &so)).To(BeTrue(), "%v", err)
	g.Expect(so.TaskRef).To(Equal(foreign))
	g.Expect(sim.Calls()).To(HaveLen(1), "a foreign sync is no call")
	info := waitDone(t, c, foreign)
	g.Expect(info.Results).To(HaveLen(1))
	g.Expect(info.Results[0].Succeeded).To(BeTrue())
	g.Expect(info.Results[0].PitName).To(BeEmpty())

	// The configured foreign sync of dg-2 (started with the simulator) has no pitName either.
	_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:], "ours")
	g.Expect(errors.As(err, &so)).To(BeTrue(), "%v", err)
	g.Expect(waitDone(t, c, so.TaskRef).Results[0].PitName).To(BeEmpty())
	g.Expect(sim.PiTCounts("")).To(Equal(map[smssim.GroupID]int{ids[0]: 1, ids[1]: 1}))
}

// TestPiTQueryGroupFaults: a per-group fault inside the answer reaches the client as a typed
// per-group error; the other groups are answered.
func TestPiTQueryGroupFaults(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 3, func(p *smssim.ProviderConfig) {
				p.Groups[2].PiTQueryFaults = []smssim.FaultRule{{Fault: smssim.FaultReplication, Times: 1, Message: "peer down"}}
			})
			c := dialSim(t, sim, b, 5*time.Second)
			ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "q")
			g.Expect(err).NotTo(HaveOccurred())
			waitDone(t, c, ref)
			sim.Provider("p").FailPiTQuery(ids[1], smssim.FaultRule{Fault: smssim.FaultBusy, Times: 1})

			pits, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", ids, "q")
			var gq *sms.GroupQueryError
			g.Expect(errors.As(err, &gq)).To(BeTrue(), "%v", err)
			g.Expect(gq.Groups).To(HaveLen(2))
			var busy *sms.ProviderBusyError
			g.Expect(errors.As(gq.Groups[ids[1]], &busy)).To(BeTrue(), "%v", gq.Groups[ids[1]])
			var rf *sms.ReplicationFaultError
			g.Expect(errors.As(gq.Groups[ids[2]], &rf)).To(BeTrue(), "%v", gq.Groups[ids[2]])
			g.Expect(rf.Message).To(Equal("peer down"))
			g.Expect(pits).To(HaveLen(1))
			g.Expect(pits[0].Group).To(Equal(ids[0]))

			pits, err = c.PointInTimeReplicas(ctx, "vasaprovider-1", ids, "q")
			g.Expect(err).NotTo(HaveOccurred(), "each rule answered once")
			g.Expect(pits).To(HaveLen(3))
		})
	}
}

// TestProviderUnregisteredDuringACallIsNotFound: a provider unregistered while a call to it waits out the
// provider's latency answers ManagedObjectNotFound, and no sync reaches its array.
func TestProviderUnregisteredDuringACallIsNotFound(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim, ids := startOne(t, 1, func(p *smssim.ProviderConfig) { p.Latency = smssim.Duration{Duration: 400 * time.Millisecond} })
			c := dialSim(t, sim, b, 5*time.Second)
			time.AfterFunc(100*time.Millisecond, sim.Provider("p").Unregister)
			_, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "gone")
			g.Expect(faultType(err)).To(Equal("ManagedObjectNotFound"), "%v", err)
			g.Expect(sim.Calls()).To(BeEmpty())
		})
	}
}

// TestGroupQueryFaultsAnswerQueriesNamingTheGroup: a group's QueryReplicationGroup fault answers a query
// that names the group; a listing of every group neither shows nor spends it.
func TestGroupQueryFaultsAnswerQueriesNamingTheGroup(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 2, nil)
			sim.Provider("p").FailGroupQuery(ids[1], smssim.FaultRule{Fault: smssim.FaultQueryExecution, Times: 1})
			c := dialSim(t, sim, b, 5*time.Second)
			all, err := c.AllReplicationGroups(ctx, "vasaprovider-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(2))
			for _, gi := range all {
				g.Expect(gi.Err).To(BeEmpty())
			}
			rgs, err := c.ReplicationGroups(ctx, "vasaprovider-1", ids)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rgs).To(Equal([]sms.ReplicationGroup{{Group: ids[0], State: "TARGET"}, {Group: ids[1], State: sms.StateUnanswered}}))
			rgs, err = c.ReplicationGroups(ctx, "vasaprovider-1", ids)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rgs[1].State).To(Equal("TARGET"), "spent after one answer")
		})
	}
}

// TestRestartedSMSInitializes: with serviceInitializingFor, SMS takes that long to come back after a
// restart, as at start: HTTP 503 first, then ServiceNotInitialized, then the restarted service.
func TestRestartedSMSInitializes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := startYAML(t, `
serviceInitializingFor: 1m
providers:
- name: p
  taskDuration: 1h
  groups: [{faultDomain: fd, deviceGroup: dg-1}]
`)
	var now atomic.Int64
	now.Store(time.Now().Add(2 * time.Minute).UnixNano()) // past the start-up window
	sim.SetClock(func() time.Time { return time.Unix(0, now.Load()) })
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", []smssim.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg-1"}}, "r")
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(sim.RestartSMS()).To(ConsistOf(ref))
	g.Expect(sim.ServiceInitializing()).To(BeTrue())
	_, err = c.TaskInfo(ctx, ref)
	var su *sms.ServiceUnavailableError
	g.Expect(errors.As(err, &su)).To(BeTrue(), "%v", err)
	g.Expect(su.MayHaveRun).To(BeFalse(), "nothing listens behind the proxy")

	now.Add(int64(45 * time.Second))
	_, err = c.TaskInfo(ctx, ref)
	g.Expect(faultType(err)).To(Equal("ServiceNotInitialized"), "%v", err)

	now.Add(int64(30 * time.Second))
	g.Expect(sim.ServiceInitializing()).To(BeFalse())
	_, err = c.TaskInfo(ctx, ref)
	g.Expect(faultType(err)).To(Equal("ManagedObjectNotFound"), "%v", err)
}
