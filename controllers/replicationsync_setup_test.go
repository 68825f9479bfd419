package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestReplicationSyncSetupReadsSecretsUncached: a ReplicationSyncReconciler wired without an APIReader
// reads Secret values through the manager's uncached reader, as the VasaProvider and ReplicationGroup
// reconcilers do. Through the cached client, the first Secret read would start an informer holding the
// values of every Secret in the watched namespaces.
func TestReplicationSyncSetupReadsSecretsUncached(t *testing.T) {
	g := NewWithT(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	r := &ReplicationSyncReconciler{Client: mgr.GetClient(), Sessions: session.New()}
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	g.Expect(r.reader()).To(BeIdenticalTo(mgr.GetAPIReader()))
	g.Expect(r.reader()).NotTo(BeIdenticalTo(mgr.GetClient()))
}
