package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// The SMS work of a run: this file is the only one of the ReplicationSync controller that calls the
// provider. It makes calls and returns what came back; the state machine decides what that means.

const (
	// callTimeout bounds the calls of a wave. They run detached from the reconcile's context, so on a
	// manager shutdown (SIGTERM) calls already sent get their answers and their task refs are written.
	// The client sends no call with less than a round trip (sms.DefaultTimeout) left before it: a call
	// that waited for a free connection or a re-login past that is not sent, and its groups stay Pending.
	callTimeout = sms.DefaultTimeout + 10*time.Second
	// commitGrace bounds the status write that records the task refs after the calls returned, also
	// when the manager is shutting down.
	commitGrace = 10 * time.Second
	// foldRefsWithin: when every task of a wave is expected to end this soon after its call returned,
	// the reconcile queries them first and writes refs and results at once (one write instead of two).
	// A crash in between leaves the groups in doubt, resolved by their PiT; it is shorter than a write
	// under load, so the exposure barely grows.
	foldRefsWithin = 200 * time.Millisecond
	// maxFoldPolls bounds the queries of one wave's tasks within foldRefsWithin.
	maxFoldPolls = 3
	// CallOnTheWire is how long after its claim a call may still reach vCenter: the claim's write, then
	// the call, sent by a process that lost its Lease or was killed with the call on the wire.
	CallOnTheWire = commitGrace + callTimeout
	// ClaimClockSkew is how far ahead of the clock that stamped a claim another manager's may be: the
	// in-doubt window counts from the claim on the clock of whoever looks at it.
	ClaimClockSkew = 10 * time.Second
	// LeastInDoubtWindow is the shortest in-doubt window: a call on the wire, seen from a clock ahead.
	LeastInDoubtWindow = CallOnTheWire + ClaimClockSkew
	// RenewDeadline and LeaseDuration are the leader election's. A leader whose renewals fail stops
	// RenewDeadline (and a retry period, 2 s) after its last renewal, and a claim it began just before
	// lands up to commitGrace after that. The next leader takes the Lease LeaseDuration after that renewal, once such a write has
	// landed, so it sees the claim before it claims beside it (a run of another name syncing the same
	// group and PiT name, which only this process's lock keeps apart otherwise).
	RenewDeadline = 10 * time.Second
	LeaseDuration = RenewDeadline + commitGrace + 10*time.Second
	// ShutdownGrace is how long a stopping manager waits for its reconciles: a wave's claim (a write the
	// stop may overtake, after which the wave goes on), its calls and its commit.
	ShutdownGrace = CallOnTheWire + commitGrace
	// maxParallelCalls bounds the calls (polls or syncs) one reconcile makes at once.
	maxParallelCalls = 16
	// groupQueryChunk is how many groups one QueryReplicationGroup or QueryPointInTimeReplica asks about.
	groupQueryChunk = 100
)

// syncProvider is what a run needs from an SMS session (sms.Client implements it).
type syncProvider interface {
	// ReplicationGroups queries the replication state of groups at the provider.
	ReplicationGroups(ctx context.Context, providerRef string, groups []sms.GroupID) ([]sms.ReplicationGroup, error)
	// PointInTimeReplicas returns the PiTs with exactly pitName for these groups.
	PointInTimeReplicas(ctx context.Context, providerRef string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error)
	// SyncReplicationGroups starts SyncReplicationGroup_Task and returns the SmsTask ref.
	SyncReplicationGroups(ctx context.Context, providerRef string, groups []sms.GroupID, pitName string) (string, error)
	// TaskInfo reads the state, progress and results of an SmsTask.
	TaskInfo(ctx context.Context, taskRef string) (sms.TaskInfo, error)
}

// syncBatch is one planned call: groups (indexes into status.groups) issued to one provider.
type syncBatch struct {
	provider string
	groups   []int
	// armed is the claim time of a batch pre-claimed by an earlier commit (replicationsync_preclaim.go);
	// zero for a batch claimed in this reconcile.
	armed time.Time
	// covered is a batch planned again after a wave the provider refused whole (TooMany), whose groups
	// that wave's claim, already written, still holds.
	covered bool
}

// groupsIn returns the groups of the batches.
func groupsIn(batches []syncBatch) map[int]bool {
	out := map[int]bool{}
	for _, b := range batches {
		for _, i := range b.groups {
			out[i] = true
		}
	}
	return out
}

// callResult is what one sync call returned.
type callResult struct {
	batch syncBatch
	task  string
	err   error
}

// issueWave makes the calls of a wave at once and returns their results in the order of batches. The call
// of batch i is answered by deadlines[i] (sendDeadlines), or not sent.
func issueWave(ctx context.Context, cl syncProvider, ids func([]int) []sms.GroupID, pitName string, batches []syncBatch, deadlines []time.Time) []callResult {
	// Detached: a call already sent must get its answer recorded even when the manager stops now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	out := make([]callResult, len(batches))
	parallel(len(batches), func(i int) {
		b := batches[i]
		if !time.Now().Before(deadlines[i]) {
			out[i] = callResult{batch: b, err: fmt.Errorf("%w: the in-doubt window of its claim has passed", sms.ErrNoTimeLeft)}
			return
		}
		ctx, cancel := context.WithDeadline(ctx, deadlines[i])
		defer cancel()
		task, err := cl.SyncReplicationGroups(ctx, b.provider, ids(b.groups), pitName)
		out[i] = callResult{batch: b, task: task, err: err}
	})
	return out
}

// sendDeadlines is when each call of the wave must have been answered: its claim's least in-doubt window
// later (inDoubtFloor), less ClaimClockSkew, on the process's clock. On the wall clock: a process that
// stood still since its claim finds it passed.
func sendDeadlines(run *syncRun) []time.Time {
	now, floor := time.Now().Round(0), inDoubtFloor(run.vp)-ClaimClockSkew
	out := make([]time.Time, len(run.wave))
	for i, b := range run.wave {
		// The oldest claim: a batch planned again after a TooMany may join groups of two claims. None
		// (never so: every call is claimed first) leaves the zero time, and the call is not sent.
		out[i] = now.Add(oldestClaimOf(run.rs, b.groups).Add(floor).Sub(run.calledAt))
	}
	return out
}

// taskPoll is what one task query returned.
type taskPoll struct {
	info sms.TaskInfo
	err  error
}

// pollTasks queries the tasks at once and returns their answers by ref.
func pollTasks(ctx context.Context, cl syncProvider, refs []string) map[string]taskPoll {
	out := make([]taskPoll, len(refs))
	parallel(len(refs), func(i int) {
		info, err := cl.TaskInfo(ctx, refs[i])
		out[i] = taskPoll{info: info, err: err}
	})
	byRef := make(map[string]taskPoll, len(refs))
	for i, ref := range refs {
		byRef[ref] = out[i]
	}
	return byRef
}

// findPiTs asks the provider for PiTs named pitName of the groups. It returns those found by group, and
// the groups the provider could not answer for (a per-group fault in the answer) with their fault.
func findPiTs(ctx context.Context, cl syncProvider, provider string, groups []sms.GroupID, pitName string) (map[sms.GroupID]sms.PointInTime, map[sms.GroupID]error, error) {
	found, unknown := map[sms.GroupID]sms.PointInTime{}, map[sms.GroupID]error{}
	for _, a := range inChunks(groups, func(chunk []sms.GroupID) ([]sms.PointInTime, error) {
		return cl.PointInTimeReplicas(ctx, provider, chunk, pitName)
	}) {
		if err := addPiTs(a, pitName, found, unknown); err != nil {
			return nil, nil, err
		}
	}
	if len(groups) > 1 {
		askAlone(ctx, cl, provider, pitName, found, unknown)
	}
	return found, unknown, nil
}

// askAlone asks again, one group per query, for the groups a query of several answered with a TooMany of
// their own: a provider that finds too many replicas to return may answer some groups so, and the API
// reference (QueryPointInTimeReplicaSuccessResult) has the client query those groups separately. A group
// whose query alone faults again stays in unknown (with the new fault when it is the group's own).
func askAlone(ctx context.Context, cl syncProvider, provider, pitName string, found map[sms.GroupID]sms.PointInTime, unknown map[sms.GroupID]error) {
	var again []sms.GroupID
	for g, err := range unknown {
		if tooMany := (*sms.TooManyError)(nil); errors.As(err, &tooMany) {
			again = append(again, g)
		}
	}
	if len(again) == 0 {
		return
	}
	answers := make([]chunkAnswer[sms.PointInTime], len(again))
	parallel(len(again), func(i int) {
		items, err := cl.PointInTimeReplicas(ctx, provider, again[i:i+1], pitName)
		answers[i] = chunkAnswer[sms.PointInTime]{chunk: again[i : i+1], items: items, err: err}
	})
	for _, a := range answers {
		if a.err == nil {
			delete(unknown, a.chunk[0])
		}
		_ = addPiTs(a, pitName, found, unknown) // no answer about the group: it stays unknown
	}
}

// addPiTs adds one answer of a PiT query to found (the PiTs named pitName, or unnamed) and unknown (the
// groups the provider answered with a fault of their own). It returns the error of an answer that has no
// groups' answers at all.
func addPiTs(a chunkAnswer[sms.PointInTime], pitName string, found map[sms.GroupID]sms.PointInTime, unknown map[sms.GroupID]error) error {
	var partial *sms.GroupQueryError
	if errors.As(a.err, &partial) {
		maps.Copy(unknown, partial.Groups)
	} else if a.err != nil {
		return a.err
	}
	for _, p := range a.items {
		if p.Name == "" || p.Name == pitName {
			found[p.Group] = p
		}
	}
	return nil
}

// queryGroups asks the provider for the replication state of the groups. A query refused with
// InactiveProvider (VASA HA: another provider is active for some of the groups' fault domains) leaves
// the groups of the domains it names unanswered here, as a per-group InactiveProvider would, and asks
// about the others without them.
func queryGroups(ctx context.Context, cl syncProvider, provider string, groups []sms.GroupID) (map[sms.GroupID]string, error) {
	states := make(map[sms.GroupID]string, len(groups))
	for _, a := range inChunks(groups, func(chunk []sms.GroupID) ([]sms.ReplicationGroup, error) {
		return cl.ReplicationGroups(ctx, provider, chunk)
	}) {
		var inactive *sms.InactiveProviderError
		if errors.As(a.err, &inactive) {
			named := inactive.ActiveProviders()
			others := slices.DeleteFunc(slices.Clone(a.chunk), func(g sms.GroupID) bool { _, ok := named[g.FaultDomainID]; return ok })
			if len(others) < len(a.chunk) {
				for _, g := range a.chunk {
					states[g] = sms.StateUnanswered
				}
				more, err := queryGroups(ctx, cl, provider, others)
				if err != nil {
					return nil, err
				}
				maps.Copy(states, more)
				continue
			}
		}
		if a.err != nil {
			return nil, fmt.Errorf("checking %d replication groups at %s: %w", len(a.chunk), provider, a.err)
		}
		for _, rg := range a.items {
			states[rg.Group] = rg.State
		}
	}
	return states, nil
}

// chunkAnswer is what one query of inChunks returned.
type chunkAnswer[T any] struct {
	chunk []sms.GroupID
	items []T
	err   error
}

// inChunks asks query about the groups groupQueryChunk at a time, the chunks at once, and returns the
// answers in chunk order. (A run's first check of 1,000 groups is ten queries: one after the other they
// held its first call back by 100 ms.)
func inChunks[T any](groups []sms.GroupID, query func([]sms.GroupID) ([]T, error)) []chunkAnswer[T] {
	out := make([][]chunkAnswer[T], (len(groups)+groupQueryChunk-1)/groupQueryChunk)
	parallel(len(out), func(i int) {
		out[i] = askChunk(groups[i*groupQueryChunk:min((i+1)*groupQueryChunk, len(groups))], query)
	})
	return slices.Concat(out...)
}

// askChunk asks query about chunk, in the parts a TooMany names (sms.AskInParts).
func askChunk[T any](chunk []sms.GroupID, query func([]sms.GroupID) ([]T, error)) []chunkAnswer[T] {
	var out []chunkAnswer[T]
	sms.AskInParts(chunk, query, func(part []sms.GroupID, items []T, err error) {
		out = append(out, chunkAnswer[T]{chunk: part, items: items, err: err})
	})
	return out
}

// parallel runs f(0..n-1) with at most maxParallelCalls at once.
func parallel(n int, f func(i int)) {
	sem := make(chan struct{}, maxParallelCalls)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
