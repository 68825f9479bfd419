package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/batching"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// What a run needs from its VasaProvider: the session, the provider's capacity (slots, learned batch
// size, task durations) and the timing that follows from them.

// DefaultInDoubtWindow is the floor of the in-doubt window when the VasaProvider sets none.
const DefaultInDoubtWindow = 2 * time.Minute

// connectProvider loads the VasaProvider and its session; it returns why not when it cannot.
func (r *ReplicationSyncReconciler) connectProvider(ctx context.Context, run *syncRun) (string, bool) {
	rs := run.rs
	name := rs.Spec.ProviderRef.Name
	vp := &replicationv1alpha1.VasaProvider{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rs.Namespace, Name: name}, vp); err != nil {
		if apierrors.IsNotFound(err) {
			run.providerMissing = true
			return fmt.Sprintf("VasaProvider %q not found in namespace %s", name, rs.Namespace), false
		}
		return fmt.Sprintf("Reading VasaProvider %q: %v", name, err), false
	}
	// Its counters exist from a run's first look at it, so that an alert on their increase sees a run that
	// ends before the VasaProvider's first check. Only of a VasaProvider that exists: its deletion drops
	// them, and nothing would drop those of a name no VasaProvider has.
	metrics.InitSyncsTotal(rs.Namespace, name)
	if ready, msg := providerReady(vp); !ready {
		return fmt.Sprintf("VasaProvider %q is not Ready: %s", name, msg), false
	}
	if vp.Status.ProviderRef == nil || vp.Status.ProviderRef.Value == "" {
		return fmt.Sprintf("VasaProvider %q has no providerRef yet", name), false
	}
	cl, err := providerClient(ctx, r.Client, r.reader(), r.Sessions, r.Dial, vp)
	if err != nil {
		_, msg := classifyConnectError(vp, err)
		return fmt.Sprintf("VasaProvider %q: %s", name, msg), false
	}
	reached := vcenterOf(cl, vp)
	if sms.OtherVCenter(reached, rs.Status.VCenterInstanceUUID) {
		// Batches this process claimed on the run's vCenter and has not called were never sent: Pending
		// again, so that they neither count as in flight there nor go to a provider moId of that vCenter.
		r.unarm(run, clockNow(r.Clock)) // every armed batch: each was claimed before now
	}
	if msg, ok := sameVCenter(rs, vp.Name, reached); !ok {
		run.providerChanged = true
		return msg, false
	}
	if sms.OtherVCenter(reached, vp.Status.VCenterInstanceUUID) {
		// The session reaches another vCenter than the VasaProvider's status describes: its provider
		// moId, and what was learned about the provider, belong to the other one. Wait until the
		// VasaProvider has looked its provider up on this one (a change of its status wakes the run).
		r.notifyProvider(vp)
		return fmt.Sprintf("VasaProvider %q now reaches vCenter %s; waiting for it to look its provider up there", name, reached), false
	}
	key := client.ObjectKeyFromObject(vp)
	run.vp, run.key, run.cl = vp, key, r.calls.watched(r.Clock, key, run.owner(), cl)
	// The counter exists from the start, so an alert on its increase sees the first re-issue.
	metrics.InDoubtReissuesTotal.WithLabelValues(rs.Namespace, name).Add(0)
	r.Capacity.LoadLearnedBatchSize(run.key, learnedOf(vp.Status), vp.Status.LearnedMaxBatchSize)
	if d := vp.Status.ObservedTaskDuration; d != nil {
		r.Capacity.LoadTaskDuration(run.key, learnedOf(vp.Status), d.Duration)
	}
	return "", true
}

// providerToCall is connectProvider, then holds the run back while its provider is slow to answer
// (callWatch): as many of its runs as slowRunsAllowed have a call waiting for more than slowCallAfter.
// The run then calls nothing and leaves its worker to other providers' runs; it says why. (A run past
// its deadline connects without this: its last look is its last chance to find its groups synced.)
func (r *ReplicationSyncReconciler) providerToCall(ctx context.Context, run *syncRun) (string, bool) {
	if msg, ok := r.connectProvider(ctx, run); !ok {
		return msg, false
	}
	n := r.calls.slow(run.key, run.now)
	if n < r.slowRunsAllowed() {
		return "", true
	}
	run.providerSlow = true
	return fmt.Sprintf("VasaProvider %q is slow to answer: %d of its runs have had a call waiting for more than %s; "+
		"this run calls once fewer have, leaving the workers to other providers' runs", run.vp.Name, n, slowCallAfter), false
}

// slowRunsAllowed is how many runs of one provider may have a slow call (callWatch) before its other
// runs wait: a quarter of the workers, so that one provider cannot hold them all.
func (r *ReplicationSyncReconciler) slowRunsAllowed() int {
	return max(2, r.maxConcurrentReconciles()/4)
}

// vcenterOf returns the instanceUuid of the vCenter the session reached, which is what the calls go to:
// the VasaProvider's status may not show yet that its url now reaches another one. A session whose
// re-login met another vCenter stops itself (sms.ErrVCenterChanged).
func vcenterOf(cl syncProvider, vp *replicationv1alpha1.VasaProvider) string {
	if sr, ok := cl.(sms.ServerInfoReporter); ok {
		if uuid := sr.ServerInfo().VCenterInstanceUUID; uuid != "" {
			return uuid
		}
	}
	return vp.Status.VCenterInstanceUUID
}

// sameVCenter checks that the VasaProvider (vpName) still reaches the vCenter the run's groups in flight
// were issued to: task and provider moIds are only unique within one vCenter, so another vCenter could
// answer for a task of its own under the same moId, or forget ours, and the group would be issued again
// there. A run with nothing in flight takes the vCenter reached now as its own (its next claim writes it),
// and forgets the provider moIds its groups were issued to on the other one.
func sameVCenter(rs *replicationv1alpha1.ReplicationSync, vpName, now string) (string, bool) {
	was := rs.Status.VCenterInstanceUUID
	switch {
	case now == "" || now == was: // "" when the vCenter reports none
		return "", true
	case was == "": // a run from before the field, or new
		rs.Status.VCenterInstanceUUID = now
		return "", true
	case !slices.ContainsFunc(rs.Status.Groups, inFlight):
		rs.Status.VCenterInstanceUUID = now
		for i := range rs.Status.Groups {
			if !isFinalGroup(rs.Status.Groups[i]) {
				rs.Status.Groups[i].Provider = "" // a moId of the other vCenter: the VasaProvider's own now
			}
		}
		return "", true
	}
	return fmt.Sprintf("VasaProvider %q now reaches vCenter %s, but this run's groups in flight were issued to vCenter %s: "+
		"their tasks cannot be checked there, and issuing them again could sync a group twice. Point spec.vcenter.url "+
		"back at that vCenter until the run ends, or delete this ReplicationSync, wait until the syncs it started have ended "+
		"on the array (their PiTs appear), and create it again",
		vpName, now, was), false
}

// inFlight reports a group claimed or issued and not final: its claim or task belongs to one vCenter.
func inFlight(g replicationv1alpha1.GroupStatus) bool {
	return g.State == replicationv1alpha1.GroupIssuing || g.State == replicationv1alpha1.GroupSyncing || g.State == replicationv1alpha1.GroupWaiting
}

// releaseSlots frees the slots the owner (a ReplicationSync) holds on every provider: its tasks no longer
// count against them (the run is gone, or its tasks run on another vCenter than its VasaProvider's now).
func (r *ReplicationSyncReconciler) releaseSlots(owner string) {
	for _, key := range r.Capacity.ForgetOwner(owner) {
		r.exportInFlight(key)
	}
}

// exportInFlight sets vasa_sync_tasks_in_flight from the ledger. Read and set under one lock: two runs
// releasing slots at once could otherwise set their reads in the other order, leaving a count of tasks
// on an idle provider.
func (r *ReplicationSyncReconciler) exportInFlight(key types.NamespacedName) {
	r.inFlightMu.Lock()
	defer r.inFlightMu.Unlock()
	metrics.TasksInFlight.WithLabelValues(key.Namespace, key.Name).Set(float64(r.Capacity.InFlight(key)))
}

// primeSlots counts, once per process and provider, the slots every unfinished ReplicationSync of the
// provider holds according to its status (after a restart nothing is in memory).
func (r *ReplicationSyncReconciler) primeSlots(ctx context.Context, run *syncRun) {
	if r.Capacity.Primed(run.key) {
		return
	}
	list := &replicationv1alpha1.ReplicationSyncList{}
	if err := r.List(ctx, list, client.InNamespace(run.key.Namespace), client.MatchingFields{replicationSyncProviderIndex: run.key.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ReplicationSyncs to count tasks in flight")
		return
	}
	held := map[string]int{}
	now := vcenterOf(run.cl, run.vp)
	for i := range list.Items {
		// A run whose tasks are on another vCenter than the VasaProvider's now (stopped, ProviderChanged)
		// holds none of its slots.
		if rs := &list.Items[i]; !isFinished(rs) && !sms.OtherVCenter(rs.Status.VCenterInstanceUUID, now) {
			held[client.ObjectKeyFromObject(rs).String()] = slotsHeld(rs, r.batchSizeOf(rs, run.vp), r.armedIndexes(rs, nil))
		}
	}
	held[run.owner()] = r.runSlotsHeld(run) // this reconcile's object is fresher than the list
	r.Capacity.Prime(run.key, held)
}

// holdSlots records the slots this run holds as its status now shows them.
func (r *ReplicationSyncReconciler) holdSlots(run *syncRun) {
	if isFinished(run.rs) {
		r.Capacity.ForgetOwner(run.owner())
	} else {
		r.Capacity.Hold(run.key, run.owner(), r.runSlotsHeld(run), int(maxConcurrentTasks(run.vp)))
	}
	r.exportInFlight(run.key)
}

// runSlotsHeld counts the slots of the run as its status now shows them; an armed batch that is part of
// this reconcile's wave is about to be called, so it holds its slot.
func (r *ReplicationSyncReconciler) runSlotsHeld(run *syncRun) int {
	armed := r.armedIndexes(run.rs, run.preclaimed)
	for _, b := range run.wave {
		for _, i := range b.groups {
			delete(armed, i)
		}
	}
	return slotsHeld(run.rs, r.batchSize(run), armed)
}

// slotsHeld counts our tasks in flight: one per task ref of Syncing groups, and for groups Issuing
// without a task (claimed, or in doubt) as many as their batches may have started, counted per provider
// and claim (a wave's batches to one provider share a claim; different claims never shared a call);
// armed groups (pre-claimed by this process, not called) hold none.
func slotsHeld(rs *replicationv1alpha1.ReplicationSync, batchSize int32, armed map[int]struct{}) int {
	type claim struct {
		provider string
		at       time.Time
	}
	tasks := map[string]struct{}{}
	issuing := map[claim]int{}
	for i, g := range rs.Status.Groups {
		switch g.State {
		case replicationv1alpha1.GroupSyncing:
			tasks[g.Task] = struct{}{}
		case replicationv1alpha1.GroupIssuing:
			if _, ok := armed[i]; !ok {
				issuing[claim{g.Provider, claimTimeOf(g)}]++
			}
		}
	}
	size := int(max(batchSize, 1))
	held := len(tasks)
	for _, n := range issuing {
		held += (n + size - 1) / size
	}
	return held
}

// unlimitedBatch is the batch size when nothing limits it: every group of a run in one call.
const unlimitedBatch = 1000

// batchSize is min(spec.maxBatchSize, provider spec.maxBatchSize, learned), each only when > 0.
func (r *ReplicationSyncReconciler) batchSize(run *syncRun) int32 {
	return r.batchSizeOf(run.rs, run.vp)
}

// batchSizeOf is the batch size of rs, a run of vp.
func (r *ReplicationSyncReconciler) batchSizeOf(rs *replicationv1alpha1.ReplicationSync, vp *replicationv1alpha1.VasaProvider) int32 {
	if size := batching.Size(rs.Spec.MaxBatchSize, vp.Spec.MaxBatchSize, r.Capacity.LearnedBatchSize(client.ObjectKeyFromObject(vp))); size > 0 {
		return size
	}
	return unlimitedBatch
}

// learnBatchSize records a TooMany size; the VasaProvider reconciler writes it to the VasaProvider's status.
func (r *ReplicationSyncReconciler) learnBatchSize(ctx context.Context, run *syncRun, size int32) {
	if !r.Capacity.LearnBatchSize(run.key, size) {
		return
	}
	metrics.LearnedBatchSize.WithLabelValues(run.key.Namespace, run.key.Name).Set(float64(size))
	r.event(run.rs, corev1.EventTypeNormal, "BatchSizeReduced", "Sync", "Provider %s accepts at most %d groups per call; splitting batches", run.vp.Name, size)
	ctrl.LoggerFrom(ctx).Info("Learned the provider's batch size", "batchSize", size)
	r.notifyProvider(run.vp)
}

// notifyProvider wakes the VasaProvider reconciler: to record what the ledger learned about the provider,
// or to look the provider up again (its moId unknown, or the vCenter reached is another).
func (r *ReplicationSyncReconciler) notifyProvider(vp *replicationv1alpha1.VasaProvider) {
	if r.ProviderEvents == nil || vp == nil {
		return
	}
	select {
	case r.ProviderEvents <- event.GenericEvent{Object: vp}:
	default: // a notification is pending already; it reads the ledger when it runs
	}
}

// inDoubtWindow is how long a group whose call got no answer waits before it is issued again: the
// VasaProvider's floor (inDoubtFloor), or twice the longest task the provider has shown recently,
// whichever is longer.
func (r *ReplicationSyncReconciler) inDoubtWindow(run *syncRun) time.Duration {
	return max(inDoubtFloor(run.vp), 2*r.Capacity.TaskDuration(run.key))
}

// inDoubtFloor is the least in-doubt window of the VasaProvider's groups, whatever tasks a process has
// seen: its spec.inDoubtWindow, never less than LeastInDoubtWindow. A call is sent and answered within
// as long from its claim, less ClaimClockSkew (sendDeadlines), so a process that stood still after its
// claim (a VM stunned, a node swapping) while another took its Lease and issued the groups again never
// sends it after: another process waits at least as long, on a clock ahead by up to ClaimClockSkew.
func inDoubtFloor(vp *replicationv1alpha1.VasaProvider) time.Duration {
	floor := DefaultInDoubtWindow
	if w := vp.Spec.InDoubtWindow; w != nil {
		floor = w.Duration
	}
	return max(floor, LeastInDoubtWindow)
}

// minPollGap is the least time between two queries of one task.
const minPollGap = 50 * time.Millisecond

// nextPoll is when to first query a task issued at since. A task seen running is queried again at the
// end its progress predicts (repoll); one that ended before its first query is noticed late, by up to the
// time between the two. So the first query comes when few of the provider's recent tasks had ended: the
// tenth of them when a percent of progress takes at most maxRoundingLate, since the prediction then
// needs no third query and a task costs two; a quarter of them otherwise, where a coarse percent costs
// some tasks a third query already, so that polls stay about two per task.
// Without history, soon: a fast provider's first tasks then end within the reconcile that issued them
// (pollSoonEnded) instead of holding their slots until a later one; repoll doubles the age from there.
// Not capped by PollMax (on a provider of long tasks a query before that quartile would be a third per
// task) but by firstPollMax: SMS keeps an ended task only for a while, and a task that ended at once
// and was dropped before its first query would read as gone, its outcome unknown.
func (r *ReplicationSyncReconciler) nextPoll(run *syncRun, since time.Time) time.Time {
	if since.IsZero() {
		since = run.now
	}
	first := r.Capacity.EarlyTaskDuration(run.key)
	if r.Capacity.TypicalTaskDuration(run.key) <= 100*maxRoundingLate {
		first = r.Capacity.ShortTaskDuration(run.key)
	}
	return laterOf(since.Add(min(first, firstPollMax)), run.now.Add(minPollGap))
}

// firstPollMax bounds the wait for a task's first query. How long SMS keeps an ended task is not
// documented; vCenter keeps its own ended tasks about 10 minutes, and this assumes no less than a few
// minutes of SMS. It costs a third query only to tasks that take longer than 8 minutes.
const firstPollMax = 2 * time.Minute

// repoll returns t with the progress (percent) it reported now as a sample, and due when to query it
// again (t's latest sample is the one before): at the end its progress predicts, so a task is queried
// about twice whatever it takes; without progress, when a typical task would have ended, at twice its
// age before any task ended, or at a quarter of its age; while its percent stands, at twice the time it
// has stood. Within [minPollGap, PollMax] from now.
//
// Progress may count from the task's start after a time queued at 0 %. Two samples with progress give
// the pace whatever that time was. From one, the provider's learned queued share q of a task's duration
// d says where it ends (progress p at age a means a = d·(q + p·(1-q))); until one is learned, a second
// sample is taken a quarter of the age later, or at the end q = 0 predicts (the latest) if sooner.
// A task of the first wave (learning) is queried from the window its samples leave (learningWait).
func (r *ReplicationSyncReconciler) repoll(run *syncRun, t taskTiming, progress int32) taskTiming {
	age := run.now.Sub(t.issued)
	seen := t.observed(age, progress)
	wait := max(age/4, r.pollInitial())
	typical := r.Capacity.TypicalTaskDuration(run.key)
	running := progress > 0 && progress < 100
	learnedWait, learnt := seen.learningWait(age)
	switch {
	case age <= 0:
		// Someone else's task, first seen just now: nothing to extrapolate from yet (pollInitial).
	case typical == 0 && progress == 0:
		// No history yet: find the provider's pace in few polls (ages 50 ms, 100 ms, 200 ms...). Doubling,
		// not more: quadrupling first sees a 60-s task queued for 15 s at 51 s, near its end; doubling
		// sees it running at 26 s, early enough for two samples of its pace.
		wait = age
	case progress == 0 && age < typical:
		wait = typical - age // queued: a typical task is done by then
	case learnt:
		wait = learnedWait
	case running && t.last().Percent > 0 && progress > t.last().Percent && age > t.last().Age:
		// Progress is whole percents, rounded down: the pace errs by up to a percent over the interval.
		// Aimed at the percent's bottom: a second sample usually follows a poll that came early, which
		// must not come early again.
		perPercent := float64(age-t.last().Age) / float64(progress-t.last().Percent)
		wait = time.Duration(perPercent * float64(100-progress))
	case running:
		q, known := r.Capacity.QueuedShare(run.key)
		p := float64(progress) / 100
		d := float64(age) / (q + p*(1-q))
		p += roundingShift(d*d*(1-q)/(100*float64(age))) / 100 // how much a percent moves the end: -∂d/∂p
		wait = time.Duration(float64(age)/(q+p*(1-q))) - age
		if !known {
			wait = min(wait, age/4) // taken as 0, the share predicts the latest end
		}
		if at, ok := t.reachedAt(progress); ok {
			// The percent stood since the last query (arrays hold 99 % for minutes while they make the PiT),
			// so it predicts the end a fraction of a percent away every time: wait as long as it has stood.
			wait = max(wait, age-at)
		}
	}
	seen.due = run.now.Add(min(max(wait, minPollGap), r.pollMax()))
	return seen
}

// learningWait is when to query again a task issued before any of the provider's tasks had ended, from
// its samples of progress, the latest taken now (at age): at the latest end they allow once
// that is within maxRoundingLate of the earliest, else at a probe that narrows the window. These tasks
// are the run's first wave, outside the poll budget of two: the queries they take here find the end
// within maxRoundingLate, not within the percent progress is rounded to (0.45-0.75 s for a 60-s task).
// ok is false when the task is not learning or its samples leave no window.
func (t taskTiming) learningWait(age time.Duration) (time.Duration, bool) {
	if !t.learning {
		return 0, false
	}
	samples := t.samples
	earliest, latest, pace, ok := capacity.EndWindow(samples)
	if !ok || latest <= age {
		return 0, false
	}
	if latest-earliest <= maxRoundingLate || len(samples) == maxSamples || pace <= 0 {
		return latest - age, true
	}
	// A probe halfway to the earliest end, at a moment the window predicts a percent's change: its
	// percent says on which side of the window's middle the end lies, and it lengthens the baseline of
	// the pace. It never finds the task ended, so it is never late.
	middle := (earliest + latest) / 2
	target := age + (earliest-age)/2
	probe := middle - pace*((middle-target+pace-1)/pace)
	if probe-age < minPollGap {
		return latest - age, true
	}
	return probe - age, true
}

// maxRoundingLate is how late a predicted poll may come because progress is rounded down to a whole
// percent, where the poll budget allows.
const maxRoundingLate = 150 * time.Millisecond

// maxEarlyShare bounds the share of predicted polls that may come early. An early poll costs a third
// (aimed from the pace of two samples). With the first poll at the first quartile, a quarter of the tasks
// end before it and cost one poll; so the rest may cost 2 + 1/3 and a task still costs two on average.
const maxEarlyShare = 1.0 / 3

// roundingShift is how far into its reported percent a prediction aims, given how long one percent
// takes (ns). Aimed at the percent's bottom, a poll is never early but late by up to one percent: for a
// 2-s task 15 ms, for a 60-s task 0.45-0.75 s. Aiming higher keeps it within maxRoundingLate, but comes
// early (one more poll) whenever the task was slower than that: aimed at most a third in, so that polls
// stay two per task, a 60-s task is late by at most two thirds of a percent, and by a third at the median.
func roundingShift(perPercent float64) float64 {
	return min(max(0, 1-float64(maxRoundingLate)/perPercent), maxEarlyShare)
}

func (r *ReplicationSyncReconciler) pollInitial() time.Duration {
	if r.PollInitial > 0 {
		return r.PollInitial
	}
	return DefaultPollInitial
}

func (r *ReplicationSyncReconciler) pollMax() time.Duration {
	if r.PollMax > 0 {
		return r.PollMax
	}
	return DefaultPollMax
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxConcurrentTasks(vp *replicationv1alpha1.VasaProvider) int32 {
	if vp.Spec.MaxConcurrentTasks <= 0 {
		return 4
	}
	return vp.Spec.MaxConcurrentTasks
}

// groupProvider is the SMS provider a group is issued to: its re-routed provider or the default.
func groupProvider(g replicationv1alpha1.GroupStatus, defaultProvider string) string {
	if g.Provider != "" {
		return g.Provider
	}
	return defaultProvider
}
