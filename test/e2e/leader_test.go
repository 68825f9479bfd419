package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestLeaderReleasesLeaseOnSIGTERM: the manager binary with leader election stands by (leading gauge 0)
// while another identity holds the Lease named by --leader-election-id, takes it once it is free (gauge
// 1), and on SIGTERM gives it up before it exits, so that the next pod leads at once instead of waiting
// for the lease to expire. A manager without leader election leads from the start.
func TestLeaderReleasesLeaseOnSIGTERM(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// The leader-election Role of config/rbac, in the test's namespace.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leader-election"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}},
	}
	g.Expect(adminClient.Create(ctx, role)).To(Succeed())
	g.Expect(adminClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leader-election"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	})).To(Succeed())

	const id = "lease-test.replication.vasa.io"
	const other = "another-manager"
	held := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: id},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(other), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	g.Expect(adminClient.Create(ctx, held)).To(Succeed())
	m := startManagerProcess(t, "leader", ns, procOptions{leaderElect: true, args: []string{
		"--leader-election-id=" + id, "--leader-election-namespace=" + ns,
	}})
	m.WaitReady()
	leading := func(g Gomega) float64 {
		families, err := m.Metrics(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(families).To(HaveKey("vasa_sync_manager_leading"), "a standby exports the gauge, at 0: the NoLeader alert reads it")
		return m.MetricSum(g, "vasa_sync_manager_leading", nil)
	}
	g.Consistently(leading).WithTimeout(3*time.Second).WithPolling(500*time.Millisecond).Should(BeZero(), "a standby reports that it leads")

	g.Expect(adminClient.Delete(ctx, held)).To(Succeed())
	key := client.ObjectKey{Namespace: ns, Name: id}
	lease := &coordinationv1.Lease{}
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.Get(ctx, key, lease)).To(Succeed())
		g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeElementOf("", other))
	}).WithTimeout(syncTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
	g.Eventually(leading).WithTimeout(syncTimeout).WithPolling(100*time.Millisecond).Should(Equal(1.0), "the leader reports that it stands by")

	m.Terminate()
	g.Expect(adminClient.Get(ctx, key, lease)).To(Succeed())
	g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).To(BeEmpty(), "the stopped leader still holds the Lease")

	alone := startManagerProcess(t, "no-election", ns, procOptions{})
	alone.WaitReady()
	g.Eventually(func(g Gomega) float64 { return alone.MetricSum(g, "vasa_sync_manager_leading", nil) }).
		WithTimeout(syncTimeout).WithPolling(100*time.Millisecond).Should(Equal(1.0), "a manager without leader election reports that it stands by")
}

// TestManagerThatCannotListIsNotReady: a manager whose identity may not list every kind it reconciles (its
// RBAC, or a CRD, missing; here the schedules) is not Ready, whether it leads or stands by: a rollout
// keeps the old pod rather than take such a one for its replacement. A standby that can list them is
// Ready (TestLeaderReleasesLeaseOnSIGTERM): it fills its caches before it leads.
func TestManagerThatCannotListIsNotReady(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	const user = "no-schedules"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}}
	for _, rule := range managerRole.Rules {
		rule.Resources = slices.DeleteFunc(slices.Clone(rule.Resources), func(r string) bool { return strings.HasPrefix(r, "replicationsyncschedules") })
		if len(rule.Resources) > 0 {
			role.Rules = append(role.Rules, rule)
		}
	}
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}})
	g.Expect(adminClient.Create(ctx, role)).To(Succeed())
	t.Cleanup(func() { _ = adminClient.Delete(ctx, role) })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	g.Expect(adminClient.Create(ctx, binding)).To(Succeed())
	t.Cleanup(func() { _ = adminClient.Delete(ctx, binding) })
	identity, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := identity.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(os.WriteFile(kubeconfig, raw, 0o600)).To(Succeed())

	// A Lease someone else holds keeps the second manager a standby.
	const id = "not-ready.replication.vasa.io"
	g.Expect(adminClient.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: id},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("another-manager"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	})).To(Succeed())
	for _, elect := range []bool{false, true} {
		m := startManagerProcess(t, fmt.Sprintf("no-schedules-elect-%t", elect), ns, procOptions{leaderElect: elect, args: []string{
			"--kubeconfig=" + kubeconfig, "--leader-election-namespace=" + ns, "--leader-election-id=" + id,
		}})
		g.Eventually(func() error { _, err := m.Metrics(ctx); return err }).
			WithTimeout(syncTimeout).WithPolling(50*time.Millisecond).Should(Succeed(), "the manager serves")
		g.Consistently(m.Ready).WithTimeout(3*time.Second).WithPolling(200*time.Millisecond).ShouldNot(Succeed(), "leader election %t", elect)
		m.Kill()
	}
}
