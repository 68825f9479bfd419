package bench

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The API floor is the baseline of the many-syncs rows: how long the API server takes to accept what
// the protocol writes per sync (the create, the claim, the result and one event), written by this
// process as fast as it can, with no manager and no provider. A one-group sync cannot finish faster
// than its writes, so makespan ÷ floor is what the operator adds to the API server's own cost.

// floorSettle is how long the API server is left alone after the floor's clean-up, before the row:
// without it, the row's API server CPU per sync was 1.5-2 ms higher.
const floorSettle = 15 * time.Second

// Floor is one measured API floor.
type Floor struct {
	// Time is how long the writes took; APIServerCPU and EtcdCPU what they cost.
	Time                  time.Duration
	APIServerCPU, EtcdCPU float64
}

// measureFloor writes n one-group syncs' worth of protocol writes into a namespace of their own, then
// deletes them.
func (e *Env) measureFloor(ctx context.Context, n int) (Floor, error) {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-floor-"}}
	if err := e.Admin.Create(ctx, nsObj); err != nil {
		return Floor{}, err
	}
	ns := nsObj.Name
	apiserver, etcd := cpuOf(e.APIServerPID), cpuOf(e.EtcdPID)
	start := time.Now()
	err := parallel(ctx, n, func(i int) error { return e.writeOneSync(ctx, ns, i) })
	f := Floor{Time: time.Since(start), APIServerCPU: cpuOf(e.APIServerPID) - apiserver, EtcdCPU: cpuOf(e.EtcdPID) - etcd}
	if err != nil {
		return f, fmt.Errorf("API floor: %w", err)
	}
	for _, list := range []client.Object{&replicationv1alpha1.ReplicationSync{}, &eventsv1.Event{}} {
		if err := e.Admin.DeleteAllOf(ctx, list, client.InNamespace(ns)); err != nil {
			return f, fmt.Errorf("API floor: cleaning up: %w", err)
		}
	}
	return f, nil
}

// writeOneSync makes the writes of sync i: create, claim (Running, the group Issuing), result
// (Succeeded, the group Synced) with the resourceVersion as precondition, and a Synced event.
func (e *Env) writeOneSync(ctx context.Context, ns string, i int) error {
	rs := newSync(ns, i, 1)
	if err := e.Admin.Create(ctx, rs); err != nil {
		return err
	}
	now := metav1.Now()
	claimed := metav1.NowMicro()
	before := rs.DeepCopy()
	rs.Status = replicationv1alpha1.ReplicationSyncStatus{
		Phase: replicationv1alpha1.SyncRunning, StartTime: &now, LastProgressTime: &now, ObservedGeneration: rs.Generation,
		Summary: &replicationv1alpha1.SyncSummary{Total: 1, Pending: 1}, SyncedDisplay: "0/1", BatchSize: 1,
		Conditions: floorConditions(rs.Generation, now, metav1.ConditionFalse, metav1.ConditionTrue, "Submitting"),
		Groups: []replicationv1alpha1.GroupStatus{{ReplicationGroupID: rs.Spec.GroupIDs[0],
			State: replicationv1alpha1.GroupIssuing, Provider: "vasaprovider-1", ClaimTime: &claimed}},
	}
	if err := e.Admin.Status().Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	before = rs.DeepCopy()
	st := &rs.Status
	st.Phase, st.CompletionTime, st.SyncedDisplay = replicationv1alpha1.SyncSucceeded, &now, "1/1"
	st.Summary = &replicationv1alpha1.SyncSummary{Total: 1, Synced: 1}
	st.Conditions = floorConditions(rs.Generation, now, metav1.ConditionTrue, metav1.ConditionFalse, "Succeeded")
	st.Groups[0] = replicationv1alpha1.GroupStatus{ReplicationGroupID: rs.Spec.GroupIDs[0], State: replicationv1alpha1.GroupSynced,
		Task: "smstask-1", Provider: "vasaprovider-1", PitID: "pit-1", PitName: rs.Spec.PitName, TimeStamp: &now}
	if err := e.Admin.Status().Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	return e.Admin.Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s.%x", rs.Name, time.Now().UnixNano())},
		EventTime:           claimed,
		ReportingController: "replicationsync-controller", ReportingInstance: "bench",
		Action: "Sync", Reason: "Synced", Type: corev1.EventTypeNormal, Note: "All 1 groups synced",
		Regarding: corev1.ObjectReference{Kind: "ReplicationSync", APIVersion: replicationv1alpha1.GroupVersion.String(),
			Namespace: ns, Name: rs.Name, UID: rs.UID},
	})
}

// floorConditions are the three kstatus conditions with the given Ready and Reconciling status.
func floorConditions(gen int64, now metav1.Time, ready, reconciling metav1.ConditionStatus, reason string) []metav1.Condition {
	return []metav1.Condition{
		{Type: "Ready", Status: ready, ObservedGeneration: gen, LastTransitionTime: now, Reason: reason, Message: "All 1 groups synced"},
		{Type: "Reconciling", Status: reconciling, ObservedGeneration: gen, LastTransitionTime: now, Reason: reason},
		{Type: "Stalled", Status: metav1.ConditionFalse, ObservedGeneration: gen, LastTransitionTime: now, Reason: reason},
	}
}
