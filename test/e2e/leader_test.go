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

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// TestLeaderReleasesLeaseOnSIGTERM: the manager binary with leader election stands by (leading gauge 0)
// while another identity holds the Lease named by --leader-election-id, takes it once it is free (gauge
// 1), and on SIGTERM gives it up before it exits, so that the next pod leads at once instead of waiting
// for the lease to expire. A manager without leader election leads from the start.
func TestLeaderReleasesLeaseOnSIGTERM(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	allowLeases(t, ns)

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

// allowLeases binds the manager's identity to the leader-election Role of config/rbac in ns.
func allowLeases(t *testing.T, ns string) {
	t.Helper()
	g, ctx := NewWithT(t), context.Background()
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
}

// TestLeaseLostDuringSubmit: the leader loses its Lease while a sync call is in flight (its renewals not
// answered in time; here another identity took the Lease). controller-runtime then returns at once,
// without the graceful shutdown of a SIGTERM: the manager still writes the call's task refs before it
// exits, and the next leader, on an array without PiT support, does not call again.
func TestLeaseLostDuringSubmit(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newProcWorld(t, arrayA(syncGroups(1, 5), slowTask, func(pc *smssim.ProviderConfig) { pc.NoPitSupport = true }), 1)
	allowLeases(t, w.ns)
	// The response outlives the leader's renew deadline (10 s) after the Lease is taken.
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Delay, Times: 1, Delay: 15 * time.Second})
	w.array(8, longInDoubt)
	const id = "lease-lost.replication.vasa.io"
	w.startManager(procOptions{leaderElect: true, args: []string{"--leader-election-id=" + id, "--leader-election-namespace=" + w.ns}})
	runs := w.createSyncs(1, 5)
	task := w.callHeld()

	key := client.ObjectKey{Namespace: w.ns, Name: id}
	g.Eventually(func() error {
		lease := &coordinationv1.Lease{}
		if err := adminClient.Get(ctx, key, lease); err != nil {
			return err
		}
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = ptr.To("another-manager"), ptr.To[int32](3600)
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		return adminClient.Update(ctx, lease)
	}).WithTimeout(syncTimeout).Should(Succeed())
	exited, _ := w.mgr.WaitExit(time.Minute)
	g.Expect(exited).To(BeTrue(), "the manager that lost its Lease exits")
	rs := getSync(g, runs[0].key)
	for _, gs := range rs.Status.Groups {
		g.Expect(gs.Task).To(Equal(task), "group %s/%s (%s) after the Lease was lost", gs.FaultDomainID.ID, gs.DeviceGroupID.ID, gs.State)
	}

	g.Expect(adminClient.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: id}})).To(Succeed())
	w.mgr.Start()
	waitAllSucceeded(t, runs, exactlyOnceTO)
	expectExactlyOnce(g, w.sim, runs)
	expectAllSynced(g, w.sim, runs)
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
