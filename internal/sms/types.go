package sms

import (
	"cmp"
	"context"
	"time"
)

// Binding selects the wire encoding used to talk to SMS.
type Binding string

const (
	// BindingSOAP is the SOAP binding at /sms/sdk (the default).
	BindingSOAP Binding = "SOAP"
	// BindingJSON is the VI/JSON binding at /sdk/vim25/{release}/sms (vCenter 8.0U1+).
	BindingJSON Binding = "JSON"
)

// DefaultVersion is the newest SMS API version this client knows, the first one it offers when
// Config.Version is empty (see the package doc).
const DefaultVersion = "8.0.3.0"

// DefaultTimeout is the per round trip timeout used when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultListTimeout bounds the round trip that lists every replication group of a provider when
// Config.ListTimeout is zero. That answer is not paged and the provider builds it group by group, so it
// may take far longer than any other call for a provider with thousands of groups; the bound only has to
// catch a vCenter that never answers.
const DefaultListTimeout = 5 * time.Minute

// Config says how to reach and authenticate to a vCenter.
type Config struct {
	// URL of the vCenter, e.g. https://vc.example.com (path optional; /sdk is implied).
	URL string
	// Username and Password of the vCenter account.
	Username, Password string
	// CABundle holds PEM encoded CA certificates to trust; optional.
	CABundle []byte
	// Thumbprint pins the server certificate by SHA-256 ("SHA256:AA:BB:..." or bare hex); optional.
	Thumbprint string
	// InsecureSkipVerify disables certificate verification; only when asked.
	InsecureSkipVerify bool
	// Binding selects SOAP or JSON; "" means SOAP.
	Binding Binding
	// Version pins the SMS API version (SOAP) or VI/JSON release path (JSON); "" negotiates the newest
	// one the server accepts.
	Version string
	// Timeout bounds each HTTP round trip; 0 means DefaultTimeout. A login, and a listing of the
	// providers (FindProvider, Providers), get 4 Timeouts in all, however many round trips they make.
	Timeout time.Duration
	// ListTimeout bounds the round trip of a QueryReplicationGroup that lists every group of a provider
	// instead; 0 means DefaultListTimeout.
	ListTimeout time.Duration
	// Relogin, when set, runs the client's own logins after vCenter ended its session (login does the
	// login): the caller may hold them in turn with other clients' logins of the account, or refuse them
	// (with a *LoginError, which breaks the client as a refused re-login does) lest vCenter lock the
	// account. The first login, by Dial, is the caller's own.
	Relogin func(ctx context.Context, login func(context.Context) error) error
}

// GroupID identifies a replication group; it is comparable and used as a map key.
type GroupID struct {
	// FaultDomainID is the id of the group's fault domain.
	FaultDomainID string
	// DeviceGroupID is the id of the device group within the fault domain.
	DeviceGroupID string
}

// CompareGroupIDs orders groups by fault domain id, then device group id.
func CompareGroupIDs(a, b GroupID) int {
	return cmp.Or(cmp.Compare(a.FaultDomainID, b.FaultDomainID), cmp.Compare(a.DeviceGroupID, b.DeviceGroupID))
}

// ProviderInfo describes a VASA provider registered in vCenter.
type ProviderInfo struct {
	// Ref is the moId value of the VasaProvider, e.g. "vasaprovider-7".
	Ref string
	// Name, UID, Version and Status come from VasaProviderInfo.
	Name, UID, Version, Status string
}

// TaskState is the state of an SmsTask.
type TaskState string

const (
	// TaskQueued means the task has not started.
	TaskQueued TaskState = "queued"
	// TaskRunning means the task is in progress.
	TaskRunning TaskState = "running"
	// TaskSuccess means the task finished; per-group results may still hold errors.
	TaskSuccess TaskState = "success"
	// TaskError means the task failed as a whole; TaskInfo.Err says why.
	TaskError TaskState = "error"
)

// GroupResult is the outcome of a sync for one group.
type GroupResult struct {
	// Group is the group the result is for.
	Group GroupID
	// Succeeded is true for a SyncReplicationGroupSuccessResult.
	Succeeded bool
	// PitID and PitName name the point-in-time replica created (PitID is empty without PiT support).
	PitID, PitName string
	// TimeStamp is the time of the sync.
	TimeStamp time.Time
	// Warnings are human-readable warnings.
	Warnings []string
	// Errors are human-readable errors of a GroupErrorResult.
	Errors []string
	// Err is the first of those errors as a typed fault (a provider may answer one group busy).
	Err error
}

// TaskInfo is the decoded SmsTaskInfo of a task.
type TaskInfo struct {
	// Ref is the moId value of the SmsTask.
	Ref string
	// State is the task state.
	State TaskState
	// Progress is the completion percentage.
	Progress int32
	// Err is the decoded typed fault when State is TaskError.
	Err error
	// Results holds one entry per group once the task succeeded.
	Results []GroupResult
	// StartTime and CompletionTime are the provider's times of the task (zero when not reported).
	StartTime, CompletionTime time.Time
}

// PointInTime is a point-in-time replica of a group.
//
// When the provider only answers a summary (replica counts, no details), ID is empty and
// TimeStamp is the start of the latest interval holding the replica (zero when unknown);
// see DecodePointInTimeReplicas.
type PointInTime struct {
	// Group is the group the replica belongs to.
	Group GroupID
	// ID and Name identify the replica; ID is empty when the provider answered a summary.
	ID, Name string
	// TimeStamp is when the replica was taken (see above for summary answers).
	TimeStamp time.Time
}

// ReplicationGroup is the replication state of a group.
type ReplicationGroup struct {
	// Group identifies the group.
	Group GroupID
	// State is TARGET, SOURCE, INTEST, FAILEDOVER, REMOTE_FAILEDOVER, StateError or StateUnanswered.
	State string
}

const (
	// StateError is the State of a group the provider answered with an error saying it cannot be
	// synced: unknown to it (NotFound, InvalidArgument), or an error of no kind named below.
	StateError = "ERROR"
	// StateUnanswered is the State of a group the provider could not answer for now (a per-group
	// QueryExecutionFault, "any other error"; a transient fault; TooMany; the group served by another
	// provider): it says nothing about the group.
	StateUnanswered = "UNANSWERED"
)

// Client is the SMS client the controllers hold. It is safe for concurrent use.
//
// An expired vCenter session is re-established transparently (once per call). If that re-login is
// rejected (*LoginError, e.g. the password was rotated in vCenter but not in the Secret), the client
// is broken for good: it never logs in again, and every later call fails fast with an error wrapping
// that same *LoginError without contacting vCenter, so that a reconcile loop cannot lock the SSO
// account. Callers must Dial a new client when the credentials change (Close on a broken client
// does not contact vCenter either). A re-login that reaches another vCenter than the first login did
// (another instanceUuid at the same url) breaks the client the same way, with ErrVCenterChanged: the
// task and provider moIds it handed out may name other objects there.
type Client interface {
	Discovery
	// FindProvider returns the provider whose name (or uid) matches; exactly one of name and uid must be set.
	// It returns a *ProviderNotFoundError (errors.Is ErrProviderNotFound) when none matches, and an error
	// wrapping ErrProviderAmbiguous when more than one has the name. When none of those Providers lists
	// matches but some providers' info could not be read, the error wraps their faults instead.
	FindProvider(ctx context.Context, name, uid string) (ProviderInfo, error)
	// Providers lists the VASA providers registered in this vCenter; a provider whose info query faults
	// is left out.
	Providers(ctx context.Context) ([]ProviderInfo, error)
	// ReplicationGroups queries the replication state of groups at the provider.
	ReplicationGroups(ctx context.Context, providerRef string, groups []GroupID) ([]ReplicationGroup, error)
	// PointInTimeReplicas returns the PiTs with exactly pitName for these groups. When the provider
	// failed the query for some groups, it returns the PiTs of the others with an error wrapping
	// *GroupQueryError.
	PointInTimeReplicas(ctx context.Context, providerRef string, groups []GroupID, pitName string) ([]PointInTime, error)
	// SyncReplicationGroups starts SyncReplicationGroup_Task and returns the SmsTask moId value.
	// A success without a task reference (or with one too long to keep) is an error wrapping
	// ErrEmptyTaskRef.
	SyncReplicationGroups(ctx context.Context, providerRef string, groups []GroupID, pitName string) (taskRef string, err error)
	// TaskInfo reads the state, progress and results of an SmsTask.
	TaskInfo(ctx context.Context, taskRef string) (TaskInfo, error)
	// Close logs out of vCenter.
	Close(ctx context.Context) error
}
