package smssim_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestInactiveProviderRefusesQueriesOfItsDomains: the queries the API lists InactiveProvider for refuse
// groups of the domains another provider is active for, and a listing shows only the others; a provider
// inactive for all its domains refuses the listing too.
func TestInactiveProviderRefusesQueriesOfItsDomains(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	groupsOf := func(fds ...string) []smssim.GroupConfig {
		var out []smssim.GroupConfig
		for _, fd := range fds {
			out = append(out, smssim.GroupConfig{FaultDomain: fd, DeviceGroup: "dg-1"})
		}
		return out
	}
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{
		{Name: "partly", Groups: groupsOf("fd-1", "fd-2"), Inactive: &smssim.InactiveConfig{FaultDomains: []string{"fd-2"}, ActiveProvider: "active"}},
		{Name: "passive", Groups: groupsOf("fd-3", "fd-4"), Inactive: &smssim.InactiveConfig{ActiveProvider: "active"}},
		{Name: "named", Groups: groupsOf("fd-5"), Inactive: &smssim.InactiveConfig{FaultDomains: []string{"fd-5"}, ActiveProvider: "active"}},
		{Name: "active", Groups: groupsOf("fd-2", "fd-3", "fd-4", "fd-5")},
	}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	c := govmomiSMS(t, sim)
	ref := func(name string) vimtypes.ManagedObjectReference {
		return vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: sim.Provider(name).Ref()}
	}
	id := func(fd string) vimtypes.ReplicationGroupId {
		return vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: fd}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg-1"}}
	}
	mapping := func(err error) []smstypes.FaultDomainProviderMapping {
		g.Expect(soap.IsSoapFault(err)).To(BeTrue(), "%v", err)
		ip, ok := soap.ToSoapFault(err).VimFault().(smstypes.InactiveProvider)
		g.Expect(ok).To(BeTrue(), "%T", soap.ToSoapFault(err).VimFault())
		return ip.Mapping
	}
	listed := func(res *smstypes.QueryReplicationGroupResponse) []string {
		var fds []string
		for _, r := range res.Returnval {
			fds = append(fds, r.GetGroupOperationResult().GroupId.FaultDomainId.Id)
		}
		return fds
	}

	res, err := methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("partly")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(listed(res)).To(Equal([]string{"fd-1"}))

	_, err = methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("partly"), GroupId: []vimtypes.ReplicationGroupId{id("fd-1"), id("fd-2")}})
	m := mapping(err)
	g.Expect(m).To(HaveLen(1))
	g.Expect(m[0].ActiveProvider).To(Equal(ref("active")))
	g.Expect(m[0].FaultDomainId).To(Equal([]vimtypes.FaultDomainId{{Id: "fd-2"}}))
	res, err = methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("partly"), GroupId: []vimtypes.ReplicationGroupId{id("fd-1")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(listed(res)).To(Equal([]string{"fd-1"}))

	_, err = methods.QueryPointInTimeReplica(ctx, c, &smstypes.QueryPointInTimeReplica{This: ref("partly"), GroupId: []vimtypes.ReplicationGroupId{id("fd-2")}})
	g.Expect(mapping(err)[0].FaultDomainId).To(Equal([]vimtypes.FaultDomainId{{Id: "fd-2"}}))
	_, err = methods.QueryPointInTimeReplica(ctx, c, &smstypes.QueryPointInTimeReplica{This: ref("partly"), GroupId: []vimtypes.ReplicationGroupId{id("fd-1")}})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("passive")})
	m = mapping(err)
	g.Expect(m[0].ActiveProvider).To(Equal(ref("active")))
	g.Expect(m[0].FaultDomainId).To(ConsistOf(vimtypes.FaultDomainId{Id: "fd-3"}, vimtypes.FaultDomainId{Id: "fd-4"}))

	// Inactive for every domain it has groups in, however its configuration names them.
	_, err = methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("named")})
	g.Expect(mapping(err)[0].FaultDomainId).To(Equal([]vimtypes.FaultDomainId{{Id: "fd-5"}}))

	res, err = methods.QueryReplicationGroup(ctx, c, &smstypes.QueryReplicationGroup{This: ref("active")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(listed(res)).To(Equal([]string{"fd-2", "fd-3", "fd-4", "fd-5"}))
}
