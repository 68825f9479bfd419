package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestReadinessCachesNoSecretValues: the readiness check, with the cache and kinds main wires, leaves no
// Secret's values in the manager's memory, not even of a Secret no VasaProvider names.
func TestReadinessCachesNoSecretValues(t *testing.T) {
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k, err := client.New(cfg, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "another-teams"},
		StringData: map[string]string{"token": "not-ours"}})).To(Succeed())

	opts := cacheOptions("")
	opts.ReaderFailOnMissingInformer = true // a read answers only from an informer already started
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: testenv.Scheme, Cache: opts,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = mgr.Start(ctx) }()
	ready := cachesSynced(mgr.GetCache(), watchedKinds()...)
	g.Eventually(func() error { return ready(httptest.NewRequest("GET", "/readyz", nil)) }).WithTimeout(30 * time.Second).Should(Succeed())

	key := client.ObjectKey{Namespace: "kube-system", Name: "another-teams"}
	err = mgr.GetCache().Get(ctx, key, &corev1.Secret{})
	g.Expect(errors.As(err, new(*cache.ErrResourceNotCached))).To(BeTrue(), "the readiness check started an informer of Secret values: %v", err)

	// Should anything start one, the transform keeps no values in it.
	_, err = mgr.GetCache().GetInformer(ctx, &corev1.Secret{})
	g.Expect(err).NotTo(HaveOccurred())
	got := &corev1.Secret{}
	g.Expect(mgr.GetCache().Get(ctx, key, got)).To(Succeed())
	g.Expect(got.Data).To(BeEmpty(), "a typed Secret informer keeps values")
}
