package smssim

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration that reads and writes as a Go duration string ("50ms") in YAML/JSON.
type Duration struct{ time.Duration }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parsing duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// Config is the whole simulator configuration; the same struct is used from Go and from YAML.
type Config struct {
	// Listen is the address to serve on; "" means 127.0.0.1:0.
	Listen string `json:"listen,omitempty"`
	// Username that may log in; "" means "administrator@vsphere.local".
	Username string `json:"username,omitempty"`
	// Password of Username; "" means "pass".
	Password string `json:"password,omitempty"`
	// SessionExpiresAfterCalls expires every session after that many SMS calls; 0 means never.
	SessionExpiresAfterCalls int `json:"sessionExpiresAfterCalls,omitempty"`
	// RestartSMSAfterCalls restarts the SMS service after every that many SMS calls (see
	// Sim.RestartSMS); 0 means never.
	RestartSMSAfterCalls int `json:"restartSMSAfterCalls,omitempty"`
	// TaskRetention makes SMS forget an ended task that long after it ended (QuerySmsTaskInfo answers
	// ManagedObjectNotFound), as vCenter drops finished tasks after a while; 0 means never. Assumed: how
	// long SMS keeps them is not documented; vCenter's own TaskManager keeps recent tasks for minutes.
	TaskRetention Duration `json:"taskRetention,omitempty"`
	// Release is the vCenter release played (6.7U3, 7.0U3, 8.0GA, 8.0U1, 8.0U2, 8.0U3); "" means 8.0U3.
	// It decides the SMS versions accepted, the VI/JSON release paths served and AboutInfo.
	Release Release `json:"release,omitempty"`
	// NewestSMSVersion lowers the newest SMS version the release accepts, as on a patch level whose SMS
	// lags behind its AboutInfo.apiVersion; "" means the release's own.
	NewestSMSVersion string `json:"newestSMSVersion,omitempty"`
	// JSONSessions is how the VI/JSON binding authenticates: "strict" (default) accepts only session ids
	// issued by the VI/JSON SessionManager login and answers HTTP 401 to others and to expired ones;
	// "shared" also accepts a SOAP session cookie as the id and answers an expired session with the
	// InvalidSession fault.
	JSONSessions JSONSessionMode `json:"jsonSessions,omitempty"`
	// ServiceInitializingFor makes the SMS service initialize for that long after start and after each
	// restart (HTTP 503, then ServiceNotInitialized), as after a vCenter upgrade or a restart of its
	// storage service; 0 means it is up at once.
	ServiceInitializingFor Duration `json:"serviceInitializingFor,omitempty"`
	// Providers are the VASA providers registered in this vCenter.
	Providers []ProviderConfig `json:"providers"`
}

// JSONSessionMode selects how VI/JSON sessions are checked.
type JSONSessionMode string

const (
	// JSONSessionsStrict accepts only ids issued by the VI/JSON login.
	JSONSessionsStrict JSONSessionMode = "strict"
	// JSONSessionsShared also accepts a SOAP session cookie as the VI/JSON session id.
	JSONSessionsShared JSONSessionMode = "shared"
)

// ProviderConfig describes one VASA provider and its knobs.
type ProviderConfig struct {
	// Name is VasaProviderInfo.name (required, unique).
	Name string `json:"name"`
	// UID is VasaProviderInfo.uid; "" means a generated one.
	UID string `json:"uid,omitempty"`
	// Version is VasaProviderInfo.version; "" means "3.0".
	Version string `json:"version,omitempty"`
	// Status is VasaProviderInfo.status; "" means "online".
	Status string `json:"status,omitempty"`
	// MaxBatchSize answers TooMany{maxBatchSize} to syncs of more groups; 0 means no limit.
	MaxBatchSize int32 `json:"maxBatchSize,omitempty"`
	// TooManyWithoutSize answers TooMany with maxBatchSize unset to any sync of more than one group.
	TooManyWithoutSize bool `json:"tooManyWithoutSize,omitempty"`
	// NotImplemented answers NotImplemented to SyncReplicationGroup_Task.
	NotImplemented bool `json:"notImplemented,omitempty"`
	// NoPitSupport models an array without PiT support: sync results leave pitId unset and
	// QueryPointInTimeReplica answers NotImplemented. Syncs are still recorded (Sim.PiTs, Sim.Calls).
	NoPitSupport bool `json:"noPitSupport,omitempty"`
	// PiTSummaries answers QueryPointInTimeReplica with summaries (counts) even when
	// queryParam.preferDetails is true, as a provider may (it is only a hint).
	PiTSummaries bool `json:"pitSummaries,omitempty"`
	// PiTQueryMaxGroups answers at most that many groups of one QueryPointInTimeReplica; each group after
	// them gets a GroupErrorResult with TooMany, as the API reference lets a provider that finds too many
	// to return (QueryPointInTimeReplicaSuccessResult: "vSphere will then query for these groups
	// separately"). 0 means no limit.
	PiTQueryMaxGroups int32 `json:"pitQueryMaxGroups,omitempty"`
	// TaskDuration is how long a sync task takes (queued for the first quarter, then running); 0 means instant.
	// It is the median when TaskDurationJitter is set.
	TaskDuration Duration `json:"taskDuration,omitempty"`
	// TaskDurationJitter spreads task durations around TaskDuration (see TaskDurationDistribution); 0 means none.
	TaskDurationJitter Duration `json:"taskDurationJitter,omitempty"`
	// TaskDurationDistribution is "uniform" (the default: TaskDuration ± TaskDurationJitter) or "lognormal"
	// (median TaskDuration, sigma TaskDurationJitter/TaskDuration: a long tail, as real arrays show).
	TaskDurationDistribution string `json:"taskDurationDistribution,omitempty"`
	// MaxConcurrentTasks answers ProviderBusy to a sync while that many sync tasks of the provider
	// (any client's) are queued or running; 0 means no limit.
	MaxConcurrentTasks int `json:"maxConcurrentTasks,omitempty"`
	// LostResponses drops the HTTP response of SyncReplicationGroup_Task calls that created a task:
	// the server closes the connection without answering (both bindings).
	LostResponses *ResponseRule `json:"lostResponses,omitempty"`
	// ResetResponses answers SyncReplicationGroup_Task calls that created a task with vCenter's front
	// proxy's HTTP 503 for a backend that reset the connection before answering, as when the SMS
	// service restarts while a call is in it (both bindings).
	ResetResponses *ResponseRule `json:"resetResponses,omitempty"`
	// LateResponses holds back the HTTP response of SyncReplicationGroup_Task calls that created a
	// task for Delay, so it arrives after the client's timeout (both bindings).
	LateResponses *LateResponseRule `json:"lateResponses,omitempty"`
	// EmptyTaskRefs answers SyncReplicationGroup_Task calls on the VI/JSON binding that created a
	// task with HTTP 200 and an empty body, so the client never learns the task.
	EmptyTaskRefs *ResponseRule `json:"emptyTaskRefs,omitempty"`
	// Latency is added to every call to this provider.
	Latency Duration `json:"latency,omitempty"`
	// ListLatencyPerGroup is added to a QueryReplicationGroup answer for each group in it: a provider
	// builds the answer group by group, so listing thousands takes long. Assumed linear; no figure from a
	// real array is known.
	ListLatencyPerGroup Duration `json:"listLatencyPerGroup,omitempty"`
	// ListIDsOnly answers a QueryReplicationGroup without groupId (every group) with their ids alone
	// (bare GroupOperationResults), which the API allows: "VASA Provider can return either a list of
	// GroupOperationResult or a list of QueryReplicationGroupSuccessResult". A query naming groups is
	// answered in full.
	ListIDsOnly bool `json:"listIdsOnly,omitempty"`
	// UnknownGroupsLeftOut answers a QueryReplicationGroup naming groups only for the groups the provider
	// has: an unknown id gets no entry, not a GroupErrorResult. The API does not say which a provider does
	// (it returns a list of results, not one per id asked); assumed of providers that filter their
	// listing by the ids asked.
	UnknownGroupsLeftOut bool `json:"unknownGroupsLeftOut,omitempty"`
	// ResultOnlyByQuery leaves SmsTaskInfo.result unset for this provider's sync tasks: their result is
	// answered by QuerySmsTaskResult alone. The API makes result optional ("the result of the task, if
	// any") and offers QuerySmsTaskResult to read it; VMware's SMS samples read results that way. Assumed
	// of a vCenter build or provider that does not copy the result into the task's info.
	ResultOnlyByQuery bool `json:"resultOnlyByQuery,omitempty"`
	// TaskErrors makes that many next sync tasks end in state error (whole task); -1 means always.
	TaskErrors int `json:"taskErrors,omitempty"`
	// ClockOffset is how far the array's clock is ahead of true time (negative: behind), as an array
	// whose NTP drifted or failed: the PiT timestamps it reports, and the dates a PiT query is bounded
	// by, are on its clock. SMS and vCenter keep true time.
	ClockOffset Duration `json:"clockOffset,omitempty"`
	// TaskErrorAfterGroups makes a task that ends in error (TaskErrors) first sync that many of its
	// groups, in the order of the call, and keep their PiTs: the array failed midway through the sync.
	// The task still reports only its error, no per-group result.
	TaskErrorAfterGroups int `json:"taskErrorAfterGroups,omitempty"`
	// TaskErrorFault is the fault those tasks end with; "" means SmsReplicationFault. A provider meets
	// busy, out of resource or too many groups after SMS took the call as well as before: the task then
	// ends in error with that fault.
	TaskErrorFault FaultKind `json:"taskErrorFault,omitempty"`
	// Faults answer calls with faults (busy, out of resource, ...), N times or with a probability.
	Faults []FaultRule `json:"faults,omitempty"`
	// Inactive makes the provider answer InactiveProvider for groups of the listed fault domains.
	Inactive *InactiveConfig `json:"inactive,omitempty"`
	// Groups are the replication groups this provider knows.
	Groups []GroupConfig `json:"groups,omitempty"`
	// ArraySchedule makes the array take PiTs of its TARGET groups on its own schedule (see
	// ArrayScheduleConfig in arrayschedule.go).
	ArraySchedule *ArrayScheduleConfig `json:"arraySchedule,omitempty"`
}

// FaultKind names a fault the simulator can answer with.
type FaultKind string

const (
	// FaultBusy is ProviderBusy.
	FaultBusy FaultKind = "ProviderBusy"
	// FaultOutOfResource is ProviderOutOfResource.
	FaultOutOfResource FaultKind = "ProviderOutOfResource"
	// FaultUnavailable is ProviderUnavailable.
	FaultUnavailable FaultKind = "ProviderUnavailable"
	// FaultNotImplemented is NotImplemented.
	FaultNotImplemented FaultKind = "NotImplemented"
	// FaultReplication is a plain SmsReplicationFault.
	FaultReplication FaultKind = "SmsReplicationFault"
	// FaultInvalidArgument is InvalidArgument.
	FaultInvalidArgument FaultKind = "InvalidArgument"
	// FaultTooMany is TooMany without maxBatchSize.
	FaultTooMany FaultKind = "TooMany"
	// FaultQueryExecution is QueryExecutionFault, a query's "any other error".
	FaultQueryExecution FaultKind = "QueryExecutionFault"
)

// FaultRule answers calls of Method with Fault.
type FaultRule struct {
	// Method is a method the array answers: SyncReplicationGroup_Task, QueryReplicationGroup or
	// QueryPointInTimeReplica; "" means each of them. SMS answers task queries and provider lookups on its
	// own, without the array's faults (Start refuses a rule for them).
	Method string `json:"method,omitempty"`
	// Fault is the fault to answer.
	Fault FaultKind `json:"fault"`
	// Times is how many calls get the fault; 0 means every call (subject to Probability).
	Times int `json:"times,omitempty"`
	// Probability in (0,1] answers the fault at random; 0 means always.
	Probability float64 `json:"probability,omitempty"`
	// Message is the fault's localized message.
	Message string `json:"message,omitempty"`
}

// ResponseRule picks SyncReplicationGroup_Task responses to tamper with, like FaultRule picks calls.
// Only calls that created a task count: the case where the client is left in doubt.
type ResponseRule struct {
	// Times is how many responses are affected; 0 means every one (subject to Probability).
	Times int `json:"times,omitempty"`
	// Probability in (0,1] picks responses at random; 0 means always.
	Probability float64 `json:"probability,omitempty"`
}

// LateResponseRule is a ResponseRule whose responses are sent after Delay.
type LateResponseRule struct {
	ResponseRule `json:",inline"`
	// Delay is how long the response is held back; 0 means DefaultLateResponseDelay.
	Delay Duration `json:"delay,omitempty"`
}

// InactiveConfig makes a provider inactive for some fault domains (see inactive.go for what it answers).
type InactiveConfig struct {
	// FaultDomains are the fault domain ids the provider is inactive for; empty means all.
	FaultDomains []string `json:"faultDomains,omitempty"`
	// ActiveProvider is the name of the provider that is active for them.
	ActiveProvider string `json:"activeProvider"`
}

// GroupConfig describes a replication group and its knobs.
type GroupConfig struct {
	// FaultDomain is the fault domain id.
	FaultDomain string `json:"faultDomain"`
	// DeviceGroup is the device group id.
	DeviceGroup string `json:"deviceGroup"`
	// State is the replication state; "" means TARGET.
	State string `json:"state,omitempty"`
	// Errors makes that many next syncs of the group end with a GroupErrorResult; -1 means always.
	Errors int `json:"errors,omitempty"`
	// ErrorMessage is the message of those errors.
	ErrorMessage string `json:"errorMessage,omitempty"`
	// ErrorFault is the fault of those errors; "" means SmsReplicationFault. A group's entry may carry
	// any fault (GroupErrorResult.error is a list of MethodFault): an array busy with one group's volumes
	// may answer ProviderBusy for that group alone.
	ErrorFault FaultKind `json:"errorFault,omitempty"`
	// Warning adds this warning to every successful sync result of the group.
	Warning string `json:"warning,omitempty"`
	// SyncOngoing starts a sync of this group (pitName "external-sync") when the simulator starts,
	// so the first syncs get SyncOngoing until its task ends.
	SyncOngoing bool `json:"syncOngoing,omitempty"`
	// SyncOngoingWithoutPitName makes that foreign sync carry no pitName (its results have none),
	// as a sync started on the array itself may.
	SyncOngoingWithoutPitName bool `json:"syncOngoingWithoutPitName,omitempty"`
	// PiTQueryFaults answer this group's entry of QueryPointInTimeReplica with a GroupErrorResult
	// carrying the rule's fault (the other groups of the query are answered normally). Method must be empty.
	PiTQueryFaults []FaultRule `json:"pitQueryFaults,omitempty"`
	// GroupQueryFaults answer this group's entry of QueryReplicationGroup with a GroupErrorResult
	// carrying the rule's fault, as the API reference lets a provider (e.g. QueryExecutionFault: "any
	// other error"). Only queries naming groups are answered so; a listing of every group is not, and
	// counts no rule. Method must be empty.
	GroupQueryFaults []FaultRule `json:"groupQueryFaults,omitempty"`
	// Name is the group's name (TargetGroupInfo.name / SourceGroupInfo.name); optional.
	Name string `json:"name,omitempty"`
	// Agreement is the replication agreement description (sourceInfo.replicationAgreementDescription).
	Agreement string `json:"agreement,omitempty"`
	// PiTs are replicas the group already has when the simulator starts (see PiTConfig).
	PiTs []PiTConfig `json:"pits,omitempty"`
}

// ParseConfig reads a Config from YAML (or JSON).
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("parsing simulator config: %w", err)
	}
	return cfg, nil
}

// LoadConfig reads a Config from a YAML file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading simulator config: %w", err)
	}
	return ParseConfig(data)
}
