package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
)

// manifests indexes rendered objects by kind and name.
type manifests struct {
	objs []unstructured.Unstructured
}

func (m manifests) all(kind string) []unstructured.Unstructured {
	var out []unstructured.Unstructured
	for _, o := range m.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m manifests) find(kind, name string) (unstructured.Unstructured, bool) {
	for _, o := range m.all(kind) {
		if o.GetName() == name {
			return o, true
		}
	}
	return unstructured.Unstructured{}, false
}

// into converts a rendered object into its typed form.
func into[T any](t *testing.T, u unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("converting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// generatedRules reads the manager ClusterRole's rules that controller-gen wrote to config/rbac/role.yaml.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	requireRole(t)
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := decode(t, raw)
	if len(docs) != 1 || docs[0].GetKind() != "ClusterRole" {
		t.Fatalf("config/rbac/role.yaml should hold exactly one ClusterRole (manager-role), found %d objects", len(docs))
	}
	return into[rbacv1.ClusterRole](t, docs[0]).Rules
}

// managerPeakMemory is the manager's peak resident memory in the benchmarks (test/bench: 10,000 runs).
const managerPeakMemory = "150Mi"

// expectManagerInstall checks what both install paths (kustomize and Helm) must produce: the manager
// Deployment hardened and probed as the product requires, RBAC wired to its ServiceAccount, and a metrics
// Service (and ServiceMonitor when present) that really select the manager's HTTPS port.
func expectManagerInstall(t *testing.T, m manifests, namespace, image string) {
	t.Helper()
	g := NewWithT(t)

	// Every namespaced object lands in the install namespace.
	for _, o := range m.objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			g.Expect(o.GetNamespace()).To(BeEmpty(), "%s %s is cluster-scoped", o.GetKind(), o.GetName())
		default:
			g.Expect(o.GetNamespace()).To(Equal(namespace), "%s %s", o.GetKind(), o.GetName())
		}
	}

	// CRDs: the four kinds, as generated.
	crds := map[string]bool{}
	for _, o := range m.all("CustomResourceDefinition") {
		crds[o.GetName()] = true
	}
	g.Expect(crds).To(Equal(map[string]bool{
		"vasaproviders.replication.vasa.io":            true,
		"replicationsyncs.replication.vasa.io":         true,
		"replicationsyncschedules.replication.vasa.io": true,
		"replicationgroups.replication.vasa.io":        true,
	}))

	// The Deployment.
	deps := m.all("Deployment")
	g.Expect(deps).To(HaveLen(1))
	dep := into[appsv1.Deployment](t, deps[0])
	pod := dep.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Name).To(Equal("manager"))
	g.Expect(c.Image).To(Equal(image))
	g.Expect(c.Args).To(ContainElements("--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"))
	// The kubelet waits for the manager's shutdown grace, the Lease's release (its renew deadline, 10 s) and the exit.
	g.Expect(pod.TerminationGracePeriodSeconds).To(HaveValue(BeNumerically(">=", (controllers.ShutdownGrace + 15*time.Second).Seconds())))
	g.Expect(c.LivenessProbe).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.LivenessProbe.HTTPGet.Port.IntValue()).To(Equal(8081))
	// The default 1 s would have a CPU-starved node kill a busy manager mid-wave.
	g.Expect(c.LivenessProbe.TimeoutSeconds).To(BeNumerically(">=", 5))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(8081))
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		g.Expect(c.Resources.Requests).To(HaveKey(res))
		g.Expect(c.Resources.Limits).To(HaveKey(res))
	}
	// A request below what the manager uses makes it the first pod evicted when the node runs short, and
	// a limit near it an OOMKill: the benchmarks' peak holding 10,000 runs, with room for discovery.
	g.Expect(c.Resources.Requests.Memory().Cmp(resource.MustParse(managerPeakMemory))).To(BeNumerically(">=", 0))
	peak := resource.MustParse(managerPeakMemory)
	g.Expect(c.Resources.Limits.Memory().Value()).To(BeNumerically(">=", 3*peak.Value()))
	// A lost node's pod is started elsewhere within a minute, not after Kubernetes' default five.
	g.Expect(pod.Tolerations).To(ContainElements(nodeLossTolerations(30)))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "CONTAINER_MEMORY_LIMIT", ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"},
	}}))
	sc := c.SecurityContext
	g.Expect(sc).NotTo(BeNil())
	g.Expect(sc.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(sc.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(sc.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(sc.Capabilities).NotTo(BeNil())
	g.Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.SeccompProfile).NotTo(BeNil())
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue(),
		"the Deployment's selector must match its pods")
	httpsPort := int32(0)
	for _, p := range c.Ports {
		if p.Name == "https" {
			httpsPort = p.ContainerPort
		}
	}
	g.Expect(httpsPort).To(Equal(int32(8443)), "the manager container names its metrics port https")

	// The ServiceAccount exists and every binding grants to it.
	sa := pod.ServiceAccountName
	_, ok := m.find("ServiceAccount", sa)
	g.Expect(ok).To(BeTrue(), "ServiceAccount %q", sa)
	bound := map[string]bool{} // kind/name of roles bound to the manager
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, o := range m.all(kind) {
			b := into[rbacv1.RoleBinding](t, o) // same shape as ClusterRoleBinding for these fields
			g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: namespace}), "%s %s", kind, b.Name)
			_, ok := m.find(b.RoleRef.Kind, b.RoleRef.Name)
			g.Expect(ok).To(BeTrue(), "%s %s refers to a missing %s %s", kind, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		}
	}
	var grants []rbacv1.PolicyRule
	for key := range bound {
		kind, name, _ := strings.Cut(key, "/")
		o, _ := m.find(kind, name)
		grants = append(grants, into[rbacv1.ClusterRole](t, o).Rules...)
	}
	// The generated manager rules are granted verbatim by one bound ClusterRole.
	want := generatedRules(t)
	found := false
	for key := range bound {
		kind, name, _ := strings.Cut(key, "/")
		o, _ := m.find(kind, name)
		if kind == "ClusterRole" && equalRules(into[rbacv1.ClusterRole](t, o).Rules, want) {
			found = true
		}
	}
	g.Expect(found).To(BeTrue(), "no ClusterRole bound to the manager has exactly the rules of config/rbac/role.yaml")
	g.Expect(allows(grants, "coordination.k8s.io", "leases", "create")).To(BeTrue(), "leader election needs leases")
	g.Expect(allows(grants, "authentication.k8s.io", "tokenreviews", "create")).To(BeTrue(), "secure metrics need TokenReviews")
	g.Expect(allows(grants, "authorization.k8s.io", "subjectaccessreviews", "create")).To(BeTrue(), "secure metrics need SubjectAccessReviews")

	// A metrics-reader ClusterRole for the scraper.
	reader := false
	for _, o := range m.all("ClusterRole") {
		for _, r := range into[rbacv1.ClusterRole](t, o).Rules {
			for _, u := range r.NonResourceURLs {
				if u == "/metrics" {
					reader = true
				}
			}
		}
	}
	g.Expect(reader).To(BeTrue(), "a ClusterRole granting GET /metrics")

	// The metrics Service selects the manager's pods on the https port.
	svcs := m.all("Service")
	g.Expect(svcs).To(HaveLen(1))
	svc := into[corev1.Service](t, svcs[0])
	g.Expect(labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue(),
		"the metrics Service must select the manager's pods")
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].Name).To(Equal("https"))
	g.Expect(svc.Spec.Ports[0].Port).To(Equal(int32(8443)))
	g.Expect(svc.Spec.Ports[0].TargetPort.String()).To(Or(Equal("https"), Equal("8443")))

	// When present, the ServiceMonitor scrapes that Service over HTTPS.
	for _, sm := range m.all("ServiceMonitor") {
		var spec struct {
			JobLabel  string `json:"jobLabel"`
			Endpoints []struct {
				Port        string `json:"port"`
				Scheme      string `json:"scheme"`
				HonorLabels bool   `json:"honorLabels"`
			} `json:"endpoints"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		}
		convertSpec(t, sm, &spec)
		g.Expect(labels.SelectorFromSet(spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels))).To(BeTrue(),
			"the ServiceMonitor must select the metrics Service")
		g.Expect(spec.Endpoints).To(HaveLen(1))
		g.Expect(spec.Endpoints[0].Port).To(Equal(svc.Spec.Ports[0].Name))
		g.Expect(spec.Endpoints[0].Scheme).To(Equal("https"))
		g.Expect(spec.Endpoints[0].HonorLabels).To(BeTrue(), "the metrics' namespace label must win over the target's")
		g.Expect(svc.Labels).To(HaveKeyWithValue(spec.JobLabel, "vasa-sync-operator"), "job label the absent alert matches")
	}
}

func convertSpec(t *testing.T, u unstructured.Unstructured, out any) {
	t.Helper()
	raw, err := yaml.Marshal(u.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	ra, _ := yaml.Marshal(a)
	rb, _ := yaml.Marshal(b)
	return string(ra) == string(rb)
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	has := func(list []string, v string) bool {
		for _, x := range list {
			if x == v || x == "*" {
				return true
			}
		}
		return false
	}
	for _, r := range rules {
		if has(r.APIGroups, group) && has(r.Resources, resource) && has(r.Verbs, verb) {
			return true
		}
	}
	return false
}
