package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// secretRecordingCache records how the manager's cache is asked for Secrets: every Get, List and
// informer request goes through it, so a typed request means a Secret informer holding values.
type secretRecordingCache struct {
	cache.Cache
	mu       sync.Mutex
	requests []string // "typed <method>" or "metadata <method>"
}

func (c *secretRecordingCache) record(method string, obj any) {
	kind := ""
	shape := ""
	switch o := obj.(type) {
	case *corev1.Secret, *corev1.SecretList:
		kind, shape = "Secret", "typed"
	case *metav1.PartialObjectMetadata:
		kind, shape = o.Kind, "metadata"
	case *metav1.PartialObjectMetadataList:
		kind, shape = o.Kind, "metadata"
	}
	if kind != "Secret" && kind != "SecretList" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, shape+" "+method)
}

func (c *secretRecordingCache) recorded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

func (c *secretRecordingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.record("Get", obj)
	return c.Cache.Get(ctx, key, obj, opts...)
}

func (c *secretRecordingCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.record("List", list)
	return c.Cache.List(ctx, list, opts...)
}

func (c *secretRecordingCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	c.record("GetInformer", obj)
	return c.Cache.GetInformer(ctx, obj, opts...)
}

func (c *secretRecordingCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	if gvk.Kind == "Secret" {
		c.record("GetInformerForKind", &corev1.Secret{})
	}
	return c.Cache.GetInformerForKind(ctx, gvk, opts...)
}

// passwordDialer accepts only password; any other password is a LoginError.
func passwordDialer(password string) DialFunc {
	return func(_ context.Context, cfg sms.Config) (sms.Client, error) {
		if cfg.Password != password {
			return nil, &sms.LoginError{Username: cfg.Username, Err: fmt.Errorf("cannot complete login")}
		}
		return smsfake.New(), nil
	}
}

// TestVasaProviderCachesNoSecretValues wires the VasaProvider controller as main.go does and checks that
// the manager's cache only ever holds Secret metadata (stripped of annotations), while a fixed password
// still re-triggers the provider through the metadata watch.
func TestVasaProviderCachesNoSecretValues(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "vp-secrets-")

	var recorder *secretRecordingCache
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{ns.Name: {}},
			ByObject:          map[client.Object]cache.ByObject{&corev1.Secret{}: {Transform: StripSecretMetadata}},
		},
		NewCache: func(config *rest.Config, opts cache.Options) (cache.Cache, error) {
			c, err := cache.New(config, opts)
			recorder = &secretRecordingCache{Cache: c}
			return recorder, err
		},
	})
	g.Expect(err).NotTo(HaveOccurred())
	r := &VasaProviderReconciler{
		Client:   mgr.GetClient(),
		Sessions: session.New(),
		Dial:     passwordDialer("right"),
	}
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	g.Expect(r.APIReader).NotTo(BeNil(), "SetupWithManager defaults APIReader")

	startManager(t, g, mgr)

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "array-creds", Annotations: map[string]string{
			// What kubectl apply stores: the whole Secret, values included.
			"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"password":"wrong"}}`,
		}},
		StringData: map[string]string{secretUsernameKey: "admin", secretPasswordKey: "wrong"},
	}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	vp := newProvider(ns.Name, "array", secret.Name)
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())

	readyReason := func(g Gomega) string {
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, replicationv1alpha1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		return c.Reason
	}
	// The manager starts its caches first: on a loaded machine that takes seconds.
	g.Eventually(readyReason).WithTimeout(20 * time.Second).Should(Equal(replicationv1alpha1.InvalidCredentialsReason))

	// The recheck interval is minutes: only the Secret watch can bring the provider back this soon.
	secret.StringData = map[string]string{secretPasswordKey: "right"}
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	g.Eventually(readyReason).WithTimeout(20 * time.Second).Should(Equal(replicationv1alpha1.ConnectedReason))

	g.Expect(recorder.recorded()).To(ContainElement("metadata GetInformer"), "Secrets are watched by metadata")
	g.Expect(recorder.recorded()).NotTo(ContainElement(HavePrefix("typed ")), "no Secret values are cached")

	cached := &metav1.PartialObjectMetadata{}
	cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	g.Expect(mgr.GetCache().Get(ctx, client.ObjectKeyFromObject(secret), cached)).To(Succeed())
	g.Expect(cached.Annotations).To(BeEmpty(), "last-applied-configuration carries the values")
	g.Expect(cached.ManagedFields).To(BeEmpty())
}

// startManager runs mgr until the test ends, and then waits for it to stop.
// namespaceManager is a manager that caches one namespace, without metrics or probes.
func namespaceManager(g *WithT, ns string) ctrl.Manager {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return mgr
}

func startManager(t *testing.T, g *WithT, mgr ctrl.Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Expect(<-done).To(Succeed())
	})
}

// TestHungVCenterHoldsBackNoOtherProvider: a vCenter that takes connections but never answers holds one
// check until its timeouts; the other VasaProviders' checks (a re-lookup after ManagedObjectNotFound, a
// fixed Secret) go on meanwhile.
func TestHungVCenterHoldsBackNoOtherProvider(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "vp-hung-")
	mgr := namespaceManager(g, ns.Name)
	healthy := passwordDialer("right")
	hanging := make(chan struct{}) // closed once the hung vCenter took a check's connection
	var once sync.Once
	r := &VasaProviderReconciler{Client: mgr.GetClient(), Sessions: session.New(),
		Dial: func(ctx context.Context, c sms.Config) (sms.Client, error) {
			if strings.Contains(c.URL, "hung") {
				once.Do(func() { close(hanging) })
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return healthy(ctx, c)
		}}
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	startManager(t, g, mgr)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "creds"},
		StringData: map[string]string{secretUsernameKey: "admin", secretPasswordKey: "right"}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	hung := newProvider(ns.Name, "hung", secret.Name)
	hung.Spec.VCenter.URL = "https://vc-hung.example.com"
	g.Expect(k8sClient.Create(ctx, hung)).To(Succeed())
	g.Eventually(hanging).WithTimeout(20*time.Second).Should(BeClosed(), "the hung provider's check has started")
	vp := newProvider(ns.Name, "healthy", secret.Name)
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
	g.Eventually(func(g Gomega) string {
		got := &replicationv1alpha1.VasaProvider{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, replicationv1alpha1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		return c.Reason
	}).WithTimeout(20 * time.Second).Should(Equal(replicationv1alpha1.ConnectedReason))
}
