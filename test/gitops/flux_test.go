package gitops

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// fluxUnknown is the verdict when an expression cannot be evaluated (a field it reads is missing).
const fluxUnknown = "Unknown"

var fluxSnippet = filepath.Join("..", "..", "config", "gitops", "flux", "kustomization-healthchecks.yaml")

type fluxHealthCheckExpr struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
}

func loadFluxExprs(t *testing.T) map[string]fluxHealthCheckExpr {
	t.Helper()
	raw, err := os.ReadFile(fluxSnippet)
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Spec struct {
			HealthCheckExprs []fluxHealthCheckExpr `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &ks); err != nil {
		t.Fatalf("parsing %s: %v", fluxSnippet, err)
	}
	out := map[string]fluxHealthCheckExpr{}
	for _, e := range ks.Spec.HealthCheckExprs {
		if e.APIVersion != "replication.vasa.io/v1alpha1" {
			t.Fatalf("%s: apiVersion %q", e.Kind, e.APIVersion)
		}
		out[e.Kind] = e
	}
	return out
}

// fluxProgram builds a CEL program the way fluxcd/pkg/runtime/cel.NewExpression does for health checks:
// parsed, not type-checked, the object's top-level fields as variables.
func fluxProgram(t *testing.T, expr string) cel.Program {
	t.Helper()
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		t.Fatalf("parsing %q: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
	if err != nil {
		t.Fatalf("program for %q: %v", expr, err)
	}
	return prg
}

// fluxStatus evaluates as fluxcd/pkg/runtime/cel.StatusEvaluator does: InProgress while
// status.observedGeneration differs from metadata.generation, then inProgress, failed, current in that
// order, InProgress when none holds; an evaluation error leaves the verdict Unknown.
func fluxStatus(t *testing.T, e fluxHealthCheckExpr, obj map[string]any) string {
	t.Helper()
	u := (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
	if og, ok, _ := unstructured.NestedFieldNoCopy(u, "status", "observedGeneration"); ok {
		if gen, ok, _ := unstructured.NestedFieldNoCopy(u, "metadata", "generation"); ok && og != gen {
			return "InProgress"
		}
	}
	for _, step := range []struct{ expr, status string }{
		{e.InProgress, "InProgress"}, {e.Failed, "Failed"}, {e.Current, "Current"},
	} {
		if step.expr == "" {
			continue
		}
		val, _, err := fluxProgram(t, step.expr).ContextEval(context.Background(), u)
		if err != nil {
			return fluxUnknown
		}
		b, ok := val.(types.Bool)
		if !ok {
			t.Fatalf("%q returned %v, not a bool", step.expr, val)
		}
		if b {
			return step.status
		}
	}
	return "InProgress"
}

func TestFluxHealthCheckExprs(t *testing.T) {
	exprs := loadFluxExprs(t)
	for _, kind := range []string{"VasaProvider", "ReplicationSync", "ReplicationSyncSchedule"} {
		if exprs[kind].Current == "" {
			t.Fatalf("%s has no current expression for %s", fluxSnippet, kind)
		}
	}
	for file, tc := range healthCases {
		t.Run(file, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(fluxStatus(t, exprs[tc.kind], loadSample(t, file, tc.kind))).To(Equal(tc.flux))
		})
	}
}
