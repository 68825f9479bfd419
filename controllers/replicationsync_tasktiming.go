package controllers

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
)

// What the process knows about each task in flight, cached by provider and ref; losing it costs an
// early query, nothing else.

// taskTiming is what the process knows about a task in flight: when it was issued, when it is next
// worth querying, the progress it showed (the first sample and the latest few), and whether it was
// issued while the provider's task durations were still unknown (learning).
type taskTiming struct {
	issued, due time.Time
	samples     []capacity.Sample
	learning    bool
	// inherited: issued by an earlier process; issued is its claim, which may be long before its call.
	inherited bool
	// keptBy is the ReplicationSync that cached it last: deleting that run drops the entry, since no
	// one else may ever see the task end.
	keptBy types.NamespacedName
}

// maxSamples is how many samples of progress a task keeps: the first (the longest baseline for its
// pace) and the latest.
const maxSamples = 8

// observed returns t with a sample of progress taken now, at age; a task at 0 % teaches no pace.
func (t taskTiming) observed(age time.Duration, progress int32) taskTiming {
	if progress <= 0 || progress >= 100 {
		return t
	}
	s := capacity.Sample{Age: age, Percent: progress}
	if len(t.samples) == maxSamples {
		t.samples = append([]capacity.Sample{t.samples[0]}, t.samples[2:]...)
	}
	t.samples = append(slices.Clip(t.samples), s) // a copy: the cached timing keeps its own
	return t
}

// first and last return the task's first and latest samples of progress (zero before any).
func (t taskTiming) first() capacity.Sample { return sampleAt(t.samples, 0) }
func (t taskTiming) last() capacity.Sample  { return sampleAt(t.samples, len(t.samples)-1) }

// reachedAt returns the age of the earliest of the latest samples that all showed percent; ok is false
// when the latest sample shows another.
func (t taskTiming) reachedAt(percent int32) (time.Duration, bool) {
	at, ok := time.Duration(0), false
	for i := len(t.samples) - 1; i >= 0 && t.samples[i].Percent == percent; i-- {
		at, ok = t.samples[i].Age, true
	}
	return at, ok
}

func sampleAt(s []capacity.Sample, i int) capacity.Sample {
	if i < 0 || i >= len(s) {
		return capacity.Sample{}
	}
	return s[i]
}

// timingOf returns what is known about the task ref of the groups idx; a task issued by an earlier
// process counts from its claim (inherited) and is due at once. Someone else's task (Waiting groups
// have no claim) counts from when this process first saw it, so that its queries back off and follow
// its progress like those of ours. A claim written by a node whose clock ran ahead counts from now.
func (r *ReplicationSyncReconciler) timingOf(run *syncRun, ref string, idx []int) taskTiming {
	if t, ok := r.pollDue.Load(taskKey{run.key, ref}); ok {
		return t.(taskTiming)
	}
	issued := claimOf(run.rs, idx)
	if issued.IsZero() || issued.After(run.now) {
		issued = run.now
	}
	return taskTiming{issued: issued, inherited: true}
}

// taskKey names a task in flight: task refs are per vCenter (SmsTask-N), so two providers may both
// have one of the same name.
type taskKey struct {
	provider types.NamespacedName
	ref      string
}

// keepTiming caches t as what is known about the run's task ref.
func (r *ReplicationSyncReconciler) keepTiming(run *syncRun, ref string, t taskTiming) {
	t.keptBy = types.NamespacedName{Namespace: run.rs.Namespace, Name: run.rs.Name}
	r.pollDue.Store(taskKey{run.key, ref}, t)
}

// forgetTiming drops what is known about the run's task ref (it ended, or the run did).
func (r *ReplicationSyncReconciler) forgetTiming(run *syncRun, ref string) {
	r.pollDue.Delete(taskKey{run.key, ref})
}

// forgetTimingsOf drops what the deleted ReplicationSync run cached about its tasks: it can no longer
// see them end. A run still waiting on one of them re-learns it from its claim, or from first sight.
func (r *ReplicationSyncReconciler) forgetTimingsOf(run types.NamespacedName) {
	r.pollDue.Range(func(k, v any) bool {
		if v.(taskTiming).keptBy == run {
			r.pollDue.Delete(k)
		}
		return true
	})
}
