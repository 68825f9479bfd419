package smssim

import (
	"fmt"
	"slices"

	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// A provider inactive for some fault domains (VASA high availability: another provider fronts the array
// now) answers every call that names a group of them with InactiveProvider, mapping the domains to the
// active provider: SyncReplicationGroup_Task, QueryReplicationGroup and QueryPointInTimeReplica, the
// methods the API reference lists the fault for. The whole call is refused, as for a sync, even when it
// also names groups of domains the provider is active for.
//
// A listing (QueryReplicationGroup naming no group) names no entity but the provider. Assumed: a provider
// inactive for all its fault domains refuses it with InactiveProvider ("the VASA Provider on which the
// call is made is currently not active"), however its configuration names them; one inactive for some
// lists only the groups of the domains it is active for, as a fault domain has one active provider
// (FaultDomainInfo.provider). A client then learns of the others only by asking about them by id.

// inactiveFor returns the fault domains among groups the provider is inactive for.
func (p *providerState) inactiveFor(groups []GroupID) []string {
	in := p.cfg.Inactive
	if in == nil {
		return nil
	}
	var fds []string
	for _, g := range groups {
		if (len(in.FaultDomains) == 0 || slices.Contains(in.FaultDomains, g.FaultDomainID)) &&
			!slices.Contains(fds, g.FaultDomainID) {
			fds = append(fds, g.FaultDomainID)
		}
	}
	return fds
}

// inactiveFault is the InactiveProvider fault for the fault domains fds, or nil when there are none
// (callers hold s.mu).
func (s *Sim) inactiveFault(p *providerState, fds []string) *soap.Fault {
	if len(fds) == 0 {
		return nil
	}
	active := s.byName[p.cfg.Inactive.ActiveProvider]
	m := smstypes.FaultDomainProviderMapping{ActiveProvider: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: active.ref}}
	for _, fd := range fds {
		m.FaultDomainId = append(m.FaultDomainId, vimtypes.FaultDomainId{Id: fd})
	}
	return fault("provider is inactive for fault domains "+fmt.Sprint(fds),
		&smstypes.InactiveProvider{Mapping: []smstypes.FaultDomainProviderMapping{m}})
}

// listing returns the groups a listing shows, or the fault refusing it (callers hold s.mu).
func (s *Sim) listing(p *providerState, order []GroupID) ([]GroupID, *soap.Fault) {
	in := p.cfg.Inactive
	if in == nil {
		return order, nil
	}
	active := slices.DeleteFunc(slices.Clone(order), func(g GroupID) bool { return slices.Contains(p.inactiveFor([]GroupID{g}), g.FaultDomainID) })
	if len(active) == 0 && len(order) > 0 {
		return nil, s.inactiveFault(p, p.inactiveFor(order)) // inactive for every domain it has groups in
	}
	return active, nil
}
