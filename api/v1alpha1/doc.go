// Package v1alpha1 contains the replication.vasa.io/v1alpha1 API: VasaProvider,
// ReplicationSync and ReplicationSyncSchedule.
// +kubebuilder:object:generate=true
// +groupName=replication.vasa.io
package v1alpha1
