package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestAgainstManagerAndSimulator runs the plugin against the operator's controllers (in process, as
// main.go wires them) and the simulator: the groups the discovery found, a sync with --wait, and the
// status that shows the sync's PiT and the groups' last sync.
func TestAgainstManagerAndSimulator(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := namespace(t, g, "plugin-live")

	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name: "array-a-vp", TaskDuration: smssim.Duration{Duration: 200 * time.Millisecond},
		Groups: []smssim.GroupConfig{
			{FaultDomain: "fd-1", DeviceGroup: "dg-1", Name: "oracle-prod", PiTs: []smssim.PiTConfig{{Name: "array-hourly", Age: smssim.Duration{Duration: 90*time.Minute + 30*time.Second}}}},
			{FaultDomain: "fd-1", DeviceGroup: "dg-2", Name: "oracle-prod"},
			{FaultDomain: "fd-2", DeviceGroup: "dg-1", Name: "sap-prod", State: "INTEST"},
		},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	sessions := session.New()
	g.Expect((&controllers.VasaProviderReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Sessions: sessions}).SetupWithManager(mgr)).To(Succeed())
	g.Expect((&controllers.ReplicationGroupReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Sessions: sessions, AfterSync: time.Second}).SetupWithManager(mgr)).To(Succeed())
	g.Expect((&controllers.ReplicationSyncReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Sessions: sessions, Recorder: mgr.GetEventRecorder("replicationsync-controller"),
	}).SetupWithManager(mgr)).To(Succeed())
	g.Expect((&controllers.ReplicationSyncScheduleReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("replicationsyncschedule-controller"),
	}).SetupWithManager(mgr)).To(Succeed())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	// Stopped before the simulator closes (deferred earlier, so run later), and waited for: a manager
	// left running would reconcile against a closed simulator while the next tests run.
	defer func() {
		cancel()
		g.Expect(<-stopped).To(Succeed())
	}()

	g.Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vc-creds"},
		StringData: map[string]string{"username": sim.Username(), "password": sim.Password()},
	})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &replicationv1alpha1.VasaProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "array-a"},
		Spec: replicationv1alpha1.VasaProviderSpec{
			VCenter: replicationv1alpha1.VCenterSpec{
				URL: sim.URL(), CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "vc-creds"},
				TLS: replicationv1alpha1.TLSSpec{Thumbprint: sim.Thumbprint()},
			},
			Provider: replicationv1alpha1.ProviderSelector{Name: "array-a-vp"},
		},
	})).To(Succeed())
	g.Eventually(func() int {
		list := &replicationv1alpha1.ReplicationGroupList{}
		_ = k8sClient.List(ctx, list, client.InNamespace(ns))
		return len(list.Items)
	}).WithTimeout(30 * time.Second).Should(Equal(3))
	g.Eventually(func() *replicationv1alpha1.DiscoveryStatus {
		vp := &replicationv1alpha1.VasaProvider{}
		_ = k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array-a"}, vp)
		return vp.Status.Discovery
	}).WithTimeout(30*time.Second).ShouldNot(BeNil(), "the discovery records itself after writing the groups")

	live := func(args ...string) (string, error) {
		out := &syncBuffer{}
		a := &app{out: out, errOut: out, restConfig: cfg, pollInterval: 20 * time.Millisecond}
		cmd := a.rootCommand()
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := live("groups", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred())
	golden(t, "live-groups", out)

	out, err = live("doctor", "-n", ns)
	g.Expect(err).NotTo(HaveOccurred(), out)
	out = strings.ReplaceAll(out, sim.URL(), "https://simulator")                                  // its port changes per run
	out = regexp.MustCompile(`last success: \S+ ago`).ReplaceAllString(out, "last success: <age>") // and the time a discovery takes
	out = regexp.MustCompile(`checked \S+ ago`).ReplaceAllString(out, "checked <age>")
	golden(t, "live-doctor", out)

	out, err = live("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--group", "fd-1/dg-2", "--pit-name", "now", "--wait", "--timeout", "60s")
	g.Expect(err).NotTo(HaveOccurred(), out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines[0]).To(Equal("replicationsync.replication.vasa.io/now created (provider array-a, PiT now, 2 groups)"))
	g.Expect(lines[len(lines)-2]).To(Equal("now: Succeeded 2/2 synced, 0 failed, 0 pending"))
	g.Expect(lines[len(lines)-1]).To(Equal("Synced 2 groups to PiT now"))

	// The finished sync triggers a discovery: its PiT is the groups' newest and it is their last sync.
	g.Eventually(func() string {
		out, _ := live("status", "-n", ns, "-l", "replication.vasa.io/source-group=oracle-prod")
		return out
	}).WithTimeout(30 * time.Second).Should(MatchRegexp(`(?m)^\d+s\s+array-a-dg-1-\w+\s+array-a\s+TARGET\s+now\s+now \(Synced, PiT \d+s ago\)$`))

	syncFromLongSchedule(ctx, g, ns, live)
	failedRunEndsTheDocumentedWait(ctx, g, ns)
}

// failedRunEndsTheDocumentedWait: the condition the quickstart's kubectl wait waits for is reached by a
// run that failed (a group the array does not have) as by one that succeeded (the sync "now").
func failedRunEndsTheDocumentedWait(ctx context.Context, g *WithT, ns string) {
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unknown"}}
	rs.Spec.ProviderRef.Name, rs.Spec.PitName, rs.Spec.BackoffLimit = "array-a", "unknown", ptr.To[int32](0)
	rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{id("fd-9", "dg-9")}
	g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	g.Eventually(func() replicationv1alpha1.SyncPhase {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)
		return rs.Status.Phase
	}).WithTimeout(30*time.Second).Should(Equal(replicationv1alpha1.SyncFailed), "the array has no group fd-9/dg-9")

	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "quickstart.md"))
	g.Expect(err).NotTo(HaveOccurred())
	waits := regexp.MustCompile(`kubectl wait rsync/\S+ .*--for=condition=(\w+)(?:=(\w+))?`).FindAllStringSubmatch(string(doc), -1)
	g.Expect(waits).NotTo(BeEmpty(), "sanity: the quickstart shows kubectl wait")
	succeeded := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "now"}, succeeded)).To(Succeed())
	for _, w := range waits {
		want := metav1.ConditionTrue
		if strings.EqualFold(w[2], "false") {
			want = metav1.ConditionFalse
		}
		for _, run := range []*replicationv1alpha1.ReplicationSync{rs, succeeded} {
			g.Expect(meta.IsStatusConditionPresentAndEqual(run.Status.Conditions, w[1], want)).To(BeTrue(),
				"%q waits for a condition the %s run does not reach: %v", w[0], run.Status.Phase, run.Status.Conditions)
		}
	}
}

// syncFromLongSchedule: a run made with --from-schedule from a schedule whose name is too long for a
// label value counts as the schedule's success, as the schedule controller finds it by its label.
func syncFromLongSchedule(ctx context.Context, g *WithT, ns string, live func(...string) (string, error)) {
	name := "nightly-oracle-production-database-cluster-east-region-replication-schedule"
	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "0 2 * * *",
			Suspend:  ptr.To(true), // only the manual run
			Template: replicationv1alpha1.ReplicationSyncTemplate{Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
				ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
				GroupIDs: []replicationv1alpha1.ReplicationGroupID{{
					FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-2"},
				}},
			}},
		},
	}
	g.Expect(k8sClient.Create(ctx, sched)).To(Succeed())
	out, err := live("sync", "-n", ns, "--from-schedule", name, "--name", "long-manual", "--wait", "--timeout", "60s")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("Synced 1 groups to PiT long-manual"))

	// The schedule owns the manual run without controlling it; the run's end wakes it all the same.
	g.Eventually(func() *metav1.Time {
		got := &replicationv1alpha1.ReplicationSyncSchedule{}
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(sched), got)
		return got.Status.LastSuccessfulTime
	}).WithTimeout(30*time.Second).ShouldNot(BeNil(), "the schedule counts the manual run's success")
}
