package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestStoredInvalidScheduleStaysWritable: a schedule stored before admission checked each cron field
// ("0 25 * * *") can still get status writes and edits of other fields, since the API server ratchets
// rules on unchanged values; an edit of the schedule itself must pass.
func TestStoredInvalidScheduleStaysWritable(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	scheme := runtime.NewScheme()
	g.Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	crds, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	key := client.ObjectKey{Name: "replicationsyncschedules.replication.vasa.io"}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(crds.Get(ctx, key, crd)).To(Succeed())
	rules := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["schedule"].XValidations
	setRules := func(keep func(apiextensionsv1.ValidationRule) bool) {
		t.Helper()
		g.Eventually(func() error {
			c := &apiextensionsv1.CustomResourceDefinition{}
			if err := crds.Get(ctx, key, c); err != nil {
				return err
			}
			spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			s := spec.Properties["schedule"]
			s.XValidations = nil
			for _, r := range rules {
				if keep(r) {
					s.XValidations = append(s.XValidations, r)
				}
			}
			spec.Properties["schedule"] = s
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
			return crds.Update(ctx, c)
		}).Should(Succeed())
	}
	perField := func(r apiextensionsv1.ValidationRule) bool { return strings.HasPrefix(r.Message, "schedule: ") }
	g.Expect(rules).To(ContainElement(Satisfy(perField)))
	admits := func(expr string) func() error {
		return func() error {
			return k8sClient.Create(ctx, validSchedule(ns, "probe", set(expr, "spec", "schedule")), client.DryRunAll)
		}
	}

	// The CRD as it was before the per-field rules, to store the object.
	t.Cleanup(func() {
		setRules(func(apiextensionsv1.ValidationRule) bool { return true })
		g.Eventually(admits("0 25 * * *")).WithTimeout(30 * time.Second).ShouldNot(Succeed())
	})
	setRules(func(r apiextensionsv1.ValidationRule) bool { return !perField(r) })
	g.Eventually(admits("0 25 * * *")).WithTimeout(30 * time.Second).Should(Succeed())
	stored := validSchedule(ns, "stored", set("0 25 * * *", "spec", "schedule"))
	g.Expect(k8sClient.Create(ctx, stored)).To(Succeed())

	setRules(func(apiextensionsv1.ValidationRule) bool { return true })
	g.Eventually(admits("0 25 * * *")).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring(hourMessage)))

	set(map[string]any{"conditions": []any{map[string]any{
		"type": "Stalled", "status": "True", "reason": "InvalidSchedule", "message": "hour 25 is out of range",
		"lastTransitionTime": "2026-11-23T02:00:00Z", "observedGeneration": int64(1),
	}}}, "status")(stored.Object)
	g.Expect(k8sClient.Status().Update(ctx, stored)).To(Succeed(), "a status write with the schedule unchanged")
	stored.SetLabels(map[string]string{"team": "storage"})
	g.Expect(k8sClient.Update(ctx, stored)).To(Succeed(), "an edit that leaves the schedule unchanged")

	set("0 26 * * *", "spec", "schedule")(stored.Object)
	expectRejected(g, k8sClient.Update(ctx, stored), "spec.schedule", hourMessage)
	set("0 2 * * *", "spec", "schedule")(stored.Object)
	g.Expect(k8sClient.Update(ctx, stored)).To(Succeed())
}
