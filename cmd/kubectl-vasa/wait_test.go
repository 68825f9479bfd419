package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// scriptedReader answers each Get with the next of its answers: an error, or the run in that phase.
type scriptedReader struct {
	client.Reader
	answers []any
}

func (r *scriptedReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	next := r.answers[0]
	if len(r.answers) > 1 {
		r.answers = r.answers[1:]
	}
	if err, ok := next.(error); ok {
		return err
	}
	rs := obj.(*replicationv1alpha1.ReplicationSync)
	rs.Name, rs.Namespace = key.Name, key.Namespace
	rs.Status.Phase = next.(replicationv1alpha1.SyncPhase)
	return nil
}

// TestWaitOutlastsAPIServerHiccups: --wait reads again after an API server that is restarting, busy or
// unreachable, instead of ending a long wait with an error while the sync goes on; a run deleted before
// it was seen to finish says where its outcome is.
func TestWaitOutlastsAPIServerHiccups(t *testing.T) {
	g := NewWithT(t)
	gr := schema.GroupResource{Group: replicationv1alpha1.GroupVersion.Group, Resource: "replicationsyncs"}
	key := client.ObjectKey{Namespace: "ns", Name: "run"}
	a := &app{out: &bytes.Buffer{}, pollInterval: time.Millisecond}

	hiccups := &scriptedReader{answers: []any{
		replicationv1alpha1.SyncRunning,
		apierrors.NewServiceUnavailable("restarting"),
		apierrors.NewTooManyRequests("busy", 1),
		errors.New("dial tcp 10.0.0.1:6443: connect: connection refused"),
		replicationv1alpha1.SyncSucceeded,
	}}
	g.Expect(a.waitFor(context.Background(), hiccups, []client.ObjectKey{key}, "", time.Minute)).To(Succeed())

	gone := &scriptedReader{answers: []any{replicationv1alpha1.SyncRunning, apierrors.NewNotFound(gr, key.Name)}}
	err := a.waitFor(context.Background(), gone, []client.ObjectKey{key}, "", time.Minute)
	g.Expect(err).To(MatchError(ContainSubstring("was deleted before it was seen to finish")))

	forbidden := &scriptedReader{answers: []any{apierrors.NewForbidden(gr, key.Name, errors.New("no get"))}}
	err = a.waitFor(context.Background(), forbidden, []client.ObjectKey{key}, "", time.Minute)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a refusal ends the wait at once")
}

// TestProgressLineSaysWhyARunIsStalled: a run that needs a human (its VasaProvider reaches another
// vCenter) stays Running; the line says so, for one run and for a set of shares.
func TestProgressLineSaysWhyARunIsStalled(t *testing.T) {
	g := NewWithT(t)
	run := func(name string, stalled bool) *replicationv1alpha1.ReplicationSync {
		rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Name: name}}
		rs.Status.Phase = replicationv1alpha1.SyncRunning
		rs.Status.Conditions = []metav1.Condition{{Type: replicationv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: replicationv1alpha1.WaitingForTaskReason}}
		if stalled {
			rs.Status.Conditions = []metav1.Condition{
				{Type: replicationv1alpha1.ReconcilingCondition, Status: metav1.ConditionFalse, Reason: replicationv1alpha1.ProviderChangedReason},
				{Type: replicationv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: replicationv1alpha1.ProviderChangedReason, Message: "vCenter changed"},
			}
		}
		return rs
	}
	g.Expect(progressLine("", []*replicationv1alpha1.ReplicationSync{run("a", false)})).To(HaveSuffix("(WaitingForTask)"))
	g.Expect(progressLine("", []*replicationv1alpha1.ReplicationSync{run("a", true)})).To(HaveSuffix("(Stalled: ProviderChanged: vCenter changed)"))
	g.Expect(progressLine("set", []*replicationv1alpha1.ReplicationSync{run("set-1", false), run("set-2", true)})).
		To(HaveSuffix("(Stalled: ProviderChanged: vCenter changed)"))
}
