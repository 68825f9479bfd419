package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

var (
	root       = testenv.RepoRoot()
	kubectl    string // kubectl built by hack/envtest-assets.sh
	kubeconfig string // admin kubeconfig for the test API server
	k8sClient  client.Client
	restConfig *rest.Config // admin config for the test API server
)

// TestMain starts one API server for the package with only the monitoring.coreos.com stand-in CRDs
// installed: the project's CRDs are part of what the tests apply.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := testenv.AssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectl = filepath.Join(dir, "kubectl")
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join("testdata", "monitoring.coreos.com-crds.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	user, err := env.AddUser(envtest.User{Name: "install-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "adding a user:", err)
		return 1
	}
	raw, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "writing a kubeconfig:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "install-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	restConfig = cfg
	k8sClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// requireRole fails the test when config/rbac/role.yaml, which `make manifests` generates, is missing.
func requireRole(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "config", "rbac", "role.yaml")); err != nil {
		t.Fatalf("config/rbac/role.yaml is missing: run `make manifests` (controller-gen writes it from the rbac markers): %v", err)
	}
}

// runTool runs a command and returns its stdout; on failure the test fails with stderr.
func runTool(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// helmRefuses runs helm template with args (the chart and a release name are given) and expects it to
// fail, saying want.
func helmRefuses(t *testing.T, helm, want string, args ...string) {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", "vso", chartDir}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	g := NewWithT(t)
	g.Expect(err).To(HaveOccurred(), "helm template %s rendered:\n%s", strings.Join(args, " "), out)
	g.Expect(string(out)).To(ContainSubstring(want))
}

// kustomize renders a kustomization directory (relative to the repository) with kubectl's built-in kustomize.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	return runTool(t, nil, kubectl, "kustomize", filepath.Join(root, dir))
}

// ensureNamespace creates a namespace for real: a server-side dry run of namespaced objects needs it.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// dryRunApply applies manifests with a server-side apply dry run, so that the API server runs defaulting,
// schema and CEL validation and admission on every object without persisting any. It returns kubectl's output.
func dryRunApply(t *testing.T, manifests []byte) string {
	t.Helper()
	out := runTool(t, manifests, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--dry-run=server",
		"--field-manager=install-test", "-f", "-")
	return string(out)
}

// decode splits a multi-document YAML stream into objects, skipping empty documents.
func decode(t *testing.T, manifests []byte) []unstructured.Unstructured {
	t.Helper()
	var objs []unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding manifests: %v", err)
		}
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, unstructured.Unstructured{Object: obj})
	}
	return objs
}

// tryTool runs a command and returns an error with its stderr when it fails.
func tryTool(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, stderr.String())
	}
	return nil
}
