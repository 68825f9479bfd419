package install

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// TestCRDUpgradeAfterHelmInstall installs the chart for real, so that Helm creates the CRDs under its own
// field manager, then applies a changed CRD server-side as the upgrade notes say: without
// --force-conflicts the apply fails on Helm's fields, with it the CRD is upgraded. The documented
// commands (docs/upgrade.md, the chart's NOTES.txt) carry the flag.
func TestCRDUpgradeAfterHelmInstall(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	helm := helmBinary(t)
	const ns, release = "crd-upgrade", "vso-crd-upgrade"
	runTool(t, nil, helm, "install", release, chartDir, "--kubeconfig", kubeconfig, "--namespace", ns, "--create-namespace")
	t.Cleanup(func() {
		_ = tryTool(nil, helm, "uninstall", release, "--kubeconfig", kubeconfig, "--namespace", ns)
	})

	const name = "replicationsyncs.replication.vasa.io"
	file := filepath.Join(root, "config", "crd", "bases", "replication.vasa.io_replicationsyncs.yaml")
	raw, err := os.ReadFile(file)
	g.Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(yaml.Unmarshal(raw, crd)).To(Succeed())
	// A new release's CRD: a field Helm set changes.
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	schema.Description += " (next release)"
	changed, err := yaml.Marshal(crd)
	g.Expect(err).NotTo(HaveOccurred())
	// Put the CRD back as the chart has it, for the tests that apply it after this one.
	t.Cleanup(func() {
		_ = tryTool(raw, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-")
	})

	err = tryTool(changed, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", "-")
	g.Expect(err).To(MatchError(ContainSubstring("conflict")), "applying over Helm's CRD without --force-conflicts")
	runTool(t, changed, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-")
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("apiextensions.k8s.io/v1")
	got.SetKind("CustomResourceDefinition")
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, got)).To(Succeed())
	g.Expect(into[apiextensionsv1.CustomResourceDefinition](t, *got).Spec.Versions[0].Schema.OpenAPIV3Schema.Description).
		To(Equal(schema.Description))

	applyCRDs := regexp.MustCompile(`[^\n]*crd[^\n]*kubectl apply --server-side[^\n]*|kubectl apply --server-side[^\n]*crd[^\n]*`)
	for _, doc := range []string{"docs/upgrade.md", chartDir + "/templates/NOTES.txt"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		g.Expect(err).NotTo(HaveOccurred())
		cmds := applyCRDs.FindAllString(string(text), -1)
		g.Expect(cmds).NotTo(BeEmpty(), "%s documents the CRD upgrade", doc)
		for _, c := range cmds {
			g.Expect(strings.Contains(c, "--force-conflicts")).To(BeTrue(), "%s: %q", doc, c)
		}
	}
}
