package controllers

import (
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// setScheduleCondition sets one condition of a schedule, stamped with its generation; the transition
// time comes from the reconciler's clock and only moves when the status flips.
func setScheduleCondition(s *replicationv1alpha1.ReplicationSyncSchedule, condType string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            boundMessage(message),
		ObservedGeneration: s.Generation,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	})
}

// setScheduleReadyCondition: True while the schedule is valid (running or suspended), False with the
// reason when it cannot run.
func setScheduleReadyCondition(s *replicationv1alpha1.ReplicationSyncSchedule, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setScheduleCondition(s, replicationv1alpha1.ReadyCondition, status, reason, message, now)
}

// setScheduleReconcilingCondition: a schedule has no long-running work of its own (its runs report
// their progress themselves), so it is False with the Ready reason.
func setScheduleReconcilingCondition(s *replicationv1alpha1.ReplicationSyncSchedule, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setScheduleCondition(s, replicationv1alpha1.ReconcilingCondition, status, reason, message, now)
}

// setScheduleStalledCondition: True when the spec is invalid and nothing happens until a human fixes it.
func setScheduleStalledCondition(s *replicationv1alpha1.ReplicationSyncSchedule, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setScheduleCondition(s, replicationv1alpha1.StalledCondition, status, reason, message, now)
}

// markScheduleReady records a valid schedule (reason Scheduled or Suspended): kstatus Current.
func markScheduleReady(s *replicationv1alpha1.ReplicationSyncSchedule, reason, message string, now time.Time) {
	setScheduleReadyCondition(s, metav1.ConditionTrue, reason, message, now)
	setScheduleReconcilingCondition(s, metav1.ConditionFalse, reason, "", now)
	setScheduleStalledCondition(s, metav1.ConditionFalse, reason, "", now)
}

// markScheduleStalled records a schedule that cannot run (reason InvalidSchedule or InvalidTemplate):
// kstatus Failed. The message says what to fix.
func markScheduleStalled(s *replicationv1alpha1.ReplicationSyncSchedule, reason, message string, now time.Time) {
	setScheduleReadyCondition(s, metav1.ConditionFalse, reason, message, now)
	setScheduleReconcilingCondition(s, metav1.ConditionFalse, reason, "", now)
	setScheduleStalledCondition(s, metav1.ConditionTrue, reason, message, now)
	s.Status.NextScheduleTime = nil
}

// scheduleReadyReason is the reason of the schedule's Ready condition, "" without one.
func scheduleReadyReason(s *replicationv1alpha1.ReplicationSyncSchedule) string {
	if c := meta.FindStatusCondition(s.Status.Conditions, replicationv1alpha1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// markScheduleRunRejected records a valid schedule whose run the API server refused to create: Ready=False
// (GitOps tools show it Degraded) and Reconciling=True (it retries, so kstatus says InProgress, not Failed).
func markScheduleRunRejected(s *replicationv1alpha1.ReplicationSyncSchedule, message string, now time.Time) {
	reason := replicationv1alpha1.RunRejectedReason
	setScheduleReadyCondition(s, metav1.ConditionFalse, reason, message, now)
	setScheduleReconcilingCondition(s, metav1.ConditionTrue, reason, "Retrying", now)
	setScheduleStalledCondition(s, metav1.ConditionFalse, reason, "", now)
}

// markScheduleRunNotReplaced records a schedule whose earlier run Replace could not delete: Ready=False
// (the NotReady alert fires if it lasts) and Reconciling=True (it retries).
func markScheduleRunNotReplaced(s *replicationv1alpha1.ReplicationSyncSchedule, message string, now time.Time) {
	setScheduleReadyCondition(s, metav1.ConditionFalse, replicationv1alpha1.RunNotReplacedReason, message, now)
	setScheduleReconcilingCondition(s, metav1.ConditionTrue, replicationv1alpha1.RunNotReplacedReason, "Retrying", now)
	setScheduleStalledCondition(s, metav1.ConditionFalse, replicationv1alpha1.RunNotReplacedReason, "", now)
}

// runRejectedError is a run the API server did not create. rejected: it refused the object for a reason
// retrying alone does not fix (Invalid, Forbidden, BadRequest: template labels, a ResourceQuota, an
// admission policy or webhook; or the run's name is another object's). Otherwise the create failed (an
// admission webhook down, throttling, a timeout, an unavailable server): it is retried sooner. notSent:
// the create was not sent, as a read it needs failed or the name is taken.
type runRejectedError struct {
	err      error
	rejected bool
	notSent  bool
}

func (e *runRejectedError) Error() string { return e.err.Error() }
func (e *runRejectedError) Unwrap() error { return e.err }

// retryIn is how soon the create is tried again.
func (e *runRejectedError) retryIn() time.Duration { return retryIn(e.rejected) }

// classifyCreateError wraps a Create error (other than AlreadyExists) in runRejectedError. Every such
// error is handled on the schedule's own clock and reported in its conditions: returned to the
// controller, it would be retried on a backoff that reaches 16 minutes, past the run's starting deadline
// and the next scheduled time, with Ready still True.
func classifyCreateError(err error) error {
	return &runRejectedError{err: err, rejected: refused(err)}
}

// runNotCreated wraps an error that kept a run from being created before its create was sent (a read of
// its groups or shares, a run of the same name found), so it is reported and retried like a failed create.
func runNotCreated(err error) *runRejectedError {
	if rejected, ok := asRunRejected(err); ok {
		return rejected
	}
	return &runRejectedError{err: err, rejected: refused(err), notSent: true}
}

// refused reports whether the API server refused a request for a reason retrying alone does not fix.
func refused(err error) bool {
	var status apierrors.APIStatus
	failed := !errors.As(err, &status) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsUnexpectedServerError(err) || apierrors.IsConflict(err)
	// Any other answer refuses the request: Invalid, Forbidden (a quota, a policy, RBAC), and the BadRequest
	// an admission webhook's denial without a code of its own becomes.
	return !failed
}

// retryIn is how soon a request the API server refused (refused) or failed is tried again.
func retryIn(refused bool) time.Duration {
	if refused {
		return runRejectedRetry
	}
	return runCreateRetry
}

// asRunRejected reports whether err is a rejected run.
func asRunRejected(err error) (*runRejectedError, bool) {
	var rejected *runRejectedError
	return rejected, errors.As(err, &rejected)
}

// markScheduleRejectedRunMissed records a rejected run that passed its startingDeadlineSeconds with no run
// created since: Ready stays False RunRejected with the API server's message, and, since nothing retries
// before the next scheduled time, Stalled=True (kstatus Failed) instead of Reconciling.
func markScheduleRejectedRunMissed(s *replicationv1alpha1.ReplicationSyncSchedule, next string, now time.Time) {
	reason := replicationv1alpha1.RunRejectedReason
	setScheduleReconcilingCondition(s, metav1.ConditionFalse, reason, "", now)
	setScheduleStalledCondition(s, metav1.ConditionTrue, reason,
		"The rejected run passed its startingDeadlineSeconds and was missed; "+next+": fix what the Ready condition says before then", now)
}
