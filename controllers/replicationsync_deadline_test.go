package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestDeadlineCountsTheTimePending: activeDeadlineSeconds counts from creation. A run that waited for its
// VasaProvider to become Ready, then started and called, fails when the deadline from its creation passes
// (its task still running), well before the same deadline from its start would have.
func TestDeadlineCountsTheTimePending(t *testing.T) {
	const deadline, pending = time.Minute, 40 * time.Second
	h := newRunHarness(t, 1, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	})
	setReady := func(status metav1.ConditionStatus, reason string) {
		meta.SetStatusCondition(&h.vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition,
			Status: status, Reason: reason, ObservedGeneration: h.vp.Generation})
		h.g.Expect(k8sClient.Status().Update(h.ctx, h.vp)).To(Succeed())
	}
	setReady(metav1.ConditionFalse, replicationv1alpha1.InvalidCredentialsReason)
	begin := h.clock.Now()
	h.runFor(pending)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncPending))
	h.g.Expect(rs.Status.StartTime).To(BeNil())
	h.g.Expect(h.fake.Calls()).To(BeEmpty())

	setReady(metav1.ConditionTrue, replicationv1alpha1.ConnectedReason)
	h.reconcile()
	h.g.Expect(h.states()).To(Equal(all(1, replicationv1alpha1.GroupSyncing)), "started and called")
	h.runFor(2 * deadline) // its task never ends

	rs = h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition).Reason).
		To(Equal(replicationv1alpha1.DeadlineExceededReason))
	h.g.Expect(rs.Status.Groups[0].Message).To(ContainSubstring("while task"))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
	created, started, completed := rs.CreationTimestamp.Time, rs.Status.StartTime.Time, rs.Status.CompletionTime.Time
	h.g.Expect(started).To(BeTemporally(">=", begin.Add(pending)), "pending first")
	// The times in status are whole seconds; the reconcile that fails the run comes at the deadline.
	h.g.Expect(completed).To(BeTemporally("~", created.Add(deadline), time.Second))
	h.g.Expect(completed).To(BeTemporally("<", started.Add(deadline)))
}

// TestDeadlineKeepsWhatTheRunWaitedOn: a run whose VasaProvider stayed not Ready until its deadline fails
// with the provider's message in its conditions and its Failed event, not only "deadline passed"; its
// groups say the deadline once, without the cause.
func TestDeadlineKeepsWhatTheRunWaitedOn(t *testing.T) {
	const deadline = time.Minute
	const refused = "vCenter refused the credentials in Secret vc-creds; correct them there"
	h := newRunHarness(t, 2, func(_ *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		rs.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	})
	meta.SetStatusCondition(&h.vp.Status.Conditions, metav1.Condition{Type: replicationv1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse, Reason: replicationv1alpha1.InvalidCredentialsReason, Message: refused, ObservedGeneration: h.vp.Generation})
	h.g.Expect(k8sClient.Status().Update(h.ctx, h.vp)).To(Succeed())
	h.runFor(2 * deadline)

	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	ready := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReadyCondition)
	h.g.Expect(ready.Reason).To(Equal(replicationv1alpha1.DeadlineExceededReason))
	h.g.Expect(ready.Message).To(And(ContainSubstring("activeDeadlineSeconds (60) passed"), ContainSubstring(refused)))
	h.g.Expect(h.eventReasons()).To(ContainElement(And(HavePrefix("Failed"), ContainSubstring(refused))))
	for _, g := range rs.Status.Groups {
		h.g.Expect(g.Message).NotTo(ContainSubstring(refused))
	}
	h.g.Expect(h.fake.Calls()).To(BeEmpty())
}

// TestDeadlineOfAGroupInDoubtSaysItMayMakeThePiT: a group whose call got no answer (in doubt) when
// activeDeadlineSeconds passes may still get its PiT: its message says so, as a running task's does, so
// that on-call looks for the PiT before using the name again; a group never called says only the deadline.
func TestDeadlineOfAGroupInDoubtSaysItMayMakeThePiT(t *testing.T) {
	const deadline = time.Minute
	h := newRunHarness(t, 1, func(vp *replicationv1alpha1.VasaProvider, rs *replicationv1alpha1.ReplicationSync) {
		vp.Spec.InDoubtWindow = &metav1.Duration{Duration: 10 * deadline}
		rs.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	})
	answerOnce(h.fake, timeoutErr)
	h.runFor(2 * deadline)
	rs := h.get()
	h.g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncFailed))
	h.g.Expect(rs.Status.Groups[0].Message).To(And(ContainSubstring("activeDeadlineSeconds (60) passed while the outcome of its sync call was unknown"),
		ContainSubstring("it may still make the PiT")))
	h.g.Expect(h.fake.Calls()).To(HaveLen(1))
}
