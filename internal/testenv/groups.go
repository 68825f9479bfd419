package testenv

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// CreateGroups creates n ReplicationGroups of provider in fault domain fd (device groups dg-0000 on), as
// the discovery would, for tests that need more groups than one run holds.
func CreateGroups(ctx context.Context, c client.Client, ns, provider, fd string, n int) error {
	var eg errgroup.Group
	eg.SetLimit(16)
	for i := range n {
		eg.Go(func() error {
			dg := fmt.Sprintf("dg-%04d", i)
			return c.Create(ctx, &replicationv1alpha1.ReplicationGroup{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: provider + "-" + fd + "-" + dg, Labels: map[string]string{
					replicationv1alpha1.ProviderLabel: provider, replicationv1alpha1.FaultDomainLabel: fd, replicationv1alpha1.StateLabel: "TARGET",
				}},
				Spec: replicationv1alpha1.ReplicationGroupSpec{
					ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider},
					GroupID: replicationv1alpha1.ReplicationGroupID{
						FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg},
					},
				},
			})
		})
	}
	return eg.Wait()
}
