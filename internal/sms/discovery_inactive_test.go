package sms_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// haSim starts array-a (fd-1, and fd-2 for which it is inactive) and array-b (fd-2, active) behind a
// counting proxy, and returns the client, the proxy and the groups of fd-1 and fd-2.
func haSim(t *testing.T, b sms.Binding, inactive smssim.InactiveConfig) (*smssim.Sim, sms.Client, *faultproxy.Proxy, []sms.GroupID, []sms.GroupID) {
	t.Helper()
	g := NewWithT(t)
	ids1, fd1 := groups("fd-1", 150)
	ids2, fd2 := groups("fd-2", 150)
	sim := startSim(t, func(c *smssim.Config) {
		c.Providers[0].Groups, c.Providers[0].Inactive = slices.Concat(fd1, fd2), &inactive
		c.Providers[1].Groups = fd2
	})
	proxy, err := faultproxy.Start(faultproxy.Options{Target: sim.URL(), TargetCA: sim.CACertPEM()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(proxy.Close)
	cfg := clientConfig(sim, b)
	cfg.URL, cfg.Thumbprint = proxy.URL(), sms.FormatThumbprint(proxy.CertificateDER())
	c, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return sim, c, proxy, ids1, ids2
}

// TestDiscoveryFollowsInactiveProvider: PiT queries and queries by id naming groups of fault domains the
// provider is inactive for are answered by the active provider, where the PiTs of syncs re-routed there
// are; after the first refusal, the later batches go there directly.
func TestDiscoveryFollowsInactiveProvider(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, c, proxy, ids1, ids2 := haSim(t, b, smssim.InactiveConfig{FaultDomains: []string{"fd-2"}, ActiveProvider: "array-b"})
			a, active := sim.Provider("array-a"), sim.Provider("array-b")
			at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
			a.AddPiT(ids1[0], "hourly-1", at)
			a.AddPiT(ids2[0], "stale", at)
			made := active.AddPiT(ids2[0], "hourly-1", at.Add(-time.Hour))

			listed, err := c.AllReplicationGroups(ctx, a.Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(listed).To(HaveLen(150), "the provider lists only the groups of the domains it is active for")

			before := proxy.Count("QueryPointInTimeReplica").Requests
			pits, err := c.NewestPointInTimes(ctx, a.Ref(), slices.Concat(ids2, ids1))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pits).To(HaveLen(300))
			byGroup := map[sms.GroupID]sms.NewestPiT{}
			for _, p := range pits {
				g.Expect(p.Err).To(BeEmpty(), "%v", p.Group)
				byGroup[p.Group] = p
			}
			g.Expect(byGroup[ids2[0]].PiT).NotTo(BeNil())
			g.Expect(byGroup[ids2[0]].PiT.ID).To(Equal(made), "read at the active provider")
			g.Expect(byGroup[ids1[0]].PiT.Name).To(Equal("hourly-1"))
			// Three batches (fd-2 ×100; fd-2 ×50 + fd-1 ×50; fd-1 ×100): one refused, then fd-2 at array-b.
			g.Expect(proxy.Count("QueryPointInTimeReplica").Requests - before).To(Equal(5))

			infos, err := c.ReplicationGroupInfos(ctx, a.Ref(), slices.Concat(ids2[:120], ids1[:10]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(infos).To(HaveLen(130))
			for _, in := range infos {
				g.Expect(in.Err).To(BeEmpty())
				g.Expect(in.State).To(Equal("TARGET"))
			}
		})
	}
}

// TestListingOfAPassiveProviderIsReadAtTheActiveOne: a provider inactive for every fault domain refuses the
// listing; the active provider's groups of those domains are listed instead, and no other of its groups.
func TestListingOfAPassiveProviderIsReadAtTheActiveOne(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, c, _, _, ids2 := haSim(t, sms.BindingSOAP, smssim.InactiveConfig{ActiveProvider: "array-b"})
	sim.Provider("array-b").AddGroups(smssim.GroupConfig{FaultDomain: "fd-9", DeviceGroup: "dg-1"})

	listed, err := c.AllReplicationGroups(ctx, sim.Provider("array-a").Ref())
	g.Expect(err).NotTo(HaveOccurred())
	var got []sms.GroupID
	for _, in := range listed {
		got = append(got, in.Group)
	}
	g.Expect(got).To(HaveLen(150))
	g.Expect(got).To(ConsistOf(ids2), "array-b's groups of fd-2 only: fd-1 is array-a's, fd-9 not mapped")

	sim.Provider("array-b").SetInactive("array-a")
	_, err = c.AllReplicationGroups(ctx, sim.Provider("array-a").Ref())
	var inactive *sms.InactiveProviderError
	g.Expect(err).To(MatchError(ContainSubstring("at the active provider of fault domains")))
	g.Expect(errors.As(err, &inactive)).To(BeTrue(), "one hop only: %v", err)
}
