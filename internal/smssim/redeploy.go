package smssim

import (
	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
)

// Redeploy plays another vCenter answering at the same address: one rebuilt after a disaster, or a DNS
// name moved to another site's vCenter (with a certificate that still verifies for the name). It has a
// new instanceUuid, knows no session and no task of the old one, and numbers its tasks from the start
// again, so a task moId the old vCenter handed out may name a task of its own. The providers and their
// arrays stay as they are: registered again, they get the same moIds, as in the same order. Assumed: a
// vCenter numbers its moIds from the start; the API reference promises nothing of their form.
func (s *Sim) Redeploy() {
	instance := uuid.NewString()
	// The new instanceUuid first: a login between the steps below must not see the old one beside the
	// new vCenter's state (its sessions then would never expire, and its task numbering restarted).
	ctx := s.model.Service.Context
	si := ctx.Map.Get(vimServiceRef).(*simulator.ServiceInstance)
	ctx.Map.WithLock(ctx, si, func() { si.Content.About.InstanceUuid = instance })
	s.mu.Lock()
	s.instance = instance
	s.restartLocked() // the unfinished syncs run on in the arrays and leave their PiTs
	s.taskSeq = 0
	s.mu.Unlock()
	s.ExpireSessions()
}
