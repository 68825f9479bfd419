package controllers

import (
	"context"
	"os"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// cfg and k8sClient reach the package's control plane, started once by TestMain.
var (
	cfg       *rest.Config
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	// Reconcilers log through the context; a test that reads logs puts its own logger there. Without a
	// global one, controller-runtime prints a stack trace to say none was set.
	ctrl.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, func(_ *envtest.Environment, c *rest.Config) error {
		cfg = c
		var err error
		k8sClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
		return err
	}))
}

// newProvider returns a VasaProvider for provider array-a on a vCenter, logging in with the Secret named
// secret.
func newProvider(namespace, name, secret string) *replicationv1alpha1.VasaProvider {
	return &replicationv1alpha1.VasaProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: replicationv1alpha1.VasaProviderSpec{
			VCenter: replicationv1alpha1.VCenterSpec{
				URL:                  "https://vcenter.example.com/sdk",
				CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: secret},
			},
			Provider: replicationv1alpha1.ProviderSelector{Name: "array-a"},
		},
	}
}

// newNamespace creates a namespace named after prefix, deleted when the test ends.
func newNamespace(t *testing.T, g *WithT, c client.Client, prefix string) *corev1.Namespace {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	g.Expect(c.Create(context.Background(), ns)).To(Succeed())
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return ns
}

// intercepted returns a client of the control plane whose calls go through funcs first.
func intercepted(g *WithT, funcs interceptor.Funcs) client.WithWatch {
	watching, err := client.NewWithWatch(cfg, client.Options{Scheme: k8sClient.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return interceptor.NewClient(watching, funcs)
}
