package smsfake

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// SyncCall is one SyncReplicationGroups call the fake received.
type SyncCall struct {
	Provider string
	Groups   []sms.GroupID
	PitName  string
	// Task is the task the call created ("" when it failed or created none).
	Task string
}

// Fake is an sms.Client. By default every group is a TARGET known to the provider, a sync creates a
// task that stays running until Finish, and a finished task leaves one PiT per group. Hooks replace
// any answer; they run without the fake's lock held.
type Fake struct {
	// NoPiTSupport makes the fake an array without PiT support, as the simulator's NoPitSupport: a
	// finished task's results carry no pitId and leave no PiT to find, and PointInTimeReplicas answers
	// NotImplemented (unless the PiTs hook answers). Set it before the fake is used.
	NoPiTSupport bool
	// Sync, when set, answers SyncReplicationGroups instead of the default; it may call CreateTask.
	Sync func(call SyncCall) (string, error)
	// Task, when set, answers TaskInfo instead of the default.
	Task func(ref string) (sms.TaskInfo, error)
	// PiTs, when set, answers PointInTimeReplicas (asked of provider) instead of the default.
	PiTs func(provider string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error)
	// Groups, when set, answers ReplicationGroups instead of the default.
	Groups func(groups []sms.GroupID) ([]sms.ReplicationGroup, error)

	mu     sync.Mutex
	calls  []SyncCall
	tasks  map[string]*task
	pits   map[sms.GroupID][]sms.PointInTime
	states map[sms.GroupID]string
	next   int
}

type task struct {
	groups  []sms.GroupID
	pitName string
	info    sms.TaskInfo
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{tasks: map[string]*task{}, pits: map[sms.GroupID][]sms.PointInTime{}, states: map[sms.GroupID]string{}}
}

var _ sms.Client = (*Fake)(nil)

// SetGroupState sets a group's replication state ("" forgets the group: unknown to the provider).
func (f *Fake) SetGroupState(g sms.GroupID, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[g] = state
}

// Calls returns the sync calls received so far.
func (f *Fake) Calls() []SyncCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf counts the sync calls that named group g.
func (f *Fake) CallsOf(g sms.GroupID) int {
	n := 0
	for _, c := range f.Calls() {
		if slices.Contains(c.Groups, g) {
			n++
		}
	}
	return n
}

// CreateTask starts a running task for the groups and returns its ref.
func (f *Fake) CreateTask(groups []sms.GroupID, pitName string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	ref := fmt.Sprintf("smstask-%d", f.next)
	f.tasks[ref] = &task{groups: slices.Clone(groups), pitName: pitName, info: sms.TaskInfo{Ref: ref, State: sms.TaskRunning}}
	return ref
}

// Finish ends a task successfully: one PiT per group, named as the task's sync asked. Without PiT
// support the groups are synced all the same, but their results name no PiT id and no PiT can be found.
func (f *Fake) Finish(ref string, at time.Time) { f.FinishFailing(ref, at, nil) }

// FinishFailing is Finish, but the groups of failed get a GroupErrorResult with their fault, and no PiT.
func (f *Fake) FinishFailing(ref string, at time.Time, failed map[sms.GroupID]error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[ref]
	t.info.State = sms.TaskSuccess
	for _, g := range t.groups {
		if err := failed[g]; err != nil {
			t.info.Results = append(t.info.Results, sms.GroupResult{Group: g, Errors: []string{err.Error()}, Err: err})
			continue
		}
		res := sms.GroupResult{Group: g, Succeeded: true, PitName: t.pitName, TimeStamp: at}
		if !f.NoPiTSupport {
			res.PitID = fmt.Sprintf("pit-%s-%s", ref, g.DeviceGroupID)
			f.pits[g] = append(f.pits[g], sms.PointInTime{Group: g, ID: res.PitID, Name: t.pitName, TimeStamp: at})
		}
		t.info.Results = append(t.info.Results, res)
	}
}

// Fail ends a task in error with the fault err, making no PiT.
func (f *Fake) Fail(ref string, err error, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[ref]
	t.info.State, t.info.Err, t.info.Progress, t.info.CompletionTime = sms.TaskError, err, 100, at
}

// SetProgress makes a running task report percent done, as a provider that reports its tasks' progress.
func (f *Fake) SetProgress(ref string, percent int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks[ref].info.Progress = percent
}

// FinishAll ends every running task successfully.
func (f *Fake) FinishAll(at time.Time) {
	f.mu.Lock()
	var refs []string
	for ref, t := range f.tasks {
		if t.info.State == sms.TaskRunning {
			refs = append(refs, ref)
		}
	}
	f.mu.Unlock()
	for _, ref := range refs {
		f.Finish(ref, at)
	}
}

// SyncReplicationGroups implements sms.Client.
func (f *Fake) SyncReplicationGroups(_ context.Context, provider string, groups []sms.GroupID, pitName string) (string, error) {
	call := SyncCall{Provider: provider, Groups: slices.Clone(groups), PitName: pitName}
	var (
		ref string
		err error
	)
	if f.Sync != nil {
		ref, err = f.Sync(call)
	} else {
		ref = f.CreateTask(groups, pitName)
	}
	call.Task = ref
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	return ref, err
}

// TaskInfo implements sms.Client.
func (f *Fake) TaskInfo(_ context.Context, ref string) (sms.TaskInfo, error) {
	if f.Task != nil {
		return f.Task(ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[ref]
	if !ok {
		return sms.TaskInfo{}, &sms.OtherFaultError{Type: "ManagedObjectNotFound", Message: "no task " + ref}
	}
	return t.info, nil
}

// PointInTimeReplicas implements sms.Client.
func (f *Fake) PointInTimeReplicas(_ context.Context, provider string, groups []sms.GroupID, pitName string) ([]sms.PointInTime, error) {
	if f.PiTs != nil {
		return f.PiTs(provider, groups, pitName)
	}
	if f.NoPiTSupport {
		return nil, &sms.NotImplementedError{Message: "QueryPointInTimeReplica is not implemented by this provider"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sms.PointInTime
	for _, g := range groups {
		for _, p := range f.pits[g] {
			if p.Name == pitName {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// ReplicationGroups implements sms.Client.
func (f *Fake) ReplicationGroups(_ context.Context, _ string, groups []sms.GroupID) ([]sms.ReplicationGroup, error) {
	if f.Groups != nil {
		return f.Groups(groups)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]sms.ReplicationGroup, 0, len(groups))
	for _, g := range groups {
		state, set := f.states[g]
		switch {
		case !set:
			state = "TARGET"
		case state == "":
			continue // unknown to the provider
		}
		out = append(out, sms.ReplicationGroup{Group: g, State: state})
	}
	return out, nil
}

// FindProvider implements sms.Client: every name or uid is provider "p1".
func (f *Fake) FindProvider(context.Context, string, string) (sms.ProviderInfo, error) {
	return sms.ProviderInfo{Ref: "p1", Name: "array-a", Status: "online"}, nil
}

// Providers implements sms.Client.
func (f *Fake) Providers(ctx context.Context) ([]sms.ProviderInfo, error) {
	p, err := f.FindProvider(ctx, "", "")
	return []sms.ProviderInfo{p}, err
}

// Close implements sms.Client.
func (f *Fake) Close(context.Context) error { return nil }

// AllReplicationGroups implements sms.Discovery: the groups whose state was set, known ones only.
func (f *Fake) AllReplicationGroups(context.Context, string) ([]sms.GroupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sms.GroupInfo
	for g, state := range f.states {
		if state != "" {
			out = append(out, sms.GroupInfo{Group: g, State: state})
		}
	}
	return out, nil
}

// ReplicationGroupInfos implements sms.Discovery: the asked groups whose state was set.
func (f *Fake) ReplicationGroupInfos(_ context.Context, _ string, groups []sms.GroupID) ([]sms.GroupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sms.GroupInfo
	for _, g := range groups {
		if state := f.states[g]; state != "" {
			out = append(out, sms.GroupInfo{Group: g, State: state})
		}
	}
	return out, nil
}

// NewestPointInTimes implements sms.Discovery: groups without PiTs are answered without one.
func (f *Fake) NewestPointInTimes(_ context.Context, _ string, groups []sms.GroupID) ([]sms.NewestPiT, error) {
	out := make([]sms.NewestPiT, 0, len(groups))
	for _, g := range groups {
		out = append(out, sms.NewestPiT{Group: g})
	}
	return out, nil
}
