package install

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestHelmInstallWithoutClusterAdmin: a team that is admin of its two namespaces only installs the chart
// (rbac.clusterScoped=false, watchNamespaces, rbac.managerClusterRole) after a cluster admin created the
// manager's ClusterRole and let the team bind it there. Every object applies as the team; the manager
// then holds its rules in the watched namespace and nowhere else. The chart's own Role for the manager
// is refused to the same team: Kubernetes lets no one grant what they do not hold.
func TestHelmInstallWithoutClusterAdmin(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	ctx := context.Background()
	const ops, team, user, managerRole = "nca-ops", "nca-team", "team-admin", "vasa-sync-manager-nca"
	for _, ns := range []string{ops, team} {
		ensureNamespace(t, ns)
	}

	// The cluster admin's part: the manager's ClusterRole, and the right to bind it in the team's namespace.
	role := decode(t, runTool(t, nil, "cat", "config/rbac/role.yaml"))[0]
	role.SetName(managerRole)
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &role))).To(Succeed())
	binder := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: managerRole + "-binder"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: []string{managerRole},
	}}}
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, binder))).To(Succeed())
	bind := func(ns, name, clusterRole string) {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: clusterRole},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}}}
		g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, rb))).To(Succeed())
	}
	// The built-in admin role, as kube-controller-manager aggregates it (this API server runs none).
	admin := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "nca-namespace-admin"}}
	for _, part := range []string{"system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view"} {
		r := &rbacv1.ClusterRole{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: part}, r)).To(Succeed())
		admin.Rules = append(admin.Rules, r.Rules...)
	}
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, admin))).To(Succeed())
	for _, ns := range []string{ops, team} {
		bind(ns, user+"-admin", admin.Name)
	}
	bind(team, user+"-binder", binder.Name)

	render := func(set ...string) []byte {
		args := append([]string{"template", "nca", chartDir, "--namespace", ops, "--set", "watchNamespaces={" + team + "}",
			"--set", "rbac.clusterScoped=false"}, set...)
		return runTool(t, nil, helmBinary(t), args...)
	}
	applyAs := func(manifests []byte) error {
		return tryTool(manifests, kubectl, "--kubeconfig", kubeconfig, "--as", user, "apply", "--server-side",
			"--field-manager=install-test", "-f", "-")
	}

	g.Expect(applyAs(render())).To(MatchError(ContainSubstring("attempting to grant RBAC permissions not currently held")),
		"a namespace admin may not create the manager's Role")

	out := render("--set", "rbac.managerClusterRole="+managerRole)
	for _, o := range decode(t, out) {
		g.Expect(o.GetNamespace()).NotTo(BeEmpty(), "%s/%s is cluster-scoped", o.GetKind(), o.GetName())
	}
	g.Expect(applyAs(out)).To(Succeed())

	sa := fmt.Sprintf("system:serviceaccount:%s:nca-vasa-sync-operator", ops)
	rc := rest.CopyConfig(restConfig)
	rc.Impersonate = rest.ImpersonationConfig{UserName: sa, Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	as, err := client.New(rc, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(canI(t, as, team, "replication.vasa.io", "replicationsyncs/status", "patch")).To(BeTrue())
	g.Expect(canI(t, as, team, "", "secrets", "get")).To(BeTrue())
	g.Expect(canI(t, as, ops, "coordination.k8s.io", "leases", "update")).To(BeTrue())
	g.Expect(canI(t, as, ops, "", "secrets", "get")).To(BeFalse())
	g.Expect(canI(t, as, "", "replication.vasa.io", "vasaproviders", "list")).To(BeFalse())

	// Values that cannot work are refused; a release whose values predate rbac (--reuse-values) renders.
	helm := helmBinary(t)
	helmRefuses(t, helm, "needs watchNamespace", "--set", "rbac.clusterScoped=false")
	helmRefuses(t, helm, "bound in the watched namespaces", "--set", "rbac.managerClusterRole="+managerRole)
	runTool(t, nil, helm, "template", "nca", chartDir, "--set", "rbac=null")
}

// TestHelmUpgradeToTheAdminsClusterRole: a release that made its own Role in the watched namespace,
// upgraded to bind a cluster admin's ClusterRole there instead (rbac.managerClusterRole), is taken: a
// RoleBinding's roleRef cannot change, so the binding of each is another object.
func TestHelmUpgradeToTheAdminsClusterRole(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	ctx := context.Background()
	const ns, watched, release, managerRole = "to-admin-role", "to-admin-role-team", "vso-to-admin", "vasa-sync-manager-to-admin"
	ensureNamespace(t, watched)
	role := decode(t, runTool(t, nil, "cat", "config/rbac/role.yaml"))[0]
	role.SetName(managerRole)
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &role))).To(Succeed())
	helm := helmBinary(t)
	args := []string{release, chartDir, "--kubeconfig", kubeconfig, "--namespace", ns, "--skip-crds",
		"--set", "watchNamespaces={" + watched + "}", "--set", "rbac.clusterScoped=false"}
	runTool(t, nil, helm, append([]string{"install", "--create-namespace"}, args...)...)
	t.Cleanup(func() { _ = tryTool(nil, helm, "uninstall", release, "--kubeconfig", kubeconfig, "--namespace", ns) })
	runTool(t, nil, helm, append(append([]string{"upgrade"}, args...), "--set", "rbac.managerClusterRole="+managerRole)...)

	bindings := &rbacv1.RoleBindingList{}
	g.Expect(k8sClient.List(ctx, bindings, client.InNamespace(watched))).To(Succeed())
	var refs []rbacv1.RoleRef
	for _, b := range bindings.Items {
		refs = append(refs, b.RoleRef)
	}
	g.Expect(refs).To(ConsistOf(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: managerRole}))
}
