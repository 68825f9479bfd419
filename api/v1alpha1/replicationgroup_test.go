package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
)

const (
	exactlyOneSync     = "set exactly one of spec.groupIds and spec.groupSelector"
	exactlyOneTemplate = "set exactly one of template.spec.groupIds and template.spec.groupSelector"
	badOperator        = "groupSelector.matchExpressions: operator must be In or NotIn with values"
	badLabelValue      = "must be a label value: up to 63 letters"
	badLabelKey        = "must be a label key: [DNS subdomain/]name"
)

// oracleSelector is a groupSelector as a user writes it.
func oracleSelector() map[string]any {
	return map[string]any{"matchLabels": map[string]any{
		replicationv1alpha1.SourceGroupLabel: "oracle", replicationv1alpha1.StateLabel: "TARGET",
	}}
}

func TestGroupSelectorRejectsBadInput(t *testing.T) {
	runRejected(t, validSync, map[string]rejected{
		"groupIds and groupSelector": {
			mutations: []mutation{set(oracleSelector(), "spec", "groupSelector")},
			field:     "spec", message: exactlyOneSync,
		},
		"neither groupIds nor groupSelector": {
			mutations: []mutation{unset("spec", "groupIds")},
			field:     "spec", message: exactlyOneSync,
		},
		"selector operator unknown": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchExpressions": []any{
				map[string]any{"key": replicationv1alpha1.StateLabel, "operator": "Near", "values": []any{"TARGET"}},
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector", message: badOperator,
		},
		"selector In without values": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchExpressions": []any{
				map[string]any{"key": replicationv1alpha1.StateLabel, "operator": "In"},
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector", message: badOperator,
		},
		// A raw fault domain id is not what discovery labels a group with: the run would select nothing.
		"selector value not a label value": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchLabels": map[string]any{
				replicationv1alpha1.FaultDomainLabel: "fd/1",
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector.matchLabels[" + replicationv1alpha1.FaultDomainLabel + "]", message: badLabelValue,
		},
		"expression value not a label value": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchExpressions": []any{
				map[string]any{"key": replicationv1alpha1.StateLabel, "operator": "Exists"},
				map[string]any{"key": replicationv1alpha1.SourceGroupLabel, "operator": "In", "values": []any{"oracle", "-sap"}},
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector.matchExpressions[1].values[1]", message: badLabelValue,
		},
		"selector key not a label key": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchLabels": map[string]any{
				"bad key!": "x",
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector.matchLabels", message: "keys must be label keys",
		},
		"expression key not a label key": {
			mutations: []mutation{unset("spec", "groupIds"), set(map[string]any{"matchExpressions": []any{
				map[string]any{"key": "a/b/c", "operator": "Exists"},
			}}, "spec", "groupSelector")},
			field: "spec.groupSelector.matchExpressions[0].key", message: badLabelKey,
		},
	})
	runRejected(t, validSchedule, map[string]rejected{
		"template with groupIds and groupSelector": {
			mutations: []mutation{set(oracleSelector(), "spec", "template", "spec", "groupSelector")},
			field:     "spec.template.spec", message: exactlyOneTemplate,
		},
		"template with neither": {
			mutations: []mutation{unset("spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec", message: exactlyOneTemplate,
		},
		"template selector key not a label key": {
			mutations: []mutation{unset("spec", "template", "spec", "groupIds"), set(map[string]any{"matchLabels": map[string]any{
				"source group": "oracle",
			}}, "spec", "template", "spec", "groupSelector")},
			field: "spec.template.spec.groupSelector.matchLabels", message: "keys must be label keys",
		},
		"template selector value not a label value": {
			mutations: []mutation{unset("spec", "template", "spec", "groupIds"), set(map[string]any{"matchLabels": map[string]any{
				replicationv1alpha1.StateLabel: strings.Repeat("T", 64),
			}}, "spec", "template", "spec", "groupSelector")},
			field: "spec.template.spec.groupSelector.matchLabels." + replicationv1alpha1.StateLabel, message: "may not be more than 63 bytes",
		},
	})
	runRejected(t, validProvider, map[string]rejected{
		"discovery interval under 30s": {
			mutations: []mutation{set("10s", "spec", "discovery", "interval")},
			field:     "spec.discovery.interval", message: discMsg,
		},
		"discovery interval negative": {
			mutations: []mutation{set("-5m", "spec", "discovery", "interval")},
			field:     "spec.discovery.interval", message: discMsg,
		},
	})
}

func TestGroupSelectorAcceptsGoodInput(t *testing.T) {
	runAccepted(t, validSync, map[string][]mutation{
		"matchLabels": {unset("spec", "groupIds"), set(oracleSelector(), "spec", "groupSelector")},
		"expressions": {unset("spec", "groupIds"), set(map[string]any{"matchExpressions": []any{
			map[string]any{"key": replicationv1alpha1.FaultDomainLabel, "operator": "In", "values": []any{"fd-1"}},
			map[string]any{"key": replicationv1alpha1.SourceGroupLabel, "operator": "Exists"},
		}}, "spec", "groupSelector")},
		"empty value, key without prefix, every operator": {unset("spec", "groupIds"), set(map[string]any{
			"matchLabels": map[string]any{"tier": "", replicationv1alpha1.StateLabel: "TARGET"},
			"matchExpressions": []any{
				map[string]any{"key": "tier", "operator": "NotIn", "values": []any{"gold", "silver_2", "a.b-c"}},
				map[string]any{"key": replicationv1alpha1.SourceGroupLabel, "operator": "DoesNotExist"},
			},
		}, "spec", "groupSelector")},
		"empty selector (every group of the provider)": {unset("spec", "groupIds"), set(map[string]any{}, "spec", "groupSelector")},
	})
	runAccepted(t, validSchedule, map[string][]mutation{
		"template selector": {unset("spec", "template", "spec", "groupIds"), set(oracleSelector(), "spec", "template", "spec", "groupSelector")},
	})
	runAccepted(t, validProvider, map[string][]mutation{
		"discovery off":    {set("0s", "spec", "discovery", "interval")},
		"discovery hourly": {set("1h", "spec", "discovery", "interval")},
	})
}

func TestGroupSelectorIsImmutable(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	bySelector := validSync(ns, "by-selector", unset("spec", "groupIds"), set(oracleSelector(), "spec", "groupSelector"))
	g.Expect(k8sClient.Create(ctx, bySelector)).To(Succeed())
	set("sap", "spec", "groupSelector", "matchLabels", replicationv1alpha1.SourceGroupLabel)(bySelector.Object)
	expectRejected(g, k8sClient.Update(ctx, bySelector), "spec.groupSelector", "groupSelector"+immutableFmt)

	byIDs := validSync(ns, "by-ids")
	g.Expect(k8sClient.Create(ctx, byIDs)).To(Succeed())
	unset("spec", "groupIds")(byIDs.Object)
	set(oracleSelector(), "spec", "groupSelector")(byIDs.Object)
	expectRejected(g, k8sClient.Update(ctx, byIDs), "spec", "spec.groupIds and spec.groupSelector cannot be swapped")
}

func TestDiscoveryIntervalDefault(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	vp := validProvider(newNamespace(t), "array-a")
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
	g.Expect(got.Spec.Discovery.Interval).NotTo(BeNil())
	g.Expect(got.Spec.Discovery.Interval.Duration).To(Equal(5 * time.Minute))
}

// TestReplicationGroupCRD: short name, columns, no status subresource (one write per change), spec
// immutable, and the columns as kubectl prints them: RPO is the age of the newest PiT.
func TestReplicationGroupCRD(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	crd := loadCRD(g, "ReplicationGroup")
	g.Expect(crd.Spec.Names.ShortNames).To(ConsistOf("rg"))
	g.Expect(crd.Spec.Names.Categories).To(ContainElement("vasa"))
	version := crd.Spec.Versions[0]
	g.Expect(version.Subresources == nil || version.Subresources.Status == nil).To(BeTrue(), "status is written with the object, no subresource")
	var names []string
	for _, c := range version.AdditionalPrinterColumns {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
		if !strings.HasPrefix(c.JSONPath, ".metadata.") {
			g.Expect(schemaHasPath(version.Schema.OpenAPIV3Schema, c.JSONPath)).To(BeTrue(), c.JSONPath)
		}
	}
	g.Expect(names).To(Equal([]string{"State", "Provider", "Fault Domain", "Newest PiT", "RPO", "Age"}))

	ns := newNamespace(t)
	rg := newObject("ReplicationGroup", ns, "array-a-dg-1-0123456789", map[string]any{
		"providerRef": map[string]any{"name": "array-a"},
		"groupId":     group("fd-1", "dg-1"),
	})
	set(map[string]any{"state": "TARGET", "newestPiT": map[string]any{
		"name": "hourly-7", "id": "pit-7", "timeStamp": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339),
	}}, "status")(rg.Object)
	g.Expect(k8sClient.Create(ctx, rg)).To(Succeed())
	cells := tableCells(g, "replicationgroups", ns)["array-a-dg-1-0123456789"]
	g.Expect(cells).To(HaveKeyWithValue("State", "TARGET"))
	g.Expect(cells).To(HaveKeyWithValue("Fault Domain", "fd-1"))
	g.Expect(cells).To(HaveKeyWithValue("Newest PiT", "hourly-7"))
	g.Expect(cells).To(HaveKeyWithValue("RPO", "120m"))

	set("dg-2", "spec", "groupId", "deviceGroupId", "id")(rg.Object)
	expectRejected(g, k8sClient.Update(ctx, rg), "spec", "spec is set by the operator's discovery and is immutable")
}

// TestHoldsIDAgreesWithTheCRD: discovery skips the groups HoldsID refuses, so it must refuse exactly the
// ids the API server refuses in a ReplicationGroup.
func TestHoldsIDAgreesWithTheCRD(t *testing.T) {
	ns := newNamespace(t)
	for name, id := range map[string]string{
		"longest":            strings.Repeat("é", replicationv1alpha1.IDMaxLength),
		"one too long":       strings.Repeat("é", replicationv1alpha1.IDMaxLength+1),
		"blank":              " \t",
		"empty":              "",
		"trailing space":     "dg-1 ",
		"leading tab":        "\tdg-1",
		"C1 control":         "dg\u00851",
		"non-character":      "dg\uFFFE",
		"inner space, UTF-8": "Oracle Prod é",
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rg := newObject("ReplicationGroup", ns, objectName("rg-"+name), map[string]any{
				"providerRef": map[string]any{"name": "array-a"},
				"groupId":     group("fd-1", id),
			})
			rgErr := k8sClient.Create(context.Background(), rg)
			if replicationv1alpha1.HoldsID(id) {
				g.Expect(rgErr).NotTo(HaveOccurred())
			} else {
				expectRejected(g, rgErr, "spec.groupId.deviceGroupId.id", "")
			}
			// Shares name their groups in groupIds: pitname.Sendable says which ids the API server takes there.
			rsErr := k8sClient.Create(context.Background(), validSync(ns, objectName("rs-"+name), set(groups([2]string{"fd-1", id}), "spec", "groupIds")))
			if replicationv1alpha1.HoldsID(id) && pitname.Sendable(id) {
				g.Expect(rsErr).NotTo(HaveOccurred())
			} else {
				expectRejected(g, rsErr, "spec.groupIds", "")
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	g := NewWithT(t)
	g.Expect(replicationv1alpha1.LabelValue("fd-1")).To(Equal("fd-1"))
	g.Expect(replicationv1alpha1.LabelValue("")).To(Equal(""))
	for _, in := range []string{"oracle prod", "naa.6000/cg:1", strings.Repeat("x", 64), "-x-", "ÜBER", "///"} {
		out := replicationv1alpha1.LabelValue(in)
		g.Expect(validation.IsValidLabelValue(out)).To(BeEmpty(), "%q -> %q", in, out)
		g.Expect(out).NotTo(Equal(replicationv1alpha1.LabelValue(in+"!")), "distinct inputs stay distinct")
	}
}
