package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The defaulting tests create the smallest valid objects with the Go types, as a controller
// or a user would, and read them back to see what the API server filled in.

func groupID(faultDomain, deviceGroup string) replicationv1alpha1.ReplicationGroupID {
	return replicationv1alpha1.ReplicationGroupID{
		FaultDomainID: replicationv1alpha1.FaultDomainID{ID: faultDomain},
		DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: deviceGroup},
	}
}

func TestVasaProviderDefaults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	vp := &replicationv1alpha1.VasaProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "array-a"},
		Spec: replicationv1alpha1.VasaProviderSpec{
			VCenter: replicationv1alpha1.VCenterSpec{
				URL:                  "https://vcenter.example.com",
				CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "vcenter-credentials"},
				TLS: replicationv1alpha1.TLSSpec{
					CABundleSecretRef: &replicationv1alpha1.SecretKeySelector{Name: "vcenter-ca"},
				},
			},
			Provider: replicationv1alpha1.ProviderSelector{Name: "array-a-vp"},
		},
	}
	g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())

	got := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vp), got)).To(Succeed())
	g.Expect(got.Spec.Binding).To(Equal(replicationv1alpha1.BindingSOAP))
	g.Expect(got.Spec.MaxConcurrentTasks).To(Equal(int32(4)))
	g.Expect(got.Spec.MaxBatchSize).To(BeZero())
	g.Expect(got.Spec.VCenter.TLS.CABundleSecretRef).NotTo(BeNil())
	g.Expect(got.Spec.VCenter.TLS.CABundleSecretRef.Key).To(Equal("ca.crt"))
	g.Expect(got.Spec.VCenter.TLS.InsecureSkipVerify).To(BeFalse())
}

func TestReplicationSyncDefaults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	rs := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
			GroupIDs:    []replicationv1alpha1.ReplicationGroupID{groupID("fd-1", "dg-1")},
			PitName:     "nightly-2026-11-23",
		},
	}
	g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())

	got := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
	g.Expect(got.Spec.BackoffLimit).To(HaveValue(Equal(int32(6))))
	g.Expect(got.Spec.ActiveDeadlineSeconds).To(BeNil(), "no deadline unless set")
	g.Expect(got.Spec.TTLSecondsAfterFinished).To(BeNil(), "kept unless set")
	g.Expect(got.Spec.MaxBatchSize).To(BeZero())
}

func TestReplicationSyncScheduleDefaults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	sched := &replicationv1alpha1.ReplicationSyncSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: replicationv1alpha1.ReplicationSyncScheduleSpec{
			Schedule: "0 2 * * *",
			Template: replicationv1alpha1.ReplicationSyncTemplate{
				Spec: replicationv1alpha1.ReplicationSyncTemplateSpec{
					ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
					GroupIDs:    []replicationv1alpha1.ReplicationGroupID{groupID("fd-1", "dg-1")},
				},
			},
		},
	}
	g.Expect(k8sClient.Create(ctx, sched)).To(Succeed())

	got := &replicationv1alpha1.ReplicationSyncSchedule{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sched), got)).To(Succeed())
	g.Expect(got.Spec.ConcurrencyPolicy).To(Equal(replicationv1alpha1.ForbidConcurrent))
	g.Expect(got.Spec.SuccessfulHistoryLimit).To(HaveValue(Equal(int32(3))))
	g.Expect(got.Spec.FailedHistoryLimit).To(HaveValue(Equal(int32(1))))
	g.Expect(got.Spec.TimeZone).To(BeNil(), "unset means UTC")
	g.Expect(got.Spec.Suspend).To(BeNil())
	g.Expect(got.Spec.Template.PitNameTemplate).To(Equal(`{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-1504" }}`))
	g.Expect(got.Spec.Template.Spec.BackoffLimit).To(HaveValue(Equal(int32(6))))
}
