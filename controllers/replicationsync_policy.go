package controllers

import (
	"errors"
	"net"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// Every fault of a ReplicationSync run is decided here, without side effects, the way Kubernetes'
// matchPodFailurePolicy decides a pod failure: the fault -> what happens to the groups it concerns.
// The state machine applies the decision (replicationsync_groups.go).

// faultAction is what the run does with the groups a fault concerns.
type faultAction int

const (
	// actionInDoubt: the call got no answer; a task may have started. The groups stay Issuing
	// and wait out the in-doubt window (never re-issued blindly).
	actionInDoubt faultAction = iota
	// actionRetry: the call was not sent; the groups go back to Pending and are issued again by the next
	// reconcile (not counted).
	actionRetry
	// actionSplit: TooMany; the batch shrinks to batchSize and the groups go back to Pending.
	actionSplit
	// actionBackOff: the provider is busy, out of resources, unavailable or restarting; the groups go back
	// to Pending and no call is made until the provider-wide backoff passes (not counted).
	actionBackOff
	// actionReroute: InactiveProvider; the groups move to the active provider of their fault domain.
	actionReroute
	// actionWait: SyncOngoing; the groups wait for that task, then ours is issued.
	actionWait
	// actionCount: a provider-side failure of these groups; counted toward backoffLimit, retried after a backoff.
	actionCount
	// actionCheckGroups: InvalidArgument or an SmsReplicationFault; some group may be unknown or not a
	// target: find which, fail them alone; count every group when none is.
	actionCheckGroups
	// actionFailRun: the provider cannot do this at all (NotImplemented); the run fails.
	actionFailRun
	// actionProviderMoved: vCenter no longer knows the provider's moId (ManagedObjectNotFound: it was
	// re-registered, e.g. after its certificate expired, or unregistered). The call started nothing; the
	// groups go back to Pending on the VasaProvider's provider, which is looked up again, after a backoff
	// (not counted).
	actionProviderMoved
)

// faultDecision is the outcome of deciding one fault.
type faultDecision struct {
	action faultAction
	// fault names the fault for status.retry.lastFault and the faults metric.
	fault string
	// batchSize is the size to split to (actionSplit).
	batchSize int32
}

// Fault names for answers that are not SMS faults.
const (
	// faultNoAnswer: the call got no answer (timeout, reset, lost response).
	faultNoAnswer = "NoAnswer"
	// faultEmptyTaskRef: the call was answered without a task reference.
	faultEmptyTaskRef = "EmptyTaskRef"
	// faultUnreachable: the call was not sent (vCenter unreachable, TLS, login).
	faultUnreachable = "Unreachable"
	// faultNoTimeLeft: the call was not sent, its wave's bound having too little left for a round trip.
	faultNoTimeLeft = "NoTimeLeft"
	// faultSessionReplaced: the call was not sent, its session having been replaced meanwhile (the
	// VasaProvider's check renewed it, or its Secret changed).
	faultSessionReplaced = "SessionReplaced"
	// faultGroupError: a task reported a per-group error.
	faultGroupError = "GroupErrorResult"
	// faultTaskGone: the provider no longer knows a task (an SMS restart).
	faultTaskGone = "TaskGone"
)

// decideSyncFault decides what a SyncReplicationGroup_Task call of batchLen groups that failed with err means.
func decideSyncFault(err error, batchLen int) faultDecision {
	var f sms.Fault
	isFault := errors.As(err, &f)
	switch {
	case errors.Is(err, sms.ErrNoTimeLeft):
		// Not sent because the wave's bound had too little left (a slow re-login, a wait for a connection):
		// nothing is wrong with the provider, and the next reconcile has a new bound.
		return faultDecision{action: actionRetry, fault: faultNoTimeLeft}
	case sessionReplaced(err):
		return faultDecision{action: actionRetry, fault: faultSessionReplaced}
	case notSent(err):
		// Also a fault that met the new login of a call refused for its expired session: the call never ran.
		if isFault {
			return faultDecision{action: actionBackOff, fault: f.FaultType()}
		}
		return faultDecision{action: actionBackOff, fault: faultUnreachable}
	case !isFault:
		return faultDecision{action: actionInDoubt, fault: faultNoAnswer}
	}
	d := faultDecision{fault: f.FaultType()}
	var (
		tooMany  *sms.TooManyError
		inactive *sms.InactiveProviderError
		ongoing  *sms.SyncOngoingError
		notImpl  *sms.NotImplementedError
		invalid  *sms.InvalidArgumentError
		repl     *sms.ReplicationFaultError
		down     *sms.ServiceUnavailableError
	)
	switch {
	case errors.As(err, &down) && down.MayHaveRun:
		// A 503 the front proxy may have sent after passing the call on (SMS restarted while in it): a
		// task may run, so the groups are in doubt like a call with no answer, never re-issued blindly.
		d.action = actionInDoubt
	case errors.As(err, &tooMany) && batchLen > 1:
		// The batch must shrink even when the provider names a size it already had, or the same batch
		// goes out again and again. One group that gets TooMany cannot shrink: it counts as its failure.
		d.action, d.batchSize = actionSplit, int32(max(1, min(tooMany.EffectiveBatchSize(), batchLen-1)))
	case sms.IsTransient(err):
		d.action = actionBackOff
	case objectNotFound(err):
		// The only managed object of a sync call or a PiT query is the VasaProvider it is made on.
		d.action = actionProviderMoved
	case errors.As(err, &inactive):
		d.action = actionReroute
	case errors.As(err, &ongoing):
		d.action = actionWait
	case errors.As(err, &notImpl):
		d.action = actionFailRun
	case errors.As(err, &invalid), errors.As(err, &repl):
		// Either may be about one group of the batch (unknown, or not a target: InvalidReplicationState)
		// without saying which: the groups' states tell, so that one bad group does not fail the others.
		d.action = actionCheckGroups
	default:
		d.action = actionCount
	}
	return d
}

// pollDecision is what a fault answered to a task query means.
type pollDecision int

const (
	// pollGone: the provider no longer knows the task; its groups are back in doubt.
	pollGone pollDecision = iota
	// pollBackOff: the provider is busy or restarting; the run backs off. Counted like pollCount.
	pollBackOff
	// pollCount: any other fault or no answer; the task may still run. Counted in pollFaults, and
	// every maxPollFaults in a row count one attempt toward backoffLimit.
	pollCount
)

// sessionUnusable reports whether err says the provider's session cannot serve again: a re-login vCenter
// refused, a certificate that no longer matches, or the URL reaching another vCenter. Only the
// VasaProvider's own check replaces the session.
func sessionUnusable(err error) bool {
	var (
		le *sms.LoginError
		te *sms.TLSError
	)
	return errors.As(err, &le) || errors.As(err, &te) || errors.Is(err, sms.ErrVCenterChanged)
}

// objectNotFound reports a ManagedObjectNotFound fault: the object the call was made on is unknown.
func objectNotFound(err error) bool {
	var other *sms.OtherFaultError
	return errors.As(err, &other) && other.Type == "ManagedObjectNotFound"
}

// decideTaskQueryFault decides what a failed QuerySmsTaskInfo means.
func decideTaskQueryFault(err error) pollDecision {
	switch {
	case objectNotFound(err):
		return pollGone
	case sms.IsTransient(err):
		return pollBackOff
	default:
		return pollCount
	}
}

// sessionReplaced reports whether err says the session was logged out by its cache before the call was
// sent: replaced by a new one (the VasaProvider's check renews it after --session-max-age; a changed
// Secret) or closed as the manager stops. Nothing reached vCenter, and the next reconcile takes the new
// session: not a fault of vCenter's, nothing to back off from.
func sessionReplaced(err error) bool { return errors.Is(err, sms.ErrClosed) }

// notSent reports whether a call failed before any request reached vCenter, so no task can exist.
func notSent(err error) bool {
	var (
		le  *sms.LoginError
		tls *sms.TLSError
		op  *net.OpError
	)
	switch {
	case errors.Is(err, sms.ErrClosed), errors.Is(err, sms.ErrNotSent), errors.Is(err, sms.ErrVCenterChanged),
		errors.As(err, &le), errors.As(err, &tls):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true
	}
	return false
}
