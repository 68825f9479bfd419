package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// TestNewObjectsAreInProgressForKstatus: an object the operator has not looked at yet reads as
// InProgress to kstatus (Flux's default health check, Helm's and kubectl's waits), not Current: a
// dependent Kustomization must not start before its VasaProvider was ever connected, nor a run from Git
// count as done before it ran.
func TestNewObjectsAreInProgressForKstatus(t *testing.T) {
	ns := newNamespace(t)
	for _, obj := range []*unstructured.Unstructured{validProvider(ns, "vp"), validSync(ns, "run"), validSchedule(ns, "nightly")} {
		t.Run(obj.GetKind(), func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(k8sClient.Create(context.Background(), obj)).To(Succeed())
			read := &unstructured.Unstructured{}
			read.SetGroupVersionKind(obj.GroupVersionKind())
			g.Expect(k8sClient.Get(context.Background(), keyOf(obj), read)).To(Succeed())
			res, err := status.Compute(read)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Status).To(Equal(status.InProgressStatus), res.Message)
		})
	}
}
