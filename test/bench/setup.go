package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

const (
	// vpName is the VasaProvider of every scenario.
	vpName = "array-a"
	// readyTimeout bounds the wait for the VasaProvider to turn Ready.
	readyTimeout = 2 * time.Minute
	// createWorkers create ReplicationSyncs in parallel, so that many are created "at once".
	createWorkers = 32
)

// groupID is the i-th group (from 0): fault domain fd-1, device group dg-<i+1>.
func groupID(i int) sms.GroupID {
	return sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%05d", i+1)}
}

// simGroups configures n groups in the simulator.
func simGroups(n int) []smssim.GroupConfig {
	out := make([]smssim.GroupConfig, n)
	for i := range out {
		id := groupID(i)
		out[i] = smssim.GroupConfig{FaultDomain: id.FaultDomainID, DeviceGroup: id.DeviceGroupID}
	}
	return out
}

// setupNamespace creates a namespace with the credentials, the proxy's CA and a VasaProvider that
// reaches the simulator through the proxy. Discovery is off: the runs measure syncs only.
func (e *Env) setupNamespace(ctx context.Context, sc Scenario, proxy *faultproxy.Proxy) (string, error) {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := e.Admin.Create(ctx, nsObj); err != nil {
		return "", err
	}
	ns := nsObj.Name
	objs := []client.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vc-creds"},
			StringData: map[string]string{"username": "administrator@vsphere.local", "password": "pass"},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vc-ca"},
			Data:       map[string][]byte{"ca.crt": proxy.CACertPEM()},
		},
		&replicationv1alpha1.VasaProvider{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: vpName},
			Spec: replicationv1alpha1.VasaProviderSpec{
				VCenter: replicationv1alpha1.VCenterSpec{
					URL:                  proxy.URL(),
					CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "vc-creds"},
					TLS:                  replicationv1alpha1.TLSSpec{CABundleSecretRef: &replicationv1alpha1.SecretKeySelector{Name: "vc-ca", Key: "ca.crt"}},
				},
				Provider:           replicationv1alpha1.ProviderSelector{Name: providerName},
				MaxConcurrentTasks: int32(sc.Slots),
				Discovery:          replicationv1alpha1.DiscoverySpec{Interval: &metav1.Duration{}},
			},
		},
	}
	for _, o := range objs {
		if err := e.Admin.Create(ctx, o); err != nil {
			return "", fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return ns, nil
}

// waitProviderReady waits until the manager reports the VasaProvider Ready.
func (e *Env) waitProviderReady(ctx context.Context, ns string, mgr *Manager) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		vp := &replicationv1alpha1.VasaProvider{}
		if err := e.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: vpName}, vp); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(vp.Status.Conditions, "Ready") {
			return nil
		}
		if !mgr.Running() {
			return fmt.Errorf("the manager exited before the VasaProvider turned Ready")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the VasaProvider is not Ready after %v", readyTimeout)
}

// syncName and pitName name the i-th ReplicationSync of a run and its PiT.
func syncName(i int) string { return fmt.Sprintf("sync-%05d", i) }

func pitName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// createSyncs creates the run's ReplicationSyncs with createWorkers in parallel; sync i holds the
// groups [i·Groups, (i+1)·Groups).
func (e *Env) createSyncs(ctx context.Context, ns string, sc Scenario) error {
	return parallel(ctx, sc.syncs(), func(i int) error {
		if err := e.Admin.Create(ctx, newSync(ns, i, sc.Groups)); err != nil {
			return fmt.Errorf("creating %s: %w", syncName(i), err)
		}
		return nil
	})
}

// parallel runs f(0..n-1) on createWorkers goroutines and returns the first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	jobs := make(chan int)
	errs := make(chan error, createWorkers)
	var wg sync.WaitGroup
	for range min(createWorkers, n) {
		wg.Go(func() {
			for i := range jobs {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// newSync builds the i-th ReplicationSync.
func newSync(ns string, i, groups int) *replicationv1alpha1.ReplicationSync {
	ids := make([]replicationv1alpha1.ReplicationGroupID, groups)
	for k := range ids {
		id := groupID(i*groups + k)
		ids[k] = replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: id.FaultDomainID},
			DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: id.DeviceGroupID},
		}
	}
	return &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: syncName(i)},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: vpName},
			GroupIDs:    ids,
			PitName:     pitName(i),
		},
	}
}
