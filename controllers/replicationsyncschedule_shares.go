package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/runsplit"
)

// A template selector may match more groups than one run holds (every group of a 5,000-group array). The
// run of such a tick is then a set of ReplicationSyncs, one per share of the groups, all of the same PiT
// name (runsplit). The set counts as one run: it succeeded when every share did, the history limits keep
// whole sets, and a set whose creation was cut short (a crash, a refused create) is completed, not
// counted as started. A selector that one run can hold still makes one run that resolves it when it
// starts, as before.

// tickShares resolves the template's selector for the run that is due: nil when one run holds what it
// matches, when there is no selector, or when the selector does not parse (the run reports that).
func (r *ReplicationSyncScheduleReconciler) tickShares(ctx context.Context, sched *replicationv1alpha1.ReplicationSyncSchedule) ([][]replicationv1alpha1.ReplicationGroupID, error) {
	t := sched.Spec.Template.Spec
	if t.GroupSelector == nil {
		return nil, nil
	}
	ids, err := matchGroups(ctx, r.Client, sched.Namespace, t.ProviderRef.Name, t.GroupSelector)
	switch {
	case errors.Is(err, errInvalidGroupSelector):
		return nil, nil
	case err != nil:
		return nil, err
	case runsplit.Fits(ids):
		return nil, nil
	}
	return runsplit.Split(ids), nil
}

// startShares creates the shares of the run at due that do not exist yet, named <name>-<n>.
func (r *ReplicationSyncScheduleReconciler) startShares(ctx context.Context, s *scheduleScope, name, pit string, due time.Time, shares [][]replicationv1alpha1.ReplicationGroupID) error {
	sched, st := s.sched, &s.sched.Status
	created, groups := 0, 0
	for i, ids := range shares {
		groups += len(ids)
		run, err := r.newRun(sched, shareRunName(sched.Name, due, i+1), pit, due)
		if err != nil {
			return err
		}
		if s.names[run.Name] {
			continue // created before a crash or a refused create
		}
		run.Labels[replicationv1alpha1.SyncSetLabel] = replicationv1alpha1.LabelValue(name)
		run.Annotations[replicationv1alpha1.ShareAnnotation] = runsplit.Share{N: i + 1, Of: len(shares)}.String()
		run.Spec.GroupSelector = nil
		run.Spec.GroupIDs = ids
		if err := r.Create(ctx, run); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return classifyCreateError(fmt.Errorf("creating ReplicationSync %s (share %d of %d): %w", klog.KObj(run), i+1, len(shares), err))
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
		"shares", len(shares), "created", created, "groups", groups)
	r.Recorder.Eventf(sched, nil, corev1.EventTypeNormal, EventRunCreated, "Create",
		"Created %d of the %d ReplicationSyncs %s to %s for the run scheduled for %s (PiT %s): its selector matched %d groups, more than one ReplicationSync holds",
		created, len(shares), shareRunName(sched.Name, due, 1), shareRunName(sched.Name, due, len(shares)), due.Format(time.RFC3339), pit, groups)
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
	of, present, succeeded int
	finished               time.Time
}

func (t runSets) add(run *replicationv1alpha1.ReplicationSync) {
	key, share := runSet(run)
	tally := t[key]
	if tally == nil {
		tally = &setTally{}
		t[key] = tally
	}
	// Shares created by two attempts that resolved the selector differently name different totals; the
	// set needs the larger. Their groups overlap rather than go missing, and a group synced twice under one
	// PiT name is found Synced by the second run without a call.
	tally.of = max(tally.of, share.Of)
	tally.present++
	if run.Status.Phase == replicationv1alpha1.SyncSucceeded {
		tally.succeeded++
		if f := finishTime(run); f.After(tally.finished) {
			tally.finished = f
		}
	}
}

// complete reports whether every share of run's set exists.
func (t runSets) complete(run *replicationv1alpha1.ReplicationSync) bool {
	key, _ := runSet(run)
	tally := t[key]
	return tally != nil && tally.present >= tally.of
}

// successes returns when each set whose shares all succeeded finished.
func (t runSets) successes() []time.Time {
	var out []time.Time
	for _, tally := range t {
		if tally.succeeded >= tally.of {
			out = append(out, tally.finished)
		}
	}
	return out
}
