package controllers

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// Groups in doubt whose PiT the provider cannot report: never issued again blind, never held for good.

// inDoubtAfterFault starts a run of n groups whose first call gets no answer (its task runs), with the
// short in-doubt window and backoffLimit limit; PiT queries find nothing before that call and are
// answered by after from then on.
func inDoubtAfterFault(t *testing.T, n int, limit int32, after func(groups []sms.GroupID) ([]sms.PointInTime, error)) *runHarness {
	h := newRunHarness(t, n, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		shortWindow(vp, rs)
		rs.Spec.BackoffLimit = ptr.To(limit)
	})
	answerOnce(h.fake, timeoutErr)
	h.fake.PiTs = func(_ string, groups []sms.GroupID, _ string) ([]sms.PointInTime, error) {
		if len(h.fake.Calls()) == 0 {
			return nil, nil // the check before the call
		}
		return after(groups)
	}
	return h
}

// TestInDoubtGroupsAskTheActiveProvider: after a VASA HA fail-over the provider a call went to answers
// the PiT query of its in-doubt group with InactiveProvider; the group is asked about at the active
// provider, and its PiT there makes it Synced, with one call.
func TestInDoubtGroupsAskTheActiveProvider(t *testing.T) {
	h := newRunHarness(t, 1, shortWindow)
	answerOnce(h.fake, timeoutErr)
	synced := false
	h.fake.PiTs = func(provider string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
		switch {
		case provider == "p1" && len(h.fake.Calls()) > 0: // failed over after the call
			return nil, &sms.InactiveProviderError{Mapping: []sms.FaultDomainMapping{{ActiveProviderRef: "p2", FaultDomainIDs: []string{"fd"}}}}
		case synced:
			return []sms.PointInTime{{Group: groups[0], ID: "pit-1", Name: pitName, TimeStamp: h.clock.Now()}}, nil
		}
		return nil, nil
	}
	h.runFor(window / 2)
	g := h.get().Status.Groups[0]
	h.g.Expect(h.fake.Calls()[0].Provider).To(Equal("p1"))
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupIssuing))
	h.g.Expect(g.Provider).To(Equal("p2"), "asked about at the active provider")

	synced = true
	h.runFor(window / 4)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "%v", h.states())
	h.g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-1"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestInDoubtGroupUnansweredIsNotReissued: past the in-doubt window, a group the PiT query answered with
// an error of its own is not issued again (its PiT may exist); once the provider answers, the first
// call's PiT makes it Synced.
func TestInDoubtGroupUnansweredIsNotReissued(t *testing.T) {
	h := inDoubtAfterFault(t, 1, 20, func(groups []sms.GroupID) ([]sms.PointInTime, error) {
		return nil, &sms.GroupQueryError{Groups: map[sms.GroupID]error{groups[0]: &sms.OtherFaultError{Type: "SystemError", Message: "journal offline"}}}
	})
	h.runFor(2 * window)
	g := h.get().Status.Groups[0]
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupIssuing))
	h.g.Expect(g.Message).To(ContainSubstring("journal offline"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "not issued again while its PiT cannot be looked for")

	h.fake.PiTs = nil
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), "%v", h.states())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestInDoubtGroupLastingQueryFaultEnds: a PiT query that always faults (an account that lost the
// privilege) ends the in-doubt group Failed past backoffLimit, saying its outcome is unknown, instead of
// holding the run for good; it is never issued again.
func TestInDoubtGroupLastingQueryFaultEnds(t *testing.T) {
	h := inDoubtAfterFault(t, 1, 2, func([]sms.GroupID) ([]sms.PointInTime, error) {
		return nil, &sms.OtherFaultError{Type: "NoPermission", Message: "Permission to perform this operation was denied."}
	})
	h.runFor(2 * time.Hour)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed), "%v", h.states())
	h.g.Expect(rs.Status.Groups[0].Message).To(And(ContainSubstring("outcome of its sync call is unknown"), ContainSubstring("Permission")))
	h.g.Expect(rs.Status.Groups[0].Attempts).To(BeEquivalentTo(3))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestInDoubtGroupsEachBearTheirOwnError: one PiT answer fails one in-doubt group with a lasting error
// and another with ProviderBusy; only the first counts toward backoffLimit and fails, the busy one waits.
func TestInDoubtGroupsEachBearTheirOwnError(t *testing.T) {
	h := inDoubtAfterFault(t, 2, 1, func(groups []sms.GroupID) ([]sms.PointInTime, error) {
		errs := map[sms.GroupID]error{}
		for _, g := range groups {
			errs[g] = &sms.ProviderBusyError{Message: "busy"}
			if g.DeviceGroupID == "dg-0" {
				errs[g] = &sms.OtherFaultError{Type: "SystemError", Message: "journal offline"}
			}
		}
		return nil, &sms.GroupQueryError{Groups: errs}
	})
	h.runFor(window)
	gs := h.get().Status.Groups
	h.g.Expect(gs[0].State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(gs[0].Message).To(ContainSubstring("journal offline"))
	h.g.Expect(gs[1].State).To(Equal(replicationv1alpha1.GroupIssuing), "busy is not a failure of the group")
	h.g.Expect(gs[1].Attempts).To(BeZero())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}

// TestInDoubtRecheckSurvivesAWave: a reconcile that finds a group in doubt and then calls a wave of long
// tasks comes back to look for the in-doubt group's PiT again within the recheck interval, not at the
// wave's first poll.
func TestInDoubtRecheckSurvivesAWave(t *testing.T) {
	h := newRunHarness(t, 3, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	answerOnce(h.fake, timeoutErr)
	h.reconcile() // two calls: one answer is lost (in doubt), the other starts a task
	var answered string
	for _, c := range h.fake.Calls() {
		if c.Task != "" {
			answered = c.Task
		}
	}
	h.g.Expect(answered).NotTo(BeEmpty())
	h.clock.Step(10 * time.Minute)
	h.fake.Finish(answered, h.clock.Now()) // the provider's tasks take 10 minutes
	res := h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(ContainElements("Issuing", "Synced", "Syncing"), "one in doubt, one done, the third called")
	// The window is twice the tasks' 10 minutes; the PiT of the group in doubt is looked for every
	// eighth of it, at most 30 s apart.
	h.g.Expect(res.RequeueAfter).To(BeNumerically("<=", 30*time.Second))
}

// TestWaveWithoutDoubtWakesForItsPolls: a wave whose calls were all answered leaves no group in doubt,
// so the run sleeps until its tasks' first poll (here the idle wake's minute), not the in-doubt recheck.
func TestWaveWithoutDoubtWakesForItsPolls(t *testing.T) {
	h := newRunHarness(t, 2, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.MaxBatchSize, vp.Spec.MaxConcurrentTasks = 1, 2
	})
	key := client.ObjectKeyFromObject(h.vp)
	for range 4 {
		h.r.Capacity.ObserveTask(key, 10*time.Minute) // the provider's tasks take 10 minutes
	}
	res := h.reconcile()
	h.g.Expect(stateStrings(h.states())).To(Equal([]string{"Syncing", "Syncing"}))
	h.g.Expect(res.RequeueAfter).To(Equal(time.Minute))
}

// TestReissueAnnouncedWhenItsWriteLosesItsAnswer: the write that stores a re-issue (here with no slot to
// claim in the same reconcile) is applied, but its answer is lost (etcd timed out); read past the cache,
// it is recognised as stored. The next reconcile calls the group a second time: that call is announced,
// once.
func TestReissueAnnouncedWhenItsWriteLosesItsAnswer(t *testing.T) {
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		shortWindow(vp, rs)
		vp.Spec.MaxConcurrentTasks = 1
	})
	answerOnce(h.fake, timeoutErr)
	h.fake.NoPiTSupport = true
	h.runFor(window - time.Second)
	provider := client.ObjectKeyFromObject(h.vp)
	h.r.Capacity.Hold(provider, "other/run", 1, 1) // another run holds the only slot

	var lost atomic.Bool
	h.afterPatch = func(int, context.Context) error {
		if h.get().Status.Groups[0].Reissues == 1 && lost.CompareAndSwap(false, true) {
			return apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
		}
		return nil
	}
	h.clock.Step(2 * time.Second)
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(lost.Load()).To(BeTrue())
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupPending)), "the re-issue is stored")

	h.r.Capacity.Hold(provider, "other/run", 0, 1)
	h.runFor(5 * time.Second)
	h.g.Expect(h.fake.Calls()).To(HaveLen(2))
	var announced int
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "InDoubtReissued") {
			announced++
		}
	}
	h.g.Expect(announced).To(Equal(1))
}

// TestProcessThatStoodStillAfterItsClaimDoesNotCall: a manager stands still between its claim's write and
// its call (a VM stunned, a node swapping) for longer than the in-doubt window, while another takes its
// Lease, issues the group again and sees its task end. The first then goes on and sends nothing: on an
// array without PiT support a second call would sync the group twice.
func TestProcessThatStoodStillAfterItsClaimDoesNotCall(t *testing.T) {
	h := newRunHarness(t, 1, shortWindow)
	h.fake.NoPiTSupport = true
	first := h.r
	var stood atomic.Bool
	h.afterPatch = func(n int, _ context.Context) error {
		if n != 1 || !stood.CompareAndSwap(false, true) {
			return nil
		}
		// The claim is written; the first manager stands still and another takes over.
		h.clock.Step(window + time.Second)
		h.newProcess()
		h.runFor(5 * time.Second)
		h.g.Expect(h.fake.Calls()).To(HaveLen(1), "the other manager issues the group")
		h.fake.FinishAll(h.clock.Now())
		h.runFor(time.Minute)
		h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
		return nil
	}
	_, err := first.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(stood.Load()).To(BeTrue())
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "the manager that stood still sent nothing")
	h.g.Expect(h.get().Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded))
}

// TestInDoubtWindowOutlastsACallOnTheWire: a VasaProvider sets the least window admission takes (5s),
// but a call may reach vCenter up to CallOnTheWire after its claim (sent by a manager that lost its Lease,
// or killed with the call on the wire), and the claim was stamped by a clock that may be ClaimClockSkew
// behind. A group whose call got no answer is not issued again before then.
func TestInDoubtWindowOutlastsACallOnTheWire(t *testing.T) {
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, _ *replicationv1alpha1.ReplicationSync) {
		vp.Spec.InDoubtWindow = &metav1.Duration{Duration: 5 * time.Second}
	})
	answerOnce(h.fake, timeoutErr)
	h.reconcile()
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupIssuing)))
	h.runFor(LeastInDoubtWindow - time.Second)
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupIssuing)))
	h.runFor(5 * time.Second)
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(2), "issued again once no call can still be on its way")
}

// TestFurtherReissuesCountTowardBackoffLimit: on an array without PiT support, every sync answer is lost
// (each task runs and ends; nothing can show it did). Each in-doubt window ends in a re-issue: the first
// is free, every further one counts toward backoffLimit, and the group ends Failed after a bounded number
// of calls instead of being synced again and again. Each call after the first is announced.
func TestFurtherReissuesCountTowardBackoffLimit(t *testing.T) {
	const limit = 2
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		shortWindow(vp, rs)
		rs.Spec.BackoffLimit = ptr.To[int32](limit)
	})
	h.fake.NoPiTSupport = true
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		h.fake.Finish(h.fake.CreateTask(c.Groups, c.PitName), h.clock.Now())
		return "", timeoutErr
	}
	// The first call, the free re-issue, then one re-issue per counted attempt up to backoffLimit.
	const calls = 1 + 1 + limit
	h.runForCalls(time.Duration(2*calls)*window, 2*calls)

	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed), "groups: %+v", rs.Status.Groups)
	g := rs.Status.Groups[0]
	h.g.Expect(g.State).To(Equal(replicationv1alpha1.GroupFailed))
	h.g.Expect(g.Message).To(ContainSubstring("no PiT after the in-doubt window"))
	h.g.Expect(g.Attempts).To(BeEquivalentTo(limit + 1))
	h.g.Expect(g.Reissues).To(BeEquivalentTo(calls), "the last re-issue failed the group instead of calling it")
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(calls))
	var announced int
	for _, e := range h.eventReasons() {
		if strings.HasPrefix(e, "InDoubtReissued") {
			announced++
		}
	}
	h.g.Expect(announced).To(Equal(calls - 1))
}
