package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// demoSourceGroup is the name every third demo group carries; the sync by selector picks those.
const demoSourceGroup = "oracle-prod"

// nameGroups names the simulator's groups (every third is oracle-prod, the rest sap-prod) and gives each a
// PiT the array took on its own an hour ago, as array schedules do.
func nameGroups(cfg *smssim.ProviderConfig) {
	for i := range cfg.Groups {
		cfg.Groups[i].Name = "sap-prod"
		if i%3 == 0 {
			cfg.Groups[i].Name = demoSourceGroup
		}
		cfg.Groups[i].PiTs = []smssim.PiTConfig{{Name: "array-hourly", Age: smssim.Duration{Duration: time.Hour}}}
	}
}

// showGroupsAndSyncBySelector waits for the discovery, shows the groups, and syncs the oracle-prod groups by
// label selector; it checks that the run holds exactly the groups the selector matched.
func showGroupsAndSyncBySelector(ctx context.Context, c client.Client, kubeconfig, plugin string, groupCount int) error {
	step("ReplicationGroups the operator discovered from the provider (kubectl get rg)")
	var rgs replicationv1alpha1.ReplicationGroupList
	for {
		if err := c.List(ctx, &rgs, client.InNamespace(namespace)); err != nil {
			return err
		}
		if len(rgs.Items) == groupCount {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d ReplicationGroups, have %d: %w", groupCount, len(rgs.Items), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
	selector := "replication.vasa.io/source-group=" + demoSourceGroup + ",replication.vasa.io/state=TARGET"
	if err := kubectl(kubeconfig, "get", "rg", "-n", namespace, "-l", selector); err != nil {
		return err
	}
	if plugin != "" {
		step("kubectl vasa status (groups by RPO, worst first)")
		cmd := exec.CommandContext(ctx, plugin, "--kubeconfig", kubeconfig, "status", "-n", namespace, "-l", "replication.vasa.io/source-group="+demoSourceGroup)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl vasa status: %w", err)
		}
	}

	step("A ReplicationSync by selector: " + selector)
	var want []string
	for _, rg := range rgs.Items {
		if rg.Status.Name == demoSourceGroup && rg.Status.State == "TARGET" {
			want = append(want, rg.Spec.GroupID.FaultDomainID.ID+"/"+rg.Spec.GroupID.DeviceGroupID.ID)
		}
	}
	rs := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Name: "oracle-demo", Namespace: namespace},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: providerName},
			GroupSelector: &replicationv1alpha1.GroupSelector{MatchLabels: map[string]replicationv1alpha1.LabelSelectorValue{
				replicationv1alpha1.SourceGroupLabel: demoSourceGroup, replicationv1alpha1.StateLabel: "TARGET",
			}},
			PitName: "oracle-" + time.Now().UTC().Format("20060102-1504"),
		},
	}
	if err := c.Create(ctx, rs); err != nil {
		return fmt.Errorf("creating ReplicationSync %s: %w", rs.Name, err)
	}
	final, err := watchProgress(ctx, c, client.ObjectKeyFromObject(rs))
	if err != nil {
		return err
	}
	var got []string
	for _, g := range final.Status.Groups {
		got = append(got, g.FaultDomainID.ID+"/"+g.DeviceGroupID.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if final.Status.Phase != replicationv1alpha1.SyncSucceeded || !slices.Equal(got, want) {
		return fmt.Errorf("sync by selector: phase %s, groups %v, want the %d %s groups %v", final.Status.Phase, got, len(want), demoSourceGroup, want)
	}
	fmt.Printf("\nThe sync by selector synced exactly the %d %s groups.\n", len(want), demoSourceGroup)
	return nil
}

// madeBySync keeps the PiTs sync tasks created (not the array's own).
func madeBySync(pits []smssim.PiTRecord) []smssim.PiTRecord {
	return slices.DeleteFunc(pits, func(p smssim.PiTRecord) bool { return p.TaskRef == "" })
}
