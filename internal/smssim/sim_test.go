package smssim_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// govmomiSMS logs in with plain govmomi and returns an SMS service client, as govmomi issue #2305 suggests.
func govmomiSMS(t *testing.T, sim *smssim.Sim) *soap.Client {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	u, err := url.Parse(sim.URL() + "/sdk")
	g.Expect(err).NotTo(HaveOccurred())
	sc := soap.NewClient(u, true)
	vc, err := vim25.NewClient(ctx, sc)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(session.NewManager(vc).Login(ctx, url.UserPassword(sim.Username(), sim.Password()))).To(Succeed())
	smsc := vc.NewServiceClient("/sms/sdk", "sms")
	smsc.Cookie = vc.SessionCookie
	return smsc
}

func TestSampleConfigWithGovmomiMethods(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cfg, err := smssim.LoadConfig("../../hack/vasa-sim/sample.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	sim, err := smssim.Start(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	g.Expect(sim.ProviderNames()).To(Equal([]string{"array-a-vp", "array-b-vp", "array-c-vp"}))
	sim.Provider("array-a-vp").SetTaskDuration(20 * time.Millisecond)
	sim.Provider("array-a-vp").SetLatency(0)

	c := govmomiSMS(t, sim)
	smRes, err := methods.QueryStorageManager(ctx, c, &smstypes.QueryStorageManager{
		This: vimtypes.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"},
	})
	g.Expect(err).NotTo(HaveOccurred())
	provs, err := methods.QueryProvider(ctx, c, &smstypes.QueryProvider{This: smRes.Returnval})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(provs.Returnval).To(HaveLen(3))
	info, err := methods.QueryProviderInfo(ctx, c, &smstypes.QueryProviderInfo{This: provs.Returnval[0]})
	g.Expect(err).NotTo(HaveOccurred())
	vpi, ok := info.Returnval.(*smstypes.VasaProviderInfo)
	g.Expect(ok).To(BeTrue())
	g.Expect(vpi.Name).To(Equal("array-a-vp"))
	g.Expect(vpi.Uid).To(Equal("5d3c0e4e-array-a"))

	sync := &smstypes.SyncReplicationGroup_Task{
		This:    provs.Returnval[0],
		GroupId: []vimtypes.ReplicationGroupId{{FaultDomainId: vimtypes.FaultDomainId{Id: "fd-1"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg-1"}}},
		PitName: "from-govmomi",
	}
	// the sample answers ProviderBusy twice
	for range 2 {
		_, err = methods.SyncReplicationGroup_Task(ctx, c, sync)
		g.Expect(soap.IsSoapFault(err)).To(BeTrue())
		g.Expect(soap.ToSoapFault(err).VimFault()).To(BeAssignableToTypeOf(smstypes.ProviderBusy{}))
	}
	res, err := methods.SyncReplicationGroup_Task(ctx, c, sync)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Returnval.Type).To(Equal("SmsTask"))
	g.Eventually(func(g Gomega) {
		ti, err := methods.QuerySmsTaskInfo(ctx, c, &smstypes.QuerySmsTaskInfo{This: res.Returnval})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ti.Returnval.State).To(Equal("success"))
		arr, ok := ti.Returnval.Result.(smstypes.ArrayOfGroupOperationResult)
		g.Expect(ok).To(BeTrue(), "%T", ti.Returnval.Result)
		g.Expect(arr.GroupOperationResult).To(HaveLen(1))
		sr, ok := arr.GroupOperationResult[0].(*smstypes.SyncReplicationGroupSuccessResult)
		g.Expect(ok).To(BeTrue())
		g.Expect(sr.PitName).To(Equal("from-govmomi"))
	}).WithTimeout(5 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	g.Expect(sim.PiTs()).To(HaveLen(1))
	g.Expect(sim.Calls()).To(HaveLen(3))
	g.Expect(sim.Calls()[0].Fault).To(Equal("ProviderBusy"))

	// dg-4 has an external sync running: SyncOngoing names its task
	sync.GroupId[0].DeviceGroupId.Id = "dg-4"
	sim.Provider("array-a-vp").SetTaskDuration(time.Minute)
	_, err = methods.SyncReplicationGroup_Task(ctx, c, sync)
	g.Expect(soap.ToSoapFault(err).VimFault()).To(BeAssignableToTypeOf(smstypes.SyncOngoing{}))

	// array-b-vp is inactive for fd-2 and names array-c-vp
	sync.This = provs.Returnval[1]
	sync.GroupId[0] = vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd-2"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg-1"}}
	_, err = methods.SyncReplicationGroup_Task(ctx, c, sync)
	ip, ok := soap.ToSoapFault(err).VimFault().(smstypes.InactiveProvider)
	g.Expect(ok).To(BeTrue())
	g.Expect(ip.Mapping[0].ActiveProvider.Value).To(Equal(provs.Returnval[2].Value))
}

func TestSimulatorsAreIndependent(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cfg := smssim.Config{Providers: []smssim.ProviderConfig{{Name: "p", Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}}}}}
	a, err := smssim.Start(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer a.Close()
	cfg.Password = "other"
	b, err := smssim.Start(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer b.Close()
	g.Expect(a.URL()).NotTo(Equal(b.URL()))
	g.Expect(a.Thumbprint()).NotTo(Equal(b.Thumbprint()))
	g.Expect(b.Password()).To(Equal("other"))

	c := govmomiSMS(t, a)
	_, err = methods.SyncReplicationGroup_Task(ctx, c, &smstypes.SyncReplicationGroup_Task{
		This:    vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: a.Provider("p").Ref()},
		GroupId: []vimtypes.ReplicationGroupId{{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg"}}},
		PitName: "x",
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.PiTs()).To(HaveLen(1))
	g.Expect(b.PiTs()).To(BeEmpty())
	g.Expect(b.Calls()).To(BeEmpty())
}

// TestTaskLifecycle: on the simulator's clock a task is queued for the first quarter of its duration,
// then running, then a success with its PiT.
func TestTaskLifecycle(t *testing.T) {
	g := NewWithT(t)
	const d = 200 * time.Millisecond
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "p", TaskDuration: smssim.Duration{Duration: d},
		Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	clock := clocktesting.NewFakeClock(time.Now())
	sim.SetClock(clock.Now)
	state := func(ref string) string {
		st, err := sim.TaskState(ref)
		g.Expect(err).NotTo(HaveOccurred())
		return st
	}
	ref := sim.Provider("p").StartSync([]smssim.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg"}}, "n")
	g.Expect(state(ref)).To(Equal("queued"))
	clock.Step(d/4 - time.Nanosecond)
	g.Expect(state(ref)).To(Equal("queued"))
	clock.Step(time.Nanosecond)
	g.Expect(state(ref)).To(Equal("running"))
	clock.Step(d - d/4 - time.Nanosecond)
	g.Expect(state(ref)).To(Equal("running"))
	g.Expect(sim.PiTs()).To(BeEmpty())
	clock.Step(time.Nanosecond)
	g.Expect(state(ref)).To(Equal("success"))
	g.Expect(sim.PiTs()).To(HaveLen(1))
}

// TestEndTask: a task ended on demand is a success with its PiT, stamped when it ended; a task that
// ended is left as it is, and an unknown one is an error.
func TestEndTask(t *testing.T) {
	g := NewWithT(t)
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "p", TaskDuration: smssim.Duration{Duration: time.Hour},
		Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	clock := clocktesting.NewFakeClock(time.Now())
	sim.SetClock(clock.Now)
	ref := sim.Provider("p").StartSync([]smssim.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg"}}, "n")
	clock.Step(20 * time.Minute)
	g.Expect(sim.TaskState(ref)).To(Equal("running"))
	g.Expect(sim.EndTask(ref)).To(Succeed())
	g.Expect(sim.TaskState(ref)).To(Equal("success"))
	pits := sim.PiTs()
	g.Expect(pits).To(HaveLen(1))
	g.Expect(pits[0].TimeStamp).To(BeTemporally("==", clock.Now()))
	tasks := sim.Tasks()
	g.Expect(tasks).To(HaveLen(1))
	g.Expect(tasks[0].Duration).To(Equal(20 * time.Minute))

	clock.Step(time.Minute)
	g.Expect(sim.EndTask(ref)).To(Succeed())
	g.Expect(sim.PiTs()).To(HaveLen(1), "ended once")
	g.Expect(sim.Tasks()[0].End).To(BeTemporally("==", pits[0].TimeStamp))
	g.Expect(sim.EndTask("smstask-none")).NotTo(Succeed())
}

func TestParseConfig(t *testing.T) {
	cases := map[string]struct {
		yaml string
		ok   bool
	}{
		"minimal":       {"providers: [{name: p}]", true},
		"durations":     {"providers: [{name: p, taskDuration: 50ms, latency: 1s}]", true},
		"unknown field": {"providers: [{name: p, maxBatch: 3}]", false},
		"bad duration":  {"providers: [{name: p, taskDuration: soon}]", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cfg, err := smssim.ParseConfig([]byte(tc.yaml))
			if !tc.ok {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Providers[0].Name).To(Equal("p"))
		})
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	g := NewWithT(t)
	_, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{Name: "a", Inactive: &smssim.InactiveConfig{ActiveProvider: "nope"}}}})
	g.Expect(err).To(MatchError(ContainSubstring("nope")))
	_, err = smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{Name: "a"}, {Name: "a"}}})
	g.Expect(err).To(HaveOccurred())
}
