package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func testSync(n int) *replicationv1alpha1.ReplicationSync {
	rs := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rs", Generation: 1},
		Spec:       replicationv1alpha1.ReplicationSyncSpec{PitName: "pit", ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "vp"}},
	}
	for i := 0; i < n; i++ {
		rs.Spec.GroupIDs = append(rs.Spec.GroupIDs, replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd"},
			DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: fmt.Sprintf("dg-%d", i)},
		})
	}
	initSyncStatus(rs)
	return rs
}

func TestInitAndSummary(t *testing.T) {
	g := NewWithT(t)
	rs := testSync(4)
	g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
	g.Expect(rs.Status.Groups).To(HaveLen(4))
	rs.Status.Groups[0].State = replicationv1alpha1.GroupSynced
	rs.Status.Groups[1].State = replicationv1alpha1.GroupFailed
	rs.Status.Groups[2].State = replicationv1alpha1.GroupSyncing
	initSyncStatus(rs)
	g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced), "init keeps existing group status")
	updateSummary(rs)
	g.Expect(*rs.Status.Summary).To(Equal(replicationv1alpha1.SyncSummary{Total: 4, Synced: 1, Failed: 1, Pending: 2}))
	g.Expect(rs.Status.SyncedDisplay).To(Equal("1/4"))
	g.Expect(allGroupsFinal(rs)).To(BeFalse())
}

func TestFailedGroupsMessage(t *testing.T) {
	g := NewWithT(t)
	rs := testSync(15)
	for i := 0; i < 12; i++ {
		rs.Status.Groups[i].State = replicationv1alpha1.GroupFailed
		rs.Status.Groups[i].Message = "boom"
	}
	msg := failedGroupsMessage(rs)
	g.Expect(msg).To(HavePrefix("12 of 15 groups failed: fd/dg-0 (boom), fd/dg-1 (boom)"))
	g.Expect(msg).To(HaveSuffix("and 2 more"))
	g.Expect(msg).NotTo(ContainSubstring("dg-13"))
}

func TestConditionsFollowKstatus(t *testing.T) {
	g := NewWithT(t)
	rs := testSync(1)
	markInProgress(rs, replicationv1alpha1.WaitingForTaskReason, "1 task")
	g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)).To(BeTrue())
	g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)).To(BeFalse())
	markSucceeded(rs)
	g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)).To(BeTrue())
	g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)).To(BeFalse())
	markFailed(rs, replicationv1alpha1.DeadlineExceededReason, "late")
	st := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
	g.Expect(st.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(st.Reason).To(Equal(replicationv1alpha1.DeadlineExceededReason))
	g.Expect(st.ObservedGeneration).To(BeEquivalentTo(1))
}

func TestDeadlineAndBackoffLimit(t *testing.T) {
	g := NewWithT(t)
	rs := testSync(1)
	_, ok := deadline(rs)
	g.Expect(ok).To(BeFalse())
	start := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rs.Status.StartTime = &start
	rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	d, ok := deadline(rs)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(start.Add(time.Minute)), "without a creation time, from startTime")
	// The deadline bounds the whole run: the time Pending (before startTime) counts.
	rs.CreationTimestamp = metav1.NewTime(start.Add(-10 * time.Minute))
	d, ok = deadline(rs)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(start.Add(-9 * time.Minute)))
	g.Expect(backoffLimit(rs)).To(BeEquivalentTo(6))
	rs.Spec.BackoffLimit = ptr.To[int32](0)
	g.Expect(backoffLimit(rs)).To(BeZero())
}

// TestApplyGroupResult drives the group transitions of a finished task.
func TestApplyGroupResult(t *testing.T) {
	g := NewWithT(t)
	rs := testSync(4)
	rs.Spec.BackoffLimit = ptr.To[int32](1)
	for i := range rs.Status.Groups {
		rs.Status.Groups[i].State, rs.Status.Groups[i].Task = replicationv1alpha1.GroupSyncing, "t1"
	}
	rs.Status.Groups[3].Attempts = 1
	run := &syncRun{rs: rs, now: time.Now()}
	ts := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	id := func(i int) sms.GroupID { return toSMSGroup(rs.Status.Groups[i].ReplicationGroupID) }
	g.Expect(run.applyGroupResult(0, sms.GroupResult{Group: id(0), Succeeded: true, PitID: "pit-1", PitName: "pit", TimeStamp: ts, Warnings: []string{"slow"}})).To(BeFalse())
	g.Expect(run.applyGroupResult(1, sms.GroupResult{Group: id(1), Errors: []string{"journal full"}})).To(BeTrue())
	g.Expect(run.applyGroupResult(2, sms.GroupResult{Group: id(2), Succeeded: true, PitName: "other"})).To(BeFalse())
	g.Expect(run.applyGroupResult(3, sms.GroupResult{Group: id(3), Errors: []string{"link down"}})).To(BeFalse())
	g.Expect(rs.Status.Groups[0].State).To(Equal(replicationv1alpha1.GroupSynced))
	g.Expect(rs.Status.Groups[0].PitID).To(Equal("pit-1"))
	g.Expect(rs.Status.Groups[0].TimeStamp.Time).To(Equal(ts))
	g.Expect(rs.Status.Groups[0].Message).To(Equal("slow"))
	g.Expect(rs.Status.Groups[1].State).To(Equal(replicationv1alpha1.GroupPending), "retried while attempts <= backoffLimit")
	g.Expect(rs.Status.Groups[1].Attempts).To(BeEquivalentTo(1))
	g.Expect(rs.Status.Groups[1].Task).To(BeEmpty())
	g.Expect(rs.Status.Groups[2].State).To(Equal(replicationv1alpha1.GroupSynced), "our task made it, under the array's name")
	g.Expect(rs.Status.Groups[2].PitName).To(Equal("other"))
	g.Expect(rs.Status.Groups[3].State).To(Equal(replicationv1alpha1.GroupFailed))
	g.Expect(rs.Status.Groups[3].Message).To(Equal("link down"))
}

func TestClassifyConnectError(t *testing.T) {
	vp := &replicationv1alpha1.VasaProvider{Spec: replicationv1alpha1.VasaProviderSpec{VCenter: replicationv1alpha1.VCenterSpec{
		URL: "https://vc", CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "creds"},
	}}}
	tests := map[string]struct {
		err    error
		reason string
	}{
		"secret":      {&secretError{"missing"}, replicationv1alpha1.SecretNotFoundReason},
		"login":       {fmt.Errorf("dial: %w", &sms.LoginError{Username: "u", Err: errors.New("bad")}), replicationv1alpha1.InvalidCredentialsReason},
		"tls":         {&sms.TLSError{Host: "vc", Err: errors.New("x509")}, replicationv1alpha1.TLSVerificationFailedReason},
		"unreachable": {&sms.UnreachableError{URL: "https://vc", Err: errors.New("refused")}, replicationv1alpha1.UnreachableReason},
		"other":       {errors.New("??"), replicationv1alpha1.UnreachableReason},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			reason, msg := classifyConnectError(vp, tt.err)
			g := NewWithT(t)
			g.Expect(reason).To(Equal(tt.reason))
			g.Expect(msg).NotTo(BeEmpty())
		})
	}
}

// TestProviderMissingStallsAfterGrace: a sync whose VasaProvider stays NotFound reports Stalled=True
// (reason WaitingForProvider) after ProviderMissingGrace, keeps retrying, and clears Stalled once the
// provider is back.
func TestProviderMissingStallsAfterGrace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r := &ReplicationSyncReconciler{Client: k8sClient, Sessions: session.New(), Capacity: capacity.New()}
	rs := testSync(1)
	rs.Namespace, rs.Spec.ProviderRef.Name = "default", "deleted-provider"
	start := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	for _, phase := range []replicationv1alpha1.SyncPhase{replicationv1alpha1.SyncPending, replicationv1alpha1.SyncRunning} {
		rs.Status.Phase = phase
		rs.Status.Conditions = nil
		stalled := func(now time.Time) *metav1.Condition {
			res, err := r.advance(ctx, &syncRun{rs: rs, now: now})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.RequeueAfter).To(BeNumerically(">", 0), "keeps retrying")
			g.Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)).To(BeTrue())
			return meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition)
		}
		g.Expect(stalled(start).Status).To(Equal(metav1.ConditionFalse), phase)
		g.Expect(stalled(start.Add(ProviderMissingGrace-time.Second)).Status).To(Equal(metav1.ConditionFalse), phase)
		c := stalled(start.Add(ProviderMissingGrace))
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), phase)
		g.Expect(c.Reason).To(Equal(replicationv1alpha1.WaitingForProviderReason))
		g.Expect(stalled(start.Add(2*ProviderMissingGrace)).Status).To(Equal(metav1.ConditionTrue), phase)
		g.Expect(rs.Status.Phase).To(Equal(phase))

		// The provider is back (here: it exists but is not Ready yet): Stalled clears.
		markInProgress(rs, replicationv1alpha1.WaitingForProviderReason, "not Ready")
		g.Expect(meta.IsStatusConditionFalse(rs.Status.Conditions, replicationv1alpha1.StalledCondition)).To(BeTrue())
	}
}

// TestFinishedConditionsFollowGeneration: editing a finished sync (e.g. ttlSecondsAfterFinished) bumps
// its generation; every condition's observedGeneration follows, not only status.observedGeneration.
func TestFinishedConditionsFollowGeneration(t *testing.T) {
	g := NewWithT(t)
	r := &ReplicationSyncReconciler{Sessions: session.New(), Capacity: capacity.New()}
	rs := testSync(1)
	rs.Status.Groups[0].State = replicationv1alpha1.GroupSynced
	rs.Status.Phase = replicationv1alpha1.SyncSucceeded
	markSucceeded(rs)
	rs.Generation = 2
	_, err := r.advance(context.Background(), &syncRun{rs: rs, now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rs.Status.ObservedGeneration).To(BeEquivalentTo(2))
	g.Expect(rs.Status.Conditions).To(HaveLen(3))
	for _, c := range rs.Status.Conditions {
		g.Expect(c.ObservedGeneration).To(BeEquivalentTo(2), c.Type)
	}
}

// TestHugeDeadlinesDoNotOverflow: a deadline in seconds too large for a time.Duration (stored before
// admission bounded it) lies far in the future, not in the past: the run is not failed at once.
func TestHugeDeadlinesDoNotOverflow(t *testing.T) {
	g := NewWithT(t)
	created := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	rs := testSync(1)
	rs.CreationTimestamp = metav1.NewTime(created)
	rs.Spec.ActiveDeadlineSeconds = ptr.To[int64](math.MaxInt64)
	dl, ok := deadline(rs)
	g.Expect(ok).To(BeTrue())
	g.Expect(dl.After(created.AddDate(200, 0, 0))).To(BeTrue(), "deadline %s", dl)

	g.Expect(seconds(90)).To(Equal(90 * time.Second))
	g.Expect(seconds(10_000_000_000)).To(BeNumerically(">", 0), "1e10 s overflows a plain conversion")
	g.Expect(seconds(math.MinInt64)).To(BeNumerically("<", 0))
}
