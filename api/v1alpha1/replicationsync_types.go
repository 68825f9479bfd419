package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReplicationSyncSpec is one sync run: which groups, which PiT name, through which provider.
// +kubebuilder:validation:XValidation:rule="has(self.groupIds) != has(self.groupSelector)",message="set exactly one of spec.groupIds and spec.groupSelector"
// +kubebuilder:validation:XValidation:rule="has(self.groupIds) == has(oldSelf.groupIds)",message="spec.groupIds and spec.groupSelector cannot be swapped: create a new ReplicationSync instead"
type ReplicationSyncSpec struct {
	// providerRef names the VasaProvider in the same namespace to sync through. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="providerRef is immutable: create a new ReplicationSync instead"
	ProviderRef LocalObjectReference `json:"providerRef"`

	// The duplicate check of groupIds runs on create only (the list is immutable): evaluated on every
	// status write of a 1000-group run, it cost the API server about a tenth of the write.

	// The check of the ids' characters sits on the list's items, not on the id types: status.groups and
	// ReplicationGroups share those types, and they hold what a provider reported.

	// groupIds lists the replication groups to sync, 1 to 1000 unique entries, with ids free of white
	// space around them, of control characters and of U+FFFE and U+FFFF (XML cannot carry them), at most
	// 160000 bytes (UTF-8) of ids in all. Immutable. Exactly one of groupIds and groupSelector must be set.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.transformMapEntry(i, g, {g.faultDomainId.id.replace('%', '%25').replace('/', '%2F') + '/' + g.deviceGroupId.id.replace('%', '%25').replace('/', '%2F'): true}).size() == self.size()",message="groupIds must not contain duplicates",optionalOldSelf=true
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="groupIds is immutable: create a new ReplicationSync instead"
	// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.map(g, bytes(g.faultDomainId.id).size() + bytes(g.deviceGroupId.id).size()).sum() <= 160000",message="groupIds: the fault domain and device group ids together must not exceed 160000 bytes (UTF-8), so that the run's status fits in one object: split the groups over several ReplicationSyncs",optionalOldSelf=true
	// +kubebuilder:validation:items:XValidation:rule=`[self.faultDomainId.id, self.deviceGroupId.id].all(s, s.trim().size() == 0 || (s == s.trim() && !s.matches('[\\p{Cc}\\x{FFFE}\\x{FFFF}]')))`,message="fault domain and device group ids must not start or end with white space or contain control characters such as line breaks or tabs, or U+FFFE or U+FFFF"
	GroupIDs []ReplicationGroupID `json:"groupIds,omitempty"`

	// groupSelector chooses the groups to sync by the labels of the provider's ReplicationGroups (see
	// ReplicationGroup's labels), as an alternative to groupIds. It is resolved once, when the run starts
	// (after the VasaProvider's first discovery, when discovery is on), and the groups it matched then are
	// frozen into status.groups: groups appearing later or a re-applied object never change a run.
	// Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="groupSelector is immutable: create a new ReplicationSync instead"
	GroupSelector *GroupSelector `json:"groupSelector,omitempty"`

	// pitName is the name of the point-in-time replica the sync creates, 1 to 255 characters and at
	// most 255 bytes in UTF-8 (status repeats it for every group), not blank, without white space around
	// it, control characters, U+FFFE or U+FFFF (the SOAP binding cannot carry them, so the PiT would get
	// another name and never be found by it). Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 255",message="pitName must not exceed 255 bytes in UTF-8 (a character of a non-Latin script takes 2 to 4): status repeats it for every group, and a run must fit in one object"
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="pitName must not be blank"
	// +kubebuilder:validation:XValidation:rule=`self.trim().size() == 0 || (self == self.trim() && !self.matches('[\\p{Cc}\\x{FFFE}\\x{FFFF}]'))`,message="pitName must not start or end with white space or contain control characters such as line breaks or tabs, or U+FFFE or U+FFFF"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="pitName is immutable: create a new ReplicationSync instead"
	PitName string `json:"pitName"`

	// backoffLimit is how many provider-side failures are tolerated per group before the
	// sync fails. Defaults to 6, as for a Job.
	// +optional
	// +kubebuilder:default=6
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// activeDeadlineSeconds bounds the whole run, counted from the object's creation, so time spent
	// waiting for the provider and busy waits are included; when it passes the sync fails with reason
	// DeadlineExceeded. Unset means no deadline. At most 31536000 (a year).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31536000
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// ttlSecondsAfterFinished deletes the object this many seconds after it finished
	// (0 = at once). Meant for objects stamped out by schedules or cron, not for objects
	// kept in Git. Unset means keep it. A succeeded run owned by a ReplicationSyncSchedule is kept
	// until that schedule has recorded its success (at most 10 minutes past the TTL), and any run
	// until the discovery after it (30 s later) has recorded it as its groups' lastSync (not when the
	// provider's discovery is off): at most 5 minutes after it finished or, if longer, four times
	// the VasaProvider's status.discovery.lastDuration, since a slow discovery may have begun just
	// before the run finished and only the next one, spaced twice that from it, records it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// maxBatchSize caps the groups per SMS call for this sync only; 0 (default) means the
	// provider's limits decide.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxBatchSize int32 `json:"maxBatchSize,omitempty"`

	// progressDeadlineSeconds is how long a run may go without progress (a group synced or failed,
	// a task started, a task's reported percent advanced, a task of ours that shows no percent running
	// no longer than the provider's longest recent task) before it reports Stalled=True with reason ProgressDeadlineExceeded. The run
	// keeps trying; Stalled clears when progress resumes. A run waiting for the provider's capacity (in
	// line for a slot, or sent back as busy) counts only from the last task of that provider that ended.
	// Defaults to 600, as for a Deployment.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// SyncPhase is the phase of a ReplicationSync.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type SyncPhase string

const (
	// SyncPending: not started yet, e.g. waiting for its provider to be Ready.
	SyncPending SyncPhase = "Pending"
	// SyncRunning: groups are being synced.
	SyncRunning SyncPhase = "Running"
	// SyncSucceeded: every group synced.
	SyncSucceeded SyncPhase = "Succeeded"
	// SyncFailed: the run ended with groups not synced.
	SyncFailed SyncPhase = "Failed"
)

// GroupState is the state of one replication group within a run.
// +kubebuilder:validation:Enum=Pending;Issuing;Syncing;Waiting;Synced;Failed
type GroupState string

const (
	// GroupPending: not issued yet, or waiting to be retried.
	GroupPending GroupState = "Pending"
	// GroupIssuing: claimed for a sync call whose task ref is not recorded yet. Found without a call
	// in progress (a crash, a timeout, a lost response), the group is in doubt: see claimTime.
	GroupIssuing GroupState = "Issuing"
	// GroupSyncing: our SMS task for the group is in flight (task).
	GroupSyncing GroupState = "Syncing"
	// GroupWaiting: someone else's sync of the group is running (task); ours is issued after it.
	GroupWaiting GroupState = "Waiting"
	// GroupSynced: a PiT with the sync's pitName exists for the group.
	GroupSynced GroupState = "Synced"
	// GroupFailed: the group failed more often than backoffLimit allows, or cannot be synced.
	GroupFailed GroupState = "Failed"
)

// GroupStatus is the outcome of one replication group.
type GroupStatus struct {
	ReplicationGroupID `json:",inline"`

	// state of the group in this run.
	// +required
	State GroupState `json:"state"`

	// task is the SMS task (SmsTask moId) that syncs the group now or did last.
	// +optional
	Task string `json:"task,omitempty"`

	// provider is the SMS provider moId the group was issued to (differs from the
	// VasaProvider's own after an InactiveProvider re-route).
	// +optional
	Provider string `json:"provider,omitempty"`

	// pitId is the PiT id the provider returned (unset if the array has no PiT support).
	// +optional
	PitID string `json:"pitId,omitempty"`

	// pitName is the PiT name the provider returned.
	// +optional
	PitName string `json:"pitName,omitempty"`

	// timeStamp is the provider's time of the PiT.
	// +optional
	TimeStamp *metav1.Time `json:"timeStamp,omitempty"`

	// attempts counts the provider-side failures of this group.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// claimTime is when the group was last claimed for a sync call (state Issuing). A group still
	// Issuing after the provider's in-doubt window is issued again, once per claim.
	// +optional
	ClaimTime *metav1.MicroTime `json:"claimTime,omitempty"`

	// reissues counts the calls made again for this group because an earlier call's outcome was
	// unknown (in doubt).
	// +optional
	Reissues int32 `json:"reissues,omitempty"`

	// reroutes counts the InactiveProvider re-routes in a row since the group was last issued.
	// +optional
	Reroutes int32 `json:"reroutes,omitempty"`

	// pollFaults counts the faults in a row answered when its task was queried.
	// +optional
	PollFaults int32 `json:"pollFaults,omitempty"`

	// message is the provider's error or warnings, human readable.
	// +optional
	Message string `json:"message,omitempty"`
}

// SyncSummary counts groups by state.
type SyncSummary struct {
	// total number of groups.
	Total int32 `json:"total"`
	// synced groups.
	Synced int32 `json:"synced"`
	// failed groups.
	Failed int32 `json:"failed"`
	// pending groups (not yet synced, including those in flight).
	Pending int32 `json:"pending"`
}

// FaultRecord describes a provider fault.
type FaultRecord struct {
	// type is the SMS fault name, e.g. ProviderBusy.
	// +optional
	Type string `json:"type,omitempty"`
	// message is the fault's text.
	// +optional
	Message string `json:"message,omitempty"`
	// time the fault was received.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// RetryStatus describes the run's backoff: after provider faults (busy, out of resource, unavailable,
// unreachable) and after counted group failures, no call is made before nextRetryTime.
type RetryStatus struct {
	// attempts counts consecutive provider-wide faults; reset by a successful call.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// nextRetryTime is when the next call will be made.
	// +optional
	NextRetryTime *RetryTime `json:"nextRetryTime,omitempty"`
	// lastFault is the most recent provider fault.
	// +optional
	LastFault *FaultRecord `json:"lastFault,omitempty"`
}

// ReplicationSyncStatus is the observed state of a ReplicationSync.
type ReplicationSyncStatus struct {
	// phase is Pending, Running, Succeeded or Failed.
	// +optional
	Phase SyncPhase `json:"phase,omitempty"`

	// conditions: Ready (every group synced), Reconciling (work left), Stalled (needs a human).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// startTime is when the first call was made.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the run finished, successfully or not.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// summary counts the groups by state.
	// +optional
	Summary *SyncSummary `json:"summary,omitempty"`

	// syncedDisplay is summary.synced/summary.total, for the printer column.
	// +optional
	SyncedDisplay string `json:"syncedDisplay,omitempty"`

	// batchSize is the number of groups per SMS call currently used.
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`

	// groups has one entry per spec group, in the same order.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	Groups []GroupStatus `json:"groups,omitempty"`

	// vcenterInstanceUuid is the vCenter the run's calls went to (its AboutInfo.instanceUuid): the task and
	// provider moIds in groups are that vCenter's. While a group is in flight, a VasaProvider that now
	// reaches another vCenter stops the run (Stalled, reason ProviderChanged) rather than ask it.
	// +optional
	VCenterInstanceUUID string `json:"vcenterInstanceUuid,omitempty"`

	// lastProgressTime is when a group last synced or failed, a task was last started, or a task's reported
	// percent was seen to advance (at most every half progressDeadlineSeconds).
	// +optional
	LastProgressTime *metav1.Time `json:"lastProgressTime,omitempty"`

	// retry describes provider-wide backoff.
	// +optional
	Retry *RetryStatus `json:"retry,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// ReplicationSync condition reasons.
const (
	// SucceededReason (Ready=True): every group synced.
	SucceededReason = "Succeeded"
	// FailedReason (Ready=False, Stalled=True): groups failed beyond backoffLimit.
	FailedReason = "Failed"
	// SubmittingReason (Reconciling): groups are being issued to the provider.
	SubmittingReason = "Submitting"
	// WaitingForTaskReason (Reconciling): SMS tasks are in flight.
	WaitingForTaskReason = "WaitingForTask"
	// BackingOffReason (Reconciling): the provider is busy, out of resources or unavailable.
	BackingOffReason = "BackingOff"
	// WaitingForProviderCapacityReason (Reconciling): the provider's maxConcurrentTasks is reached and
	// the run has no task in flight (with tasks in flight it is WaitingForTask).
	WaitingForProviderCapacityReason = "WaitingForProviderCapacity"
	// WaitingForProviderReason (Reconciling): the VasaProvider is missing or not Ready.
	WaitingForProviderReason = "WaitingForProvider"
	// WaitingForDiscoveryReason (Reconciling): the run selects its groups by spec.groupSelector and no
	// discovery of the VasaProvider has ended yet.
	WaitingForDiscoveryReason = "WaitingForDiscovery"
	// DeadlineExceededReason (Stalled): activeDeadlineSeconds passed.
	DeadlineExceededReason = "DeadlineExceeded"
	// NotImplementedReason (Stalled): the provider does not implement the sync.
	NotImplementedReason = "NotImplemented"
	// InDoubtReason (Reconciling): a sync call got no answer, or SMS forgot its task; its groups wait
	// out the in-doubt window.
	InDoubtReason = "InDoubt"
	// ProgressDeadlineExceededReason (Stalled): no progress for progressDeadlineSeconds; still trying.
	ProgressDeadlineExceededReason = "ProgressDeadlineExceeded"
	// NoGroupsSelectedReason (Stalled): spec.groupSelector matched no ReplicationGroup of the provider
	// when the run started.
	NoGroupsSelectedReason = "NoGroupsSelected"
	// CRDOutdatedReason (Stalled): the API server drops claimTime from a claim (tried as a dry run): the
	// ReplicationSync CRD in the cluster is older than the operator. Nothing is called until it is applied.
	CRDOutdatedReason = "CRDOutdated"
	// ProviderChangedReason (Stalled): the VasaProvider now reaches another vCenter than the one the run's
	// groups in flight were issued to (status.vcenterInstanceUuid); the run calls nothing until it is back.
	ProviderChangedReason = "ProviderChanged"
	// ScheduleGoneReason (Stalled): the run carries a schedule's scheduled time, but that schedule (its
	// controller reference, by UID) does not exist: a copy restored or applied without its status. It is
	// not started, so that its groups are not synced again under an old PiT name.
	ScheduleGoneReason = "ScheduleGone"
)

// PiTMadeElsewhereReason is the reason of the Warning event of a run whose groups had a PiT of its name
// that another writer made while the run existed, for groups the run never called for.
const PiTMadeElsewhereReason = "PiTMadeElsewhere"

// SyncSetLabel is set on each of the ReplicationSyncs created together for more groups than one run holds
// (by a schedule's run, or `kubectl vasa sync --split`), with the name they share: `kubectl get rsync -l`
// finds them all.
const SyncSetLabel = "replication.vasa.io/sync-set"

// ShareAnnotation records which share of its set a ReplicationSync holds, as "N/OF" (e.g. "2/5"): the set
// succeeded when all OF shares did.
const ShareAnnotation = "replication.vasa.io/share"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rsync,categories=vasa
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.providerRef.name`
// +kubebuilder:printcolumn:name="PiT",type=string,JSONPath=`.spec.pitName`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.syncedDisplay`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Stalled")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReplicationSync is one sync of a set of replication groups to a named PiT, like a Job.
type ReplicationSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to sync.
	// +required
	Spec ReplicationSyncSpec `json:"spec"`
	// status is how the run went.
	// Until the operator has written it, it reads observedGeneration -1, so that kstatus (Flux, Helm,
	// kubectl wait) holds a new object InProgress, not Current.
	// +optional
	// +kubebuilder:default={}
	Status ReplicationSyncStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReplicationSyncList is a list of ReplicationSyncs.
type ReplicationSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReplicationSync `json:"items"`
}
