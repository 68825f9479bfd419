package install

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestLeaderElectionRBAC: the manager's ServiceAccount takes and gives up its leader-election Lease with
// client-go's own lease lock (what controller-runtime runs, with LeaderElectionReleaseOnCancel) under the
// installed RBAC, and may do nothing else to Leases: no list, watch, patch or delete.
func TestLeaderElectionRBAC(t *testing.T) {
	requireRole(t)
	for name, tc := range map[string]struct {
		render                     func(t *testing.T) []byte
		operatorNS, serviceAccount string
		watched                    []string // namespaces the render grants in
	}{
		"kustomize": {
			render:     func(t *testing.T) []byte { return kustomize(t, "config/namespaced") },
			operatorNS: "vasa-sync-system", serviceAccount: "vasa-sync-controller-manager", watched: []string{"vasa-sync-workloads"},
		},
		"helm": {
			render: func(t *testing.T) []byte {
				return runTool(t, nil, helmBinary(t), "template", "vsole", chartDir, "--namespace", "vsole-system")
			},
			operatorNS: "vsole-system", serviceAccount: "vsole-vasa-sync-operator",
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			for _, ns := range append([]string{tc.operatorNS}, tc.watched...) {
				ensureNamespace(t, ns)
			}
			applyRBAC(t, tc.render(t))
			sa := fmt.Sprintf("system:serviceaccount:%s:%s", tc.operatorNS, tc.serviceAccount)
			rc := rest.CopyConfig(restConfig)
			rc.Impersonate = rest.ImpersonationConfig{UserName: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tc.operatorNS, "system:authenticated"}}

			cs, err := kubernetes.NewForConfig(rc)
			g.Expect(err).NotTo(HaveOccurred())
			leaseName := "le-test-" + name
			lock := &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Namespace: tc.operatorNS, Name: leaseName},
				Client:     cs.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: "manager-0"},
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			led := make(chan struct{})
			stopped := make(chan struct{})
			le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
				Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 200 * time.Millisecond,
				ReleaseOnCancel: true,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { close(led) },
					OnStoppedLeading: func() {},
				},
			})
			g.Expect(err).NotTo(HaveOccurred())
			runCtx, stop := context.WithCancel(ctx)
			go func() { le.Run(runCtx); close(stopped) }()
			select {
			case <-led:
			case <-ctx.Done():
				t.Fatalf("the ServiceAccount %s never took the Lease", sa)
			}
			stop()
			<-stopped
			got, err := cs.CoordinationV1().Leases(tc.operatorNS).Get(ctx, leaseName, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Spec.HolderIdentity).To(HaveValue(BeEmpty()), "the Lease was given up on stop")

			as, err := client.New(rc, client.Options{Scheme: testenv.Scheme})
			g.Expect(err).NotTo(HaveOccurred())
			for _, verb := range []string{"list", "watch", "patch", "delete", "deletecollection"} {
				g.Expect(canI(t, as, tc.operatorNS, "coordination.k8s.io", "leases", verb)).To(BeFalse(), "%s leases", verb)
			}
		})
	}
}
