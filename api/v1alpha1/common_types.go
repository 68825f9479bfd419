package v1alpha1

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// ReplicationGroupID identifies one replication group on the array, as SMS
// ReplicationGroupId does: a fault domain and a device group inside it.
type ReplicationGroupID struct {
	// faultDomainId is the fault domain that holds the group.
	// +required
	FaultDomainID FaultDomainID `json:"faultDomainId"`

	// deviceGroupId is the device group inside the fault domain.
	// +required
	DeviceGroupID DeviceGroupID `json:"deviceGroupId"`
}

// MaxGroupIDBytes bounds the bytes (UTF-8) of all ids of one run's groups together (fault domain and
// device group ids): every id is stored twice, in spec.groupIds and status.groups, and with the per-group
// status a run of 1000 groups must stay well below etcd's 1.5 MiB limit for one object, or its status
// writes would be refused mid-run. Bytes, not characters: that limit is in bytes, and a character of a
// non-Latin script takes up to 4. 160000 allows 1000 groups with ids of 80 ASCII characters each. The
// CRD rules on groupIds repeat the number.
const MaxGroupIDBytes = 160000

// MaxGroupsPerRun is the most groups one ReplicationSync holds (spec.groupIds and status.groups have at
// most 1000 entries); more groups need several runs.
const MaxGroupsPerRun = 1000

// CompareGroupIDs orders groups by fault domain id, then device group id: the order of a run's groups
// when a selector chose them.
func CompareGroupIDs(a, b ReplicationGroupID) int {
	return cmp.Or(cmp.Compare(a.FaultDomainID.ID, b.FaultDomainID.ID), cmp.Compare(a.DeviceGroupID.ID, b.DeviceGroupID.ID))
}

// SelectedGroupIDs returns the ids of the groups of provider among rgs, sorted by CompareGroupIDs and
// without duplicates: the groups a selector chooses, in the order of the run it makes.
func SelectedGroupIDs(rgs []ReplicationGroup, provider string) []ReplicationGroupID {
	out := make([]ReplicationGroupID, 0, len(rgs))
	for i := range rgs {
		if rgs[i].Spec.ProviderRef.Name == provider {
			out = append(out, rgs[i].Spec.GroupID)
		}
	}
	slices.SortFunc(out, CompareGroupIDs)
	return slices.Compact(out)
}

// GroupIDBytes counts the bytes (UTF-8) of the ids of groups, as the CRD's rule on groupIds does.
func GroupIDBytes(groups []ReplicationGroupID) int {
	n := 0
	for _, g := range groups {
		n += len(g.FaultDomainID.ID) + len(g.DeviceGroupID.ID)
	}
	return n
}

// IDMaxLength is the MaxLength of FaultDomainID.ID and DeviceGroupID.ID, in characters.
const IDMaxLength = 255

// HoldsID reports whether a provider's id fits FaultDomainID.ID or DeviceGroupID.ID: 1 to IDMaxLength
// characters, not blank.
func HoldsID(id string) bool {
	return strings.TrimSpace(id) != "" && utf8.RuneCountInString(id) <= IDMaxLength
}

// FaultDomainID is the SMS FaultDomainId.
type FaultDomainID struct {
	// id is the fault domain's identifier as the VASA provider reports it; 1 to 255 characters, not blank.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="id must not be blank"
	ID string `json:"id"`
}

// DeviceGroupID is the SMS DeviceGroupId.
type DeviceGroupID struct {
	// id is the device group's identifier as the VASA provider reports it; 1 to 255 characters, not blank.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="id must not be blank"
	ID string `json:"id"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object, a DNS subdomain name as every object name is.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="name must be an object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// SecretKeySelector names one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// name of the Secret, a DNS subdomain name as every object name is.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="name must be an object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// key in the Secret's data. Defaults to "ca.crt". A Secret key holds only letters, digits, '-', '_'
	// and '.'.
	// +optional
	// +kubebuilder:default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="key must be a Secret key: letters, digits, '-', '_' and '.'"
	Key string `json:"key,omitempty"`
}

// Condition types and reasons shared by all kinds. They follow kstatus:
// Ready=True means Current, Reconciling=True means InProgress, Stalled=True means Failed.
const (
	// ReadyCondition is True when the object has reached its goal.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the operator still has work to do.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the object cannot progress without a human.
	StalledCondition = "Stalled"
)
