package install

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const kustomizeNamespace = "vasa-sync-system"

func TestKustomizeDefault(t *testing.T) {
	requireRole(t)
	out := kustomize(t, "config/default")
	m := manifests{objs: decode(t, out)}

	t.Run("objects", func(t *testing.T) {
		g := NewWithT(t)
		expectManagerInstall(t, m, kustomizeNamespace, defaultImage(t))
		ns := m.all("Namespace")
		g.Expect(ns).To(HaveLen(1))
		g.Expect(ns[0].GetName()).To(Equal(kustomizeNamespace))
		for _, o := range m.objs {
			switch o.GetKind() {
			case "CustomResourceDefinition", "Namespace":
			default:
				g.Expect(strings.HasPrefix(o.GetName(), "vasa-sync-")).To(BeTrue(), "%s %s has the name prefix", o.GetKind(), o.GetName())
			}
		}
	})

	t.Run("server-side dry run", func(t *testing.T) {
		g := NewWithT(t)
		ensureNamespace(t, kustomizeNamespace)
		applied := dryRunApply(t, out)
		g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
	})
}

func TestKustomizePrometheus(t *testing.T) {
	out := kustomize(t, "config/prometheus")
	m := manifests{objs: decode(t, out)}
	g := NewWithT(t)
	g.Expect(m.all("ServiceMonitor")).To(HaveLen(1))
	g.Expect(m.all("PrometheusRule")).To(HaveLen(1))
	for _, o := range m.objs {
		g.Expect(o.GetNamespace()).To(Equal(kustomizeNamespace))
		g.Expect(strings.HasPrefix(o.GetName(), "vasa-sync-")).To(BeTrue())
	}
	expectAlerts(t, m.all("PrometheusRule")[0])

	ensureNamespace(t, kustomizeNamespace)
	applied := dryRunApply(t, out)
	g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
}

// TestKustomizeMonitoringSelectsManager checks the ServiceMonitor of config/prometheus against the
// Service and Deployment of config/default, as they are deployed together.
func TestKustomizeMonitoringSelectsManager(t *testing.T) {
	requireRole(t)
	m := manifests{objs: append(decode(t, kustomize(t, "config/default")), decode(t, kustomize(t, "config/prometheus"))...)}
	expectManagerInstall(t, m, kustomizeNamespace, defaultImage(t))
}

// TestKustomizeDryRunCatchesBrokenManifests proves the dry run is a real check: an invalid object fails.
func TestKustomizeDryRunCatchesBrokenManifests(t *testing.T) {
	g := NewWithT(t)
	ensureNamespace(t, kustomizeNamespace)
	broken := []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: vasa-sync-system
spec:
  selector:
    matchLabels: {app: a}
  template:
    metadata:
      labels: {app: b}
    spec:
      containers:
      - name: manager
        image: vasa-sync-operator:latest
`)
	cmdErr := tryTool(broken, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-")
	g.Expect(cmdErr).To(MatchError(ContainSubstring("does not match template")))
}
