package v1alpha1_test

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// oldestKubernetes is the oldest Kubernetes the CRDs install on (README: 1.33). An API server compiles new
// validation rules against the CEL library of the release before its own (its compatibility version).
var oldestKubernetes = version.MajorMinor(1, 33)

// TestValidationRulesCompileOnTheOldestKubernetes: every validation rule of the CRDs compiles with the CEL
// library the oldest supported API server accepts in a new CRD. envtest runs a newer one, which accepts
// functions an older one refuses, failing the whole CRD's install there.
func TestValidationRulesCompileOnTheOldestKubernetes(t *testing.T) {
	envSet := environment.MustBaseEnvSet(version.MajorMinor(oldestKubernetes.Major(), oldestKubernetes.Minor()-1))
	for kind := range crdFiles {
		t.Run(kind, func(t *testing.T) {
			g := NewWithT(t)
			crd := loadCRD(g, kind)
			var internal apiextensions.JSONSchemaProps
			g.Expect(apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil)).To(Succeed())
			root, err := schema.NewStructural(&internal)
			g.Expect(err).NotTo(HaveOccurred())
			rules := 0
			var walk func(s *schema.Structural, path string, isRoot bool)
			walk = func(s *schema.Structural, path string, isRoot bool) {
				if len(s.XValidations) > 0 {
					results, err := cel.Compile(s, model.SchemaDeclType(s, isRoot), celconfig.PerCallLimit, envSet, cel.NewExpressionsEnvLoader())
					g.Expect(err).NotTo(HaveOccurred(), path)
					for i, r := range results {
						rules++
						g.Expect(r.Error).To(BeNil(), "%s: %s", path, s.XValidations[i].Rule)
					}
				}
				for name, p := range s.Properties {
					walk(&p, path+"."+name, false)
				}
				if s.Items != nil {
					walk(s.Items, path+"[*]", false)
				}
				if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
					walk(s.AdditionalProperties.Structural, path+"{*}", false)
				}
			}
			walk(root, kind, true)
			g.Expect(rules).To(BeNumerically(">", 0))
		})
	}
}
