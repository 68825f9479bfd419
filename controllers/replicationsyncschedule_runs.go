package controllers

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/runsplit"
)

// recordRunRejected turns the schedule Ready=False with the API server's message (or what kept the create
// from being sent) and warns once the status is stored; the next run created turns it Ready again.
func (r *ReplicationSyncScheduleReconciler) recordRunRejected(s *scheduleScope, due time.Time, rejected *runRejectedError) {
	sched := s.sched
	var msg string
	switch {
	case rejected.notSent:
		msg = fmt.Sprintf("The ReplicationSync for the run scheduled for %s was not created: %s; trying again", due.Format(time.RFC3339), rejected.err.Error())
	case rejected.rejected:
		msg = fmt.Sprintf("The API server rejected the ReplicationSync for the run scheduled for %s: %s", due.Format(time.RFC3339), rejected.err.Error())
	default:
		msg = fmt.Sprintf("The API server failed to create the ReplicationSync for the run scheduled for %s: %s", due.Format(time.RFC3339), rejected.err.Error())
	}
	markScheduleRunRejected(sched, msg, s.now)
	s.afterPatch = append(s.afterPatch, func() {
		r.Recorder.Eventf(sched, nil, corev1.EventTypeWarning, replicationv1alpha1.RunRejectedReason, "Create", "%s", msg)
	})
}

// pitNameError is a pitNameTemplate that fails for one particular run.
type pitNameError struct{ err error }

func (e *pitNameError) Error() string { return e.err.Error() }

// unusedPitName returns pit, or pit with the zone of due appended when another run of the schedule
// (one scheduled at another time, or made by hand) has that PiT name: its PiT would make this run
// succeed without a new one. Names repeat this way after an edit of schedule or timeZone (02:00 in
// Berlin, then 02:00 UTC the same night) or a run made by hand in the same minute; the template's own
// repeats stall the schedule before (validTemplate).
func (s *scheduleScope) unusedPitName(pit string, due time.Time) (string, error) {
	holder := s.runWithPit(pit, due)
	if holder == "" {
		return pit, nil
	}
	zoned, err := pitname.WithZone(pit, due)
	if err != nil {
		return "", err
	}
	if other := s.runWithPit(zoned, due); other != "" {
		return "", fmt.Errorf("the run scheduled for %s would have PiT name %q, as ReplicationSync %s has, or %q, as ReplicationSync %s has: a run whose PiT name exists creates no new PiT, so this run is skipped",
			due.Format(time.RFC3339), pit, holder, zoned, other)
	}
	return zoned, nil
}

// runWithPit returns the name of a run of the schedule, not scheduled for due, whose PiT name is pit.
func (s *scheduleScope) runWithPit(pit string, due time.Time) string {
	for _, run := range s.owned {
		if t, ok := scheduledTimeOf(run); run.Spec.PitName == pit && (!ok || !t.Equal(due)) {
			return run.Name
		}
	}
	return ""
}

// startRun starts the run scheduled at due unless concurrencyPolicy Forbid holds it back; then it
// returns started=false and a message saying what it waits for.
func (r *ReplicationSyncScheduleReconciler) startRun(ctx context.Context, s *scheduleScope, schedule *cronschedule.Schedule, tmpl *pitname.Template, due time.Time) (started bool, waiting string, err error) {
	sched, st := s.sched, &s.sched.Status
	name := runName(sched.Name, due)
	if s.names[name] {
		// Created earlier; its status was not stored (a crash or a conflict).
		st.LastScheduleTime = &metav1.Time{Time: due}
		return true, "", nil
	}
	pit, err := tmpl.RenderRun(s.pitData(due), schedule.Previous(due))
	if err == nil {
		pit, err = s.unusedPitName(pit, due)
	}
	if err != nil {
		return false, "", &pitNameError{err: err}
	}

	// Shares of this very run, left by a creation cut short, are not another run to wait for.
	others := slices.DeleteFunc(slices.Clone(s.active), func(run *replicationv1alpha1.ReplicationSync) bool {
		t, ok := scheduledTimeOf(run)
		return ok && t.Equal(due)
	})
	// Replace deletes the others only once this run is created (replaceEarlierRuns): a create that fails
	// or waits must not leave the schedule with no run at all.
	if len(others) > 0 && sched.Spec.ConcurrencyPolicy != replicationv1alpha1.AllowConcurrent &&
		sched.Spec.ConcurrencyPolicy != replicationv1alpha1.ReplaceConcurrent { // Forbid
		ctrl.LoggerFrom(ctx).V(1).Info("Run waits for the active one (concurrencyPolicy Forbid)",
			"schedule", klog.KObj(sched), "scheduledTime", due, "active", others[0].Name)
		return false, fmt.Sprintf("The run scheduled for %s waits: ReplicationSync %s is still active and concurrencyPolicy is Forbid",
			due.Format(time.RFC3339), others[0].Name), nil
	}

	if msg, wait := r.awaitFirstDiscovery(ctx, sched, due); wait {
		s.awaitingDiscovery = true
		return false, msg, nil
	}
	matched, err := r.templateGroups(ctx, sched)
	if err != nil {
		return false, "", err
	}
	if shared := matched != nil && !runsplit.Fits(matched); shared || s.sets[setKey(name)] != nil {
		// Whether some shares exist already is read past the cache: a share the cache has not seen yet
		// would otherwise be taken for a fresh start and its groups given to another share as well.
		set, err := r.sharesOf(ctx, sched, name)
		if err != nil {
			return false, "", err
		}
		if set != nil {
			return true, "", r.completeShares(ctx, s, name, due, set, r.nameable(s, matched))
		}
		if shared {
			return true, "", r.startShares(ctx, s, name, pit, due, runsplit.Split(r.nameable(s, matched)))
		}
	}

	run, err := r.newRun(sched, name, pit, due)
	if err != nil {
		return false, "", err
	}
	if err := r.Create(ctx, run); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return false, "", classifyCreateError(fmt.Errorf("creating ReplicationSync %s: %w", klog.KObj(run), err))
		}
		if err := r.checkOwnRun(ctx, sched, run); err != nil {
			return false, "", err
		}
		ctrl.LoggerFrom(ctx).V(1).Info("ReplicationSync for this run exists already", "replicationSync", klog.KObj(run))
	} else {
		ctrl.LoggerFrom(ctx).Info("Created ReplicationSync", "replicationSync", klog.KObj(run), "scheduledTime", due, "pitName", pit)
		r.Recorder.Eventf(sched, run, corev1.EventTypeNormal, EventRunCreated, "Create",
			"Created ReplicationSync %s for the run scheduled for %s (PiT %s)", run.Name, due.Format(time.RFC3339), pit)
	}
	st.LastScheduleTime = &metav1.Time{Time: due}
	st.Active = append(st.Active, runReference(run))
	return true, "", nil
}

// recordRunNotReplaced turns the schedule Ready=False with the error of the delete Replace could not make,
// and warns once the status is stored; the next reconcile tries again.
func (r *ReplicationSyncScheduleReconciler) recordRunNotReplaced(s *scheduleScope, err error) {
	sched := s.sched
	msg := fmt.Sprintf("concurrencyPolicy is Replace, but an earlier run could not be deleted and runs beside the new one: %s; "+
		"the delete is tried again: let it through (an admission policy or webhook, RBAC) or delete the run", err.Error())
	markScheduleRunNotReplaced(sched, msg, s.now)
	s.afterPatch = append(s.afterPatch, func() {
		r.Recorder.Eventf(sched, nil, corev1.EventTypeWarning, replicationv1alpha1.RunNotReplacedReason, "Delete", "%s", msg)
	})
}

// replaceEarlierRuns deletes, for concurrencyPolicy Replace, the active runs scheduled before the latest
// run started. It comes after that run's create, so a create that fails or waits leaves the earlier run
// going, and on every reconcile, so a delete that failed, or a restart between the create and the delete,
// is made up for.
func (r *ReplicationSyncScheduleReconciler) replaceEarlierRuns(ctx context.Context, s *scheduleScope) error {
	sched, st := s.sched, &s.sched.Status
	if st.LastScheduleTime == nil {
		return nil
	}
	latest := st.LastScheduleTime.Time
	gone := map[types.UID]bool{}
	defer func() {
		s.active = slices.DeleteFunc(s.active, func(run *replicationv1alpha1.ReplicationSync) bool { return gone[run.UID] })
		st.Active = slices.DeleteFunc(st.Active, func(ref corev1.ObjectReference) bool { return gone[ref.UID] })
	}()
	for _, run := range s.active {
		if t, ok := scheduledTimeOf(run); !ok || !t.Before(latest) {
			continue
		}
		replaced, err := r.replaceRun(ctx, run)
		if err != nil {
			return err
		}
		gone[run.UID] = true // deleted, finished or gone: not active
		if replaced {
			r.Recorder.Eventf(sched, run, corev1.EventTypeNormal, EventRunReplaced, "Delete",
				"Deleted active ReplicationSync %s: the run scheduled for %s replaces it (concurrencyPolicy Replace)", run.Name, latest.Format(time.RFC3339))
		}
	}
	return nil
}

// replaceRun deletes an active run for concurrencyPolicy Replace, unless it finished since the cache saw
// it: read past the cache, and deleted only as read (a precondition on its resourceVersion; read again
// when it changed, as an active run's status often does). A run that succeeded meanwhile is kept, so its
// success reaches lastSuccessfulTime and the lastSync hold; deleting it on the cache's word would lose both.
func (r *ReplicationSyncScheduleReconciler) replaceRun(ctx context.Context, run *replicationv1alpha1.ReplicationSync) (bool, error) {
	replaced := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := &replicationv1alpha1.ReplicationSync{}
		if err := r.reader().Get(ctx, client.ObjectKeyFromObject(run), fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("getting ReplicationSync %s: %w", klog.KObj(run), err)
		}
		if isFinished(fresh) {
			return nil
		}
		err := r.Delete(ctx, fresh, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("deleting ReplicationSync %s: %w", klog.KObj(run), err)
		}
		replaced = true
		return nil
	})
	return replaced, err
}

// reader reads past the cache.
func (r *ReplicationSyncScheduleReconciler) reader() client.Reader {
	return pastTheCache(r.APIReader, r.Client)
}

// checkOwnRun makes sure an existing ReplicationSync with a run's name is this schedule's run
// (AlreadyExists is success only then).
func (r *ReplicationSyncScheduleReconciler) checkOwnRun(ctx context.Context, sched *replicationv1alpha1.ReplicationSyncSchedule, run *replicationv1alpha1.ReplicationSync) error {
	existing := &replicationv1alpha1.ReplicationSync{}
	if err := r.reader().Get(ctx, client.ObjectKeyFromObject(run), existing); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ReplicationSync %s was deleted right after Create found it; retrying", klog.KObj(run))
		}
		return fmt.Errorf("getting ReplicationSync %s: %w", klog.KObj(run), err)
	}
	if !metav1.IsControlledBy(existing, sched) {
		// Persists until someone acts: reported in Ready and retried every minute, not on the backoff.
		return &runRejectedError{err: fmt.Errorf("ReplicationSync %s exists but is not controlled by schedule %s: delete or rename it", klog.KObj(run), sched.Name),
			rejected: true, notSent: true}
	}
	run.UID = existing.UID
	return nil
}

// newRun builds the ReplicationSync of the run at due from the schedule's template.
func (r *ReplicationSyncScheduleReconciler) newRun(sched *replicationv1alpha1.ReplicationSyncSchedule, name, pit string, due time.Time) (*replicationv1alpha1.ReplicationSync, error) {
	tmpl := sched.Spec.Template
	labels := make(map[string]string, len(tmpl.Metadata.Labels)+1)
	for k, v := range tmpl.Metadata.Labels {
		labels[k] = v
	}
	labels[replicationv1alpha1.ScheduleLabel] = replicationv1alpha1.ScheduleLabelValue(sched.Name)
	annotations := make(map[string]string, len(tmpl.Metadata.Annotations)+1)
	for k, v := range tmpl.Metadata.Annotations {
		annotations[k] = v
	}
	annotations[replicationv1alpha1.ScheduledTimeAnnotation] = due.Format(time.RFC3339)

	spec := tmpl.Spec.DeepCopy()
	run := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   sched.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: spec.SyncSpec(pit),
	}
	if err := controllerutil.SetControllerReference(sched, run, r.Scheme); err != nil {
		return nil, fmt.Errorf("setting owner of ReplicationSync %s: %w", name, err)
	}
	return run, nil
}

// runName names the run of a schedule at a scheduled time, like CronJob's "<name>-<unix minutes>",
// so that a retry finds the same name. Names that would exceed 253 characters keep a prefix of
// the schedule name plus a hash of all of it.
func runName(scheduleName string, scheduledTime time.Time) string {
	return runNameWith(scheduleName, strconv.FormatInt(scheduledTime.Unix()/60, 10))
}

// runNameWith is "<scheduleName>-<suffix>", the schedule name shortened with a hash when too long.
func runNameWith(scheduleName, suffix string) string {
	if len(scheduleName)+1+len(suffix) <= maxObjectNameLength {
		return scheduleName + "-" + suffix
	}
	hash := shortHash(scheduleName)
	keep := maxObjectNameLength - len(suffix) - len(hash) - 2
	return strings.TrimRight(scheduleName[:keep], "-.") + "-" + hash + "-" + suffix
}

func shortHash(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// scheduledTimeOf reads a run's ScheduledTimeAnnotation.
func scheduledTimeOf(run *replicationv1alpha1.ReplicationSync) (time.Time, bool) {
	v, ok := run.Annotations[replicationv1alpha1.ScheduledTimeAnnotation]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// compareRuns orders runs oldest first: by scheduled time, then creation, then name.
func compareRuns(a, b *replicationv1alpha1.ReplicationSync) int {
	ta, oka := scheduledTimeOf(a)
	tb, okb := scheduledTimeOf(b)
	if !oka {
		ta = a.CreationTimestamp.Time
	}
	if !okb {
		tb = b.CreationTimestamp.Time
	}
	if c := ta.Compare(tb); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// finishTime is when a finished run completed, or its scheduled time when it does not say.
func finishTime(run *replicationv1alpha1.ReplicationSync) time.Time {
	if run.Status.CompletionTime != nil {
		return run.Status.CompletionTime.Time
	}
	if t, ok := scheduledTimeOf(run); ok {
		return t
	}
	return run.CreationTimestamp.Time
}

func runReference(run *replicationv1alpha1.ReplicationSync) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion: replicationv1alpha1.GroupVersion.String(),
		Kind:       "ReplicationSync",
		Namespace:  run.Namespace,
		Name:       run.Name,
		UID:        run.UID,
	}
}
