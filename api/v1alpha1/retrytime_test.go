package v1alpha1_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestWholeSecondRetryTimeStillReads: a ReplicationSync whose status.retry.nextRetryTime an earlier
// version wrote in whole seconds is read, alone and in a list, as that time; a microsecond type alone
// would fail every read of ReplicationSyncs, and with it the manager's cache, after an upgrade.
func TestWholeSecondRetryTimeStillReads(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	obj := validSync(ns, "backing-off")
	g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	g.Expect(k8sClient.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType,
		[]byte(`{"status":{"retry":{"attempts":3,"nextRetryTime":"2026-11-30T10:00:00Z"}}}`)))).To(Succeed())

	rs := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), rs)).To(Succeed())
	g.Expect(rs.Status.Retry.NextRetryTime.Time).To(BeTemporally("==", time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)))
	list := &replicationv1alpha1.ReplicationSyncList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))

	next := replicationv1alpha1.NewRetryTime(time.Date(2026, 11, 30, 10, 0, 1, 500000000, time.UTC))
	rs.Status.Retry.NextRetryTime = &next
	g.Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), rs)).To(Succeed())
	g.Expect(rs.Status.Retry.NextRetryTime.Time).To(BeTemporally("==", next.Time), "written to the microsecond")
}
