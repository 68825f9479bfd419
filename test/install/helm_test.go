package install

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	chartDir      = "charts/vasa-sync-operator"
	helmNamespace = "vso-system"
)

// helmBinary returns $HELM, or the helm that hack/helm.sh builds from the Go module proxy (or has cached).
func helmBinary(t *testing.T) string {
	t.Helper()
	return toolBinary(t, "HELM", "helm.sh")
}

// toolBinary returns $env, or the binary the hack script builds from the Go module proxy (or has cached)
// and prints.
func toolBinary(t *testing.T, env, script string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", script))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building with hack/%s: %v\n%s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestChartInSync keeps the chart's copies of generated manifests identical to config/: run
// hack/sync-chart.sh after make manifests when it fails.
func TestChartInSync(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	same := func(chartFile, configFile string) {
		a, err := os.ReadFile(filepath.Join(root, chartDir, chartFile))
		g.Expect(err).NotTo(HaveOccurred(), "run hack/sync-chart.sh")
		b, err := os.ReadFile(filepath.Join(root, configFile))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(a)).To(Equal(string(b)), "%s/%s differs from %s: run hack/sync-chart.sh", chartDir, chartFile, configFile)
	}
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bases).To(HaveLen(4))
	copies, err := filepath.Glob(filepath.Join(root, chartDir, "crds", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(copies).To(HaveLen(len(bases)), "chart CRDs: run hack/sync-chart.sh")
	for _, b := range bases {
		same(filepath.Join("crds", filepath.Base(b)), filepath.Join("config", "crd", "bases", filepath.Base(b)))
	}
	same("files/role.yaml", "config/rbac/role.yaml")
	same("files/user_viewer_role.yaml", "config/rbac/user_viewer_role.yaml")
	same("files/user_editor_role.yaml", "config/rbac/user_editor_role.yaml")
	same("files/prometheus-rules.yaml", "config/prometheus/rules.yaml")
}

func TestHelmLint(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	runTool(t, nil, helm, "lint", "--strict", chartDir)
	runTool(t, nil, helm, "lint", "--strict", chartDir,
		"--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,watchNamespace=dr,metrics.certSecretName=vso-metrics-tls,networkPolicy.enabled=true")
}

func TestHelmTemplate(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace, "--include-crds",
		"--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true")
	m := manifests{objs: decode(t, out)}

	t.Run("objects", func(t *testing.T) {
		g := NewWithT(t)
		// By default the image tag is the chart's appVersion, a release version.
		expectManagerInstall(t, m, helmNamespace, defaultImage(t))
		dep := m.all("Deployment")[0]
		g.Expect(dep.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/version", chartAppVersion(t)))
		rules := m.all("PrometheusRule")
		g.Expect(rules).To(HaveLen(1))
		expectAlerts(t, rules[0])
	})

	t.Run("server-side dry run", func(t *testing.T) {
		g := NewWithT(t)
		ensureNamespace(t, helmNamespace)
		applied := dryRunApply(t, out)
		g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
	})
}

func TestHelmValues(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace,
		"--set", "leaderElection.enabled=false,watchNamespace=dr,image.tag=v1.2.3",
		"--set-json", `extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy.example.com:3128"}]`)
	m := manifests{objs: decode(t, out)}
	g.Expect(m.all("ServiceMonitor")).To(BeEmpty(), "monitoring is off by default")
	g.Expect(m.all("PrometheusRule")).To(BeEmpty(), "monitoring is off by default")
	g.Expect(m.all("CustomResourceDefinition")).To(BeEmpty(), "CRDs come from crds/, not templates")
	dep := into[appsv1.Deployment](t, m.all("Deployment")[0])
	c := dep.Spec.Template.Spec.Containers[0]
	g.Expect(c.Image).To(Equal("vasa-sync-operator:v1.2.3"))
	g.Expect(c.Args).NotTo(ContainElement("--leader-elect"))
	g.Expect(c.Args).To(ContainElement("--watch-namespace=dr"))
	g.Expect(dep.Spec.Replicas).To(HaveValue(Equal(int32(1))))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://proxy.example.com:3128"}))
	g.Expect(c.Env).To(HaveLen(2), "CONTAINER_MEMORY_LIMIT and the extra one")
}

// TestHelmImageByDigest: image.digest pins the image; a tag that carries a digest, or any other character
// a label may not hold, still renders valid version labels, which the API server takes.
func TestHelmImageByDigest(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	out := runTool(t, nil, helmBinary(t), "template", "vso", chartDir, "--namespace", helmNamespace,
		"--set", "image.repository=registry.example.com/vso,image.digest="+digest+",image.tag=0.1.0@"+digest)
	m := manifests{objs: decode(t, out)}
	dep := into[appsv1.Deployment](t, m.all("Deployment")[0])
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/vso@" + digest))
	for _, o := range m.objs {
		g.Expect(o.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/version", HavePrefix("0.1.0_sha256_")), "%s/%s", o.GetKind(), o.GetName())
	}
	ensureNamespace(t, helmNamespace)
	applied := dryRunApply(t, out)
	g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)

	// A tag YAML reads as a number, and a digest that is none.
	out = runTool(t, nil, helmBinary(t), "template", "vso", chartDir, "--namespace", helmNamespace, "--set", "image.tag=20261204")
	dep = into[appsv1.Deployment](t, manifests{objs: decode(t, out)}.all("Deployment")[0])
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("vasa-sync-operator:20261204"))
	g.Expect(dep.Labels).To(HaveKeyWithValue("app.kubernetes.io/version", "20261204"))
	helmRefuses(t, helmBinary(t), "is no image digest", "--set", "image.digest=abc123")
}

// TestHelmScrapeTokenAndExtraVolumes: a ServiceMonitor that sends a token from a Secret names no token
// file (OpenShift's user-workload monitoring refuses one that does), and extra volumes (a cluster's CA
// bundle) are mounted beside the metrics certificate. The API server takes every object.
func TestHelmScrapeTokenAndExtraVolumes(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	out := runTool(t, nil, helmBinary(t), "template", "vso", chartDir, "--namespace", helmNamespace,
		"--set", "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.authorization.name=prom-token,metrics.certSecretName=vso-metrics-tls",
		"--set-json", `extraVolumes=[{"name":"trusted-ca","configMap":{"name":"trusted-ca"}}]`,
		"--set-json", `extraVolumeMounts=[{"name":"trusted-ca","mountPath":"/etc/pki/trusted","readOnly":true}]`)
	m := manifests{objs: decode(t, out)}
	sm := m.all("ServiceMonitor")
	g.Expect(sm).To(HaveLen(1))
	endpoint := sm[0].Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
	g.Expect(endpoint).NotTo(HaveKey("bearerTokenFile"))
	g.Expect(endpoint).To(HaveKeyWithValue("authorization", map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "prom-token", "key": "token"}}))
	pod := into[appsv1.Deployment](t, m.all("Deployment")[0]).Spec.Template.Spec
	g.Expect(pod.Volumes).To(ConsistOf(HaveField("Name", "metrics-certs"), HaveField("Name", "trusted-ca")))
	g.Expect(pod.Containers[0].VolumeMounts).To(ConsistOf(HaveField("Name", "metrics-certs"), HaveField("MountPath", "/etc/pki/trusted")))
	ensureNamespace(t, helmNamespace)
	applied := dryRunApply(t, out)
	g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
}

// TestHelmKubeVersion: the CRDs' groupIds rules use CEL's transformMapEntry, which an API server accepts
// in new CRD rules from 1.33 on (k8s.io/apiserver's cel/environment/base.go introduces two-variable
// comprehensions at 1.32, and new expressions compile against the previous minor). The chart refuses
// older clusters instead of failing on its CRDs.
func TestHelmKubeVersion(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	runTool(t, nil, helm, "template", "vso", chartDir, "--kube-version", "1.33.0")
	helmRefuses(t, helm, "kubeVersion", "--kube-version", "1.32.9")
}

// TestHelmLeaderElectionID: releases that share a namespace take different leader-election Leases; a
// release named after the chart keeps the manager's default Lease, and leaderElection.id overrides it.
func TestHelmLeaderElectionID(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	leaseOf := func(release string, set ...string) string {
		args := append([]string{"template", release, chartDir, "--namespace", helmNamespace}, set...)
		dep := into[appsv1.Deployment](t, manifests{objs: decode(t, runTool(t, nil, helm, args...))}.all("Deployment")[0])
		var id string
		for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--leader-election-id="); ok {
				g.Expect(id).To(BeEmpty(), "--leader-election-id given twice")
				id = v
			}
		}
		g.Expect(validation.IsDNS1123Subdomain(id)).To(BeEmpty(), "Lease name %q", id)
		return id
	}
	a, b := leaseOf("team-a"), leaseOf("team-b")
	g.Expect(a).NotTo(Equal(b))
	g.Expect(leaseOf("vasa-sync-operator")).To(Equal(managerFlagDefaults(t)["leader-election-id"]))
	g.Expect(leaseOf("team-a", "--set", "leaderElection.id=dr.example.com")).To(Equal("dr.example.com"))
}

// TestHelmLongReleaseName: a release name as long as Helm allows (53 characters) renders objects the
// API server accepts by name: the metrics Service's name, a DNS label, stays within 63 characters, and
// the ServiceMonitor verifies the certificate against that Service's name.
func TestHelmLongReleaseName(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	release := "production-storage-replication-east-01-abcdefghijklmn"
	g.Expect(release).To(HaveLen(53))
	m := manifests{objs: decode(t, runTool(t, nil, helm, "template", release, chartDir, "--namespace", helmNamespace,
		"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.certSecretName=metrics-cert"))}
	for _, o := range m.objs {
		if o.GetKind() == "Service" {
			g.Expect(validation.IsDNS1035Label(o.GetName())).To(BeEmpty(), "Service name %q", o.GetName())
			continue
		}
		g.Expect(validation.IsDNS1123Subdomain(o.GetName())).To(BeEmpty(), "%s name %q", o.GetKind(), o.GetName())
	}
	services := m.all("Service")
	g.Expect(services).To(HaveLen(1))
	monitors := m.all("ServiceMonitor")
	g.Expect(monitors).To(HaveLen(1))
	endpoints, _, _ := unstructured.NestedSlice(monitors[0].Object, "spec", "endpoints")
	g.Expect(endpoints).To(HaveLen(1))
	serverName, _, _ := unstructured.NestedString(endpoints[0].(map[string]any), "tlsConfig", "serverName")
	g.Expect(serverName).To(Equal(services[0].GetName() + "." + helmNamespace + ".svc"))
}

// TestHelmGroupRPO: metrics.prometheusRule.groupRPOSeconds sets the age at which ReplicationGroupRPOExceeded
// fires (a nightly schedule's groups are up to a day old by design), and a value that is no age is refused.
func TestHelmGroupRPO(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace,
		"--set", "metrics.prometheusRule.enabled=true,metrics.prometheusRule.groupRPOSeconds=93600")
	alerts := alertsOf(t, manifests{objs: decode(t, out)}.all("PrometheusRule")[0])
	for _, name := range []string{"ReplicationGroupRPOExceeded", "VasaProviderRPOExceeded"} {
		g.Expect(alerts[name].Expr).To(Equal(strings.ReplaceAll(wantAlerts[name].expr, "> 3600", "> 93600")), name)
	}

	helmRefuses(t, helm, "groupRPOSeconds must be a positive number of seconds",
		"--set", "metrics.prometheusRule.enabled=true,metrics.prometheusRule.groupRPOSeconds=0")
}

// TestHelmServiceAccountNotCreated: with serviceAccount.create false the chart binds the manager's roles
// (cluster-wide Secret reads among them) to serviceAccount.name, which must be given: falling back to the
// namespace's default ServiceAccount would grant them to every pod that uses it.
func TestHelmServiceAccountNotCreated(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	helmRefuses(t, helm, "serviceAccount.name must name an existing ServiceAccount", "--set", "serviceAccount.create=false")

	out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace, "--set", "serviceAccount.create=false,serviceAccount.name=dr-operator")
	m := manifests{objs: decode(t, out)}
	g.Expect(m.all("ServiceAccount")).To(BeEmpty())
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, b := range m.all(kind) {
			binding := into[rbacv1.ClusterRoleBinding](t, b)
			g.Expect(binding.Subjects).To(ConsistOf(HaveField("Name", "dr-operator")), "%s %s", kind, b.GetName())
		}
	}
}

// TestHelmRefusesBadValues: a misspelt key, a wrong type, or a value the manager would not start with is
// refused by the chart's schema or templates, naming the value, instead of being ignored or rendering a
// manager that crash-loops.
func TestHelmRefusesBadValues(t *testing.T) {
	helm := helmBinary(t)
	for set, want := range map[string]string{
		"leaderElecton.enabled=false":        "additional properties 'leaderElecton' not allowed",
		"replicaCout=2":                      "additional properties 'replicaCout' not allowed",
		"replicaCount=two":                   "at '/replicaCount': got string, want integer",
		"replicaCount=-1":                    "at '/replicaCount': minimum",
		"logging.level=verbose":              "at '/logging/level'",
		"logging.encoder=xml":                "at '/logging/encoder': value must be one of 'json', 'console'",
		"nodeLossTolerationSeconds=-1":       "at '/nodeLossTolerationSeconds': minimum",
		"metrics.port=0":                     "at '/metrics/port': minimum",
		"watchNamespaces={team-a,}":          "at '/watchNamespaces/1'",
		"resources=5":                        "at '/resources': got number, want object",
		"metrics.serviceMonitor.interval=1x": "at '/metrics/serviceMonitor/interval'",
		"podLabels.control-plane=x":          "podLabels may not set control-plane: the Deployment selects its pods by it",
	} {
		t.Run(set, func(t *testing.T) { helmRefuses(t, helm, want, "--set", set) })
	}
	t.Run("values that are fine", func(t *testing.T) {
		g := NewWithT(t)
		out := runTool(t, nil, helm, "template", "vso", chartDir, "--set",
			"logging.level=2,metrics.serviceMonitor.interval=1m30s,podLabels.team=storage,image.tag=1.4")
		g.Expect(string(out)).To(And(ContainSubstring("--zap-log-level=2"), ContainSubstring("team: storage")))
	})
}
