package v1alpha1_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// crdFiles are the generated CRDs, by kind.
var crdFiles = map[string]string{
	"VasaProvider":            "replication.vasa.io_vasaproviders.yaml",
	"ReplicationSync":         "replication.vasa.io_replicationsyncs.yaml",
	"ReplicationSyncSchedule": "replication.vasa.io_replicationsyncschedules.yaml",
	"ReplicationGroup":        "replication.vasa.io_replicationgroups.yaml",
}

// loadCRD reads a generated CRD from config/crd/bases.
func loadCRD(g Gomega, kind string) *apiextensionsv1.CustomResourceDefinition {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", crdFiles[kind]))
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.ExpectWithOffset(1, yaml.UnmarshalStrict(raw, crd)).To(Succeed())
	g.ExpectWithOffset(1, crd.Spec.Names.Kind).To(Equal(kind))
	g.ExpectWithOffset(1, crd.Spec.Versions).To(HaveLen(1))
	return crd
}

// undocumented returns the paths of the properties below s that have no description.
func undocumented(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	var missing []string
	for name, prop := range s.Properties {
		p := path + "." + name
		// The root metadata is ObjectMeta; kubectl explain documents it from the API server.
		if p == ".metadata" {
			continue
		}
		if strings.TrimSpace(prop.Description) == "" {
			missing = append(missing, p)
		}
		missing = append(missing, undocumented(p, &prop)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		missing = append(missing, undocumented(path+"[]", s.Items.Schema)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		missing = append(missing, undocumented(path+"{}", s.AdditionalProperties.Schema)...)
	}
	return missing
}

// TestCRDFieldsHaveDescriptions keeps `kubectl explain` useful: every property of every CRD
// (status included) has a description.
func TestCRDFieldsHaveDescriptions(t *testing.T) {
	for kind := range crdFiles {
		t.Run(kind, func(t *testing.T) {
			g := NewWithT(t)
			schema := loadCRD(g, kind).Spec.Versions[0].Schema.OpenAPIV3Schema
			g.Expect(schema.Description).NotTo(BeEmpty(), "the kind itself")
			g.Expect(schema.Properties).To(HaveKey("spec"))
			g.Expect(schema.Properties).To(HaveKey("status"))
			missing := undocumented("", schema)
			sort.Strings(missing)
			g.Expect(missing).To(BeEmpty(), "properties without description")
		})
	}
}

// TestUndocumentedFindsMissingDescriptions shows that the walk above can fail.
func TestUndocumentedFindsMissingDescriptions(t *testing.T) {
	g := NewWithT(t)
	schema := &apiextensionsv1.JSONSchemaProps{Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"spec": {Description: "spec", Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"list": {Description: "list", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"id": {}},
			}}},
			"labels": {Description: "labels", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Schema: &apiextensionsv1.JSONSchemaProps{
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"x": {}},
			}}},
			"plain": {},
		}},
	}}
	g.Expect(undocumented("", schema)).To(ConsistOf(".spec.list[].id", ".spec.labels{}.x", ".spec.plain"))
}

// TestLastSyncHoldIsDocumented: the hold before a finished run is deleted lasts 5 minutes or, when the
// provider's discovery is slow, four times its last duration; the field docs must say both.
func TestLastSyncHoldIsDocumented(t *testing.T) {
	g := NewWithT(t)
	sync := loadCRD(g, "ReplicationSync").Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["ttlSecondsAfterFinished"]
	group := loadCRD(g, "ReplicationGroup").Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["lastSync"]
	for _, doc := range []string{sync.Description, group.Description} {
		g.Expect(strings.Join(strings.Fields(doc), " ")).To(And(
			ContainSubstring("at most 5 minutes after it finished or, if longer, four times the"),
			ContainSubstring("status.discovery.lastDuration"),
		))
	}
}

// column is a printer column as the tests expect it.
type column struct {
	name, jsonPath string
}

func TestCRDNamesAndPrinterColumns(t *testing.T) {
	tests := map[string]struct {
		shortName string
		columns   []column
		// defaultColumns, when set, are the names of the priority-0 columns, those kubectl get shows.
		defaultColumns []string
	}{
		"VasaProvider": {
			shortName: "vp",
			columns: []column{
				{"Ready", `.status.conditions[?(@.type=="Ready")].status`},
				{"Reason", `.status.conditions[?(@.type=="Ready")].reason`},
				{"vCenter", ".spec.vcenter.url"},
				{"Provider", ".status.providerInfo.name"},
				{"TLS", ".status.tlsVerification"},
				{"SMS", ".status.smsVersion"},
				{"Batch", ".status.learnedMaxBatchSize"},
				{"Groups", ".status.discovery.groups"},
				{"Age", ".metadata.creationTimestamp"},
			},
		},
		"ReplicationSync": {
			shortName: "rsync",
			columns: []column{
				{"Phase", ".status.phase"},
				{"Provider", ".spec.providerRef.name"},
				{"PiT", ".spec.pitName"},
				{"Synced", ".status.syncedDisplay"},
				// Shown by kubectl get -o wide only: why a run is stalled.
				{"Reason", `.status.conditions[?(@.type=="Stalled")].reason`},
				{"Age", ".metadata.creationTimestamp"},
			},
			// DESIGN.md fixes what plain kubectl get shows.
			defaultColumns: []string{"Phase", "Provider", "PiT", "Synced", "Age"},
		},
		"ReplicationSyncSchedule": {
			shortName: "rsched",
			columns: []column{
				{"Schedule", ".spec.schedule"},
				{"TimeZone", ".spec.timeZone"},
				{"Suspend", ".spec.suspend"},
				// A schedule that cannot start runs (a template, a rejected run) shows it in kubectl get.
				{"Ready", `.status.conditions[?(@.type=="Ready")].status`},
				{"Reason", `.status.conditions[?(@.type=="Ready")].reason`},
				// JSONPath cannot count; with the default Forbid policy at most one run is active.
				{"Active", ".status.active[0].name"},
				{"Last Schedule", ".status.lastScheduleTime"},
				{"Last Success", ".status.lastSuccessfulTime"},
				// What the RPO alert counts from (-o wide).
				{"Recovery Point", ".status.lastRecoveryPointTime"},
				{"Age", ".metadata.creationTimestamp"},
			},
		},
	}
	for kind, tt := range tests {
		t.Run(kind, func(t *testing.T) {
			g := NewWithT(t)
			crd := loadCRD(g, kind)
			g.Expect(crd.Spec.Scope).To(Equal(apiextensionsv1.NamespaceScoped))
			g.Expect(crd.Spec.Names.ShortNames).To(ConsistOf(tt.shortName))
			g.Expect(crd.Spec.Names.Categories).To(ContainElement("vasa"))

			version := crd.Spec.Versions[0]
			g.Expect(version.Subresources).NotTo(BeNil())
			g.Expect(version.Subresources.Status).NotTo(BeNil(), "status is a subresource")

			var got []column
			for _, c := range version.AdditionalPrinterColumns {
				got = append(got, column{c.Name, c.JSONPath})
				if !strings.HasPrefix(c.JSONPath, ".metadata.") {
					g.Expect(schemaHasPath(version.Schema.OpenAPIV3Schema, c.JSONPath)).To(BeTrue(),
						"column %s: %s is not a field of the schema", c.Name, c.JSONPath)
				}
			}
			g.Expect(got).To(Equal(tt.columns))
			if tt.defaultColumns != nil {
				var shown []string
				for _, c := range version.AdditionalPrinterColumns {
					if c.Priority == 0 {
						shown = append(shown, c.Name)
					}
				}
				g.Expect(shown).To(Equal(tt.defaultColumns))
			}
		})
	}
}

// jsonPathFilter matches a JSONPath filter or wildcard index, e.g. [?(@.type=="Ready")] or [*].
var jsonPathFilter = regexp.MustCompile(`\[[^\]]*\]`)

// schemaHasPath reports whether a simple JSONPath (fields, filters, wildcards) names a
// property of the schema.
func schemaHasPath(s *apiextensionsv1.JSONSchemaProps, jsonPath string) bool {
	for _, field := range strings.Split(strings.TrimPrefix(jsonPathFilter.ReplaceAllString(jsonPath, ""), "."), ".") {
		for s.Items != nil && s.Items.Schema != nil {
			s = s.Items.Schema
		}
		prop, ok := s.Properties[field]
		if !ok {
			return false
		}
		s = &prop
	}
	return true
}

// tableCells lists kind's objects in ns as the API server's Table (what kubectl get prints)
// and returns the cells by object name and column name.
func tableCells(g Gomega, resource, ns string) map[string]map[string]any {
	// client-go's request, not a plain HTTP one: a loaded API server may answer 429 (Too Many
	// Requests), which client-go retries after the Retry-After the server names.
	cs, err := kubernetes.NewForConfig(cfg)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	raw, err := cs.Discovery().RESTClient().Get().
		AbsPath("/apis/replication.vasa.io/v1alpha1/namespaces", ns, resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		DoRaw(context.Background())
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the API server answers the Table request with 200")
	table := &metav1.Table{}
	g.ExpectWithOffset(1, json.Unmarshal(raw, table)).To(Succeed())

	cells := map[string]map[string]any{}
	for _, row := range table.Rows {
		obj := &metav1.PartialObjectMetadata{}
		g.ExpectWithOffset(1, json.Unmarshal(row.Object.Raw, obj)).To(Succeed())
		byColumn := map[string]any{}
		for i, c := range table.ColumnDefinitions {
			byColumn[c.Name] = row.Cells[i]
		}
		cells[obj.Name] = byColumn
	}
	return cells
}

// TestPrinterColumnsRender lists objects with status as kubectl get would and checks the cells.
func TestPrinterColumnsRender(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	withStatus := func(obj *unstructured.Unstructured, status map[string]any) {
		g.ExpectWithOffset(1, k8sClient.Create(ctx, obj)).To(Succeed())
		set(status, "status")(obj.Object)
		g.ExpectWithOffset(1, k8sClient.Status().Update(ctx, obj)).To(Succeed())
	}

	withStatus(validProvider(ns, "array-a"), map[string]any{
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "False", "reason": "InvalidCredentials", "message": "vCenter refused the login",
			"lastTransitionTime": "2026-11-23T02:00:00Z", "observedGeneration": int64(1),
		}},
		"providerInfo":        map[string]any{"name": "array-a-vp"},
		"learnedMaxBatchSize": int64(16),
	})
	vp := tableCells(g, "vasaproviders", ns)["array-a"]
	g.Expect(vp).To(HaveKeyWithValue("Ready", "False"))
	g.Expect(vp).To(HaveKeyWithValue("Reason", "InvalidCredentials"))
	g.Expect(vp).To(HaveKeyWithValue("vCenter", "https://vcenter.example.com"))
	g.Expect(vp).To(HaveKeyWithValue("Provider", "array-a-vp"))
	g.Expect(vp).To(HaveKeyWithValue("Batch", BeNumerically("==", 16)))

	withStatus(validSync(ns, "nightly"), map[string]any{"phase": "Running", "syncedDisplay": "1/2"})
	// A run past its progress deadline keeps trying: Phase alone does not tell it is stuck.
	withStatus(validSync(ns, "stuck"), map[string]any{
		"phase": "Running", "syncedDisplay": "0/2",
		"conditions": []any{map[string]any{
			"type": "Stalled", "status": "True", "reason": "ProgressDeadlineExceeded", "message": "no group synced for 1h",
			"lastTransitionTime": "2026-11-23T03:00:00Z", "observedGeneration": int64(1),
		}},
	})
	syncs := tableCells(g, "replicationsyncs", ns)
	rs := syncs["nightly"]
	g.Expect(rs).To(HaveKeyWithValue("Phase", "Running"))
	g.Expect(rs).To(HaveKeyWithValue("Provider", "array-a"))
	g.Expect(rs).To(HaveKeyWithValue("PiT", "nightly-2026-11-23"))
	g.Expect(rs).To(HaveKeyWithValue("Synced", "1/2"))
	g.Expect(rs).To(HaveKeyWithValue("Reason", BeNil()))
	g.Expect(syncs["stuck"]).To(HaveKeyWithValue("Reason", "ProgressDeadlineExceeded"))

	withStatus(validSchedule(ns, "nightly", set(true, "spec", "suspend")), map[string]any{
		"active": []any{
			map[string]any{"kind": "ReplicationSync", "namespace": ns, "name": "nightly-20261123-0200"},
			map[string]any{"kind": "ReplicationSync", "namespace": ns, "name": "nightly-20261124-0200"},
		},
		"lastScheduleTime":      "2026-11-24T01:00:00Z",
		"lastRecoveryPointTime": "2026-11-23T01:04:00Z",
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "False", "reason": "InvalidTemplate", "message": "pitNameTemplate repeats",
			"lastTransitionTime": "2026-11-24T01:00:00Z", "observedGeneration": int64(1),
		}},
	})
	sched := tableCells(g, "replicationsyncschedules", ns)["nightly"]
	g.Expect(sched).To(HaveKeyWithValue("Schedule", "0 2 * * *"))
	g.Expect(sched).To(HaveKeyWithValue("TimeZone", "Europe/Berlin"))
	g.Expect(sched).To(HaveKeyWithValue("Suspend", true))
	g.Expect(sched).To(HaveKeyWithValue("Active", "nightly-20261123-0200"))
	g.Expect(sched).To(HaveKeyWithValue("Last Schedule", Not(BeNil())))
	g.Expect(sched).To(HaveKeyWithValue("Recovery Point", Not(BeNil())))
	g.Expect(sched).To(HaveKeyWithValue("Ready", "False"))
	g.Expect(sched).To(HaveKeyWithValue("Reason", "InvalidTemplate"))
}

// TestGroupSelectorIsAtomic: a groupSelector is replaced as a whole on apply, as metav1.LabelSelector is, so
// that matchLabels another field manager set do not stay in a selector applied from Git (and narrow it).
func TestGroupSelectorIsAtomic(t *testing.T) {
	g := NewWithT(t)
	for kind, path := range map[string][]string{
		"ReplicationSync":         {"spec", "groupSelector"},
		"ReplicationSyncSchedule": {"spec", "template", "spec", "groupSelector"},
	} {
		s := loadCRD(g, kind).Spec.Versions[0].Schema.OpenAPIV3Schema
		for _, field := range path {
			prop := s.Properties[field]
			s = &prop
		}
		g.Expect(s.XMapType).To(HaveValue(Equal("atomic")), kind)
	}
}
