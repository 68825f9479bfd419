package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// samplesDir is config/samples.
var samplesDir = filepath.Join(testenv.RepoRoot(), "config", "samples")

// decodeObjects reads every object of a multi-document YAML file.
func decodeObjects(g Gomega, path string) []*unstructured.Unstructured {
	raw, err := os.ReadFile(path)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return decodeYAML(g, raw)
}

// decodeYAML decodes multi-document YAML into unstructured objects, skipping empty documents.
func decodeYAML(g Gomega, raw []byte) []*unstructured.Unstructured {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := map[string]any{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs
		}
		g.ExpectWithOffset(2, err).NotTo(HaveOccurred())
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
}

// sampleFiles lists the YAML files in config/samples except the kustomization.
func sampleFiles(g Gomega) []string {
	paths, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var files []string
	for _, p := range paths {
		if filepath.Base(p) != "kustomization.yaml" {
			files = append(files, filepath.Base(p))
		}
	}
	return files
}

// TestSamplesAreAccepted creates every object of every sample file, the CronJob path's
// ServiceAccount, RBAC, ConfigMap and CronJob included, and reads the replication kinds back.
func TestSamplesAreAccepted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	files := sampleFiles(g)
	g.Expect(files).To(ContainElements(
		"replication_v1alpha1_vasaprovider.yaml",
		"replication_v1alpha1_replicationsync.yaml",
		"replication_v1alpha1_replicationsyncschedule.yaml",
		"vcenter-credentials-secret.yaml",
		"cronjob-kubectl-create.yaml",
		"replication_v1alpha1_replicationsync_selector.yaml",
		"replication_v1alpha1_replicationgroup.yaml",
	))

	kinds := map[string]int{}
	for _, file := range files {
		for _, obj := range decodeObjects(g, filepath.Join(samplesDir, file)) {
			g.Expect(obj.GetNamespace()).To(BeEmpty(), "%s: samples leave the namespace to kubectl -n or kustomize", file)
			obj.SetNamespace(ns)
			g.Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "%s: %s %s", file, obj.GetKind(), obj.GetName())
			kinds[obj.GetKind()]++
		}
	}
	g.Expect(kinds).To(HaveKeyWithValue("VasaProvider", 1))
	g.Expect(kinds).To(HaveKeyWithValue("ReplicationSync", 2))
	g.Expect(kinds).To(HaveKeyWithValue("ReplicationGroup", 1))
	g.Expect(kinds).To(HaveKeyWithValue("ReplicationSyncSchedule", 1))
	g.Expect(kinds).To(HaveKeyWithValue("Secret", 1))
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"} {
		g.Expect(kinds).To(HaveKeyWithValue(kind, 1), kind)
	}

	// The samples decode into the Go types and reference each other.
	provider := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array-a"}, provider)).To(Succeed())
	g.Expect(provider.Spec.VCenter.URL).To(Equal("https://vcenter.example.com"))
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: provider.Spec.VCenter.CredentialsSecretRef.Name}, secret)).To(Succeed())
	g.Expect(secret.Data).To(HaveKey("username"))
	g.Expect(secret.Data).To(HaveKey("password"))

	syncs := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(ctx, syncs, client.InNamespace(ns))).To(Succeed())
	g.Expect(syncs.Items).To(HaveLen(2))
	for _, rs := range syncs.Items {
		g.Expect(rs.Spec.ProviderRef.Name).To(Equal(provider.Name))
		if rs.Name == "oracle-2026-11-23" {
			g.Expect(rs.Spec.GroupSelector.MatchLabels).To(HaveKeyWithValue(replicationv1alpha1.StateLabel, replicationv1alpha1.LabelSelectorValue("TARGET")))
			continue
		}
		g.Expect(rs.Spec.GroupIDs).To(HaveLen(3))
	}
	rg := &replicationv1alpha1.ReplicationGroup{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "array-a-dg-oracle-prod-3f1c2a9b0d"}, rg)).To(Succeed())
	g.Expect(rg.Status.NewestPiT.Name).To(Equal("array-hourly-20261123-0100"))
	g.Expect(rg.Labels).To(HaveKeyWithValue(replicationv1alpha1.SourceGroupLabel, "oracle-prod"))

	schedule := &replicationv1alpha1.ReplicationSyncSchedule{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly-array-a"}, schedule)).To(Succeed())
	g.Expect(schedule.Spec.TimeZone).To(HaveValue(Equal("Europe/Berlin")))
	g.Expect(schedule.Spec.Template.Spec.ProviderRef.Name).To(Equal(provider.Name))
	// The nightly sample runs every night once, the nights daylight saving time begins and ends too
	// (a run between 02:00 and 03:00 is skipped on one and made twice on the other).
	cron, err := cronschedule.Parse(schedule.Spec.Schedule, *schedule.Spec.TimeZone)
	g.Expect(err).NotTo(HaveOccurred())
	for at, n := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0; n < 366; n++ {
		next := cron.Next(at)
		if n > 0 {
			g.Expect(next.Sub(at)).To(BeNumerically("~", 24*time.Hour, time.Hour), "the run after %s", at)
		}
		at = next
	}
}

// TestCronJobPathCreatesReplicationSyncs does what the sample CronJob's pod does: render the
// ConfigMap's ReplicationSync and create it as the sample's ServiceAccount, twice, to show that
// generateName and the rendered pitName make every run a new object, and that the Role allows
// nothing but create.
func TestCronJobPathCreatesReplicationSyncs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	var manifest string
	for _, obj := range decodeObjects(g, filepath.Join(samplesDir, "cronjob-kubectl-create.yaml")) {
		obj.SetNamespace(ns)
		g.Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "%s %s", obj.GetKind(), obj.GetName())
		if obj.GetKind() == "ConfigMap" {
			data, _, err := unstructured.NestedStringMap(obj.Object, "data")
			g.Expect(err).NotTo(HaveOccurred())
			manifest = data["replicationsync.yaml"]
		}
	}
	g.Expect(manifest).To(ContainSubstring("__RUN__"), "the init container replaces __RUN__ with the run's time")

	saCfg := rest.CopyConfig(cfg)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":replicationsync-creator"}
	saClient, err := client.New(saCfg, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	var created []*unstructured.Unstructured
	for _, run := range []string{"20261123-0100", "20261124-0100"} {
		objs := decodeYAML(g, []byte(strings.ReplaceAll(manifest, "__RUN__", run)))
		g.Expect(objs).To(HaveLen(1))
		rsync := objs[0]
		g.Expect(rsync.GetKind()).To(Equal("ReplicationSync"))
		g.Expect(rsync.GetName()).To(BeEmpty())
		g.Expect(rsync.GetGenerateName()).NotTo(BeEmpty())
		rsync.SetNamespace(ns)
		g.Expect(saClient.Create(ctx, rsync)).To(Succeed())
		created = append(created, rsync)
	}
	g.Expect(created[0].GetName()).NotTo(Equal(created[1].GetName()))

	for i, rsync := range created {
		typed := &replicationv1alpha1.ReplicationSync{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rsync), typed)).To(Succeed())
		g.Expect(typed.Spec.TTLSecondsAfterFinished).NotTo(BeNil())
		g.Expect(typed.Spec.PitName).To(HaveSuffix([]string{"20261123-0100", "20261124-0100"}[i]))
	}

	err = saClient.Delete(ctx, created[0])
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the Role must allow create only, got: %v", err)
}

// TestKustomizationListsTheSamples keeps kustomization.yaml in step with the files: every
// resource exists, and every sample except the CronJob path is listed.
func TestKustomizationListsTheSamples(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join(samplesDir, "kustomization.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var k struct {
		Resources []string `json:"resources"`
	}
	g.Expect(yaml.Unmarshal(raw, &k)).To(Succeed())

	want := []string{}
	for _, f := range sampleFiles(g) {
		if f != "cronjob-kubectl-create.yaml" && f != "replication_v1alpha1_replicationgroup.yaml" {
			want = append(want, f)
		}
	}
	g.Expect(k.Resources).To(ConsistOf(want))
}
