package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// runbookURL is where the runbooks are published.
const runbookURL = "https://github.com/vasa-sync-operator/vasa-sync-operator/blob/main/docs/runbooks.md#"

// exitNotFinished is the exit code of a wait that ended before the sync did: a script must not take it
// for a failure (exit code 1) and start the sync again while it goes on.
const exitNotFinished = 3

// notFinishedError is a wait that ended before the syncs did (--timeout, an interrupt, the API server no
// longer readable); they go on.
type notFinishedError struct{ error }

func (e notFinishedError) Unwrap() error { return e.error }

// unreachableNoteAfter is how long reads may fail before the progress line says so: shorter hiccups
// (an API server restarting) pass unremarked.
const unreachableNoteAfter = 30 * time.Second

// lastingReadError reports whether a failed read cannot pass by itself, so waiting longer is pointless:
// the API server's certificate is not trusted, the kubeconfig's credential plugin (exec, OIDC) failed,
// or the credentials were refused.
func lastingReadError(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		apierrors.IsUnauthorized(err) ||
		// client-go's credential plugins report their failure as text only.
		strings.Contains(err.Error(), "getting credentials: ")
}

// passingReadError reports whether a failed read is worth repeating: the API server restarting, busy or
// slow, or the connection to it broken. Not a refusal (not found, forbidden, a bad request).
func passingReadError(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // no answer from the API server at all
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

// waitFor follows ReplicationSyncs (one, or the shares of --split, labelled set) until all finished,
// printing a progress line: redrawn in place on a terminal, one line per change otherwise (logs, CI,
// tests).
// followed are the runs as created (their UID tells them from earlier objects of their names).
func (a *app) waitFor(ctx context.Context, c client.Reader, followed []*replicationv1alpha1.ReplicationSync, set string, timeout time.Duration) error {
	keys := make([]client.ObjectKey, len(followed))
	for i, rs := range followed {
		keys[i] = client.ObjectKeyFromObject(rs)
	}
	// Reads use the caller's context; only the loop has the timeout, so that a read cut short by it is not
	// mistaken for an API error.
	readCtx, loopCtx := ctx, ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		loopCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	interval := a.pollInterval
	if interval <= 0 {
		interval = time.Second
	}
	var last, lastProgress string
	// readErr is the error of the reads failing since failingSince; nil after a read that worked.
	var readErr error
	var failingSince time.Time
	show := func(line string) {
		if line == last {
			return
		}
		if a.live {
			_, _ = fmt.Fprintf(a.out, "\r\033[K%s", line)
		} else {
			_, _ = fmt.Fprintln(a.out, line)
		}
		last = line
	}
	runs := make([]*replicationv1alpha1.ReplicationSync, len(keys))
	// deleted marks runs gone after they finished; runs holds their outcome, taken from their event.
	deleted := make([]bool, len(keys))
	err := wait.PollUntilContextCancel(loopCtx, interval, true, func(context.Context) (bool, error) {
		for i, key := range keys {
			if deleted[i] {
				continue
			}
			rs := &replicationv1alpha1.ReplicationSync{}
			if err := c.Get(readCtx, key, rs); err != nil {
				switch {
				case readCtx.Err() != nil:
					return false, nil
				case lastingReadError(err):
					return false, notFinishedError{fmt.Errorf("stopped waiting for ReplicationSync %s, which goes on: reading it: %w", key.Name, err)}
				case passingReadError(err):
					// Read again at the next tick: the sync goes on meanwhile. An error that lasts is shown,
					// as it may be one that cannot pass after all (a wrong server address).
					if readErr == nil {
						failingSince = a.clock()
					}
					readErr = err
					if down := a.clock().Sub(failingSince); down >= unreachableNoteAfter {
						// Whole multiples of the threshold, so that a log gets a line per 30 s, not per read.
						down = down.Truncate(unreachableNoteAfter)
						show(cmp.Or(lastProgress, key.Name) + fmt.Sprintf(" (API unreachable for %s: %v)", down, err))
					}
					return false, nil
				case apierrors.IsNotFound(err):
					// Finished and deleted by its ttlSecondsAfterFinished between two reads, or before the
					// first one: its last event says how it ended.
					seen := cmp.Or(runs[i], followed[i]) // its UID: the events of an earlier run of its name are not its
					if final := finishedByEvent(readCtx, c, seen); final != nil {
						runs[i], deleted[i] = final, true
						continue
					}
					// Not a failure: its outcome is unknown, and tasks it started may still run at the array.
					return false, notFinishedError{fmt.Errorf("ReplicationSync %s was deleted before it was seen to finish (by its ttlSecondsAfterFinished, or by hand), last seen %s: "+
						"its outcome is in its events, 'kubectl get events -n %s --field-selector involvedObject.name=%s'",
						key.Name, cmp.Or(seen.Status.Phase, replicationv1alpha1.SyncPending), key.Namespace, key.Name)}
				}
				// A refusal (forbidden) ends the wait, not the sync.
				return false, notFinishedError{fmt.Errorf("stopped waiting for ReplicationSync %s, which goes on: reading it: %w", key.Name, err)}
			}
			runs[i] = rs
		}
		readErr = nil
		lastProgress = progressLine(set, runs)
		show(lastProgress)
		return !slices.ContainsFunc(runs, running), nil
	})
	if a.live && last != "" {
		_, _ = fmt.Fprintln(a.out)
	}
	switch {
	case err != nil && loopCtx.Err() != nil:
		cause := ""
		if readErr != nil {
			cause = fmt.Sprintf("; reads failing for %s, the last with: %v", a.clock().Sub(failingSince).Round(time.Second), readErr)
		}
		if len(keys) > 1 {
			return notFinishedError{fmt.Errorf("stopped waiting for the %d ReplicationSyncs %s (%w%s); the syncs go on: follow them with 'kubectl get rsync -l %s=%s -n %s -w'",
				len(keys), set, loopCtx.Err(), cause, replicationv1alpha1.SyncSetLabel, set, keys[0].Namespace)}
		}
		return notFinishedError{fmt.Errorf("stopped waiting for ReplicationSync %s (%w%s); the sync goes on: follow it with 'kubectl get rsync %s -n %s -w'",
			keys[0].Name, loopCtx.Err(), cause, keys[0].Name, keys[0].Namespace)}
	case err != nil:
		return err
	}
	var failed []error
	for _, rs := range runs {
		if rs.Status.Phase == replicationv1alpha1.SyncFailed {
			failed = append(failed, failedError(rs))
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	s := summaryOf(runs)
	_, _ = fmt.Fprintf(a.out, "Synced %d groups to PiT %s\n", s.Synced, runs[0].Spec.PitName)
	return nil
}

// finishedByEvent is rs as it finished, from the event the operator leaves when a run ends (reason
// Synced or Failed), once rs itself was deleted; nil when no such event can be read.
func finishedByEvent(ctx context.Context, c client.Reader, rs *replicationv1alpha1.ReplicationSync) *replicationv1alpha1.ReplicationSync {
	events := &corev1.EventList{}
	if err := c.List(ctx, events, client.InNamespace(rs.Namespace), client.MatchingFields{"involvedObject.name": rs.Name}); err != nil {
		return nil // a user who may not list events gets the message that names the command to read them
	}
	var last *corev1.Event
	for i := range events.Items {
		e := &events.Items[i]
		if e.InvolvedObject.Kind != "ReplicationSync" || (rs.UID != "" && e.InvolvedObject.UID != rs.UID) || (e.Reason != "Synced" && e.Reason != "Failed") {
			continue // another object of that name, an earlier run of it, or no final event
		}
		if last == nil || eventTime(e).After(eventTime(last)) {
			last = e
		}
	}
	if last == nil {
		return nil
	}
	final := rs.DeepCopy()
	s := summaryOf([]*replicationv1alpha1.ReplicationSync{rs})
	if last.Reason == "Synced" {
		final.Status.Phase = replicationv1alpha1.SyncSucceeded
		final.Status.Summary = &replicationv1alpha1.SyncSummary{Total: s.Total, Synced: s.Total}
		return final
	}
	// The event names the failed groups; the states last seen would be out of date.
	final.Status.Phase = replicationv1alpha1.SyncFailed
	final.Status.Groups = nil
	final.Status.Conditions = []metav1.Condition{{Type: replicationv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: last.Reason, Message: last.Message}}
	return final
}

// eventTime is when e was last seen, whichever API (core or events.k8s.io) recorded it.
func eventTime(e *corev1.Event) time.Time {
	t := e.CreationTimestamp.Time
	for _, u := range []time.Time{e.EventTime.Time, e.LastTimestamp.Time} {
		if u.After(t) {
			t = u
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// running reports whether rs has not finished.
func running(rs *replicationv1alpha1.ReplicationSync) bool {
	return rs.Status.Phase != replicationv1alpha1.SyncSucceeded && rs.Status.Phase != replicationv1alpha1.SyncFailed
}

// progressLine is one line about the runs: phase, counts and what it does now; for the share-outs of
// --split, their set's name, the phase of the whole and the counts summed.
func progressLine(set string, runs []*replicationv1alpha1.ReplicationSync) string {
	s := summaryOf(runs)
	if len(runs) > 1 {
		return fmt.Sprintf("%s (%d ReplicationSyncs): %s %d/%d synced, %d failed, %d pending",
			set, len(runs), setPhase(runs), s.Synced, s.Total, s.Failed, s.Pending) + stalledNote(runs)
	}
	rs := runs[0]
	phase := string(rs.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	line := fmt.Sprintf("%s: %s %d/%d synced, %d failed, %d pending", rs.Name, phase, s.Synced, s.Total, s.Failed, s.Pending)
	if note := stalledNote(runs); note != "" {
		return line + note
	}
	if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition); c != nil && c.Status == "True" {
		line += " (" + c.Reason + ")"
	}
	return line
}

// stalledNote names why unfinished runs are Stalled (a human is needed: ProviderChanged, CRDOutdated, a
// progress deadline), with the first one's message; "" when none is.
func stalledNote(runs []*replicationv1alpha1.ReplicationSync) string {
	var reasons []string
	first := ""
	for _, rs := range runs {
		c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
		if !running(rs) || c == nil || c.Status != metav1.ConditionTrue || slices.Contains(reasons, c.Reason) {
			continue
		}
		reasons = append(reasons, c.Reason)
		if first == "" {
			first = c.Message
		}
	}
	if len(reasons) == 0 {
		return ""
	}
	return fmt.Sprintf(" (Stalled: %s: %s)", strings.Join(reasons, ", "), first)
}

// setPhase is the phase of several runs together: Running while one runs and another has started or
// finished, Failed when all finished and one failed.
func setPhase(runs []*replicationv1alpha1.ReplicationSync) replicationv1alpha1.SyncPhase {
	count := map[replicationv1alpha1.SyncPhase]int{}
	for _, rs := range runs {
		count[cmp.Or(rs.Status.Phase, replicationv1alpha1.SyncPending)]++
	}
	switch n := len(runs); {
	case count[replicationv1alpha1.SyncPending] == n, count[replicationv1alpha1.SyncSucceeded] == n:
		return cmp.Or(runs[0].Status.Phase, replicationv1alpha1.SyncPending)
	case count[replicationv1alpha1.SyncSucceeded]+count[replicationv1alpha1.SyncFailed] == n:
		return replicationv1alpha1.SyncFailed
	}
	return replicationv1alpha1.SyncRunning
}

// summaryOf sums the runs' counts; a run without status counts all its groups pending.
func summaryOf(runs []*replicationv1alpha1.ReplicationSync) replicationv1alpha1.SyncSummary {
	var out replicationv1alpha1.SyncSummary
	for _, rs := range runs {
		s := replicationv1alpha1.SyncSummary{Total: int32(len(rs.Spec.GroupIDs)), Pending: int32(len(rs.Spec.GroupIDs))}
		if rs.Status.Summary != nil {
			s = *rs.Status.Summary
		}
		out.Total, out.Synced, out.Failed, out.Pending = out.Total+s.Total, out.Synced+s.Synced, out.Failed+s.Failed, out.Pending+s.Pending
	}
	return out
}

// maxNamedGroups bounds the failed groups an error names, as in the operator's condition messages: a
// run of 1000 failed groups would otherwise fill a terminal.
const maxNamedGroups = 10

// failedGroupsJSONPath lists a run's failed groups, one a line, as failedError does.
const failedGroupsJSONPath = `{range .status.groups[?(@.state=="Failed")]}{.faultDomainId.id}/{.deviceGroupId.id}: {.message}{"\n"}{end}`

// failedError says why a run failed and which groups did (the first maxNamedGroups, and how to list all).
func failedError(rs *replicationv1alpha1.ReplicationSync) error {
	var b strings.Builder
	_, _ = fmt.Fprintf(&b, "ReplicationSync %s failed", rs.Name)
	c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	if c == nil || c.Status != "True" {
		c = meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)
	}
	if c != nil {
		_, _ = fmt.Fprintf(&b, ": %s: %s", c.Reason, c.Message)
	}
	failed := 0
	for _, g := range rs.Status.Groups {
		if g.State != replicationv1alpha1.GroupFailed {
			continue
		}
		if failed++; failed <= maxNamedGroups {
			_, _ = fmt.Fprintf(&b, "\n  %s/%s: %s", g.FaultDomainID.ID, g.DeviceGroupID.ID, g.Message)
		}
	}
	if failed > maxNamedGroups {
		_, _ = fmt.Fprintf(&b, "\n  and %d more: kubectl get rsync %s -n %s -o jsonpath='%s'", failed-maxNamedGroups, rs.Name, rs.Namespace, failedGroupsJSONPath)
	}
	_, _ = fmt.Fprintf(&b, "\nsee 'kubectl describe rsync %s -n %s' and "+runbookURL+"replicationsyncfailed", rs.Name, rs.Namespace)
	return errors.New(b.String())
}
