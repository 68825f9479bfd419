package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// NaivePoll is how often the naive client asks whether its task is done. It is short against every
// task duration measured here, so the naive client notices a finished task almost at once: the
// ratio then credits the operator only for batching and concurrency, not for a slow naive poll.
const NaivePoll = 100 * time.Millisecond

// Naive is the naive client: one call per group, one after the other, polling each task until it
// is done. It uses the project's SMS client directly.
type Naive struct {
	// Client is a dialled SMS client.
	Client sms.Client
	// ProviderRef is the VasaProvider moId.
	ProviderRef string
}

// Run syncs groups one by one with pitName and returns how long it took.
func (n Naive) Run(ctx context.Context, groups []sms.GroupID, pitName string) (time.Duration, error) {
	start := time.Now()
	for _, g := range groups {
		ref, err := n.call(ctx, g, pitName)
		if err != nil {
			return 0, err
		}
		if err := n.wait(ctx, ref); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// call issues one sync, waiting a poll interval after a busy provider (another client's tasks).
func (n Naive) call(ctx context.Context, g sms.GroupID, pitName string) (string, error) {
	for {
		ref, err := n.Client.SyncReplicationGroups(ctx, n.ProviderRef, []sms.GroupID{g}, pitName)
		var busy *sms.ProviderBusyError
		if !errors.As(err, &busy) {
			if err != nil {
				return "", fmt.Errorf("naive sync of %v: %w", g, err)
			}
			return ref, nil
		}
		if err := sleep(ctx, NaivePoll); err != nil {
			return "", err
		}
	}
}

// wait polls the task until it is done.
func (n Naive) wait(ctx context.Context, ref string) error {
	for {
		info, err := n.Client.TaskInfo(ctx, ref)
		if err != nil {
			return fmt.Errorf("naive poll of %s: %w", ref, err)
		}
		switch info.State {
		case sms.TaskSuccess:
			return nil
		case sms.TaskError:
			return fmt.Errorf("naive task %s failed: %w", ref, info.Err)
		}
		if err := sleep(ctx, NaivePoll); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
