package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// pollFixture is a provider key, a reconciler with an empty ledger and the time a task was issued.
func pollFixture() (types.NamespacedName, *ReplicationSyncReconciler, time.Time) {
	return types.NamespacedName{Namespace: "ns", Name: "vp"}, &ReplicationSyncReconciler{Capacity: capacity.New()},
		time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
}

// The sim's tasks (and, we assume, some arrays') sit at 0 % while queued: a poll predicted from one
// sample of progress lands late by the queued time. With the learned queued share it lands at the end;
// before any task has ended, a second sample soon gives the pace.
func TestRepollLandsAtTheEndProgressPredicts(t *testing.T) {
	g := NewWithT(t)
	key, r, issued := pollFixture()
	// A 2.4-s task queued for its first 0.6 s shows (1.5-0.6)/1.8 = 50 % at 1.5 s, 70 % at 1.875 s.
	first := taskTiming{issued: issued}
	run := &syncRun{now: issued.Add(1500 * time.Millisecond), key: key}
	g.Expect(r.repoll(run, first, 50).due.Sub(issued)).To(Equal(1875*time.Millisecond), "no share learned: a second sample a quarter of the age later")

	g.Expect(r.repoll(run, first, 96).due.Sub(issued)).To(BeNumerically("~", 1562*time.Millisecond, time.Millisecond), "no share learned, nearly done: at the latest end, 1.5 s / 96 %")

	second := taskTiming{issued: issued}.observed(1500*time.Millisecond, 50)
	later := &syncRun{now: issued.Add(1875 * time.Millisecond), key: key}
	g.Expect(r.repoll(later, second, 70).due.Sub(issued)).To(BeNumerically("~", 2437*time.Millisecond, 2*time.Millisecond), "the pace of two samples: 20 % in 375 ms")

	r.Capacity.ObserveTask(key, 2400*time.Millisecond)
	g.Expect(r.repoll(run, first, 50).due.Sub(issued)).To(Equal(1875*time.Millisecond), "a task ended before any poll saw it running: no share learned yet")
	for range 3 {
		r.Capacity.ObserveQueuedShare(key, 1500*time.Millisecond, 2400*time.Millisecond, 50)
	}
	// Never early (a third poll); late by at most the percent that progress is rounded down by.
	g.Expect(r.repoll(run, first, 50).due.Sub(issued)).To(And(BeNumerically(">=", 2400*time.Millisecond), BeNumerically("<=", 2424*time.Millisecond)))
}

func TestFirstPollFromTheCall(t *testing.T) {
	g := NewWithT(t)
	key, r, called := pollFixture()
	run := &syncRun{now: called.Add(30 * time.Millisecond), key: key}
	g.Expect(r.nextPoll(run, called)).To(Equal(run.now.Add(minPollGap)), "no history: soon")
	g.Expect(r.repoll(run, taskTiming{issued: called}, 0).due).To(Equal(run.now.Add(minPollGap)), "no history: at twice the age, not sooner than minPollGap")
	later := &syncRun{now: called.Add(400 * time.Millisecond), key: key}
	g.Expect(r.repoll(later, taskTiming{issued: called}, 0).due).To(Equal(later.now.Add(400*time.Millisecond)), "no history: at twice the age")
	for _, ms := range []int{1500, 1700, 2000, 2300, 2500} {
		r.Capacity.ObserveTask(key, time.Duration(ms)*time.Millisecond)
	}
	g.Expect(r.nextPoll(run, called)).To(Equal(called.Add(1500*time.Millisecond)),
		"a percent of a 2-s task is finer than maxRoundingLate: at the 10th percentile, so few tasks end unseen")

	long, rl, _ := pollFixture()
	for _, s := range []int{45, 52, 60, 68, 75} {
		rl.Capacity.ObserveTask(long, time.Duration(s)*time.Second)
	}
	g.Expect(rl.nextPoll(&syncRun{now: called, key: long}, called)).To(Equal(called.Add(52*time.Second)),
		"a percent of a 60-s task costs some tasks a third poll already: at the first quartile")
}

// The queued share is learned from a task's first sample that showed progress: its percent is rounded
// down by as much as any other, but weighs least there.
func TestQueuedShareIsLearnedFromTheFirstSample(t *testing.T) {
	g := NewWithT(t)
	key, r, issued := pollFixture()
	// 2-s tasks queued for 0.5 s show (1.5-0.5)/1.5 = 66 % at 1.5 s and 98 % at 1.98 s.
	info := sms.TaskInfo{State: sms.TaskSuccess, StartTime: issued, CompletionTime: issued.Add(2 * time.Second)}
	timing := taskTiming{issued: issued}.observed(1500*time.Millisecond, 66).observed(1980*time.Millisecond, 98)
	run := &syncRun{now: issued.Add(2 * time.Second), key: key}
	for range 3 {
		r.learnFromTask(run, info, timing)
	}
	q, known := r.Capacity.QueuedShare(key)
	g.Expect(known).To(BeTrue())
	g.Expect(q).To(BeNumerically("~", 0.25, 0.01),
		"from 98 %% it would be (1.98 - 0.985·2) / (0.015·2) = 0.33, and polls would come early")
}

// A whole percent of a 60-s task is about 0.6 s: aimed at the bottom of the reported percent, the poll
// would come up to that late. It aims a third into the percent: early (a third poll) for a third of the
// tasks, late by at most two thirds of a percent for the others.
func TestRepollOfALongTaskAimsAThirdIntoThePercent(t *testing.T) {
	g := NewWithT(t)
	key, r, issued := pollFixture()
	for range 3 {
		r.Capacity.ObserveQueuedShare(key, 30*time.Second, 60*time.Second, 33) // queued for 0.25 of a task
	}
	q, _ := r.Capacity.QueuedShare(key)
	// At 40 s the task reports 55 %: it is between 55 % and 56 % done.
	run := &syncRun{now: issued.Add(40 * time.Second), key: key}
	endAt := func(pct float64) time.Duration { return time.Duration(float64(40*time.Second) / (q + pct/100*(1-q))) }
	got := r.repoll(run, taskTiming{issued: issued}, 55).due.Sub(issued)
	g.Expect(got).To(BeNumerically("~", endAt(55+maxEarlyShare), 5*time.Millisecond))
	g.Expect(got-endAt(56)).To(BeNumerically("<=", (endAt(55)-endAt(56))*2/3+5*time.Millisecond), "late by at most two thirds of a percent")
	g.Expect(endAt(55)-endAt(56)).To(BeNumerically(">", 400*time.Millisecond), "a percent moves the end that much")
}

// The first wave's tasks are queried outside the poll budget: from the window their samples leave, the
// poll that sees one ended comes within maxRoundingLate of its end, though a percent of a 60-s task is
// 0.45-0.75 s. Aimed from the pace of two samples at the bottom of a percent, it came up to a percent late.
func TestFirstWaveFindsTheEndWithinMaxRoundingLate(t *testing.T) {
	for _, d := range []time.Duration{45300, 48900, 52200, 57100, 60400, 63700, 68200, 71500, 74800} {
		g := NewWithT(t)
		key, r, issued := pollFixture()
		d *= time.Millisecond
		// Like the simulator: queued at 0 % for a quarter of the task, then whole percents.
		progress := func(age time.Duration) int32 {
			return int32(max(0, (age-d/4).Seconds()/(d*3/4).Seconds()*100))
		}
		timing := taskTiming{issued: issued, learning: true}
		now, polls := issued.Add(minPollGap), 1
		for ; now.Sub(issued) < d; polls++ {
			age := now.Sub(issued)
			timing = r.repoll(&syncRun{now: now, key: key}, timing, progress(age))
			now = timing.due
		}
		late := now.Sub(issued) - d
		g.Expect(late).To(BeNumerically("<=", maxRoundingLate), "a %v task", d)
		g.Expect(polls).To(BeNumerically("<=", 10+1+maxSamples), "doubling to a running sample, then the window's")
	}
}

// Arrays hold a task at the same percent for long while they finalize (99 % for minutes while the PiT
// is made). Extrapolated from one sample, a percent that does not move predicts the end a fraction of
// a percent of the age away, every time: polls back off instead, doubling the time spent at that percent.
func TestRepollBacksOffWhileProgressStands(t *testing.T) {
	g := NewWithT(t)
	key, r, issued := pollFixture()
	for _, s := range []int{52, 56, 60, 64, 68} {
		r.Capacity.ObserveTask(key, time.Duration(s)*time.Second)
		r.Capacity.ObserveQueuedShare(key, 30*time.Second, 60*time.Second, 33)
	}
	const d, stuck = 60 * time.Second, 10 * time.Minute
	// Like the simulator: queued at 0 % for a quarter of the task, then whole percents; then 99 % for long.
	progress := func(age time.Duration) int32 {
		return min(99, int32(max(0, (age-d/4).Seconds()/(d*3/4).Seconds()*100)))
	}
	run := &syncRun{now: issued, key: key}
	timing := taskTiming{issued: issued}
	now, polls := r.nextPoll(run, issued), 1
	for ; now.Sub(issued) < d+stuck; polls++ {
		timing = r.repoll(&syncRun{now: now, key: key}, timing, progress(now.Sub(issued)))
		g.Expect(timing.due.Sub(now)).To(And(BeNumerically(">=", minPollGap), BeNumerically("<=", r.pollMax())))
		now = timing.due
	}
	g.Expect(now.Sub(issued)-d-stuck).To(BeNumerically("<=", r.pollMax()), "the end is still seen within pollMax")
	// From a percent's length (0.45 s) doubling to pollMax takes 7 polls; then one per pollMax.
	g.Expect(polls).To(BeNumerically("<=", 3+7+int(stuck/r.pollMax())+1), "not every 0.5-0.7 %% of the age")
}
