package install

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

const aggregateTo = "rbac.authorization.k8s.io/aggregate-to-"

// TestUserRoles: both install paths ship a viewer and an editor ClusterRole for users, aggregated into the
// built-in view, edit and admin roles. Bound for real to two users, the viewer may only read the operator's
// objects and the editor may declare syncs and providers, but neither may write a status or a
// ReplicationGroup (the operator's), nor read a Secret.
func TestUserRoles(t *testing.T) {
	requireRole(t)
	for name, tc := range map[string]struct {
		render func(t *testing.T) []byte
		prefix string
	}{
		"kustomize": {render: func(t *testing.T) []byte { return kustomize(t, "config/default") }, prefix: "vasa-sync-"},
		"helm": {render: func(t *testing.T) []byte {
			return runTool(t, nil, helmBinary(t), "template", "vsour", chartDir, "--namespace", "vsour-system")
		}, prefix: "vsour-vasa-sync-operator-"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			m := manifests{objs: decode(t, tc.render(t))}
			viewer, ok := m.find("ClusterRole", tc.prefix+"viewer")
			g.Expect(ok).To(BeTrue(), "ClusterRole %sviewer", tc.prefix)
			editor, ok := m.find("ClusterRole", tc.prefix+"editor")
			g.Expect(ok).To(BeTrue(), "ClusterRole %seditor", tc.prefix)
			g.Expect(viewer.GetLabels()).To(And(HaveKeyWithValue(aggregateTo+"view", "true"),
				HaveKeyWithValue(aggregateTo+"edit", "true"), HaveKeyWithValue(aggregateTo+"admin", "true")))
			g.Expect(editor.GetLabels()).To(And(Not(HaveKey(aggregateTo+"view")),
				HaveKeyWithValue(aggregateTo+"edit", "true"), HaveKeyWithValue(aggregateTo+"admin", "true")))
			for _, o := range m.all("ClusterRole") {
				if o.GetName() == viewer.GetName() || o.GetName() == editor.GetName() {
					continue
				}
				for k := range o.GetLabels() {
					g.Expect(k).NotTo(HavePrefix(aggregateTo), "%s must not reach users' roles", o.GetName())
				}
			}

			// Bind both for real in one namespace (envtest runs no aggregation controller).
			ns := "userroles-" + name
			ensureNamespace(t, ns)
			applyRBAC(t, toYAML(t, viewer, editor))
			users := map[string]*unstructured.Unstructured{"viewer-" + name: &viewer, "editor-" + name: &editor}
			for user, role := range users {
				rb := &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.GetName()},
					Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
				}
				if err := k8sClient.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			as := func(user string) client.Client {
				rc := rest.CopyConfig(restConfig)
				rc.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
				c, err := client.New(rc, client.Options{Scheme: testenv.Scheme})
				g.Expect(err).NotTo(HaveOccurred())
				return c
			}
			viewerC, editorC := as("viewer-"+name), as("editor-"+name)
			const group = "replication.vasa.io"
			for _, c := range []struct {
				resource, verb, group, ns string
				viewerOK, editorOK        bool
			}{
				{resource: "vasaproviders", verb: "list", group: group, viewerOK: true, editorOK: true},
				{resource: "replicationgroups", verb: "watch", group: group, viewerOK: true, editorOK: true},
				{resource: "replicationsyncs/status", verb: "get", group: group, viewerOK: true, editorOK: true},
				{resource: "replicationsyncs", verb: "create", group: group, viewerOK: false, editorOK: true},
				{resource: "replicationsyncschedules", verb: "patch", group: group, viewerOK: false, editorOK: true},
				{resource: "vasaproviders", verb: "update", group: group, viewerOK: false, editorOK: true},
				{resource: "replicationgroups", verb: "update", group: group, viewerOK: false, editorOK: false},
				{resource: "replicationgroups", verb: "delete", group: group, viewerOK: false, editorOK: false},
				{resource: "replicationsyncs/status", verb: "patch", group: group, viewerOK: false, editorOK: false},
				{resource: "vasaproviders/status", verb: "update", group: group, viewerOK: false, editorOK: false},
				{resource: "secrets", verb: "get", group: "", viewerOK: false, editorOK: false},
				{resource: "vasaproviders", verb: "list", group: group, ns: ns + "-elsewhere", viewerOK: false, editorOK: false},
			} {
				where := c.ns
				if where == "" {
					where = ns
				}
				g.Expect(canI(t, viewerC, where, c.group, c.resource, c.verb)).To(Equal(c.viewerOK), "viewer: %s %s in %s", c.verb, c.resource, where)
				g.Expect(canI(t, editorC, where, c.group, c.resource, c.verb)).To(Equal(c.editorOK), "editor: %s %s in %s", c.verb, c.resource, where)
			}
		})
	}
}

// toYAML renders objects as one multi-document YAML stream.
func toYAML(t *testing.T, objs ...unstructured.Unstructured) []byte {
	t.Helper()
	var out []byte
	for i := range objs {
		out = append(out, []byte(fmt.Sprintf("---\n%s\n", mustJSON(t, &objs[i])))...)
	}
	return out
}
