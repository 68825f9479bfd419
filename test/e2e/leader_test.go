package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
