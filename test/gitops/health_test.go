package gitops

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
)

// healthCases maps each sample in testdata to the verdicts Argo CD and Flux must reach on it.
// Samples the operator has not written status for yet hold the CRDs' default, observedGeneration -1.
var healthCases = map[string]struct {
	kind    string
	argo    string
	argoMsg string // regexp on the Argo CD message
	flux    string
}{
	"provider-ready.yaml":           {kind: "VasaProvider", argo: "Healthy", argoMsg: "^Connected: ", flux: "Current"},
	"provider-not-ready.yaml":       {kind: "VasaProvider", argo: "Degraded", argoMsg: "^InvalidCredentials: vCenter refused", flux: "Failed"},
	"provider-unreachable.yaml":     {kind: "VasaProvider", argo: "Degraded", argoMsg: "^Unreachable: dial tcp", flux: "Failed"},
	"provider-new.yaml":             {kind: "VasaProvider", argo: "Progressing", argoMsg: "^Waiting for the operator to connect", flux: "InProgress"},
	"provider-stale.yaml":           {kind: "VasaProvider", argo: "Progressing", argoMsg: "generation 3", flux: "InProgress"},
	"sync-pending.yaml":             {kind: "ReplicationSync", argo: "Progressing", argoMsg: "^Waiting for the operator to start", flux: "InProgress"},
	"sync-running.yaml":             {kind: "ReplicationSync", argo: "Progressing", argoMsg: `^WaitingForTask: .*\(1/2 groups synced\)$`, flux: "InProgress"},
	"sync-succeeded.yaml":           {kind: "ReplicationSync", argo: "Healthy", argoMsg: "2/2 groups synced", flux: "Current"},
	"sync-failed.yaml":              {kind: "ReplicationSync", argo: "Degraded", argoMsg: "^Failed: group fd-1/dg-2", flux: "Failed"},
	"schedule-ok.yaml":              {kind: "ReplicationSyncSchedule", argo: "Healthy", argoMsg: "^Last run succeeded", flux: "Current"},
	"schedule-running.yaml":         {kind: "ReplicationSyncSchedule", argo: "Healthy", argoMsg: "running", flux: "Current"},
	"schedule-last-run-failed.yaml": {kind: "ReplicationSyncSchedule", argo: "Degraded", argoMsg: "2026-11-23T02:00:00Z did not succeed", flux: "Current"},
	"schedule-invalid.yaml":         {kind: "ReplicationSyncSchedule", argo: "Degraded", argoMsg: "^InvalidSchedule: .*never fires", flux: "Failed"},
	"schedule-fixed.yaml":           {kind: "ReplicationSyncSchedule", argo: "Progressing", argoMsg: "generation 2", flux: "InProgress"},
	"schedule-suspended.yaml":       {kind: "ReplicationSyncSchedule", argo: "Suspended", flux: "Current"},
	"schedule-new.yaml":             {kind: "ReplicationSyncSchedule", argo: "Progressing", argoMsg: "^Waiting for the operator to accept", flux: "InProgress"},
	"schedule-new-suspended.yaml":   {kind: "ReplicationSyncSchedule", argo: "Suspended", flux: "InProgress"},
	"schedule-run-rejected.yaml":    {kind: "ReplicationSyncSchedule", argo: "Degraded", argoMsg: "^RunRejected: The API server rejected", flux: "Failed"},
}

// loadSample reads a testdata object, first checking that it decodes strictly into the API type so the
// samples cannot drift from the real object shape.
func loadSample(t *testing.T, file, kind string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var typed any
	switch kind {
	case "VasaProvider":
		typed = &replicationv1alpha1.VasaProvider{}
	case "ReplicationSync":
		typed = &replicationv1alpha1.ReplicationSync{}
	case "ReplicationSyncSchedule":
		typed = &replicationv1alpha1.ReplicationSyncSchedule{}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err := yaml.UnmarshalStrict(raw, typed); err != nil {
		t.Fatalf("%s does not match the %s API: %v", file, kind, err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj["kind"] != kind {
		t.Fatalf("%s is a %v, want %s", file, obj["kind"], kind)
	}
	return obj
}

func TestArgoCDHealth(t *testing.T) {
	for file, tc := range healthCases {
		t.Run(file, func(t *testing.T) {
			g := NewWithT(t)
			obj := loadSample(t, file, tc.kind)
			var hs struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			}
			asJSON(t, runArgoLua(t, obj, healthScript(t, tc.kind)), &hs)
			g.Expect(hs.Status).To(Equal(tc.argo), "message: %s", hs.Message)
			g.Expect(hs.Message).NotTo(BeEmpty())
			if tc.argoMsg != "" {
				g.Expect(hs.Message).To(MatchRegexp(tc.argoMsg))
			}
		})
	}
}

// TestInvalidScheduleSampleIsInvalidAtRunTime keeps schedule-invalid.yaml a schedule that admission lets
// through (its fields are in range; api/v1alpha1 admits "0 2 31 2 *") and the operator stalls: admission
// refuses out-of-range fields, so a sample with one could never be stored.
func TestInvalidScheduleSampleIsInvalidAtRunTime(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "schedule-invalid.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	s := &replicationv1alpha1.ReplicationSyncSchedule{}
	g.Expect(yaml.Unmarshal(raw, s)).To(Succeed())
	_, err = cronschedule.Parse(s.Spec.Schedule, "")
	g.Expect(err).To(MatchError(ContainSubstring("never fires")))
}

func TestArgoCDHealthCoversEveryKind(t *testing.T) {
	g := NewWithT(t)
	seen := map[string]map[string]bool{}
	for _, tc := range healthCases {
		if seen[tc.kind] == nil {
			seen[tc.kind] = map[string]bool{}
		}
		seen[tc.kind][tc.argo] = true
	}
	g.Expect(seen["VasaProvider"]).To(HaveKey("Healthy"))
	g.Expect(seen["VasaProvider"]).To(HaveKey("Degraded"))
	g.Expect(seen["ReplicationSync"]).To(And(HaveKey("Healthy"), HaveKey("Degraded"), HaveKey("Progressing")))
	g.Expect(seen["ReplicationSyncSchedule"]).To(And(HaveKey("Healthy"), HaveKey("Degraded"), HaveKey("Suspended")))
}

func TestArgoCDScheduleActionDiscovery(t *testing.T) {
	actions := scheduleActions(t)
	for file, want := range map[string][]string{
		"schedule-ok.yaml":        {"sync-now", "suspend"},
		"schedule-suspended.yaml": {"sync-now", "resume"},
	} {
		t.Run(file, func(t *testing.T) {
			g := NewWithT(t)
			var found map[string]map[string]any
			asJSON(t, runArgoLua(t, loadSample(t, file, "ReplicationSyncSchedule"), actions.DiscoveryLua), &found)
			g.Expect(found).To(HaveLen(len(want)))
			for _, name := range want {
				g.Expect(found).To(HaveKey(name))
			}
			g.Expect(found["sync-now"]).To(HaveKeyWithValue("displayName", "Sync now"))
		})
	}
}

func TestArgoCDSyncNowCreatesReplicationSyncFromTemplate(t *testing.T) {
	g := NewWithT(t)
	schedule := loadSample(t, "schedule-ok.yaml", "ReplicationSyncSchedule")
	var result []argoImpactedResource
	asJSON(t, runArgoLua(t, schedule, scheduleActions(t).action(t, "sync-now")), &result)
	g.Expect(result).To(HaveLen(1))
	g.Expect(result[0].Operation).To(Equal("create"))

	raw, err := yaml.Marshal(result[0].Resource)
	g.Expect(err).NotTo(HaveOccurred())
	sync := &replicationv1alpha1.ReplicationSync{}
	g.Expect(yaml.UnmarshalStrict(raw, sync)).To(Succeed(), "the action's object must be a valid ReplicationSync:\n%s", raw)

	g.Expect(sync.APIVersion).To(Equal(replicationv1alpha1.GroupVersion.String()))
	g.Expect(sync.Kind).To(Equal("ReplicationSync"))
	g.Expect(sync.Namespace).To(Equal("dr"))
	g.Expect(sync.Name).To(MatchRegexp(`^nightly-manual-\d{14}$`))
	g.Expect(sync.Spec.PitName).To(Equal(sync.Name))
	g.Expect(sync.Labels).To(HaveKeyWithValue(replicationv1alpha1.ScheduleLabel, "nightly"))
	g.Expect(sync.Labels).To(HaveKeyWithValue("team", "storage"), "template labels are copied")
	g.Expect(sync.Annotations).To(HaveKeyWithValue("replication.vasa.io/instantiate", "manual"))
	g.Expect(sync.OwnerReferences).To(HaveLen(1))
	g.Expect(sync.OwnerReferences[0].Kind).To(Equal("ReplicationSyncSchedule"))
	g.Expect(sync.OwnerReferences[0].Name).To(Equal("nightly"))
	g.Expect(string(sync.OwnerReferences[0].UID)).To(Equal("4b1e7f3a-2222-4a8d-8f00-000000000002"))

	// The spec is the template's spec plus the rendered pitName.
	tmpl := &replicationv1alpha1.ReplicationSyncSchedule{}
	rawSchedule, err := os.ReadFile(filepath.Join("testdata", "schedule-ok.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(yaml.Unmarshal(rawSchedule, tmpl)).To(Succeed())
	ts := tmpl.Spec.Template.Spec
	g.Expect(sync.Spec.ProviderRef).To(Equal(ts.ProviderRef))
	g.Expect(sync.Spec.GroupIDs).To(Equal(ts.GroupIDs))
	g.Expect(sync.Spec.BackoffLimit).To(Equal(ts.BackoffLimit))
	g.Expect(sync.Spec.ActiveDeadlineSeconds).To(Equal(ts.ActiveDeadlineSeconds))
	g.Expect(sync.Spec.TTLSecondsAfterFinished).To(Equal(ts.TTLSecondsAfterFinished))
	g.Expect(sync.Spec.MaxBatchSize).To(Equal(ts.MaxBatchSize))
}

// TestArgoCDSyncNowWithEmptySelector: a template that selects every group of its provider (an empty
// groupSelector, or one with empty matchLabels) makes a run that selects every group too; dropped, the
// run would have neither groupIds nor groupSelector, and encoded as [] it would not parse.
func TestArgoCDSyncNowWithEmptySelector(t *testing.T) {
	for name, selector := range map[string]map[string]any{
		"empty":             {},
		"empty matchLabels": {"matchLabels": map[string]any{}},
		"empty expressions": {"matchExpressions": []any{}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			schedule := loadSample(t, "schedule-ok.yaml", "ReplicationSyncSchedule")
			spec := schedule["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			delete(spec, "groupIds")
			spec["groupSelector"] = selector
			var result []argoImpactedResource
			asJSON(t, runArgoLua(t, schedule, scheduleActions(t).action(t, "sync-now")), &result)
			g.Expect(result).To(HaveLen(1))
			raw, err := yaml.Marshal(result[0].Resource)
			g.Expect(err).NotTo(HaveOccurred())
			sync := &replicationv1alpha1.ReplicationSync{}
			g.Expect(yaml.UnmarshalStrict(raw, sync)).To(Succeed(), "a valid ReplicationSync:\n%s", raw)
			g.Expect(sync.Spec.GroupIDs).To(BeNil())
			g.Expect(sync.Spec.GroupSelector).NotTo(BeNil(), "%s", raw)
			sel, err := metav1.LabelSelectorAsSelector(sync.Spec.GroupSelector.LabelSelector())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sel.Matches(labels.Set{replicationv1alpha1.ProviderLabel: "array-a", "any": "label"})).To(BeTrue(), "it selects every group of the provider")
		})
	}
}

func TestArgoCDSyncNowWithoutTemplateMetadata(t *testing.T) {
	g := NewWithT(t)
	schedule := loadSample(t, "schedule-running.yaml", "ReplicationSyncSchedule")
	var result []argoImpactedResource
	asJSON(t, runArgoLua(t, schedule, scheduleActions(t).action(t, "sync-now")), &result)
	g.Expect(result).To(HaveLen(1))
	md := result[0].Resource["metadata"].(map[string]any)
	g.Expect(md["labels"]).To(Equal(map[string]any{replicationv1alpha1.ScheduleLabel: "nightly"}))
	g.Expect(regexp.MustCompile(`^nightly-manual-\d{14}$`).MatchString(md["name"].(string))).To(BeTrue())
}

// TestArgoCDSyncNowLongScheduleName: a schedule name longer than a label value may be gets no schedule
// label (the API server would refuse the object), and a run without any label gets no labels key at all
// (an empty Lua table would be encoded as a JSON array).
func TestArgoCDSyncNowLongScheduleName(t *testing.T) {
	long := strings.Repeat("nightly-", 8) + "db" // 66 characters
	for name, tc := range map[string]struct {
		file       string
		wantLabels any
	}{
		"template labels":    {"schedule-ok.yaml", map[string]any{"team": "storage"}},
		"no template labels": {"schedule-running.yaml", nil},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			schedule := loadSample(t, tc.file, "ReplicationSyncSchedule")
			schedule["metadata"].(map[string]any)["name"] = long
			var result []argoImpactedResource
			asJSON(t, runArgoLua(t, schedule, scheduleActions(t).action(t, "sync-now")), &result)
			g.Expect(result).To(HaveLen(1))
			md := result[0].Resource["metadata"].(map[string]any)
			if tc.wantLabels == nil {
				g.Expect(md).NotTo(HaveKey("labels"))
			} else {
				g.Expect(md["labels"]).To(Equal(tc.wantLabels))
			}
			g.Expect(md["name"]).To(MatchRegexp(`^` + long + `-manual-\d{14}$`))
			g.Expect(md["ownerReferences"]).To(ConsistOf(HaveKeyWithValue("name", long)), "owned by the schedule all the same")

			raw, err := yaml.Marshal(result[0].Resource)
			g.Expect(err).NotTo(HaveOccurred())
			sync := &replicationv1alpha1.ReplicationSync{}
			g.Expect(yaml.UnmarshalStrict(raw, sync)).To(Succeed(), "a valid ReplicationSync:\n%s", raw)
			for k, v := range sync.Labels {
				g.Expect(validation.IsValidLabelValue(v)).To(BeEmpty(), "label %s", k)
			}
		})
	}
}

func TestArgoCDSuspendResume(t *testing.T) {
	actions := scheduleActions(t)
	for action, want := range map[string]bool{"suspend": true, "resume": false} {
		t.Run(action, func(t *testing.T) {
			g := NewWithT(t)
			var patched map[string]any
			asJSON(t, runArgoLua(t, loadSample(t, "schedule-ok.yaml", "ReplicationSyncSchedule"), actions.action(t, action)), &patched)
			g.Expect(patched["spec"]).To(HaveKeyWithValue("suspend", want))
			g.Expect(patched["spec"]).To(HaveKeyWithValue("schedule", "0 2 * * *"))
		})
	}
}
