package smssim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestArrayScheduleTakesAndPrunesPiTs checks the array's own schedule: PiTs of TARGET groups only, named
// by prefix and time, at most retain per group; configured PiTs are recorded at start; removing a group
// removes its PiTs.
func TestArrayScheduleTakesAndPrunesPiTs(t *testing.T) {
	g := NewWithT(t)
	cfg, err := smssim.ParseConfig([]byte(`
providers:
- name: p
  arraySchedule: {interval: 20ms, namePrefix: snap, retain: 3}
  groups:
  - {faultDomain: fd, deviceGroup: dg-1, pits: [{name: before, age: 1h}]}
  - {faultDomain: fd, deviceGroup: dg-2, state: SOURCE}
`))
	g.Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	sim, err := smssim.Start(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	dg1 := smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: "dg-1"}

	count := func(name string) func() int {
		return func() int {
			n := 0
			for _, p := range sim.PiTs() {
				if p.Group == dg1 && strings.HasPrefix(p.PitName, name) {
					n++
				}
			}
			return n
		}
	}
	g.Eventually(count("snap-")).WithTimeout(5 * time.Second).Should(Equal(3))
	g.Consistently(count("snap-"), 150*time.Millisecond, 10*time.Millisecond).Should(BeNumerically("<=", 3))
	for _, p := range sim.PiTs() {
		g.Expect(p.Group).To(Equal(dg1), "a SOURCE group gets no scheduled PiTs")
		if p.PitName == "before" {
			g.Expect(p.TimeStamp).To(BeTemporally("~", start.Add(-time.Hour), time.Minute))
		}
	}
	g.Expect(count("before")()).To(Equal(1))

	sim.Provider("p").SetArraySchedule(nil)
	g.Expect(sim.Provider("p").RemovePiTs(dg1, "before")).To(Equal(1))
	sim.Provider("p").RemoveGroups(dg1)
	g.Expect(count("")()).To(BeZero())
	g.Expect(sim.Provider("p").Config().Groups).To(HaveLen(1))
}

// TestRestartProviderAnswersFromAnEmptyInventory: while a restarted provider loads its inventory it lists
// no group (a success), answers named groups as unknown and refuses syncs of them; afterwards the
// groups and their PiTs are back as they were.
func TestRestartProviderAnswersFromAnEmptyInventory(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim, ids := startOne(t, 2, nil)
			c := dialSim(t, sim, b, 5*time.Second)
			ctx := context.Background()
			p := sim.Provider("p")
			at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
			g.Expect(p.AddPiT(ids[0], "before", at)).NotTo(BeEmpty())

			p.RestartProvider(time.Hour)
			g.Expect(p.ProviderLoading()).To(BeTrue())
			infos, err := c.AllReplicationGroups(ctx, p.Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(infos).To(BeEmpty())
			pits, err := c.NewestPointInTimes(ctx, p.Ref(), ids[:1])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pits).To(HaveLen(1))
			g.Expect(pits[0].Err).To(ContainSubstring("unknown replication group"))
			_, err = c.SyncReplicationGroups(ctx, p.Ref(), ids[:1], "during-restart")
			g.Expect(faultType(err)).To(Equal("SmsReplicationFault"))

			p.RestartProvider(0)
			g.Expect(p.ProviderLoading()).To(BeFalse())
			infos, err = c.AllReplicationGroups(ctx, p.Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(infos).To(HaveLen(2))
			pits, err = c.NewestPointInTimes(ctx, p.Ref(), ids[:1])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pits[0].PiT).NotTo(BeNil())
			g.Expect(pits[0].PiT.TimeStamp).To(BeTemporally("==", at))
		})
	}
}
