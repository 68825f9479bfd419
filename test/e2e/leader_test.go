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

// TestLeaderReleasesLeaseOnSIGTERM: the manager binary with leader election takes the Lease named by
// --leader-election-id, and on SIGTERM gives it up before it exits, so that the next pod leads at once
// instead of waiting for the lease to expire.
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
	m := startManagerProcess(t, "leader", ns, procOptions{leaderElect: true, args: []string{
		"--leader-election-id=" + id, "--leader-election-namespace=" + ns,
	}})
	key := client.ObjectKey{Namespace: ns, Name: id}
	lease := &coordinationv1.Lease{}
	g.Eventually(func(g Gomega) {
		g.Expect(adminClient.Get(ctx, key, lease)).To(Succeed())
		g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeEmpty())
	}).WithTimeout(syncTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
	m.WaitReady()

	m.Terminate()
	g.Expect(adminClient.Get(ctx, key, lease)).To(Succeed())
	g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).To(BeEmpty(), "the stopped leader still holds the Lease")
}
