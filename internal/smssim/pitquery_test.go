package smssim_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestQueryPointInTimeReplicaPitNameIsXSDRegex checks that queryParam.pitName is an anchored XSD
// regular expression and that summaries are answered unless preferDetails is true.
func TestQueryPointInTimeReplicaPitNameIsXSDRegex(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const name = `db+nightly(1).[x]$`
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "p", TaskDuration: smssim.Duration{Duration: time.Millisecond},
		Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	group := smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: "dg"}
	for _, n := range []string{name, "nightly-1", "nightly-12"} {
		sim.Provider("p").StartSync([]smssim.GroupID{group}, n)
	}
	g.Eventually(sim.PiTs).Should(HaveLen(3))

	c := govmomiSMS(t, sim)
	query := func(pitName string, details *bool) ([]smstypes.BaseGroupOperationResult, error) {
		return queryFdDg(ctx, c, sim, &smstypes.QueryPointInTimeReplicaParam{PitName: pitName, PreferDetails: details})
	}
	names := func(pitName string) []string {
		r, err := query(pitName, vimtypes.NewBool(true))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r).To(HaveLen(1))
		d, ok := r[0].(*smstypes.QueryPointInTimeReplicaSuccessResult)
		g.Expect(ok).To(BeTrue(), "%T", r[0])
		var out []string
		for _, ri := range d.ReplicaInfo {
			out = append(out, ri.PitName)
		}
		return out
	}

	g.Expect(names(name)).To(BeEmpty(), "the unescaped name is a regex that does not match itself")
	g.Expect(names(`db\+nightly\(1\)\.\[x\]$`)).To(Equal([]string{name}))
	g.Expect(names(`nightly-\d`)).To(Equal([]string{"nightly-1"}), "anchored to the whole name")
	g.Expect(names(`nightly.*`)).To(ConsistOf("nightly-1", "nightly-12"))
	g.Expect(names("")).To(HaveLen(3))

	// Not a valid XSD regular expression ("\$" is no XSD escape): InvalidArgument.
	for _, bad := range []string{`db\$`, `(a`, `(?i)x`, `x\`} {
		_, err = query(bad, vimtypes.NewBool(true))
		g.Expect(soap.IsSoapFault(err)).To(BeTrue(), "%q: %v", bad, err)
		g.Expect(soap.ToSoapFault(err).VimFault()).To(BeAssignableToTypeOf(vimtypes.InvalidArgument{}), bad)
	}

	// Without preferDetails=true the provider answers a summary.
	for _, details := range []*bool{nil, vimtypes.NewBool(false)} {
		r, err := query(`nightly-.*`, details)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r).To(HaveLen(1))
		s, ok := r[0].(*smstypes.QueryPointInTimeReplicaSummaryResult)
		g.Expect(ok).To(BeTrue(), "%T", r[0])
		g.Expect(s.GroupId.DeviceGroupId.Id).To(Equal("dg"))
		g.Expect(s.IntervalResults).To(HaveLen(1))
		g.Expect(s.IntervalResults[0].Number).To(BeEquivalentTo(2))
		r, err = query("none", details)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r[0]).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSummaryResult{}))
		g.Expect(r[0].(*smstypes.QueryPointInTimeReplicaSummaryResult).IntervalResults).To(BeEmpty())
	}
}

// TestPiTQueryMaxGroupsAnswersTooManyPerGroup: a provider that answers at most two groups of a PiT query
// answers the third with a per-group TooMany (no maxBatchSize), and answers it when asked alone.
func TestPiTQueryMaxGroupsAnswersTooManyPerGroup(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "p", PiTQueryMaxGroups: 2,
		Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "a"}, {FaultDomain: "fd", DeviceGroup: "b"}, {FaultDomain: "fd", DeviceGroup: "c"}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	c := govmomiSMS(t, sim)
	query := func(dgs ...string) []smstypes.BaseGroupOperationResult {
		var ids []vimtypes.ReplicationGroupId
		for _, dg := range dgs {
			ids = append(ids, vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: dg}})
		}
		res, err := methods.QueryPointInTimeReplica(ctx, c, &smstypes.QueryPointInTimeReplica{
			This: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: sim.Provider("p").Ref()}, GroupId: ids,
			QueryParam: &smstypes.QueryPointInTimeReplicaParam{PreferDetails: vimtypes.NewBool(true)},
		})
		g.Expect(err).NotTo(HaveOccurred())
		return res.Returnval
	}
	r := query("a", "b", "c")
	g.Expect(r).To(HaveLen(3))
	g.Expect(r[0]).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSuccessResult{}))
	g.Expect(r[1]).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSuccessResult{}))
	ge, ok := r[2].(*smstypes.GroupErrorResult)
	g.Expect(ok).To(BeTrue(), "%T", r[2])
	g.Expect(ge.GroupId.DeviceGroupId.Id).To(Equal("c"))
	g.Expect(ge.Error).To(HaveLen(1))
	g.Expect(ge.Error[0].Fault).To(BeAssignableToTypeOf(&smstypes.TooMany{}))
	g.Expect(query("c")[0]).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSuccessResult{}))

	sim.Provider("p").SetPiTQueryMaxGroups(0)
	for _, res := range query("a", "b", "c") {
		g.Expect(res).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSuccessResult{}))
	}
}

// TestPiTQueryTimeBounds: replicaTimeQueryParam takes the combinations the API allows and refuses the
// others; number counts back from toDate or forward from fromDate; a bounded query gets details even
// without preferDetails (a client of SMS before 7.0.0.1 cannot send it).
func TestPiTQueryTimeBounds(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "p", Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	group := smssim.GroupID{FaultDomainID: "fd", DeviceGroupID: "dg"}
	now := time.Now().UTC().Truncate(time.Second)
	for i, name := range []string{"oldest", "middle", "newest"} {
		sim.Provider("p").AddPiT(group, name, now.Add(time.Duration(i-3)*time.Hour))
	}
	c := govmomiSMS(t, sim)
	query := func(tq *smstypes.ReplicaQueryIntervalParam, details *bool) (smstypes.BaseGroupOperationResult, error) {
		res, err := queryFdDg(ctx, c, sim, &smstypes.QueryPointInTimeReplicaParam{ReplicaTimeQueryParam: tq, PreferDetails: details})
		if err != nil {
			return nil, err
		}
		g.Expect(res).To(HaveLen(1))
		return res[0], nil
	}
	names := func(tq *smstypes.ReplicaQueryIntervalParam, details *bool) []string {
		r, err := query(tq, details)
		g.Expect(err).NotTo(HaveOccurred())
		d, ok := r.(*smstypes.QueryPointInTimeReplicaSuccessResult)
		g.Expect(ok).To(BeTrue(), "details: %T", r)
		var out []string
		for _, ri := range d.ReplicaInfo {
			out = append(out, ri.PitName)
		}
		return out
	}
	from, to := now.Add(-150*time.Minute), now.Add(time.Hour)

	g.Expect(names(&smstypes.ReplicaQueryIntervalParam{ToDate: &to, Number: 1}, vimtypes.NewBool(true))).To(Equal([]string{"newest"}))
	g.Expect(names(&smstypes.ReplicaQueryIntervalParam{FromDate: &from, Number: 1}, vimtypes.NewBool(true))).To(Equal([]string{"middle"}))
	g.Expect(names(&smstypes.ReplicaQueryIntervalParam{FromDate: &from, ToDate: &to}, nil)).To(ConsistOf("middle", "newest"))
	g.Expect(names(&smstypes.ReplicaQueryIntervalParam{ToDate: &to, Number: 2}, nil)).To(Equal([]string{"newest", "middle"}))
	r, err := query(&smstypes.ReplicaQueryIntervalParam{FromDate: &from, ToDate: &to}, vimtypes.NewBool(false))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r).To(BeAssignableToTypeOf(&smstypes.QueryPointInTimeReplicaSummaryResult{}), "preferDetails false chooses counts")

	for name, tq := range map[string]*smstypes.ReplicaQueryIntervalParam{
		"number alone":   {Number: 1},
		"fromDate alone": {FromDate: &from},
		"all three":      {FromDate: &from, ToDate: &to, Number: 1},
	} {
		_, err := query(tq, vimtypes.NewBool(true))
		g.Expect(soap.IsSoapFault(err)).To(BeTrue(), "%s: %v", name, err)
		g.Expect(soap.ToSoapFault(err).VimFault()).To(And(BeAssignableToTypeOf(vimtypes.InvalidArgument{}),
			HaveField("InvalidProperty", "queryParam.replicaTimeQueryParam")), name)
	}
}

// queryFdDg asks provider "p" of sim for the PiTs of its group fd/dg.
func queryFdDg(ctx context.Context, c *soap.Client, sim *smssim.Sim, param *smstypes.QueryPointInTimeReplicaParam) ([]smstypes.BaseGroupOperationResult, error) {
	res, err := methods.QueryPointInTimeReplica(ctx, c, &smstypes.QueryPointInTimeReplica{
		This:       vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: sim.Provider("p").Ref()},
		GroupId:    []vimtypes.ReplicationGroupId{{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg"}}},
		QueryParam: param,
	})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}
