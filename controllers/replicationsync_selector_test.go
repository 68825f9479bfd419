package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// newSelectorSync returns a ReplicationSync of provider choosing its groups with selector.
func newSelectorSync(namespace, name, provider string, selector *metav1.LabelSelector) *replicationv1alpha1.ReplicationSync {
	return &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef:   replicationv1alpha1.LocalObjectReference{Name: provider},
			GroupSelector: replicationv1alpha1.GroupSelectorOf(selector),
			PitName:       name + "-pit",
		},
	}
}

// storeGroup creates the ReplicationGroup discovery would create for provider's group with this state and name.
func storeGroup(t *testing.T, g *WithT, namespace, provider, fd, dg, state, name string) {
	t.Helper()
	id := sms.GroupID{FaultDomainID: fd, DeviceGroupID: dg}
	st := replicationv1alpha1.ReplicationGroupStatus{State: state, Name: name, SourceGroupName: name}
	rg := &replicationv1alpha1.ReplicationGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: groupObjectName(provider, id), Labels: groupLabels(provider, &st, id)},
		Spec:       replicationv1alpha1.ReplicationGroupSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider}, GroupID: *apiGroupID(id)},
		Status:     st,
	}
	g.Expect(k8sClient.Create(context.Background(), rg)).To(Succeed())
}

func TestSelectGroups(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "select-")
	long := "a-provider-whose-name-is-far-too-long-for-a-label-value-" + "0123456789abcdef"
	storeGroup(t, g, ns.Name, "array-a", "fd-2", "dg-1", "TARGET", "oracle")
	storeGroup(t, g, ns.Name, "array-a", "fd-1", "dg-7", "TARGET", "oracle")
	storeGroup(t, g, ns.Name, "array-a", "fd-1", "dg-3", "INTEST", "oracle")
	storeGroup(t, g, ns.Name, "array-a", "fd-1", "dg-4", "TARGET", "sap")
	storeGroup(t, g, ns.Name, "array-b", "fd-1", "dg-5", "TARGET", "oracle")
	storeGroup(t, g, ns.Name, long, "fd-9", "dg-9", "TARGET", "oracle")
	ids := func(pairs ...string) []replicationv1alpha1.ReplicationGroupID {
		var out []replicationv1alpha1.ReplicationGroupID
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, *apiGroupID(sms.GroupID{FaultDomainID: pairs[i], DeviceGroupID: pairs[i+1]}))
		}
		return out
	}
	oracleTargets := &metav1.LabelSelector{MatchLabels: map[string]string{
		replicationv1alpha1.SourceGroupLabel: "oracle", replicationv1alpha1.StateLabel: "TARGET",
	}}

	tests := map[string]struct {
		rs      *replicationv1alpha1.ReplicationSync
		want    []replicationv1alpha1.ReplicationGroupID
		wantErr error
	}{
		"labels of the provider only, sorted": {
			rs:   newSelectorSync(ns.Name, "a", "array-a", oracleTargets),
			want: ids("fd-1", "dg-7", "fd-2", "dg-1"),
		},
		"expressions": {
			rs: newSelectorSync(ns.Name, "b", "array-a", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: replicationv1alpha1.FaultDomainLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"fd-1"}},
				{Key: replicationv1alpha1.StateLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"INTEST"}},
			}}),
			want: ids("fd-1", "dg-4", "fd-1", "dg-7"),
		},
		"empty selector is every group of the provider": {
			rs:   newSelectorSync(ns.Name, "c", "array-b", &metav1.LabelSelector{}),
			want: ids("fd-1", "dg-5"),
		},
		"provider name longer than a label value": {
			rs:   newSelectorSync(ns.Name, "d", long, oracleTargets),
			want: ids("fd-9", "dg-9"),
		},
		"nothing matches": {
			rs:      newSelectorSync(ns.Name, "e", "array-b", &metav1.LabelSelector{MatchLabels: map[string]string{replicationv1alpha1.SourceGroupLabel: "sap"}}),
			wantErr: errNoGroupsSelected,
		},
		"unknown provider": {
			rs:      newSelectorSync(ns.Name, "f", "array-z", &metav1.LabelSelector{}),
			wantErr: errNoGroupsSelected,
		},
		"invalid selector": {
			rs: newSelectorSync(ns.Name, "g", "array-a", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: replicationv1alpha1.StateLabel, Operator: "Near"},
			}}),
			wantErr: errInvalidGroupSelector,
		},
		"groupIds are returned as they are": {
			rs: func() *replicationv1alpha1.ReplicationSync {
				rs := newSelectorSync(ns.Name, "h", "array-a", nil)
				rs.Spec.GroupIDs = ids("fd-9", "dg-1", "fd-1", "dg-1")
				return rs
			}(),
			want: ids("fd-9", "dg-1", "fd-1", "dg-1"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := selectGroups(ctx, k8sClient, tc.rs)
			if tc.wantErr != nil {
				g.Expect(err).To(MatchError(tc.wantErr))
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestGroupObjectName(t *testing.T) {
	g := NewWithT(t)
	a := groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})
	g.Expect(a).To(MatchRegexp(`^array-a-dg-1-[0-9a-f]{10}$`))
	g.Expect(groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})).To(Equal(a), "stable")
	g.Expect(groupObjectName("array-a", sms.GroupID{FaultDomainID: "fd-2", DeviceGroupID: "dg-1"})).NotTo(Equal(a), "fault domain counts")
	g.Expect(groupObjectName("array-b", sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "dg-1"})).NotTo(Equal(a), "provider counts")
	odd := groupObjectName("Array_A", sms.GroupID{FaultDomainID: "naa.600", DeviceGroupID: "CG/Öl:ÜBER__long-" + string(make([]byte, 80))})
	g.Expect(len(odd)).To(BeNumerically("<=", 63))
	g.Expect(odd).To(MatchRegexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`))
	g.Expect(groupObjectName("", sms.GroupID{DeviceGroupID: "///"})).To(MatchRegexp(`^rg-[0-9a-f]{10}$`))
}
