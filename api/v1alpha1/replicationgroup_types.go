package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReplicationGroup objects are written only by the operator's discovery, from the provider's
// QueryReplicationGroup answer. Users are kept from changing them usefully by reconcile-back, not by
// admission: every discovery rewrites each object's own labels (provider, fault domain, state, source
// group; other labels are kept), spec and status from the provider's answer
// and deletes every object in the namespace that carries a provider label of this VasaProvider but
// names a group the provider did not report for a whole discovery interval (objects a user created
// included). An answer that lists no group at all deletes nothing. An admission policy
// would have to name the manager's ServiceAccount, which differs per install (kustomize prefix, Helm
// release name, namespace), and would block the repair a cluster admin may need; the RBAC the project
// ships grants no write on replicationgroups to anyone but the manager.
//
// The kind has no status subresource on purpose: the operator is its only writer, so creating an object
// with its status and changing labels and status together each take one write instead of two, which
// matters at 5,000 groups per provider.

// Labels the operator sets on every ReplicationGroup; their values are label-safe forms of the
// underlying strings (see LabelValue).
const (
	// ProviderLabel holds the name of the VasaProvider that reported the group.
	ProviderLabel = "replication.vasa.io/provider"
	// FaultDomainLabel holds the group's fault domain id.
	FaultDomainLabel = "replication.vasa.io/fault-domain"
	// StateLabel holds the group's replication state (TARGET, SOURCE, INTEST, FAILEDOVER, ...).
	StateLabel = "replication.vasa.io/state"
	// SourceGroupLabel holds the name of the source group the target replicates (see
	// ReplicationGroupStatus.SourceGroupName).
	SourceGroupLabel = "replication.vasa.io/source-group"
)

// TargetState is the replication state (status.state) of a group that receives replicas: the only one a
// sync is valid in, and the only one with an RPO.
const TargetState = "TARGET"

// ReplicationGroupSpec identifies the group; the operator sets it at creation and never changes it.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is set by the operator's discovery and is immutable"
type ReplicationGroupSpec struct {
	// providerRef names the VasaProvider in the same namespace that reported the group.
	// +required
	ProviderRef LocalObjectReference `json:"providerRef"`

	// groupId is the group's id at the replication target: fault domain and device group.
	// +required
	GroupID ReplicationGroupID `json:"groupId"`
}

// PointInTime describes one point-in-time replica (PiT).
type PointInTime struct {
	// name is the PiT's name; empty when the provider answered only a summary (counts).
	// +optional
	Name string `json:"name,omitempty"`

	// id is the PiT's id; empty when the provider answered only a summary (counts).
	// +optional
	ID string `json:"id,omitempty"`

	// timeStamp is when the array took the PiT; for a summary answer, the start of the newest
	// interval that holds a PiT.
	// +required
	TimeStamp metav1.Time `json:"timeStamp"`

	// summary is true when the provider answered counts per interval instead of PiT details, so name,
	// id and the exact time are unknown. Defaults to false.
	// +optional
	Summary bool `json:"summary,omitempty"`
}

// LastSync is the newest ReplicationSync of this operator that finished for the group.
type LastSync struct {
	// name of the ReplicationSync.
	// +required
	Name string `json:"name"`

	// pitName is the PiT name the sync asked for.
	// +optional
	PitName string `json:"pitName,omitempty"`

	// state is the group's final state in that run (Synced or Failed).
	// +optional
	State GroupState `json:"state,omitempty"`

	// completionTime is when that run finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// pitTime is the time of the group's PiT in that run (the provider's timeStamp), when it synced: the
	// group's data is as of then, which may be long before completionTime.
	// +optional
	PitTime *metav1.Time `json:"pitTime,omitempty"`
}

// ReplicationGroupStatus is the group as the provider last reported it.
type ReplicationGroupStatus struct {
	// state is the replication state at the target (TARGET, SOURCE, INTEST, FAILEDOVER,
	// REMOTE_FAILEDOVER, ...); a sync is valid only in TARGET.
	// +optional
	State string `json:"state,omitempty"`

	// name is the group's name as the provider reports it (TargetGroupInfo.name); may be empty.
	// +optional
	Name string `json:"name,omitempty"`

	// sourceGroupId is the group this target replicates from.
	// +optional
	SourceGroupID *ReplicationGroupID `json:"sourceGroupId,omitempty"`

	// sourceGroupName is the name used for the source-group label: the group's name when the provider
	// reports one (arrays name the target after its source), else the source's device group id.
	// +optional
	SourceGroupName string `json:"sourceGroupName,omitempty"`

	// replicationAgreement is the provider's description of the replication agreement (RPO, mode, ...).
	// +optional
	ReplicationAgreement string `json:"replicationAgreement,omitempty"`

	// newestPiT is the newest point-in-time replica of the group, whoever made it (the array's own
	// schedule or a sync). Unset when the group has none or the provider cannot say. The RPO the
	// group is at is the time since newestPiT.timeStamp: the RPO printer column shows it live.
	// +optional
	NewestPiT *PointInTime `json:"newestPiT,omitempty"`

	// lastSync is the newest ReplicationSync of this operator that finished with this group. It stays
	// after that ReplicationSync is deleted (ttlSecondsAfterFinished, a schedule's history limit) until
	// a run that finished later replaces it: a finished run is not deleted before a discovery has
	// recorded it here (at most 5 minutes after it finished or, if longer, four times the
	// VasaProvider's last discovery duration, status.discovery.lastDuration).
	// +optional
	LastSync *LastSync `json:"lastSync,omitempty"`

	// message says why part of the status is missing, e.g. the provider failed the PiT query.
	// +optional
	Message string `json:"message,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=rg,categories=vasa
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.providerRef.name`
// +kubebuilder:printcolumn:name="Fault Domain",type=string,JSONPath=`.spec.groupId.faultDomainId.id`
// +kubebuilder:printcolumn:name="Device Group",type=string,JSONPath=`.spec.groupId.deviceGroupId.id`,priority=1
// +kubebuilder:printcolumn:name="Newest PiT",type=string,JSONPath=`.status.newestPiT.name`
// +kubebuilder:printcolumn:name="RPO",type=date,JSONPath=`.status.newestPiT.timeStamp`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReplicationGroup is one replication group a VasaProvider reports, discovered and kept up to date by the
// operator (read-only for users). Its labels let ReplicationSyncs choose groups with spec.groupSelector.
type ReplicationGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec identifies the group.
	// +required
	Spec ReplicationGroupSpec `json:"spec"`
	// status is what the provider last reported.
	// +optional
	Status ReplicationGroupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReplicationGroupList is a list of ReplicationGroups.
type ReplicationGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReplicationGroup `json:"items"`
}
