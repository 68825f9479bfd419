package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// runbookURL is where the runbooks are published.
const runbookURL = "https://github.com/vasa-sync-operator/vasa-sync-operator/blob/main/docs/runbooks.md#"

// waitFor follows a ReplicationSync until it finished, printing a progress line: redrawn in place on a
// terminal, one line per change otherwise (logs, CI, tests).
func (a *app) waitFor(ctx context.Context, c client.Reader, key client.ObjectKey, timeout time.Duration) error {
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
	var last string
	rs := &replicationv1alpha1.ReplicationSync{}
	err := wait.PollUntilContextCancel(loopCtx, interval, true, func(context.Context) (bool, error) {
		if err := c.Get(readCtx, key, rs); err != nil {
			if readCtx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("reading ReplicationSync %s: %w", key.Name, err)
		}
		line := progressLine(rs)
		if line != last {
			if a.live {
				_, _ = fmt.Fprintf(a.out, "\r\033[K%s", line)
			} else {
				_, _ = fmt.Fprintln(a.out, line)
			}
			last = line
		}
		return rs.Status.Phase == replicationv1alpha1.SyncSucceeded || rs.Status.Phase == replicationv1alpha1.SyncFailed, nil
	})
	if a.live && last != "" {
		_, _ = fmt.Fprintln(a.out)
	}
	switch {
	case err != nil && loopCtx.Err() != nil:
		return fmt.Errorf("stopped waiting for ReplicationSync %s (%w); the sync goes on: follow it with 'kubectl get rsync %s -n %s -w'", key.Name, loopCtx.Err(), key.Name, key.Namespace)
	case err != nil:
		return err
	case rs.Status.Phase == replicationv1alpha1.SyncFailed:
		return failedError(rs)
	}
	_, _ = fmt.Fprintf(a.out, "Synced %d groups to PiT %s\n", summaryOf(rs).Synced, rs.Spec.PitName)
	return nil
}

// progressLine is one line about a run: phase, counts and what it does now.
func progressLine(rs *replicationv1alpha1.ReplicationSync) string {
	phase := string(rs.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	s := summaryOf(rs)
	line := fmt.Sprintf("%s: %s %d/%d synced, %d failed, %d pending", rs.Name, phase, s.Synced, s.Total, s.Failed, s.Pending)
	if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition); c != nil && c.Status == "True" {
		line += " (" + c.Reason + ")"
	}
	return line
}

func summaryOf(rs *replicationv1alpha1.ReplicationSync) replicationv1alpha1.SyncSummary {
	if rs.Status.Summary != nil {
		return *rs.Status.Summary
	}
	return replicationv1alpha1.SyncSummary{Total: int32(len(rs.Spec.GroupIDs)), Pending: int32(len(rs.Spec.GroupIDs))}
}

// failedError says why a run failed and which groups did.
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
	for _, g := range rs.Status.Groups {
		if g.State == replicationv1alpha1.GroupFailed {
			_, _ = fmt.Fprintf(&b, "\n  %s/%s: %s", g.FaultDomainID.ID, g.DeviceGroupID.ID, g.Message)
		}
	}
	_, _ = fmt.Fprintf(&b, "\nsee 'kubectl describe rsync %s -n %s' and "+runbookURL+"replicationsyncfailed", rs.Name, rs.Namespace)
	return errors.New(b.String())
}
