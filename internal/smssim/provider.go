package smssim

import (
	"fmt"
	"slices"
	"time"
)

// Provider is a handle on one simulated VASA provider; its setters are safe while the simulator runs.
type Provider struct {
	sim *Sim
	p   *providerState
}

func (h *Provider) with(f func(p *providerState)) {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	f(h.p)
}

// Ref returns the provider's moId value, e.g. "vasaprovider-1".
func (h *Provider) Ref() string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	return h.p.ref
}

// Unregister removes the provider from vCenter, as an administrator does before registering it again
// (Reregister): until then it is not listed, and calls on its moId answer ManagedObjectNotFound. Its
// groups, PiTs and running syncs stay: they are the array's.
func (h *Provider) Unregister() {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	delete(h.sim.byRef, h.p.ref)
	h.p.unregistered = true
}

// Reregister registers the provider in vCenter again, as an administrator does when its certificate has
// expired: it gets a new moId, and calls on the old one answer ManagedObjectNotFound. Its groups, PiTs
// and running syncs stay: they are the array's. It returns the new moId.
func (h *Provider) Reregister() string {
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	delete(h.sim.byRef, h.p.ref)
	h.p.unregistered = false
	h.sim.registrations++
	h.p.ref = fmt.Sprintf("vasaprovider-%d", len(h.sim.providers)+h.sim.registrations)
	h.sim.byRef[h.p.ref] = h.p
	return h.p.ref
}

// Config returns a snapshot of the provider's current configuration (group knobs included).
func (h *Provider) Config() ProviderConfig {
	var c ProviderConfig
	h.with(func(p *providerState) {
		p.syncGroups()
		c = p.cfg
		c.Faults = slices.Clone(c.Faults)
		c.Groups = slices.Clone(c.Groups)
	})
	return c
}

// SetMaxBatchSize answers TooMany{maxBatchSize: n} to syncs of more than n groups; 0 removes the limit.
func (h *Provider) SetMaxBatchSize(n int32) {
	h.with(func(p *providerState) { p.cfg.MaxBatchSize = n })
}

// SetTooManyWithoutSize answers TooMany without maxBatchSize to syncs of more than one group.
func (h *Provider) SetTooManyWithoutSize(on bool) {
	h.with(func(p *providerState) { p.cfg.TooManyWithoutSize = on })
}

// SetNotImplemented makes SyncReplicationGroup_Task answer NotImplemented.
func (h *Provider) SetNotImplemented(on bool) {
	h.with(func(p *providerState) { p.cfg.NotImplemented = on })
}

// SetPiTSummaries makes QueryPointInTimeReplica answer summaries even when details are preferred.
func (h *Provider) SetPiTSummaries(on bool) {
	h.with(func(p *providerState) { p.cfg.PiTSummaries = on })
}

// SetPiTQueryMaxGroups answers at most n groups of a PiT query, TooMany for the others (see
// ProviderConfig.PiTQueryMaxGroups); 0 removes the limit.
func (h *Provider) SetPiTQueryMaxGroups(n int32) {
	h.with(func(p *providerState) { p.cfg.PiTQueryMaxGroups = n })
}

// SetResultOnlyByQuery leaves sync tasks' results out of their info: QuerySmsTaskResult answers them.
func (h *Provider) SetResultOnlyByQuery(on bool) {
	h.with(func(p *providerState) { p.cfg.ResultOnlyByQuery = on })
}

// SetTaskDuration sets how long new sync tasks take.
func (h *Provider) SetTaskDuration(d time.Duration) {
	h.with(func(p *providerState) { p.cfg.TaskDuration = Duration{d} })
}

// SetLatency adds d to every call to the provider.
func (h *Provider) SetLatency(d time.Duration) {
	h.with(func(p *providerState) { p.cfg.Latency = Duration{d} })
}

// FailTasks makes the next n sync tasks end in state error; -1 means all.
func (h *Provider) FailTasks(n int) { h.with(func(p *providerState) { p.cfg.TaskErrors = n }) }

// FailTasksWith makes the next n sync tasks (-1: all) end in error with the fault kind.
func (h *Provider) FailTasksWith(n int, kind FaultKind) {
	h.with(func(p *providerState) { p.cfg.TaskErrors, p.cfg.TaskErrorFault = n, kind })
}

// AddFault adds a fault rule (see FaultRule). A rule for a method SMS answers itself would never match:
// it panics, as Start refuses it.
func (h *Provider) AddFault(r FaultRule) {
	if r.Method != "" && !slices.Contains(ruledMethods, r.Method) {
		panic(fmt.Sprintf("smssim: no fault rule answers %s; rules answer only %v", r.Method, ruledMethods))
	}
	h.with(func(p *providerState) {
		p.cfg.Faults = append(p.cfg.Faults, r)
		p.ruleTimes = append(p.ruleTimes, 0)
	})
}

// FailNext answers the next n calls of method ("" = any) with the fault kind.
func (h *Provider) FailNext(method string, kind FaultKind, n int) {
	h.AddFault(FaultRule{Method: method, Fault: kind, Times: n})
}

// ClearFaults removes every fault rule.
func (h *Provider) ClearFaults() {
	h.with(func(p *providerState) { p.cfg.Faults, p.ruleTimes = nil, nil })
}

// SetInactive makes the provider answer InactiveProvider, mapping the fault domains (all when none given)
// to the provider named active; an empty active clears it.
func (h *Provider) SetInactive(active string, faultDomains ...string) {
	h.with(func(p *providerState) {
		if active == "" || h.sim.byName[active] == nil {
			p.cfg.Inactive = nil
			return
		}
		p.cfg.Inactive = &InactiveConfig{ActiveProvider: active, FaultDomains: slices.Clone(faultDomains)}
	})
}

// AddGroups adds replication groups (replacing ones with the same id).
func (h *Provider) AddGroups(groups ...GroupConfig) {
	h.with(func(p *providerState) {
		for _, g := range groups {
			p.addGroup(g)
		}
		p.syncGroups()
	})
}

// SetGroupState sets a group's replication state (TARGET, SOURCE, INTEST, FAILEDOVER, ...).
func (h *Provider) SetGroupState(id GroupID, state string) {
	h.with(func(p *providerState) {
		if g := p.groups[id]; g != nil {
			g.cfg.State = state
		}
	})
}

// SetGroupErrors makes the next n syncs of the group end with a GroupErrorResult (-1 = always, 0 = never).
func (h *Provider) SetGroupErrors(id GroupID, n int, message string) {
	h.SetGroupErrorsWith(id, n, "", message)
}

// SetGroupErrorsWith is SetGroupErrors with the fault of the GroupErrorResult ("": SmsReplicationFault).
func (h *Provider) SetGroupErrorsWith(id GroupID, n int, kind FaultKind, message string) {
	h.with(func(p *providerState) {
		if g := p.groups[id]; g != nil {
			g.cfg.Errors, g.cfg.ErrorFault, g.cfg.ErrorMessage = n, kind, message
		}
	})
}

// StartSync starts a sync as another client would (so syncs of these groups get SyncOngoing while
// it runs) and returns its task reference.
func (h *Provider) StartSync(groups []GroupID, pitName string) string {
	var ref string
	h.with(func(p *providerState) {
		ref = h.sim.newTask(p, groups, pitName, h.sim.now()).ref
	})
	return ref
}
