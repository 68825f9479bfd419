package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	cfg       *rest.Config
	k8sClient client.Client
)

// runMainEnv makes the test binary run the plugin's main instead of the tests (see pluginProcess).
const runMainEnv = "KUBECTL_VASA_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(testenv.Run(m, func(_ *envtest.Environment, c *rest.Config) error {
		cfg = c
		var err error
		k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
		return err
	}))
}

// now is the plugin's clock in the tests: ages and names derive from it.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the plugin with args against the test API server and returns its output and error.
func run(args ...string) (string, error) {
	out := &syncBuffer{}
	err := runTo(context.Background(), out, args...)
	return out.String(), err
}

func runTo(ctx context.Context, out *syncBuffer, args ...string) error {
	a := &app{out: out, errOut: out, now: func() time.Time { return now }, restConfig: cfg, pollInterval: 5 * time.Millisecond}
	cmd := a.rootCommand()
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// golden compares got with testdata/name.golden (or writes it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update to create it): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if the change is wanted)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// namespace creates a namespace with a fixed name, so that it can appear in golden output.
func namespace(t *testing.T, g *WithT, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return name
}

// group creates a ReplicationGroup as the discovery would.
func group(g *WithT, ns, provider, fd, dg, state, name string, pitAge time.Duration, last *replicationv1alpha1.LastSync) {
	st := replicationv1alpha1.ReplicationGroupStatus{State: state, Name: name, SourceGroupName: name, LastSync: last}
	if pitAge > 0 {
		st.NewestPiT = &replicationv1alpha1.PointInTime{Name: "hourly-" + dg, ID: "pit-" + dg, TimeStamp: metav1.NewTime(now.Add(-pitAge))}
	}
	l := map[string]string{
		replicationv1alpha1.ProviderLabel:    replicationv1alpha1.LabelValue(provider),
		replicationv1alpha1.FaultDomainLabel: replicationv1alpha1.LabelValue(fd),
		replicationv1alpha1.StateLabel:       state,
	}
	if name != "" {
		l[replicationv1alpha1.SourceGroupLabel] = replicationv1alpha1.LabelValue(name)
	}
	rg := &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: strings.ToLower(provider + "-" + fd + "-" + dg), Labels: l},
		Spec: replicationv1alpha1.ReplicationGroupSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider},
			GroupID: replicationv1alpha1.ReplicationGroupID{
				FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg},
			},
		},
		Status: st,
	}
	g.ExpectWithOffset(1, k8sClient.Create(context.Background(), rg)).To(Succeed())
}

// fleet creates the VasaProviders and groups the golden files show.
func fleet(g *WithT, ns string) {
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{}, nil, nil)
	provider(g, ns, "array-b", replicationv1alpha1.TLSSpec{}, nil, nil)
	done, pit := metav1.NewTime(now.Add(-26*time.Hour)), metav1.NewTime(now.Add(-28*time.Hour))
	group(g, ns, "array-a", "fd-1", "dg-1", "TARGET", "oracle", 40*time.Minute, &replicationv1alpha1.LastSync{Name: "nightly-20261122-0200", State: replicationv1alpha1.GroupSynced, CompletionTime: &done, PitTime: &pit})
	group(g, ns, "array-a", "fd-1", "dg-2", "TARGET", "oracle", 5*time.Hour, nil)
	group(g, ns, "array-a", "fd-1", "dg-3", "INTEST", "sap", 0, nil)
	group(g, ns, "array-a", "fd-2", "dg-1", "TARGET", "sap", 3*time.Minute, nil)
	group(g, ns, "array-b", "fd-9", "dg-1", "TARGET", "", 2*time.Hour, nil)
}
