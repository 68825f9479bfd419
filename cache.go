package main

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
)

// cacheOptions is the manager's cache: every namespace, or those of the comma-separated watchNamespace.
// Secrets are only watched by metadata (values are read uncached); their transform strips what could
// carry values. Nothing reads managedFields (status is written as a JSON patch): keeping them would
// double what 10,000 cached ReplicationSyncs weigh.
func cacheOptions(watchNamespace string) cache.Options {
	opts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Transform: controllers.StripSecretMetadata},
		},
	}
	for _, ns := range strings.Split(watchNamespace, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			if opts.DefaultNamespaces == nil {
				opts.DefaultNamespaces = map[string]cache.Config{}
			}
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// watchedKinds are the kinds the controllers watch or list, as they watch them: Secrets by metadata
// alone, so that the readiness check, which starts their informers, caches no Secret's values.
func watchedKinds() []client.Object {
	secrets := &metav1.PartialObjectMetadata{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return []client.Object{&replicationv1alpha1.VasaProvider{}, &replicationv1alpha1.ReplicationSync{},
		&replicationv1alpha1.ReplicationSyncSchedule{}, &replicationv1alpha1.ReplicationGroup{}, secrets}
}
