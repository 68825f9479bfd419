package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// managerUser is the identity the manager runs as, bound to the generated ClusterRole only.
const managerUser = "system:serviceaccount:vasa-sync-system:vasa-sync-controller-manager"

var (
	// adminClient is the test's own client (cluster-admin).
	adminClient client.Client
	// managerConfig is restricted to config/rbac/role.yaml.
	managerConfig *rest.Config
	// managerKubeconfig is the same identity as a kubeconfig, for the manager binary.
	managerKubeconfig []byte
	// testEnv is the control plane, for tests that need identities of their own (AddUser).
	testEnv *envtest.Environment
	// managerRole is the manager's generated ClusterRole (config/rbac/role.yaml).
	managerRole *rbacv1.ClusterRole
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	code := testenv.Run(m, setup)
	removeBuild()
	os.Exit(code)
}

// zapLevel logs errors only unless E2E_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("E2E_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// setup creates the admin client and the manager's restricted identity from the generated RBAC.
func setup(env *envtest.Environment, cfg *rest.Config) error {
	var err error
	if adminClient, err = client.New(cfg, client.Options{Scheme: testenv.Scheme}); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return fmt.Errorf("reading the generated RBAC (run make manifests): %w", err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return err
	}
	ctx := context.Background()
	if err := adminClient.Create(ctx, role); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "manager-rolebinding"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	}
	if err := adminClient.Create(ctx, binding); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: managerUser}, nil)
	if err != nil {
		return err
	}
	managerConfig = user.Config()
	testEnv, managerRole = env, role.DeepCopy()
	managerKubeconfig, err = user.KubeConfig()
	return err
}

// fastTimings keeps the suite quick: short polls and backoff.
type timings struct {
	backoff              backoff.Policy
	pollInitial, pollMax time.Duration
	// providerRecheck, when > 0, replaces the VasaProvider recheck interval, which also caps the
	// retry of a check that failed transiently (30s otherwise).
	providerRecheck time.Duration
}

var fast = timings{
	backoff:     backoff.Policy{Base: 50 * time.Millisecond, Max: 400 * time.Millisecond, Factor: 2, Jitter: 0.2},
	pollInitial: 20 * time.Millisecond,
	pollMax:     200 * time.Millisecond,
}

// startManager runs the manager as main.go wires it, with the restricted identity, watching ns.
// It returns a stop function that waits until the manager has stopped (also registered as cleanup).
func startManager(t *testing.T, ns string, tm timings) func() {
	t.Helper()
	g := NewWithT(t)
	mgr, err := ctrl.NewManager(managerConfig, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	sessions, ledger := session.New(), capacity.New()
	capacityEvents := make(chan event.GenericEvent, 64)
	g.Expect((&controllers.VasaProviderReconciler{
		Client:          mgr.GetClient(),
		Sessions:        sessions,
		Capacity:        ledger,
		CapacityEvents:  capacityEvents,
		RecheckInterval: tm.providerRecheck,
	}).SetupWithManager(mgr)).To(Succeed())
	g.Expect((&controllers.ReplicationSyncReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Sessions:       sessions,
		Capacity:       ledger,
		ProviderEvents: capacityEvents,
		Recorder:       mgr.GetEventRecorder("replicationsync-controller"),
		Backoff:        tm.backoff,
		PollInitial:    tm.pollInitial,
		PollMax:        tm.pollMax,
	}).SetupWithManager(mgr)).To(Succeed())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	NewWithT(t).Expect(adminClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// startSim starts the simulator and closes it at the end of the test.
func startSim(t *testing.T, cfg smssim.Config) *smssim.Sim {
	t.Helper()
	sim, err := smssim.Start(cfg)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	t.Cleanup(sim.Close)
	return sim
}

// groups returns n groups of one fault domain, as simulator config and as API ids.
func groups(fd string, n int) ([]smssim.GroupConfig, []replicationv1alpha1.ReplicationGroupID) {
	var cfg []smssim.GroupConfig
	var ids []replicationv1alpha1.ReplicationGroupID
	for i := 1; i <= n; i++ {
		dg := fmt.Sprintf("dg-%02d", i)
		cfg = append(cfg, smssim.GroupConfig{FaultDomain: fd, DeviceGroup: dg})
		ids = append(ids, replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg},
		})
	}
	return cfg, ids
}

// createProvider creates the credentials and CA Secrets and a VasaProvider for the simulator's provider.
func createProvider(t *testing.T, ns, name string, sim *smssim.Sim, providerName, password string, mutate ...func(*replicationv1alpha1.VasaProvider)) *replicationv1alpha1.VasaProvider {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	if password == "" {
		password = sim.Password()
	}
	g.Expect(adminClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-creds"},
		StringData: map[string]string{"username": sim.Username(), "password": password},
	})).To(Succeed())
	g.Expect(adminClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-ca"},
		Data:       map[string][]byte{"ca.crt": sim.CACertPEM()},
	})).To(Succeed())
	vp := &replicationv1alpha1.VasaProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.VasaProviderSpec{
			VCenter: replicationv1alpha1.VCenterSpec{
				URL:                  sim.URL(),
				CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: name + "-creds"},
				TLS:                  replicationv1alpha1.TLSSpec{CABundleSecretRef: &replicationv1alpha1.SecretKeySelector{Name: name + "-ca", Key: "ca.crt"}},
			},
			Provider: replicationv1alpha1.ProviderSelector{Name: providerName},
		},
	}
	for _, m := range mutate {
		m(vp)
	}
	g.Expect(adminClient.Create(ctx, vp)).To(Succeed())
	return vp
}

// newSync builds a ReplicationSync.
func newSync(ns, name, provider, pitName string, ids []replicationv1alpha1.ReplicationGroupID) *replicationv1alpha1.ReplicationSync {
	return &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider},
			GroupIDs:    ids,
			PitName:     pitName,
		},
	}
}

// getSync reads a ReplicationSync (Gomega-friendly).
func getSync(g Gomega, key client.ObjectKey) *replicationv1alpha1.ReplicationSync {
	rs := &replicationv1alpha1.ReplicationSync{}
	g.Expect(adminClient.Get(context.Background(), key, rs)).To(Succeed())
	return rs
}

// waitPhase waits until the sync reaches phase and returns it.
func waitPhase(t *testing.T, key client.ObjectKey, phase replicationv1alpha1.SyncPhase, timeout time.Duration) *replicationv1alpha1.ReplicationSync {
	t.Helper()
	var rs *replicationv1alpha1.ReplicationSync
	NewWithT(t).Eventually(func(g Gomega) {
		rs = getSync(g, key)
		g.Expect(rs.Status.Phase).To(Equal(phase), "status: %+v", rs.Status.Conditions)
	}).WithTimeout(timeout).WithPolling(20 * time.Millisecond).Should(Succeed())
	return rs
}

// kstatusOf computes the kstatus of an object the way Flux and Argo CD do.
func kstatusOf(g Gomega, obj runtime.Object) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// withPitName keeps the records whose pitName is pitName.
func withPitName[T any](records []T, pitName string, nameOf func(T) string) []T {
	var out []T
	for _, r := range records {
		if nameOf(r) == pitName {
			out = append(out, r)
		}
	}
	return out
}

// pitsFor returns the simulator's PiTs with pitName.
func pitsFor(sim *smssim.Sim, pitName string) []smssim.PiTRecord {
	return withPitName(sim.PiTs(), pitName, func(p smssim.PiTRecord) string { return p.PitName })
}

// syncCallsFor returns the simulator's sync calls with pitName.
func syncCallsFor(sim *smssim.Sim, pitName string) []smssim.SyncCall {
	return withPitName(sim.Calls(), pitName, func(c smssim.SyncCall) string { return c.PitName })
}
