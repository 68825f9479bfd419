package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// k8sClient and cfg talk to the control plane TestMain starts once for the package.
var (
	k8sClient client.Client
	cfg       *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(_ *envtest.Environment, c *rest.Config) error {
		cfg = c
		var err error
		if k8sClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme}); err != nil {
			return fmt.Errorf("creating client: %w", err)
		}
		return nil
	}))
}

// newNamespace creates a namespace of its own for the calling test.
func newNamespace(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(name, "-") + "-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}
