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

// TestRoutedQueriesKeepWhatTheyCan: what cannot be followed leaves out only the groups it is about.
// Providers naming each other as active (an HA pair mid switch) cost a bounded number of calls and the
// other domain's groups are still read; an active provider without PiT support does not stop the
// queries of the groups the first provider is active for; groups of a by-id query that failed, or that
// TooMany split, have an entry each.
func TestRoutedQueriesKeepWhatTheyCan(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	fd2Only := smssim.InactiveConfig{FaultDomains: []string{"fd-2"}, ActiveProvider: "array-b"}
	newest := func(pits []sms.NewestPiT) map[sms.GroupID]sms.NewestPiT {
		out := map[sms.GroupID]sms.NewestPiT{}
		for _, p := range pits {
			out[p.Group] = p
		}
		return out
	}
	t.Run("providers naming each other", func(t *testing.T) {
		g := NewWithT(t)
		sim, c, proxy, ids1, ids2 := haSim(t, sms.BindingSOAP, fd2Only)
		sim.Provider("array-b").SetInactive("array-a", "fd-2")
		sim.Provider("array-a").AddPiT(ids1[0], "hourly-1", at)
		// The second batch holds groups of both domains, which the routes now send both to array-a.
		pits, err := c.NewestPointInTimes(ctx, sim.Provider("array-a").Ref(), slices.Concat(ids2[:50], ids1[:100], ids2[50:100], ids1[100:]))
		g.Expect(err).To(MatchError(ContainSubstring("InactiveProvider")))
		got := newest(pits)
		g.Expect(got).To(HaveLen(150), "every fd-1 group, no fd-2 one")
		g.Expect(got[ids1[0]].PiT).NotTo(BeNil())
		g.Expect(got).NotTo(HaveKey(ids2[0]))
		g.Expect(proxy.Count("QueryPointInTimeReplica").Requests).To(BeNumerically("<=", 7))
	})
	t.Run("active provider without PiT support", func(t *testing.T) {
		g := NewWithT(t)
		sim, c, _, ids1, ids2 := haSim(t, sms.BindingSOAP, fd2Only)
		sim.Provider("array-b").SetNoPitSupport(true)
		sim.Provider("array-a").AddPiT(ids1[149], "hourly-1", at)
		pits, err := c.NewestPointInTimes(ctx, sim.Provider("array-a").Ref(), slices.Concat(ids2, ids1))
		g.Expect(err).To(HaveOccurred())
		got := newest(pits)
		g.Expect(got[ids1[149]].PiT).NotTo(BeNil(), "array-a's own groups are read to the end")
	})
	t.Run("by id, a failed call and TooMany", func(t *testing.T) {
		g := NewWithT(t)
		sim, c, _, ids1, ids2 := haSim(t, sms.BindingSOAP, fd2Only)
		sim.Provider("array-b").FailNext("QueryReplicationGroup", smssim.FaultBusy, 5)
		infos, err := c.ReplicationGroupInfos(ctx, sim.Provider("array-a").Ref(), slices.Concat(ids2[:10], ids1[:5]))
		g.Expect(err).To(MatchError(ContainSubstring("ProviderBusy")))
		g.Expect(infos).To(HaveLen(15))
		for _, in := range infos {
			if in.Group.FaultDomainID == "fd-2" {
				g.Expect(in.Unanswered).To(BeTrue())
				g.Expect(in.Err).To(ContainSubstring("ProviderBusy"))
			} else {
				g.Expect(in.State).To(Equal("TARGET"))
			}
		}
		sim.Provider("array-a").FailNext("QueryReplicationGroup", smssim.FaultTooMany, 1)
		infos, err = c.ReplicationGroupInfos(ctx, sim.Provider("array-a").Ref(), ids1[:4])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(infos).To(HaveLen(4))
		for _, in := range infos {
			g.Expect(in.State).To(Equal("TARGET"))
		}
	})
}
