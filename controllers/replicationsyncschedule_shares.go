package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/runsplit"
)

// A template selector may match more groups than one run holds (every group of a 5,000-group array). The
// run of such a tick is then a set of ReplicationSyncs, one per share of the groups, all of the same PiT
// name (runsplit). The set counts as one run: it succeeded when every share did, the history limits keep
// or delete whole finished sets, and shares carry no TTL of their own. A set whose creation was cut short
// (a crash, a refused create) does not count as started: while its time is still due, the next reconcile
// creates the missing shares from the groups no existing share holds, never splitting afresh. If the
// next run falls due first, the cut-short one counts as missed, as a run that did not start would. A
// selector that one run can hold still makes one run that resolves it when it starts.

// discoveryWaitRecheck is how often a run due while its provider's first discovery has not ended looks
// again.
const discoveryWaitRecheck = 10 * time.Second

// awaitFirstDiscovery reports whether the run due, whose template selects its groups, must wait for the
// first discovery of its VasaProvider to end, and why: a schedule created with its VasaProvider (a GitOps
// bootstrap) would otherwise decide one run or shares, and split them, from the groups written so far.
// A missing VasaProvider is for the run to report.
func (r *ReplicationSyncScheduleReconciler) awaitFirstDiscovery(ctx context.Context, sched *replicationv1alpha1.ReplicationSyncSchedule, due time.Time) (string, bool) {
	t := sched.Spec.Template.Spec
	vp := &replicationv1alpha1.VasaProvider{}
	if t.GroupSelector == nil || r.Get(ctx, client.ObjectKey{Namespace: sched.Namespace, Name: t.ProviderRef.Name}, vp) != nil ||
		!firstDiscoveryPending(vp) {
		return "", false
	}
	return fmt.Sprintf("The run scheduled for %s waits for the first discovery of VasaProvider %s to write its ReplicationGroups before selecting its groups",
		due.Format(time.RFC3339), vp.Name), true
}

// templateGroups resolves the template's selector for the run that is due: nil when there is none, or
// when it does not parse (the run reports that).
func (r *ReplicationSyncScheduleReconciler) templateGroups(ctx context.Context, sched *replicationv1alpha1.ReplicationSyncSchedule) ([]replicationv1alpha1.ReplicationGroupID, error) {
	t := sched.Spec.Template.Spec
	if t.GroupSelector == nil {
		return nil, nil
	}
	ids, err := matchGroups(ctx, r.Client, sched.Namespace, t.ProviderRef.Name, t.GroupSelector.LabelSelector())
	if errors.Is(err, errInvalidGroupSelector) {
		return nil, nil
	}
	return ids, err
}

// nameable returns the groups of matched a share can name in groupIds, and says which it leaves out
// (runsplit.Nameable): a share naming one would be refused, and with it every other group it holds.
func (r *ReplicationSyncScheduleReconciler) nameable(s *scheduleScope, matched []replicationv1alpha1.ReplicationGroupID) []replicationv1alpha1.ReplicationGroupID {
	named, left := runsplit.Nameable(matched)
	if len(left) > 0 {
		names := make([]string, len(left))
		for i, id := range left {
			names[i] = fmt.Sprintf("%q", groupName(id))
		}
		msg := fmt.Sprintf("%d of the %d groups the selector matches have ids with white space around them or control characters, which a ReplicationSync's groupIds cannot name: the run's shares leave them out (a selector matching at most %d groups syncs them in one run): %s",
			len(left), len(matched), replicationv1alpha1.MaxGroupsPerRun, firstOf(names, 5))
		s.afterPatch = append(s.afterPatch, func() {
			r.Recorder.Eventf(s.sched, nil, corev1.EventTypeWarning, EventGroupsLeftOut, "Create", "%s", msg)
		})
	}
	return named
}

// startShares creates the shares of the run at due, named <name>-<n>.
func (r *ReplicationSyncScheduleReconciler) startShares(ctx context.Context, s *scheduleScope, name, pit string, due time.Time, shares [][]replicationv1alpha1.ReplicationGroupID) error {
	numbered := make(map[int][]replicationv1alpha1.ReplicationGroupID, len(shares))
	for i, ids := range shares {
		numbered[i+1] = ids
	}
	return r.createShares(ctx, s, name, pit, due, numbered, len(shares))
}

// sharesOf reads, past the cache, the shares the schedule created for the run named name; nil if none.
func (r *ReplicationSyncScheduleReconciler) sharesOf(ctx context.Context, sched *replicationv1alpha1.ReplicationSyncSchedule, name string) (*setTally, error) {
	list := &replicationv1alpha1.ReplicationSyncList{}
	if err := r.reader().List(ctx, list, client.InNamespace(sched.Namespace),
		client.MatchingLabels{replicationv1alpha1.SyncSetLabel: replicationv1alpha1.LabelValue(name)}); err != nil {
		return nil, fmt.Errorf("listing the ReplicationSyncs of run %s: %w", name, err)
	}
	sets := runSets{}
	for i := range list.Items {
		if run := &list.Items[i]; metav1.IsControlledBy(run, sched) {
			sets.add(run)
		}
	}
	return sets[setKey(name)], nil
}

// completeShares creates the shares missing from set, the run at due whose creation was cut short. It
// does not split the selection afresh, which could leave a group out or put it in two shares: the
// missing shares get the groups of matched (what the selector matches now) that no existing share holds,
// evenly, and the PiT name of those that exist (the template may have been edited since, or the name
// rendered then may be free now). Should those not fill every missing share, or not fit them, the run
// stays as it is (never counted a success) and a warning says so; the next run syncs the groups.
func (r *ReplicationSyncScheduleReconciler) completeShares(ctx context.Context, s *scheduleScope, name string, due time.Time, set *setTally, matched []replicationv1alpha1.ReplicationGroupID) error {
	sched, st := s.sched, &s.sched.Status
	pit := set.runs[0].Spec.PitName
	have, taken := map[int]bool{}, map[replicationv1alpha1.ReplicationGroupID]bool{}
	for _, run := range set.runs {
		_, share := runSet(run)
		have[share.N] = true
		s.names[run.Name] = true
		if !isFinished(run) && run.DeletionTimestamp.IsZero() && !slices.ContainsFunc(st.Active, func(ref corev1.ObjectReference) bool { return ref.UID == run.UID }) {
			st.Active = append(st.Active, runReference(run)) // the cache may not show it yet
		}
		for _, id := range run.Spec.GroupIDs {
			taken[id] = true
		}
	}
	var missing []int
	for n := 1; n <= set.of; n++ {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 { // all created; their start was not recorded
		st.LastScheduleTime = &metav1.Time{Time: due}
		return nil
	}
	var rest []replicationv1alpha1.ReplicationGroupID
	for _, id := range matched {
		if !taken[id] {
			rest = append(rest, id)
		}
	}
	pieces, ok := runsplit.Into(rest, len(missing))
	if !ok {
		st.LastScheduleTime = &metav1.Time{Time: due}
		msg := fmt.Sprintf("The run scheduled for %s was cut short after %d of its %d ReplicationSyncs, and the %d groups its selector matches now besides theirs do not fill the other %d: "+
			"they are not synced in this run, which will not count as a success; the next run syncs them", due.Format(time.RFC3339), len(set.runs), set.of, len(rest), len(missing))
		ctrl.LoggerFrom(ctx).Info(msg, "schedule", klog.KObj(sched))
		s.afterPatch = append(s.afterPatch, func() {
			r.Recorder.Eventf(sched, nil, corev1.EventTypeWarning, EventRunCutShort, "Create", "%s", msg)
		})
		return nil
	}
	numbered := make(map[int][]replicationv1alpha1.ReplicationGroupID, len(missing))
	for i, n := range missing {
		numbered[n] = pieces[i]
	}
	return r.createShares(ctx, s, name, pit, due, numbered, set.of)
}

// createShares creates share n of of for each n in shares, with its ids.
func (r *ReplicationSyncScheduleReconciler) createShares(ctx context.Context, s *scheduleScope, name, pit string, due time.Time, shares map[int][]replicationv1alpha1.ReplicationGroupID, of int) error {
	sched, st := s.sched, &s.sched.Status
	numbers := slices.Sorted(maps.Keys(shares))
	created, groups := 0, 0
	for _, n := range numbers {
		ids := shares[n]
		groups += len(ids)
		run, err := r.newRun(sched, shareRunName(sched.Name, due, n), pit, due)
		if err != nil {
			return err
		}
		runsplit.MakeShare(run, name, runsplit.Share{N: n, Of: of}, ids)
		if err := r.Create(ctx, run); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return classifyCreateError(fmt.Errorf("creating ReplicationSync %s (share %d of %d): %w", klog.KObj(run), n, of, err))
			}
			if err := r.checkOwnRun(ctx, sched, run); err != nil {
				return err
			}
		} else {
			created++
		}
		s.names[run.Name] = true
		st.Active = append(st.Active, runReference(run))
	}
	ctrl.LoggerFrom(ctx).Info("Created ReplicationSyncs for one run", "schedule", klog.KObj(sched), "scheduledTime", due, "pitName", pit,
		"shares", of, "created", created, "groups", groups)
	if created > 0 {
		r.Recorder.Eventf(sched, nil, corev1.EventTypeNormal, EventRunCreated, "Create",
			"Created %d of the %d ReplicationSyncs %s to %s for the run scheduled for %s (PiT %s): its selector matched more groups than one ReplicationSync holds",
			created, of, shareRunName(sched.Name, due, 1), shareRunName(sched.Name, due, of), due.Format(time.RFC3339), pit)
	}
	st.LastScheduleTime = &metav1.Time{Time: due}
	return nil
}

// shareRunName names share n of the run of a schedule at a scheduled time.
func shareRunName(scheduleName string, scheduledTime time.Time, n int) string {
	return runNameWith(scheduleName, strconv.FormatInt(scheduledTime.Unix()/60, 10)+"-"+strconv.Itoa(n))
}

// runSet names the set a run belongs to and its share in it: the shares of one run share SyncSetLabel;
// any other run is a set of its own.
func runSet(run *replicationv1alpha1.ReplicationSync) (string, runsplit.Share) {
	if v, ok := run.Labels[replicationv1alpha1.SyncSetLabel]; ok {
		if share, err := runsplit.ParseShare(run.Annotations[replicationv1alpha1.ShareAnnotation]); err == nil {
			return "set/" + v, share
		}
	}
	return "run/" + run.Name, runsplit.Share{N: 1, Of: 1}
}

// runSets tallies runs by set.
type runSets map[string]*setTally

// setTally is what is known of one set: how many shares it has, how many exist and succeeded, and when
// the last of those finished.
type setTally struct {
	of, succeeded, failed int
	finished              time.Time
	// recoveryPoint is the oldest recovery point of the shares that succeeded (recoveryPointOf).
	recoveryPoint time.Time
	// runs are the shares that exist, those being deleted included.
	runs []*replicationv1alpha1.ReplicationSync
}

func (t runSets) add(run *replicationv1alpha1.ReplicationSync) {
	key, share := runSet(run)
	tally := t[key]
	if tally == nil {
		tally = &setTally{}
		t[key] = tally
	}
	tally.of = max(tally.of, share.Of)
	tally.runs = append(tally.runs, run)
	if run.Status.Phase == replicationv1alpha1.SyncFailed {
		tally.failed++
	}
	if run.Status.Phase == replicationv1alpha1.SyncSucceeded {
		tally.succeeded++
		if f := finishTime(run); f.After(tally.finished) {
			tally.finished = f
		}
		if p := recoveryPointOf(run); tally.recoveryPoint.IsZero() || p.Before(tally.recoveryPoint) {
			tally.recoveryPoint = p
		}
	}
}

// newestOf returns the newest of stored and times, stored itself when none is newer.
func newestOf(stored *metav1.Time, times []time.Time) *metav1.Time {
	for _, t := range times {
		if stored == nil || t.After(stored.Time) {
			stored = &metav1.Time{Time: t}
		}
	}
	return stored
}

// recoveryPointOf is the point in time a succeeded run recovers to: its oldest group's PiT, at most its
// completion (an array's clock may be ahead), or its start when the provider reported no times. A PiT
// stamped up to pitClockSkew before the run started counts as made at its start: the array's clock may
// be behind.
func recoveryPointOf(run *replicationv1alpha1.ReplicationSync) time.Time {
	done := finishTime(run)
	var started time.Time
	if run.Status.StartTime != nil {
		started = run.Status.StartTime.Time
	}
	oldest := oldestPiTTime(run)
	if oldest.Before(started) && !oldest.Before(started.Add(-pitClockSkew)) {
		oldest = started
	}
	switch {
	case !oldest.IsZero():
		return earlierOf(oldest, done)
	case !started.IsZero():
		return earlierOf(started, done)
	}
	return done
}

// complete reports whether every share of run's set exists.
func (t runSets) complete(run *replicationv1alpha1.ReplicationSync) bool {
	key, _ := runSet(run)
	tally := t[key]
	return tally != nil && tally.complete()
}

// complete reports whether every share of the set exists.
func (t *setTally) complete() bool { return len(t.runs) >= t.of }

// setKey is the key of the set of shares a schedule creates for the run named name.
func setKey(name string) string { return "set/" + replicationv1alpha1.LabelValue(name) }

// successes returns when each set whose shares all succeeded finished, and the recovery points of those
// that finished at since or later.
func (t runSets) successes(since time.Time) (finished, recoveryPoints []time.Time) {
	for _, tally := range t {
		if tally.succeeded >= tally.of {
			finished = append(finished, tally.finished)
			if !tally.finished.Before(since) {
				recoveryPoints = append(recoveryPoints, tally.recoveryPoint)
			}
		}
	}
	return finished, recoveryPoints
}
