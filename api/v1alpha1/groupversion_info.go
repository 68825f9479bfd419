package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "replication.vasa.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this API with a runtime scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&VasaProvider{}, &VasaProviderList{},
		&ReplicationSync{}, &ReplicationSyncList{},
		&ReplicationSyncSchedule{}, &ReplicationSyncScheduleList{},
		&ReplicationGroup{}, &ReplicationGroupList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
