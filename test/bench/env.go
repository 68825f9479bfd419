package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// managerUser is the identity the manager runs as, bound to the generated ClusterRole only.
const managerUser = "system:serviceaccount:vasa-sync-system:vasa-sync-controller-manager"

// Env is what every scenario shares: the control plane, the manager binary and its identity, and
// the proxy that counts the manager's API requests.
type Env struct {
	// Admin is a cluster-admin client without client-side rate limits.
	Admin client.Client
	// AdminConfig is its config.
	AdminConfig *rest.Config
	// API counts the manager's requests to the API server.
	API *APIProxy
	// Kubeconfig is the path of the manager's kubeconfig (through API).
	Kubeconfig string
	// Bin is the manager binary.
	Bin string
	// Dir holds the binary, the kubeconfig and the manager logs.
	Dir string
	// APIServerPID and EtcdPID are the control plane's processes; 0 when not found.
	APIServerPID, EtcdPID int
	// ManagerArgs are extra manager flags for every scenario.
	ManagerArgs []string

	mu    sync.Mutex
	naive map[string]time.Duration // naive time per group, by task duration and jitter
}

// NewEnv prepares a started control plane: the manager's RBAC and identity, the API proxy, the
// manager binary (built from the repository) and the control plane's pids.
func NewEnv(env *envtest.Environment, cfg *rest.Config, managerArgs []string) (*Env, error) {
	admin := rest.CopyConfig(cfg)
	admin.QPS, admin.Burst = -1, 0
	c, err := client.New(admin, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		return nil, err
	}
	if err := bindManagerRole(c); err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: managerUser}, nil)
	if err != nil {
		return nil, err
	}
	api, err := StartAPIProxy(user.Config())
	if err != nil {
		return nil, err
	}
	e := &Env{Admin: c, AdminConfig: admin, API: api, ManagerArgs: managerArgs, naive: map[string]time.Duration{},
		APIServerPID: ChildPID("kube-apiserver"), EtcdPID: ChildPID("etcd")}
	if e.Dir, err = os.MkdirTemp("", "vasa-bench-"); err != nil {
		return nil, err
	}
	kc, err := api.Kubeconfig()
	if err != nil {
		return nil, err
	}
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	if e.Bin, err = BuildManager(testenv.RepoRoot(), e.Dir); err != nil {
		return nil, err
	}
	return e, nil
}

// Close stops the API proxy and removes Dir, unless BENCH_KEEP_LOGS is set: then it says where the
// manager logs are.
func (e *Env) Close() {
	e.API.Close()
	if os.Getenv("BENCH_KEEP_LOGS") != "" {
		fmt.Fprintf(os.Stderr, "manager logs kept in %s\n", e.Dir)
		return
	}
	_ = os.RemoveAll(e.Dir)
}

// bindManagerRole installs config/rbac/role.yaml and binds it to managerUser.
func bindManagerRole(c client.Client) error {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return fmt.Errorf("reading the generated RBAC (run make manifests): %w", err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, role); err != nil {
		return err
	}
	return c.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-manager"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	})
}

// naivePerGroup returns the cached naive time per group for key.
func (e *Env) naivePerGroup(key string) (time.Duration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.naive[key]
	return d, ok
}

// setNaivePerGroup caches the naive time per group for key.
func (e *Env) setNaivePerGroup(key string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.naive[key] = d
}
