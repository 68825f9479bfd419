package controllers

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// InactiveProvider re-routes are bounded: free a few times in a row, then counted toward backoffLimit.

// freeReroutes is how many re-routes in a row the documents promise for free (docs/faults.md: counted
// from the 4th), not maxConsecutiveReroutes: the tests check that constant, so they do not read it.
const freeReroutes = 3

// inactiveNaming is the InactiveProvider fault a provider answers when it names active as the active
// provider of the harness's fault domain ("" names none).
func inactiveNaming(active string) error {
	fault := &sms.InactiveProviderError{}
	if active != "" {
		fault.Mapping = []sms.FaultDomainMapping{{ActiveProviderRef: active, FaultDomainIDs: []string{"fd"}}}
	}
	return fault
}

// theOther is the provider a VASA HA pair stuck mid fail-over names as active: the one not called.
func theOther(called string) string {
	if called == "p1" {
		return "p2"
	}
	return "p1"
}

// rerouteRun is a run of one group with backoffLimit limit.
func rerouteRun(t *testing.T, limit int32) *runHarness {
	return newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.BackoffLimit = ptr.To(limit)
	})
}

// TestProvidersNamingEachOtherEndTheRun: two providers each answer InactiveProvider naming the other as
// active. The first freeReroutes re-routes are free, each further one counts, and the group
// ends Failed past backoffLimit: a bounded number of calls, alternating between the two.
func TestProvidersNamingEachOtherEndTheRun(t *testing.T) {
	const limit = 2
	h := rerouteRun(t, limit)
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) { return "", inactiveNaming(theOther(c.Provider)) }
	h.runForCalls(time.Hour, 2*(freeReroutes+limit+1))

	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed), "groups: %+v", rs.Status.Groups)
	g := rs.Status.Groups[0]
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(g.Message).To(ContainSubstring("Re-routed %d times in a row", freeReroutes+limit+1))
	h.g.Expect(g.Attempts).To(BeEquivalentTo(limit + 1))
	// Each call re-routed the group; the one past backoffLimit failed it instead of a further call.
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(freeReroutes + limit + 1))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(len(calls)))
	for i, c := range calls {
		h.g.Expect(c.Provider).To(Equal([]string{"p1", "p2"}[i%2]), "call %d", i)
	}
}

// TestInactiveProviderNamingNoOtherCounts: an InactiveProvider fault that names no active provider for
// the group's fault domain, or only the provider called, has nowhere to send it: each one counts a
// failure, and the group ends Failed after backoffLimit+1 calls, all to the VasaProvider's provider.
func TestInactiveProviderNamingNoOtherCounts(t *testing.T) {
	for name, active := range map[string]string{"no mapping": "", "names the provider called": "p1"} {
		t.Run(name, func(t *testing.T) {
			const limit = 2
			h := rerouteRun(t, limit)
			h.fake.Sync = func(smsfake.SyncCall) (string, error) { return "", inactiveNaming(active) }
			h.runForCalls(time.Hour, 2*(limit+1))

			rs := h.get()
			h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed), "groups: %+v", rs.Status.Groups)
			g := rs.Status.Groups[0]
			h.g.Expect(g.Message).To(ContainSubstring("named no other active provider"))
			h.g.Expect(g.Attempts).To(BeEquivalentTo(limit + 1))
			h.g.Expect(g.Reroutes).To(BeZero())
			h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(limit + 1))
			for _, c := range h.fake.Calls() {
				h.g.Expect(c.Provider).To(Equal("p1"))
			}
		})
	}
}

// TestReroutesResetWhenATaskStarts: a group re-routed freeReroutes times whose task then starts
// has its re-routes counted from zero again: when that task fails and the pair bounces the group as many
// times again, none of those re-routes counts. Only the task's failure does (backoffLimit 1 leaves room
// for that one), and the group's next task syncs it.
func TestReroutesResetWhenATaskStarts(t *testing.T) {
	h := rerouteRun(t, 1)
	var n atomic.Int32
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		// Calls 1-3 and 5-7 bounce between the pair; 4 and 8 are taken.
		if k := n.Add(1); k%(freeReroutes+1) != 0 {
			return "", inactiveNaming(theOther(c.Provider))
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.runFor(time.Minute)
	calls := h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(freeReroutes + 1))
	g := h.get().Status.Groups[0]
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupSyncing))
	h.g.Expect(g.Reroutes).To(BeZero(), "reset when its task started")
	h.g.Expect(g.Attempts).To(BeZero())

	h.fake.Fail(calls[len(calls)-1].Task, &sms.ReplicationFaultError{Message: "journal full"}, h.clock.Now())
	h.runFor(time.Minute)
	calls = h.fake.Calls()
	h.g.Expect(calls).To(HaveLen(2*(freeReroutes+1)), "issued again after the failure, bounced as often again")
	g = h.get().Status.Groups[0]
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupSyncing), "%+v", g)
	h.g.Expect(g.Attempts).To(BeEquivalentTo(1), "the task's failure alone counted")

	h.fake.Finish(calls[len(calls)-1].Task, h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(2 * (freeReroutes + 1)))
}

// TestGroupCheckSkipsOnlyTheGroupsOfAnInactiveDomain: the check of a run's groups refused with
// InactiveProvider for one fault domain (VASA HA) still checks the others: a group of another domain that
// is no replication target fails at once, with no call.
func TestGroupCheckSkipsOnlyTheGroupsOfAnInactiveDomain(t *testing.T) {
	h := newRunHarness(t, 4, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.GroupIDs[2].FaultDomainID.ID, rs.Spec.GroupIDs[3].FaultDomainID.ID = "fd-2", "fd-2"
	})
	h.fake.Groups = func(groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
		var out []sms.ReplicationGroup
		for _, g := range groups {
			if g.FaultDomainID == "fd-2" {
				return nil, &sms.InactiveProviderError{Mapping: []sms.FaultDomainMapping{{ActiveProviderRef: "p2", FaultDomainIDs: []string{"fd-2"}}}}
			}
			state := "TARGET"
			if g.DeviceGroupID == "dg-0" {
				state = "SOURCE"
			}
			out = append(out, sms.ReplicationGroup{Group: g, State: state})
		}
		return out, nil
	}
	h.runFor(time.Second)
	rs := h.get()
	h.g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("state SOURCE"))
	for _, c := range h.fake.Calls() {
		h.g.Expect(c.Groups).NotTo(ContainElement(sms.GroupID{FaultDomainID: "fd", DeviceGroupID: "dg-0"}), "no call for it")
	}
}
