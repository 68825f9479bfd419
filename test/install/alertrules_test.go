package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// TestAlertRulesFire evaluates the shipped alert rules with Prometheus' own engine (promtool test rules)
// on the cases in testdata/alerts.test.yaml: series as the manager exports them, across restarts,
// rollouts and outages, and the alerts that must fire, or not, at given times.
func TestAlertRulesFire(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var rule struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	g.Expect(yaml.Unmarshal(raw, &rule)).To(Succeed())
	g.Expect(rule.Spec.Groups).NotTo(BeEmpty())
	for _, grp := range rule.Spec.Groups {
		rules, _ := grp["rules"].([]any)
		for _, r := range rules {
			delete(r.(map[string]any), "annotations") // expectAlerts checks them; promtool would need each spelled out
		}
	}
	plain, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	g.Expect(err).NotTo(HaveOccurred())

	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "rules.yaml"), plain, 0o600)).To(Succeed())
	cases, err := os.ReadFile(filepath.Join("testdata", "alerts.test.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), cases, 0o600)).To(Succeed())

	// $PROMTOOL, or the promtool hack/promtool.sh builds from the Go module proxy (or has cached).
	cmd := exec.Command(toolBinary(t, "PROMTOOL", "promtool.sh"), "test", "rules", "alerts.test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "promtool test rules:\n%s", out)

	// Every alert the product ships has a case.
	for name := range wantAlerts {
		g.Expect(string(cases)).To(ContainSubstring("alertname: "+name), "testdata/alerts.test.yaml has no case for %s", name)
	}
}
