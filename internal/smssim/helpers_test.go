package smssim_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

var bindings = []sms.Binding{sms.BindingSOAP, sms.BindingJSON}

// testGroups returns n groups of fault domain "fd" and their configs.
func testGroups(n int) ([]smssim.GroupID, []smssim.GroupConfig) {
	ids := make([]smssim.GroupID, n)
	cfgs := make([]smssim.GroupConfig, n)
	for i := range n {
		ids[i] = smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: fmt.Sprintf("dg-%d", i+1)}
		cfgs[i] = smssim.GroupConfig{FaultDomain: "fd", DeviceGroup: ids[i].DeviceGroupID}
	}
	return ids, cfgs
}

// startOne starts a simulator with one provider "p" (ref vasaprovider-1) holding n groups.
func startOne(t *testing.T, n int, mutate func(*smssim.ProviderConfig)) (*smssim.Sim, []smssim.GroupID) {
	t.Helper()
	ids, cfgs := testGroups(n)
	pc := smssim.ProviderConfig{Name: "p", Groups: cfgs, TaskDuration: smssim.Duration{Duration: 20 * time.Millisecond}}
	if mutate != nil {
		mutate(&pc)
	}
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{pc}})
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim, ids
}

// startYAML starts a simulator from a YAML config.
func startYAML(t *testing.T, yaml string) *smssim.Sim {
	t.Helper()
	cfg, err := smssim.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatalf("parsing simulator config: %v", err)
	}
	sim, err := smssim.Start(cfg)
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// dialSim connects the project's client to sim over HTTPS with the binding and round-trip timeout.
func dialSim(t *testing.T, sim *smssim.Sim, b sms.Binding, timeout time.Duration) sms.Client {
	t.Helper()
	c, err := sms.Dial(context.Background(), sms.Config{
		URL: sim.URL(), Username: sim.Username(), Password: sim.Password(),
		Thumbprint: sim.Thumbprint(), Binding: b, Timeout: timeout,
	})
	if err != nil {
		t.Fatalf("dialing simulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// waitDone polls a task through the client until it finished.
func waitDone(t *testing.T, c sms.Client, ref string) sms.TaskInfo {
	t.Helper()
	var info sms.TaskInfo
	NewWithT(t).Eventually(func(g Gomega) {
		var err error
		info, err = c.TaskInfo(context.Background(), ref)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(info.State).To(BeElementOf(sms.TaskSuccess, sms.TaskError))
	}).WithTimeout(5 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	return info
}

// faultType returns the SMS fault type err carries, or "".
func faultType(err error) string {
	var f sms.Fault
	if errors.As(err, &f) {
		return f.FaultType()
	}
	return ""
}
