package install

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// semver is a release version as the chart and the image tag carry it.
var semver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// chartAppVersion reads the chart's appVersion: the default image tag of the chart, config/manager and
// the Makefile.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	return chart.AppVersion
}

// defaultImage is the manager image both installs run unless told otherwise.
func defaultImage(t *testing.T) string {
	return "vasa-sync-operator:" + chartAppVersion(t)
}

// TestVersionIsOneRelease: the chart's appVersion, the tag config/manager sets and the Makefile's VERSION
// (the tag docker-build gives the image) are one release version, never a moving tag such as latest,
// so that an upgrade changes the pod template and rolls out.
func TestVersionIsOneRelease(t *testing.T) {
	g := NewWithT(t)
	version := chartAppVersion(t)
	g.Expect(version).To(MatchRegexp(semver.String()), "Chart.yaml appVersion")

	raw, err := os.ReadFile(filepath.Join(root, "config", "manager", "kustomization.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	g.Expect(yaml.Unmarshal(raw, &k)).To(Succeed())
	g.Expect(k.Images).To(HaveLen(1))
	g.Expect(k.Images[0].NewTag).To(Equal(version), "config/manager/kustomization.yaml newTag")

	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	g.Expect(err).NotTo(HaveOccurred())
	m := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindSubmatch(mk)
	g.Expect(m).NotTo(BeNil(), "Makefile sets VERSION ?= <version>")
	g.Expect(string(m[1])).To(Equal(version), "Makefile VERSION")
	g.Expect(string(mk)).To(MatchRegexp(`(?m)^IMG \?= vasa-sync-operator:\$\(VERSION\)$`))
}

// TestDeployImage: hack/kustomize-image.sh, which make deploy runs, renders the kustomizations with the
// manager image IMG (a tag or a digest, a registry with a port) and leaves config/ as it is.
func TestDeployImage(t *testing.T) {
	requireRole(t)
	manager := filepath.Join(root, "config", "manager", "kustomization.yaml")
	before, err := os.ReadFile(manager)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "hack", "kustomize-image.sh")
	env := append(os.Environ(), "KUBECTL="+kubectl)
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ dir, img string }{
		{"config/default", "registry.example.com:5000/storage/vasa-sync-operator:0.1.0-rc.1"},
		{"config/default", "registry.example.com/vso@" + digest},
		{"config/namespaced", "ghcr.io/example/vso:2"},
	} {
		t.Run(tc.dir+"/"+tc.img, func(t *testing.T) {
			g := NewWithT(t)
			out := runToolEnv(t, env, script, tc.dir, tc.img)
			m := manifests{objs: decode(t, out)}
			deps := m.all("Deployment")
			g.Expect(deps).To(HaveLen(1))
			dep := into[appsv1.Deployment](t, deps[0])
			g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(tc.img))
			// The rest of the install is what the kustomization renders on its own.
			g.Expect(len(m.objs)).To(Equal(len(decode(t, kustomize(t, tc.dir)))))
		})
	}

	t.Run("no tag", func(t *testing.T) {
		g := NewWithT(t)
		err := tryToolEnv(env, script, "config/default", "registry.example.com:5000/vso")
		g.Expect(err).To(MatchError(ContainSubstring("names no tag")))
	})

	after, err := os.ReadFile(manager)
	if err != nil {
		t.Fatal(err)
	}
	NewWithT(t).Expect(string(after)).To(Equal(string(before)), "config/manager/kustomization.yaml was modified")
}

// runToolEnv is runTool with an environment.
func runToolEnv(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	out, err := execEnv(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// tryToolEnv runs a command with an environment and returns an error with its stderr when it fails.
func tryToolEnv(env []string, name string, args ...string) error {
	_, err := execEnv(env, name, args...)
	return err
}

// execEnv runs a command in the repository with an environment; the error carries its stderr.
func execEnv(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}
