package sms_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestDiscovery lists every group with its name, lists fault domains per provider and reads the newest PiT
// of 250 groups (three batches) over both bindings, as details and as summaries.
func TestDiscovery(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ids, cfgs := groups("fd-1", 250)
			cfgs[0].Name, cfgs[0].Agreement = "oracle-prod", "async, RPO 15m"
			cfgs[1].State = "INTEST"
			sim := startSim(t, func(c *smssim.Config) { c.Providers[0].Groups = cfgs })
			c := dial(t, sim, b)
			a := sim.Provider("array-a")

			all, err := c.AllReplicationGroups(ctx, a.Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(250))
			g.Expect(all[0]).To(Equal(sms.GroupInfo{Group: ids[0], State: "TARGET", Name: "oracle-prod", Source: &ids[0], Agreement: "async, RPO 15m"}))
			g.Expect(all[1].State).To(Equal("INTEST"))

			base := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
			a.AddPiT(ids[0], "hourly-1", base)
			newest := a.AddPiT(ids[0], "hourly-3", base.Add(2*time.Hour))
			a.AddPiT(ids[0], "hourly-2", base.Add(time.Hour))
			a.AddPiT(ids[249], "hourly-1", base)

			got, err := c.NewestPointInTimes(ctx, a.Ref(), append(ids, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "gone"}))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(251))
			g.Expect(got[0].PiT).NotTo(BeNil())
			g.Expect(got[0].PiT.ID).To(Equal(newest))
			g.Expect(got[0].PiT.Name).To(Equal("hourly-3"))
			g.Expect(got[0].PiT.TimeStamp).To(BeTemporally("==", base.Add(2*time.Hour)))
			g.Expect(got[0].Summary).To(BeFalse())
			g.Expect(got[1].PiT).To(BeNil())
			g.Expect(got[1].Err).To(BeEmpty())
			g.Expect(got[249].PiT.Name).To(Equal("hourly-1"))
			g.Expect(got[250].Err).To(ContainSubstring("unknown replication group"))

			a.SetPiTSummaries(true)
			got, err = c.NewestPointInTimes(ctx, a.Ref(), ids[:1])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got[0].Summary).To(BeTrue())
			g.Expect(got[0].PiT.TimeStamp).To(BeTemporally("==", base.Add(2*time.Hour)), "number: 1 leaves only the newest in the summary")
			g.Expect(got[0].PiT.ID).To(BeEmpty())
		})
	}
}

// TestListingByIDsOnly: a provider that lists its groups by id only (bare GroupOperationResults, as the
// API allows) has them asked about by id, in batches: the listing carries every group's state and name.
func TestListingByIDsOnly(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ids, cfgs := groups("fd-1", 250)
			cfgs[0].Name = "oracle-prod"
			cfgs[249].State = "INTEST"
			sim := startSim(t, func(c *smssim.Config) {
				c.Providers[0].Groups = cfgs
				c.Providers[0].ListIDsOnly = true
			})
			sim.SetWireLog(true)
			c := dial(t, sim, b)
			all, err := c.AllReplicationGroups(context.Background(), sim.Provider("array-a").Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(250))
			byGroup := map[sms.GroupID]sms.GroupInfo{}
			for _, gi := range all {
				byGroup[gi.Group] = gi
			}
			g.Expect(byGroup[ids[0]]).To(Equal(sms.GroupInfo{Group: ids[0], State: "TARGET", Name: "oracle-prod", Source: &ids[0]}))
			g.Expect(byGroup[ids[249]].State).To(Equal("INTEST"))
			queries := 0
			for _, r := range sim.WireLog() {
				if strings.HasSuffix(r.Path, "/QueryReplicationGroup") || strings.Contains(r.Body, "<QueryReplicationGroup") {
					queries++
				}
			}
			g.Expect(queries).To(Equal(4), "the listing, then 3 batches of at most 100")
		})
	}
}

// TestListingByIDsOnlyKeepsWhatABusyBatchLeftOut: a provider that lists its groups by id only and is busy
// for one of the batches that ask about them has still said that those groups exist: they come back
// Unanswered (kept as they are, never taken as gone), and the others answered. Busy for every batch, the
// listing is an error.
func TestListingByIDsOnlyKeepsWhatABusyBatchLeftOut(t *testing.T) {
	g := NewWithT(t)
	ids, cfgs := groups("fd-1", 250)
	sim := startSim(t, func(c *smssim.Config) {
		c.Providers[0].Groups = cfgs
		c.Providers[0].ListIDsOnly = true
		// The listing's answer takes 500 ms after its fault check: a fault added meanwhile meets the batches.
		c.Providers[0].ListLatencyPerGroup = smssim.Duration{Duration: 2 * time.Millisecond}
	})
	c := dial(t, sim, sms.BindingSOAP)
	a := sim.Provider("array-a")
	listAfterBusy := func(batches int) ([]sms.GroupInfo, error) {
		go func() {
			time.Sleep(150 * time.Millisecond)
			a.FailNext("QueryReplicationGroup", smssim.FaultBusy, batches)
		}()
		return c.AllReplicationGroups(context.Background(), a.Ref())
	}

	all, err := listAfterBusy(1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all).To(HaveLen(len(ids)))
	unanswered := 0
	for _, gi := range all {
		if gi.Err != "" {
			g.Expect(gi.Unanswered).To(BeTrue())
			g.Expect(gi.Err).To(ContainSubstring("ProviderBusy"))
			unanswered++
			continue
		}
		g.Expect(gi.State).To(Equal("TARGET"))
	}
	g.Expect(unanswered).To(BeElementOf(sms.NewestPiTBatchSize, len(ids)%sms.NewestPiTBatchSize), "one batch's groups")

	_, err = listAfterBusy(3)
	g.Expect(err).To(MatchError(ContainSubstring("ProviderBusy")))
}

// TestNewestPiTsOfAProviderThatAnswersFewGroups: a provider that answers only 20 groups of a query and
// TooMany for each of the others, refuses a whole query with TooMany, or is busy for one: every group it
// answers gets its newest PiT, and a call that failed leaves only its own groups out.
func TestNewestPiTsOfAProviderThatAnswersFewGroups(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ids, cfgs := groups("fd-1", 250)
	sim := startSim(t, func(c *smssim.Config) { c.Providers[0].Groups = cfgs })
	c := dial(t, sim, sms.BindingSOAP)
	a := sim.Provider("array-a")
	base := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	for _, i := range []int{0, 99, 249} {
		a.AddPiT(ids[i], "hourly-1", base.Add(time.Duration(i)*time.Minute))
	}
	expectAll := func(got []sms.NewestPiT, from, to int) {
		g.Expect(got).To(HaveLen(to - from))
		for k, n := range got {
			i := from + k
			g.Expect(n.Group).To(Equal(ids[i]))
			g.Expect(n.Err).To(BeEmpty(), "group %d", i)
			if i == 0 || i == 99 || i == 249 {
				g.Expect(n.PiT).NotTo(BeNil(), "group %d", i)
				g.Expect(n.PiT.TimeStamp).To(BeTemporally("==", base.Add(time.Duration(i)*time.Minute)))
			} else {
				g.Expect(n.PiT).To(BeNil(), "group %d", i)
			}
		}
	}

	a.SetPiTQueryMaxGroups(20)
	got, err := c.NewestPointInTimes(ctx, a.Ref(), ids)
	g.Expect(err).NotTo(HaveOccurred())
	expectAll(got, 0, 250)
	a.SetPiTQueryMaxGroups(0)

	a.FailNext("QueryPointInTimeReplica", smssim.FaultTooMany, 1)
	got, err = c.NewestPointInTimes(ctx, a.Ref(), ids)
	g.Expect(err).NotTo(HaveOccurred())
	expectAll(got, 0, 250)

	a.FailNext("QueryPointInTimeReplica", smssim.FaultBusy, 1)
	got, err = c.NewestPointInTimes(ctx, a.Ref(), ids)
	var busy *sms.ProviderBusyError
	g.Expect(errors.As(err, &busy)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("100 of 250 groups"))
	expectAll(got, 100, 250)
}

// TestDecodeNewestPointInTimes covers answers a provider may send that the simulator does not: more PiTs
// than asked for, results for groups not asked about, missing groups and errors without text.
func TestDecodeNewestPointInTimes(t *testing.T) {
	g := NewWithT(t)
	wire := func(dg string) vimtypes.ReplicationGroupId {
		return vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: dg}}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	asked := []sms.GroupID{{FaultDomainID: "fd", DeviceGroupID: "a"}, {FaultDomainID: "fd", DeviceGroupID: "b"}, {FaultDomainID: "fd", DeviceGroupID: "c"}}
	got := sms.DecodeNewestPointInTimes([]smstypes.BaseGroupOperationResult{
		&smstypes.QueryPointInTimeReplicaSuccessResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: wire("a")},
			ReplicaInfo: []smstypes.PointInTimeReplicaInfo{
				{Id: smstypes.PointInTimeReplicaId{Id: "1"}, PitName: "old", TimeStamp: t0},
				{Id: smstypes.PointInTimeReplicaId{Id: "2"}, PitName: "new", TimeStamp: t0.Add(time.Hour)},
			},
		},
		&smstypes.GroupErrorResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: wire("b")}},
		&smstypes.QueryPointInTimeReplicaSuccessResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: wire("other")}},
		nil,
		(*smstypes.QueryPointInTimeReplicaSummaryResult)(nil),
	}, asked)
	g.Expect(got).To(HaveLen(3))
	g.Expect(got[0].PiT.Name).To(Equal("new"))
	g.Expect(got[1].Err).To(Equal("the provider answered an error without a message"))
	g.Expect(got[2].Err).To(Equal("the provider did not answer for this group"))
}

// TestListingAllGroupsHasItsOwnTimeout: listing every group of a provider may take far longer than any
// other call (the answer is not paged), so it is bounded by ListTimeout, not by the per-call Timeout.
func TestListingAllGroupsHasItsOwnTimeout(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim := startSim(t, func(c *smssim.Config) {
				c.Providers[0].ListLatencyPerGroup = smssim.Duration{Duration: 25 * time.Millisecond} // 40 groups: 1 s
			})
			ref := sim.Provider("array-a").Ref()
			cfg := clientConfig(sim, b)
			cfg.Timeout = 300 * time.Millisecond
			c, err := sms.Dial(ctx, cfg)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = c.Close(ctx) }()

			all, err := c.AllReplicationGroups(ctx, ref)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(40))

			ids := make([]sms.GroupID, len(all))
			for i, gi := range all {
				ids[i] = gi.Group
			}
			_, err = c.ReplicationGroups(ctx, ref, ids)
			var ue *sms.UnreachableError
			g.Expect(errors.As(err, &ue)).To(BeTrue(), "a query naming its groups keeps the per-call Timeout: %v", err)

			cfg.ListTimeout = 300 * time.Millisecond
			short, err := sms.Dial(ctx, cfg)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = short.Close(ctx) }()
			_, err = short.AllReplicationGroups(ctx, ref)
			g.Expect(errors.As(err, &ue)).To(BeTrue(), "ListTimeout bounds the listing: %v", err)
		})
	}
}

// TestTargetGroupNameFromSMS802: TargetGroupInfo.name exists from SMS 8.0.2.0 (pyVmomi's type table), and
// a vCenter leaves it out of answers to an older version: 8.0U1 (either binding) answers no name, 8.0U2 does.
func TestTargetGroupNameFromSMS802(t *testing.T) {
	for _, tc := range []struct {
		release smssim.Release
		binding sms.Binding
		name    string
	}{
		{smssim.Release80U1, sms.BindingSOAP, ""},
		{smssim.Release80U1, sms.BindingJSON, ""},
		{smssim.Release80U2, sms.BindingSOAP, "oracle-prod"},
		{smssim.Release80U2, sms.BindingJSON, "oracle-prod"},
	} {
		t.Run(string(tc.release)+"/"+string(tc.binding), func(t *testing.T) {
			g := NewWithT(t)
			_, cfgs := groups("fd-1", 1)
			cfgs[0].Name = "oracle-prod"
			sim := startSim(t, func(c *smssim.Config) { c.Providers[0].Groups = cfgs; c.Release = tc.release })
			c := dial(t, sim, tc.binding)
			all, err := c.AllReplicationGroups(context.Background(), sim.Provider("array-a").Ref())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(1))
			g.Expect(all[0].Name).To(Equal(tc.name))
		})
	}
}
