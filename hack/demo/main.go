// Command demo runs the operator's main job end to end on one machine: a local control plane (envtest),
// the VASA provider simulator over HTTPS and the manager binary, then a ReplicationSync of a few dozen
// groups and a schedule, then the ReplicationGroups discovered from the provider and a sync chosen by label
// selector. It shows progress live and exits non-zero when a sync does not succeed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

const (
	namespace    = "demo"
	providerName = "array-a"
	pollInterval = 500 * time.Millisecond
)

func main() {
	groups := flag.Int("groups", 36, "Replication groups to sync.")
	timeout := flag.Duration("timeout", 3*time.Minute, "Give up after this long.")
	managerBin := flag.String("manager", "bin/manager", "Path of the manager binary.")
	flag.StringVar(&pluginBin, "plugin", "", "Path of the kubectl-vasa binary; empty skips its output.")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *groups, *managerBin); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("\ndemo succeeded")
}

func run(ctx context.Context, groupCount int, managerBin string) error {
	step("Starting a local control plane (kube-apiserver + etcd)")
	env, _, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the demo user: %w", err)
	}
	kubeconfig, err := writeKubeconfig(admin)
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(filepath.Dir(kubeconfig)) }()
	c, err := client.New(admin.Config(), client.Options{Scheme: testenv.Scheme})
	if err != nil {
		return err
	}

	step("Starting the VASA provider simulator (HTTPS)")
	simCfg, err := smssim.LoadConfig(filepath.Join(testenv.RepoRoot(), "hack", "demo", "sim.yaml"))
	if err != nil {
		return err
	}
	ids := groupIDs(groupCount)
	for _, id := range ids {
		simCfg.Providers[0].Groups = append(simCfg.Providers[0].Groups,
			smssim.GroupConfig{FaultDomain: id.FaultDomainID.ID, DeviceGroup: id.DeviceGroupID.ID})
	}
	nameGroups(&simCfg.Providers[0])
	sim, err := smssim.Start(simCfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Printf("  %s  provider %s, maxBatchSize %d, busy twice, thumbprint %s\n",
		sim.URL(), simCfg.Providers[0].Name, simCfg.Providers[0].MaxBatchSize, sim.Thumbprint())

	step("Starting the manager")
	stopManager, err := startManager(ctx, managerBin, kubeconfig)
	if err != nil {
		return err
	}
	defer stopManager()

	step(fmt.Sprintf("Applying a Secret, a VasaProvider, a ReplicationSync of %d groups and a schedule", groupCount))
	rsync, err := apply(ctx, c, sim, ids)
	if err != nil {
		return err
	}

	step("Progress")
	final, err := watchProgress(ctx, c, client.ObjectKeyFromObject(rsync))
	if err != nil {
		return err
	}

	step("kubectl get vp,rsync,rsched -n " + namespace)
	if err := kubectl(kubeconfig, "get", "vp,rsync,rsched", "-n", namespace); err != nil {
		return err
	}
	step("PiTs the simulator created")
	printPiTs(madeBySync(sim.PiTs()))
	if err := verify(final, sim.PiTs(), groupCount); err != nil {
		return err
	}
	return showGroupsAndSyncBySelector(ctx, c, kubeconfig, pluginBin, groupCount)
}

// pluginBin is the kubectl-vasa binary (--plugin).
var pluginBin string

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

func groupIDs(n int) []replicationv1alpha1.ReplicationGroupID {
	ids := make([]replicationv1alpha1.ReplicationGroupID, 0, n)
	for i := range n {
		ids = append(ids, replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fmt.Sprintf("fd-%d", i%2+1)},
			DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: fmt.Sprintf("dg-%02d", i+1)},
		})
	}
	return ids
}

func writeKubeconfig(user *envtest.AuthenticatedUser) (string, error) {
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("rendering the kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "vasa-sync-demo-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// startManager runs the manager binary as it runs in a cluster, against the demo control plane.
func startManager(ctx context.Context, bin, kubeconfig string) (func(), error) {
	logFile, err := os.CreateTemp("", "vasa-sync-demo-manager-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (run `make build` first): %w", bin, err)
	}
	fmt.Printf("  pid %d, log %s\n", cmd.Process.Pid, logFile.Name())
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = logFile.Close()
	}, nil
}

func apply(ctx context.Context, c client.Client, sim *smssim.Sim, ids []replicationv1alpha1.ReplicationGroupID) (*replicationv1alpha1.ReplicationSync, error) {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "vc-creds", Namespace: namespace},
			StringData: map[string]string{"username": sim.Username(), "password": sim.Password()},
		},
		&replicationv1alpha1.VasaProvider{
			ObjectMeta: metav1.ObjectMeta{Name: providerName, Namespace: namespace},
			Spec: replicationv1alpha1.VasaProviderSpec{
				VCenter: replicationv1alpha1.VCenterSpec{
					URL:                  sim.URL(),
					CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "vc-creds"},
					TLS:                  replicationv1alpha1.TLSSpec{Thumbprint: sim.Thumbprint()},
				},
				Provider: replicationv1alpha1.ProviderSelector{Name: "array-a-vp"},
			},
		},
	}
	rsync := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-demo", Namespace: namespace},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: providerName},
			GroupIDs:    ids,
			PitName:     "nightly-" + time.Now().UTC().Format("20060102-1504"),
		},
	}
	schedule := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: namespace},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "@hourly",
			TimeZone: ptr.To("Europe/Berlin"),
			Template: replicationv1alpha1.ReplicationSyncTemplate{
				Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
					ProviderRef: replicationv1alpha1.LocalObjectReference{Name: providerName},
					GroupIDs:    ids[:4],
				},
			},
		},
	}
	for _, o := range append(objs, rsync, schedule) {
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return rsync, nil
}

// watchProgress prints a line whenever the sync's progress changes, until it finishes.
func watchProgress(ctx context.Context, c client.Client, key client.ObjectKey) (*replicationv1alpha1.ReplicationSync, error) {
	last := ""
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		rs := &replicationv1alpha1.ReplicationSync{}
		if err := c.Get(ctx, key, rs); err != nil {
			return nil, err
		}
		if line := progressLine(rs); line != last {
			fmt.Printf("  %s  %s\n", time.Now().Format("15:04:05.0"), line)
			last = line
		}
		if rs.Status.Phase == replicationv1alpha1.SyncSucceeded || rs.Status.Phase == replicationv1alpha1.SyncFailed {
			return rs, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w (last: %s)", key, ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

func progressLine(rs *replicationv1alpha1.ReplicationSync) string {
	st := rs.Status
	var syncing int
	for _, g := range st.Groups {
		if g.State == replicationv1alpha1.GroupSyncing {
			syncing++
		}
	}
	synced, total := int32(0), int32(len(rs.Spec.GroupIDs))
	if st.Summary != nil {
		synced, total = st.Summary.Synced, st.Summary.Total // a run by selector knows its groups once started
	}
	line := fmt.Sprintf("phase %-9s synced %d/%d  in flight %d  batch size %d", orDash(string(st.Phase)), synced, total, syncing, st.BatchSize)
	if c := findCondition(st.Conditions, replicationv1alpha1.ReconcilingCondition); c != nil && c.Status == metav1.ConditionTrue {
		line += "  " + c.Reason
		if c.Reason == replicationv1alpha1.BackingOffReason && st.Retry != nil && st.Retry.NextRetryTime != nil {
			line += fmt.Sprintf(" (%s, retry at %s)", faultType(st.Retry), st.Retry.NextRetryTime.Format("15:04:05"))
		}
	}
	return line
}

func faultType(r *replicationv1alpha1.RetryStatus) string {
	if r.LastFault == nil {
		return "fault"
	}
	return r.LastFault.Type
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func kubectl(kubeconfig string, args ...string) error {
	dir, err := testenv.AssetsDir()
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(dir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func printPiTs(pits []smssim.PiTRecord) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "PROVIDER\tFAULT DOMAIN\tDEVICE GROUP\tPIT NAME\tPIT ID\tTIME")
	for _, p := range pits {
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ProviderName, p.Group.FaultDomainID, p.Group.DeviceGroupID,
			p.PitName, p.PitID, p.TimeStamp.Format(time.RFC3339))
	}
	_ = w.Flush()
}

// verify checks what a user would: every group Synced with a PiT, exactly one PiT per group.
func verify(rs *replicationv1alpha1.ReplicationSync, pits []smssim.PiTRecord, groupCount int) error {
	var problems []string
	if rs.Status.Phase != replicationv1alpha1.SyncSucceeded {
		problems = append(problems, fmt.Sprintf("phase is %s", rs.Status.Phase))
	}
	for _, g := range rs.Status.Groups {
		if g.State != replicationv1alpha1.GroupSynced || g.PitID == "" {
			problems = append(problems, fmt.Sprintf("group %s/%s is %s: %s", g.FaultDomainID.ID, g.DeviceGroupID.ID, g.State, g.Message))
		}
	}
	perGroup := map[string]int{}
	for _, p := range pits {
		if p.PitName == rs.Spec.PitName {
			perGroup[p.Group.FaultDomainID+"/"+p.Group.DeviceGroupID]++
		}
	}
	if len(perGroup) != groupCount {
		problems = append(problems, fmt.Sprintf("%d groups have a PiT named %s, want %d", len(perGroup), rs.Spec.PitName, groupCount))
	}
	for g, n := range perGroup {
		if n != 1 {
			problems = append(problems, fmt.Sprintf("group %s has %d PiTs named %s", g, n, rs.Spec.PitName))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("\nAll %d groups Synced, exactly one PiT each.\n", groupCount)
	return nil
}
