package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestOutdatedCRDCallsNothing: with a ReplicationSync CRD from before claimTime (a chart upgraded without
// its CRDs), the API server drops every claim's time without an error. The run writes no claim, calls
// nothing, says why (Stalled CRDOutdated, one event), and goes on once the CRDs are applied, each group
// called once.
func TestOutdatedCRDCallsNothing(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	restore := withoutClaimTime(t, h)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(BeEmpty(), "no call without a stored claim")
	h.g.Expect(h.states()).NotTo(ContainElement(replicationv1alpha1.GroupIssuing), "no claim written")
	stalled := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(stalled).NotTo(BeNil())
	h.g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
	h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.CRDOutdatedReason))
	h.g.Expect(h.eventReasons()).To(ContainElement(HavePrefix(replicationv1alpha1.CRDOutdatedReason)))
	h.clock.Step(ProviderWaitInterval)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	h.g.Expect(meta.IsStatusConditionTrue(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeTrue(), "still Stalled")
	h.g.Expect(h.eventReasons()).To(HaveLen(1), "said once")

	restore()
	h.clock.Step(ProviderWaitInterval)
	h.expectEndsSyncedOnce(2)
	h.g.Expect(meta.IsStatusConditionTrue(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeFalse())
}

// TestCRDRolledBackWhileRunningCallsNothing: the CRDs applied from an older release while the manager
// runs (it checked them at its first claim) are found out within crdRecheck: the run after calls nothing.
func TestCRDRolledBackWhileRunningCallsNothing(t *testing.T) {
	h := newRunHarness(t, 1, nil)
	h.expectEndsSyncedOnce(1)
	restore := withoutClaimTime(t, h)
	defer restore()
	h.clock.Step(crdRecheck)
	h.nextRun("after-rollback")
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(HaveLen(1), "the first run's call only")
	h.g.Expect(meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)).To(HaveField("Reason", replicationv1alpha1.CRDOutdatedReason))
}

// TestCRDWithoutTheIssuingStateCallsNothing: the CRDs from before claims also lack the state Issuing, so
// the API server refuses a claim (422) instead of dropping its time. The run is Stalled CRDOutdated, as
// when the times are dropped, instead of backing off on an error no condition explains.
func TestCRDWithoutTheIssuingStateCallsNothing(t *testing.T) {
	h := newRunHarness(t, 2, nil)
	restore := asOlderCRD(t, h, true)
	h.reconcile()
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
	stalled := meta.FindStatusCondition(h.get().Status.Conditions, replicationv1alpha1.StalledCondition)
	h.g.Expect(stalled).NotTo(BeNil())
	h.g.Expect(stalled.Reason).To(Equal(replicationv1alpha1.CRDOutdatedReason))

	restore()
	h.clock.Step(ProviderWaitInterval)
	h.expectEndsSyncedOnce(2)
}

const replicationSyncCRD = "replicationsyncs.replication.vasa.io"

// groupProperties returns the CRD and the schema properties of status.groups[] in it.
func groupProperties(t *testing.T, g Gomega) (*unstructured.Unstructured, map[string]any) {
	t.Helper()
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: replicationSyncCRD}, crd)).To(Succeed())
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	props, ok, err := unstructured.NestedMap(versions[0].(map[string]any),
		"schema", "openAPIV3Schema", "properties", "status", "properties", "groups", "items", "properties")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	return crd, props
}

// setGroupProperties writes props as the schema of status.groups[] and waits until a status write of the
// harness's run stores claimTime exactly when props has it.
func setGroupProperties(t *testing.T, h *runHarness, crd *unstructured.Unstructured, props map[string]any) {
	t.Helper()
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	h.g.Expect(unstructured.SetNestedMap(versions[0].(map[string]any), props,
		"schema", "openAPIV3Schema", "properties", "status", "properties", "groups", "items", "properties")).To(Succeed())
	h.g.Expect(unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions")).To(Succeed())
	h.g.Expect(k8sClient.Update(context.Background(), crd)).To(Succeed())
	_, want := props["claimTime"]
	h.g.Eventually(func(g Gomega) bool {
		rs := h.get()
		now := metav1.NewMicroTime(time.Now())
		rs.Status.Groups = []replicationv1alpha1.GroupStatus{{ReplicationGroupID: rs.Spec.GroupIDs[0], State: replicationv1alpha1.GroupPending, ClaimTime: &now}}
		g.Expect(k8sClient.Status().Update(context.Background(), rs)).To(Succeed())
		stored := rs.Status.Groups[0].ClaimTime != nil
		rs.Status = replicationv1alpha1.ReplicationSyncStatus{}
		g.Expect(k8sClient.Status().Update(context.Background(), rs)).To(Succeed())
		return stored
	}).WithTimeout(30 * time.Second).Should(Equal(want))
}

// withoutClaimTime makes the cluster's ReplicationSync CRD one from before claimTime; the function it
// returns, also run when the test ends, applies the current one again.
func withoutClaimTime(t *testing.T, h *runHarness) (restore func()) {
	return asOlderCRD(t, h, false)
}

// asOlderCRD makes the cluster's ReplicationSync CRD one without claimTime and, withoutIssuing, without
// the state Issuing too, as the CRDs from before claims were; restore applies the current one again.
func asOlderCRD(t *testing.T, h *runHarness, withoutIssuing bool) (restore func()) {
	crd, props := groupProperties(t, h.g)
	saved := runtime.DeepCopyJSON(props)
	delete(props, "claimTime")
	if withoutIssuing {
		state := props["state"].(map[string]any)
		state["enum"] = slices.DeleteFunc(state["enum"].([]any), func(v any) bool { return v == string(replicationv1alpha1.GroupIssuing) })
	}
	setGroupProperties(t, h, crd, props)
	restore = func() {
		crd, props := groupProperties(t, h.g)
		if _, ok := props["claimTime"]; !ok {
			setGroupProperties(t, h, crd, runtime.DeepCopyJSON(saved))
		}
	}
	t.Cleanup(restore)
	return restore
}
