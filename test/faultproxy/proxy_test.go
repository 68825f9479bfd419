package faultproxy_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

const syncMethod = "SyncReplicationGroup_Task"

var group = sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"}

// setup starts a simulator with one provider, a proxy in front of it (kill counts its calls) and an SMS
// client through the proxy; it returns the provider's moId.
func setup(t *testing.T, binding sms.Binding, kills *atomic.Int32) (*smssim.Sim, *faultproxy.Proxy, sms.Client, string) {
	t.Helper()
	g := NewWithT(t)
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a", Groups: []smssim.GroupConfig{{FaultDomain: group.FaultDomainID, DeviceGroup: group.DeviceGroupID}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(sim.Close)
	p, err := faultproxy.Start(faultproxy.Options{Target: sim.URL(), TargetCA: sim.CACertPEM(), Kill: func() { kills.Add(1) }})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(p.Close)
	c, err := sms.Dial(context.Background(), sms.Config{
		URL: p.URL(), Username: sim.Username(), Password: sim.Password(), CABundle: p.CACertPEM(), Binding: binding,
		Timeout: 5 * time.Second,
	})
	g.Expect(err).NotTo(HaveOccurred())
	info, err := c.FindProvider(context.Background(), "array-a", "")
	g.Expect(err).NotTo(HaveOccurred())
	return sim, p, c, info.Ref
}

func TestRulesActOnSyncResponsesOfBothBindings(t *testing.T) {
	for _, binding := range []sms.Binding{sms.BindingSOAP, sms.BindingJSON} {
		t.Run(string(binding), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			var kills atomic.Int32
			sim, p, c, ref := setup(t, binding, &kills)
			g.Expect(p.AddRule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 1})).To(Succeed())
			g.Expect(p.AddRule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Drop, Times: 1})).To(Succeed())
			g.Expect(p.AddRule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Delay, Times: 1, Delay: 300 * time.Millisecond})).To(Succeed())

			// Killed and dropped: the client gets no answer, the simulator has started the task anyway.
			for i := range 2 {
				_, err := c.SyncReplicationGroups(ctx, ref, []sms.GroupID{group}, "pit-"+string(rune('a'+i)))
				g.Expect(err).To(HaveOccurred())
			}
			g.Expect(kills.Load()).To(BeEquivalentTo(1))
			// Delayed, then delivered.
			start := time.Now()
			task, err := c.SyncReplicationGroups(ctx, ref, []sms.GroupID{group}, "pit-c")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(time.Since(start)).To(BeNumerically(">=", 300*time.Millisecond))
			// The rules are used up: the next response passes as it is (counted, not timed: a loaded
			// machine may take 300 ms for any call).
			_, err = c.SyncReplicationGroups(ctx, ref, []sms.GroupID{group}, "pit-d")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Count(syncMethod).Delayed).To(Equal(1))

			calls := sim.Calls()
			g.Expect(calls).To(HaveLen(4))
			for _, call := range calls {
				g.Expect(call.Fault).To(BeEmpty())
				g.Expect(call.Task).NotTo(BeEmpty())
			}
			g.Expect(calls[2].Task).To(Equal(task))

			st := p.Count(syncMethod)
			g.Expect(st.Requests).To(Equal(4))
			g.Expect(st.Delivered).To(Equal(2))
			g.Expect(st.Killed).To(Equal(1))
			g.Expect(st.Dropped).To(Equal(1))
			g.Expect(st.Delayed).To(Equal(1))
			g.Expect(st.RequestBytes).To(BeNumerically(">", 0))
			g.Expect(st.ResponseBytes).To(BeNumerically(">", 0))
			g.Expect(p.InFlight(syncMethod)).To(BeZero())
			// Other methods are counted under their own names.
			g.Expect(p.Count("QueryProviderInfo").Requests).To(BeNumerically(">", 0))
		})
	}
}

func TestOnlySuccessSkipsFaults(t *testing.T) {
	g := NewWithT(t)
	var kills atomic.Int32
	sim, p, c, ref := setup(t, sms.BindingSOAP, &kills)
	sim.Provider("array-a").FailNext(syncMethod, smssim.FaultBusy, 1)
	g.Expect(p.AddRule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Drop, OnlySuccess: true})).To(Succeed())

	_, err := c.SyncReplicationGroups(context.Background(), ref, []sms.GroupID{group}, "pit-a")
	g.Expect(err).To(MatchError(ContainSubstring("ProviderBusy")), "the fault passes through")
	_, err = c.SyncReplicationGroups(context.Background(), ref, []sms.GroupID{group}, "pit-b")
	g.Expect(err).To(HaveOccurred(), "the task-creating answer is dropped")
	g.Expect(p.Count(syncMethod).Dropped).To(Equal(1))
}

func TestRuleValidation(t *testing.T) {
	g := NewWithT(t)
	sim, err := smssim.Start(smssim.Config{})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	p, err := faultproxy.Start(faultproxy.Options{Target: sim.URL(), TargetCA: sim.CACertPEM()})
	g.Expect(err).NotTo(HaveOccurred())
	defer p.Close()
	for rule, field := range map[faultproxy.Rule]string{
		{Action: faultproxy.Drop}:                                     "method",
		{Method: syncMethod, Action: "Explode"}:                       "action",
		{Method: syncMethod, Action: faultproxy.Kill}:                 "Options.Kill",
		{Method: syncMethod, Action: faultproxy.Delay}:                "delay",
		{Method: syncMethod, Action: faultproxy.Drop, Times: -1}:      "times",
		{Method: syncMethod, Action: faultproxy.Drop, Probability: 2}: "probability",
	} {
		g.Expect(p.AddRule(rule)).To(MatchError(ContainSubstring(field)))
	}
	_, err = faultproxy.Start(faultproxy.Options{Target: "http://127.0.0.1:1", TargetCA: sim.CACertPEM()})
	g.Expect(err).To(MatchError(ContainSubstring("https")))
	_, err = faultproxy.Start(faultproxy.Options{Target: sim.URL()})
	g.Expect(err).To(MatchError(ContainSubstring("targetCA")))
}
