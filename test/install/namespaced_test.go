package install

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestNamespacedInstallRBAC installs the RBAC of a namespaced install for real (kustomize config/namespaced
// and the Helm chart with watchNamespaces) and acts as the manager's ServiceAccount: it reads Secrets and
// writes its objects' status in the watched namespace, takes Leases only in its own namespace, and cannot
// read a Secret anywhere else.
func TestNamespacedInstallRBAC(t *testing.T) {
	requireRole(t)
	for name, tc := range map[string]struct {
		render              func(t *testing.T) []byte
		operatorNS, watched string
		serviceAccount      string
	}{
		"kustomize": {
			render:     func(t *testing.T) []byte { return kustomize(t, "config/namespaced") },
			operatorNS: "vasa-sync-system", watched: "vasa-sync-workloads", serviceAccount: "vasa-sync-controller-manager",
		},
		"helm": {
			render: func(t *testing.T) []byte {
				return runTool(t, nil, helmBinary(t), "template", "vsons", chartDir, "--namespace", "vsons-system",
					"--set", "watchNamespaces={vsons-team}")
			},
			operatorNS: "vsons-system", watched: "vsons-team", serviceAccount: "vsons-vasa-sync-operator",
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			elsewhere := tc.watched + "-elsewhere"
			for _, ns := range []string{tc.operatorNS, tc.watched, elsewhere} {
				ensureNamespace(t, ns)
			}
			rbac := applyRBAC(t, tc.render(t))
			g.Expect(rbac).To(ContainElement("ClusterRoleBinding/"), "sanity: metrics auth stays cluster-wide")
			for _, ns := range []string{tc.watched, elsewhere} {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vc-creds"}, StringData: map[string]string{"password": "x"}}
				if err := k8sClient.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}

			sa := fmt.Sprintf("system:serviceaccount:%s:%s", tc.operatorNS, tc.serviceAccount)
			rc := rest.CopyConfig(restConfig)
			rc.Impersonate = rest.ImpersonationConfig{UserName: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tc.operatorNS, "system:authenticated"}}
			as, err := client.New(rc, client.Options{Scheme: testenv.Scheme})
			g.Expect(err).NotTo(HaveOccurred())

			g.Expect(as.Get(ctx, client.ObjectKey{Namespace: tc.watched, Name: "vc-creds"}, &corev1.Secret{})).To(Succeed())
			err = as.Get(ctx, client.ObjectKey{Namespace: elsewhere, Name: "vc-creds"}, &corev1.Secret{})
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret in another namespace must be forbidden, got %v", err)
			err = as.List(ctx, &corev1.SecretList{})
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide must be forbidden, got %v", err)

			for _, c := range []struct {
				ns, group, resource, verb string
				allowed                   bool
			}{
				{tc.watched, "replication.vasa.io", "vasaproviders", "watch", true},
				{tc.watched, "replication.vasa.io", "replicationsyncs/status", "patch", true},
				// Least privilege: statuses are patched, ReplicationGroups created, updated and deleted.
				{tc.watched, "replication.vasa.io", "replicationsyncs/status", "update", false},
				{tc.watched, "replication.vasa.io", "vasaproviders/status", "update", false},
				{tc.watched, "replication.vasa.io", "replicationgroups", "patch", false},
				// OwnerReferencesPermissionEnforcement: ReplicationGroups carry a controller reference with
				// blockOwnerDeletion to their VasaProvider.
				{tc.watched, "replication.vasa.io", "vasaproviders/finalizers", "update", true},
				// Events are recorded with events.k8s.io; core events only by leader election, in its own namespace.
				{tc.watched, "events.k8s.io", "events", "create", true},
				{tc.watched, "", "events", "create", false},
				{elsewhere, "replication.vasa.io", "vasaproviders", "list", false},
				{"", "replication.vasa.io", "vasaproviders", "list", false},
				{tc.watched, "coordination.k8s.io", "leases", "create", false},
				{elsewhere, "coordination.k8s.io", "leases", "update", false},
				{tc.operatorNS, "coordination.k8s.io", "leases", "update", true},
				{tc.operatorNS, "", "secrets", "get", false},
			} {
				g.Expect(canI(t, as, c.ns, c.group, c.resource, c.verb)).To(Equal(c.allowed),
					"%s %s.%s in %q", c.verb, c.resource, c.group, c.ns)
			}
		})
	}
}

// applyRBAC applies the ServiceAccount and RBAC objects of rendered manifests for real and returns
// "Kind/namespace" of each.
func applyRBAC(t *testing.T, manifests []byte) []string {
	t.Helper()
	var keep []byte
	var kinds []string
	for _, o := range decode(t, manifests) {
		switch o.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
		default:
			continue
		}
		data, err := yaml.ToJSON(mustJSON(t, &o))
		if err != nil {
			t.Fatal(err)
		}
		keep = append(append(keep, data...), '\n')
		kinds = append(kinds, o.GetKind()+"/"+o.GetNamespace())
	}
	runTool(t, keep, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager=install-test", "-f", "-")
	return kinds
}

func mustJSON(t *testing.T, o *unstructured.Unstructured) []byte {
	t.Helper()
	data, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// canI asks the API server whether the impersonated client may do verb on resource in ns.
func canI(t *testing.T, c client.Client, ns, group, resource, verb string) bool {
	t.Helper()
	res, sub, _ := strings.Cut(resource, "/")
	r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: res, Subresource: sub, Verb: verb},
	}}
	if err := c.Create(context.Background(), r); err != nil {
		t.Fatalf("SelfSubjectAccessReview: %v", err)
	}
	return r.Status.Allowed
}
