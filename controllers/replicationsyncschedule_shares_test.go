package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// refuseShare fails the creation of ReplicationSyncs whose name ends with suffix while refusing is set,
// as an API server that times out or a manager that crashes between two creates would leave it.
type refuseShare struct {
	client.Client
	suffix   string
	refusing bool
}

func (c *refuseShare) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && c.refusing && strings.HasSuffix(obj.GetName(), c.suffix) {
		return errors.New("the connection to the API server was lost")
	}
	return c.Client.Create(ctx, obj, opts...)
}

// staleCache lists as a cache that has not yet seen the ReplicationSyncs whose name ends with hide.
type staleCache struct {
	client.Client
	hide string
}

func (c *staleCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*replicationv1alpha1.ReplicationSyncList); ok {
		l.Items = slices.DeleteFunc(l.Items, func(rs replicationv1alpha1.ReplicationSync) bool { return strings.HasSuffix(rs.Name, c.hide) })
	}
	return nil
}

// TestScheduleSharesARunTooBigForOne: a template selector matching more groups than one run holds makes
// each run a set of ReplicationSyncs sharing the groups and the PiT name. A set cut short is completed
// without creating a share twice; the set counts as one run for Forbid, success and history.
func TestScheduleSharesARunTooBigForOne(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.createShared("big", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.SuccessfulHistoryLimit = ptr.To[int32](1)
	})
	refuse := &refuseShare{Client: k8sClient, suffix: "-2", refusing: true}
	h.r.Client = refuse
	ticks := h.nextRuns(2)

	h.reconcileAt(ticks[0])
	g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Message).To(ContainSubstring("share 2 of 2"))
	g.Expect(h.runs()).To(HaveLen(1))
	first := h.runs()[0]
	g.Expect(h.get().Status.LastScheduleTime).To(BeNil(), "a set cut short is not started")

	// A group appears before the set is completed: the missing share takes it with the groups share 1
	// does not hold, not a fresh split that could leave one out or put one in both.
	late := h.bigGroup("dg-0000a", "array-a-fd-big-dg-0000a")

	// And the cache has not seen share 1 yet: whether shares exist is read past it.
	refuse.refusing = false
	h.r.Client, h.r.APIReader = &staleCache{Client: k8sClient, hide: "-1"}, k8sClient
	h.reconcileAt(ticks[0].Add(time.Second))
	h.r.Client = k8sClient
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	set := runName("big", ticks[0])
	var ids []replicationv1alpha1.ReplicationGroupID
	for i, rs := range runs {
		g.Expect(rs.Name).To(Equal(fmt.Sprintf("%s-%d", set, i+1)))
		g.Expect(rs.Labels).To(HaveKeyWithValue(replicationv1alpha1.SyncSetLabel, set))
		g.Expect(rs.Annotations).To(HaveKeyWithValue(replicationv1alpha1.ShareAnnotation, fmt.Sprintf("%d/2", i+1)))
		g.Expect(rs.Spec.PitName).To(Equal(runs[0].Spec.PitName))
		g.Expect(rs.Spec.GroupSelector).To(BeNil())
		ids = append(ids, rs.Spec.GroupIDs...)
	}
	g.Expect(runs[0].UID).To(Equal(first.UID), "the share created before is kept, not created again")
	g.Expect(runs[0].Spec.GroupIDs).To(Equal(first.Spec.GroupIDs))
	g.Expect(runs[1].Spec.GroupIDs).To(ContainElement(late))
	g.Expect(ids).To(HaveLen(replicationv1alpha1.MaxGroupsPerRun + 2))
	g.Expect(slices.CompactFunc(slices.Clone(ids), func(a, b replicationv1alpha1.ReplicationGroupID) bool { return a == b })).To(HaveLen(len(ids)), "each group in one share")
	st := h.get().Status
	g.Expect(st.LastScheduleTime.Time).To(BeTemporally("==", ticks[0]))
	g.Expect(st.Active).To(HaveLen(2))
	g.Expect(h.events()).To(ContainElement(ContainSubstring("Created 1 of the 2 ReplicationSyncs " + set + "-1 to " + set + "-2")))

	h.reconcileAt(ticks[1])
	g.Expect(h.runs()).To(HaveLen(2), "Forbid: the next run waits for the whole set")
	h.finish(runs[0], replicationv1alpha1.SyncSucceeded, ticks[1].Add(time.Minute))
	h.reconcileAt(ticks[1].Add(2 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(BeNil(), "one share is not the run")
	g.Expect(h.runs()).To(HaveLen(2), "Forbid: the next run waits for the last share too")
	h.finish(h.runs()[1], replicationv1alpha1.SyncSucceeded, ticks[1].Add(3*time.Minute))
	h.reconcileAt(ticks[1].Add(4 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime.Time).To(BeTemporally("==", ticks[1].Add(3*time.Minute)))

	runs = h.runs()
	g.Expect(runs).To(HaveLen(4), "the run that waited under Forbid starts once the whole set finished")
	next := runName("big", ticks[1])
	for _, rs := range runs[2:] {
		g.Expect(rs.Labels).To(HaveKeyWithValue(replicationv1alpha1.SyncSetLabel, next))
		h.finish(rs, replicationv1alpha1.SyncSucceeded, ticks[1].Add(5*time.Minute))
	}
	h.reconcileAt(ticks[1].Add(6 * time.Minute))
	var names []string
	for _, rs := range h.runs() {
		names = append(names, rs.Name)
	}
	g.Expect(names).To(Equal([]string{next + "-1", next + "-2"}), "successfulHistoryLimit 1 keeps one whole set")
}

// TestScheduleSelectionOneRunHoldsIsNotShared: at the limit, the run is one ReplicationSync that resolves
// the selector itself when it starts.
func TestScheduleSelectionOneRunHoldsIsNotShared(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	g.Expect(testenv.CreateGroups(context.Background(), k8sClient, h.ns, "array-a", "fd-full", replicationv1alpha1.MaxGroupsPerRun)).To(Succeed())
	selector := replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.FaultDomainLabel: "fd-full"}})
	h.create("full", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Spec.GroupIDs = nil
		s.Spec.Template.Spec.GroupSelector = selector
	})
	h.reconcileAt(h.nextRuns(1)[0])
	runs := h.runs()
	g.Expect(runs).To(HaveLen(1))
	g.Expect(runs[0].Spec.GroupSelector).To(Equal(selector))
	g.Expect(runs[0].Labels).NotTo(HaveKey(replicationv1alpha1.SyncSetLabel))
}

// TestScheduleKeepsAWholeRunUntilItFinished: with successfulHistoryLimit 0 a finished share stays while
// another share of its run still runs (deleting it would hide the run's success), and goes with it.
func TestScheduleKeepsAWholeRunUntilItFinished(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.createShared("none-kept", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		s.Spec.SuccessfulHistoryLimit = ptr.To[int32](0)
	})
	tick := h.nextRuns(1)[0]
	h.reconcileAt(tick)
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	for _, rs := range runs {
		g.Expect(rs.Spec.TTLSecondsAfterFinished).To(BeNil(), "shares go with their run, not one by one")
	}
	h.finish(runs[0], replicationv1alpha1.SyncSucceeded, tick.Add(time.Minute))
	h.reconcileAt(tick.Add(2 * time.Minute))
	g.Expect(h.runs()).To(HaveLen(2))
	h.finish(h.runs()[1], replicationv1alpha1.SyncSucceeded, tick.Add(3*time.Minute))
	h.reconcileAt(tick.Add(4 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime.Time).To(BeTemporally("==", tick.Add(3*time.Minute)))
	g.Expect(h.runs()).To(BeEmpty())
}

// TestScheduleRunCutShortWithGroupsGone: a set cut short whose missing share has no group left is not
// completed with an empty or overlapping share; it is reported and never counts as a success.
func TestScheduleRunCutShortWithGroupsGone(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	tick := h.cutShort("shrunk", nil)
	first := h.runs()[0]
	// Every group share 1 does not hold goes away (the provider dropped them).
	for _, rg := range h.groupsBeyond(first.Spec.GroupIDs) {
		g.Expect(k8sClient.Delete(h.ctx, &rg)).To(Succeed())
	}
	h.r.Client = k8sClient
	h.reconcileAt(tick.Add(time.Second))
	g.Expect(h.runs()).To(HaveLen(1))
	g.Expect(h.get().Status.LastScheduleTime.Time).To(BeTemporally("==", tick), "the run counts as started, not missed again")
	g.Expect(h.events()).To(ContainElement(ContainSubstring("was cut short after 1 of its 2 ReplicationSyncs")))
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, tick.Add(time.Minute))
	h.reconcileAt(tick.Add(2 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime).To(BeNil(), "half a run is no success")
}

// groupsBeyond returns the namespace's ReplicationGroups whose ids are not among ids.
func (h *scheduleHarness) groupsBeyond(ids []replicationv1alpha1.ReplicationGroupID) []replicationv1alpha1.ReplicationGroup {
	list := &replicationv1alpha1.ReplicationGroupList{}
	h.g.Expect(k8sClient.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
	return slices.DeleteFunc(list.Items, func(rg replicationv1alpha1.ReplicationGroup) bool { return slices.Contains(ids, rg.Spec.GroupID) })
}

// TestScheduleReplacesAWholeRun: concurrencyPolicy Replace deletes every share of the active run.
func TestScheduleReplacesAWholeRun(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	h.createShared("replace", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.ConcurrencyPolicy = replicationv1alpha1.ReplaceConcurrent
	})
	ticks := h.nextRuns(2)
	h.reconcileAt(ticks[0])
	g.Expect(h.runs()).To(HaveLen(2))
	h.reconcileAt(ticks[1])
	var names []string
	for _, rs := range h.runs() {
		names = append(names, rs.Name)
	}
	next := runName("replace", ticks[1])
	g.Expect(names).To(Equal([]string{next + "-1", next + "-2"}))
	g.Expect(h.get().Status.Active).To(HaveLen(2))
}

// TestScheduleKeepsARunCutShortUntilCompleted: a share that finished while its run waits to be completed
// is not deleted by a history limit of 0; the completed run then counts as a success.
func TestScheduleKeepsARunCutShortUntilCompleted(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	tick := h.cutShort("cut-short", func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.SuccessfulHistoryLimit, s.Spec.FailedHistoryLimit = ptr.To[int32](0), ptr.To[int32](0)
	})
	h.finish(h.runs()[0], replicationv1alpha1.SyncSucceeded, tick.Add(time.Second))
	h.reconcileAt(tick.Add(2 * time.Second))
	g.Expect(h.runs()).To(HaveLen(1), "the finished share of a run still being created is kept")

	h.r.Client = k8sClient
	h.reconcileAt(tick.Add(3 * time.Second))
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	h.finish(runs[1], replicationv1alpha1.SyncSucceeded, tick.Add(time.Minute))
	h.reconcileAt(tick.Add(2 * time.Minute))
	g.Expect(h.get().Status.LastSuccessfulTime.Time).To(BeTemporally("==", tick.Add(time.Minute)))
	g.Expect(h.runs()).To(BeEmpty())
}

// TestCompletedSharesKeepTheSetsPitName: the shares created to complete a run cut short take the PiT name
// of the shares that exist, not one rendered afresh from a template edited in between: a run is a set of
// ReplicationSyncs of one PiT name.
func TestCompletedSharesKeepTheSetsPitName(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	tick := h.cutShort("cut-edited", nil)
	first := h.runs()
	g.Expect(first).To(HaveLen(1))

	sched := h.get()
	sched.Spec.Template.PitNameTemplate = `{{ .ScheduleName }}-edited-{{ .ScheduledTime.Format "20060102-1504" }}`
	g.Expect(k8sClient.Update(h.ctx, sched)).To(Succeed())
	h.r.Client = k8sClient
	h.reconcileAt(tick.Add(time.Second))
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	for _, run := range runs {
		g.Expect(run.Spec.PitName).To(Equal(first[0].Spec.PitName), run.Name)
	}
}

// cutShort creates the schedule name with createShared and has the API server refuse its first run's
// second share, which leaves that run cut short after one share; it returns the run's scheduled time.
func (h *scheduleHarness) cutShort(name string, mutate func(*replicationv1alpha1.ReplicationSyncSchedule)) time.Time {
	h.t.Helper()
	h.createShared(name, mutate)
	h.r.Client = &refuseShare{Client: k8sClient, suffix: "-2", refusing: true}
	tick := h.nextRuns(1)[0]
	h.g.Expect(h.reconcileAt(tick).RequeueAfter).To(Equal(runCreateRetry))
	h.g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Message).To(ContainSubstring("share 2 of 2"))
	return tick
}

// createShared creates 1001 ReplicationGroups in fault domain fd-big and a schedule named name whose
// template selects them all: more than one run holds.
// bigGroup creates ReplicationGroup name of array-a for device group dg in fault domain fd-big (the one
// createShared's selector matches) and returns its id.
func (h *scheduleHarness) bigGroup(dg, name string) replicationv1alpha1.ReplicationGroupID {
	h.t.Helper()
	id := replicationv1alpha1.ReplicationGroupID{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-big"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg}}
	h.g.Expect(k8sClient.Create(h.ctx, &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name, Labels: map[string]string{
			replicationv1alpha1.ProviderLabel: "array-a", replicationv1alpha1.FaultDomainLabel: "fd-big",
		}},
		Spec: replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"}, GroupID: id},
	})).To(Succeed())
	return id
}

func (h *scheduleHarness) createShared(name string, mutate func(*replicationv1alpha1.ReplicationSyncSchedule)) {
	h.t.Helper()
	h.g.Expect(testenv.CreateGroups(h.ctx, k8sClient, h.ns, "array-a", "fd-big", replicationv1alpha1.MaxGroupsPerRun+1)).To(Succeed())
	h.create(name, func(s *replicationv1alpha1.ReplicationSyncSchedule) {
		s.Spec.Template.Spec.GroupIDs = nil
		s.Spec.Template.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(&metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.FaultDomainLabel: "fd-big"}})
		if mutate != nil {
			mutate(s)
		}
	})
}

// TestScheduleSharesLeaveOutGroupsGroupIDsCannotName: a provider reported a group id with white space
// around it, which a ReplicationGroup holds but a ReplicationSync's groupIds refuses. Shared out, the run
// leaves that group out and says so; its share, and every other group in it, is not refused.
func TestScheduleSharesLeaveOutGroupsGroupIDsCannotName(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	padded := h.bigGroup("dg-padded ", "array-a-fd-big-dg-padded")
	h.createShared("big", nil)
	h.reconcileAt(h.nextRuns(1)[0])
	runs := h.runs()
	g.Expect(runs).To(HaveLen(2))
	var held int
	for _, rs := range runs {
		g.Expect(rs.Spec.GroupIDs).NotTo(ContainElement(padded))
		held += len(rs.Spec.GroupIDs)
	}
	g.Expect(held).To(Equal(replicationv1alpha1.MaxGroupsPerRun+1), "every other group is in a share")
	g.Expect(h.events()).To(ContainElement(And(ContainSubstring(EventGroupsLeftOut), ContainSubstring(`"fd-big/dg-padded "`))))
}

// TestScheduleRunWaitsForTheFirstDiscovery: created with its VasaProvider (a GitOps bootstrap), a schedule
// whose run falls due while the first discovery still writes the groups waits for it to end: deciding
// one run or shares, and splitting them, from the groups written so far would leave the others out.
func TestScheduleRunWaitsForTheFirstDiscovery(t *testing.T) {
	g := NewWithT(t)
	h := newScheduleHarness(t, g)
	vp := newProvider(h.ns, "array-a", "creds")
	g.Expect(k8sClient.Create(h.ctx, vp)).To(Succeed())
	h.createShared("big", nil)
	tick := h.nextRuns(1)[0]
	res := h.reconcileAt(tick)
	g.Expect(h.runs()).To(BeEmpty())
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", discoveryWaitRecheck+scheduleRequeueSlack))
	g.Expect(condition(h.get(), replicationv1alpha1.ReadyCondition).Message).To(ContainSubstring("first discovery"))

	now := metav1.NewTime(tick)
	vp.Status.Discovery = &replicationv1alpha1.DiscoveryStatus{LastAttemptTime: &now, LastSuccessTime: &now}
	g.Expect(k8sClient.Status().Update(h.ctx, vp)).To(Succeed())
	h.reconcileAt(tick.Add(discoveryWaitRecheck))
	g.Expect(h.runs()).To(HaveLen(2), "shared out once every group is written")
}
