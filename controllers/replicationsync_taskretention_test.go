package controllers

import (
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// droppingTasks answers task queries as SMS does when it keeps an ended task only `keep` after it
// ended. end(ref, ...) ends a task.
type droppingTasks struct {
	mu     sync.Mutex
	ended  map[string]time.Time
	ok     map[string]bool
	groups map[string][]sms.GroupID
}

func dropEndedTasksAfter(h *runHarness, keep time.Duration, pitName string) *droppingTasks {
	d := &droppingTasks{ended: map[string]time.Time{}, ok: map[string]bool{}, groups: map[string][]sms.GroupID{}}
	h.fake.Task = func(ref string) (sms.TaskInfo, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		end, ended := d.ended[ref]
		switch {
		case !ended:
			return sms.TaskInfo{Ref: ref, State: sms.TaskRunning}, nil
		case h.clock.Now().Sub(end) > keep:
			return taskGone(ref)
		case !d.ok[ref]:
			return sms.TaskInfo{Ref: ref, State: sms.TaskError, Err: &sms.ReplicationFaultError{Message: "replication link down"},
				StartTime: end.Add(-time.Second), CompletionTime: end}, nil
		}
		info := sms.TaskInfo{Ref: ref, State: sms.TaskSuccess, StartTime: end.Add(-time.Second), CompletionTime: end}
		for _, g := range d.groups[ref] {
			info.Results = append(info.Results, sms.GroupResult{Group: g, Succeeded: true, PitName: pitName, TimeStamp: end})
		}
		return info, nil
	}
	return d
}

func (d *droppingTasks) end(ref string, groups []sms.GroupID, ok bool, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ended[ref], d.ok[ref], d.groups[ref] = at, ok, groups
}

// withLongTasks has the harness's provider show 40-minute tasks: a task's first query would come at
// their first quartile, 10 minutes after its call, but for firstPollMax.
func withLongTasks(h *runHarness) {
	for range 4 {
		h.r.Capacity.ObserveTask(client.ObjectKeyFromObject(h.vp), 40*time.Minute)
	}
}

// A task that ends in a second on a provider of long tasks, and that SMS drops 5 minutes later, is read
// before it is dropped: on an array without PiT support it would otherwise be gone, its group in doubt and
// synced a second time.
func TestQuickTaskIsReadBeforeSMSDropsIt(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	withLongTasks(h)
	h.fake.NoPiTSupport = true
	tasks := dropEndedTasksAfter(h, 5*time.Minute, h.get().Spec.PitName)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	h.clock.Step(time.Second)
	tasks.end(h.fake.Calls()[0].Task, []sms.GroupID{h.group(0)}, true, h.clock.Now())
	h.runFor(3 * time.Hour)
	h.g.Expect(h.fake.CallsOf(h.group(0))).To(Equal(1))
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupSynced)))
}

// Likewise a task that fails at once is read as failed (an attempt), not re-issued after an in-doubt
// window of twice the provider's longest task.
func TestQuickFailureIsReadBeforeSMSDropsIt(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	withLongTasks(h)
	tasks := dropEndedTasksAfter(h, 5*time.Minute, h.get().Spec.PitName)
	h.reconcile()
	h.clock.Step(time.Second)
	tasks.end(h.fake.Calls()[0].Task, []sms.GroupID{h.group(0)}, false, h.clock.Now())
	h.runFor(3 * time.Minute)
	g := h.get().Status.Groups[0]
	h.g.Expect(g.Reissues).To(BeZero())
	h.g.Expect(g.Attempts).To(BeEquivalentTo(1))
}
