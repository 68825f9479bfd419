package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/jsonpath"
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

// List refuses, as for a user who may not list events.
func (r *scriptedReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("no list"))
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
	g.Expect(a.waitFor(context.Background(), hiccups, followKeys(key), "", time.Minute)).To(Succeed())

	gone := &scriptedReader{answers: []any{replicationv1alpha1.SyncRunning, apierrors.NewNotFound(gr, key.Name)}}
	err := a.waitFor(context.Background(), gone, followKeys(key), "", time.Minute)
	g.Expect(err).To(MatchError(ContainSubstring("was deleted before it was seen to finish (by its ttlSecondsAfterFinished, or by hand), last seen Running")))
	g.Expect(exitCode(err)).To(Equal(3), "its outcome is unknown, not failed: a script must not start another")

	forbidden := &scriptedReader{answers: []any{apierrors.NewForbidden(gr, key.Name, errors.New("no get"))}}
	err = a.waitFor(context.Background(), forbidden, followKeys(key), "", time.Minute)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a refusal ends the wait at once")
	g.Expect(exitCode(err)).To(Equal(3), "the sync goes on: a script must not start another")
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

// TestWaitSaysWhyTheAPIServerIsUnreachable: reads that keep failing show on the progress line and in
// the error of a wait that timed out, instead of a wait that hangs without a word.
func TestWaitSaysWhyTheAPIServerIsUnreachable(t *testing.T) {
	g := NewWithT(t)
	key := client.ObjectKey{Namespace: "ns", Name: "run"}
	clock := now
	tick := func() time.Time { clock = clock.Add(10 * time.Second); return clock }
	out := &bytes.Buffer{}
	a := &app{out: out, pollInterval: time.Millisecond, now: tick}
	refused := errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")

	down := &scriptedReader{answers: []any{replicationv1alpha1.SyncRunning, refused, refused, refused, refused, replicationv1alpha1.SyncSucceeded}}
	g.Expect(a.waitFor(context.Background(), down, followKeys(key), "", time.Minute)).To(Succeed())
	g.Expect(out.String()).To(ContainSubstring("run: Running 0/0 synced, 0 failed, 0 pending (API unreachable for 30s: dial tcp 10.0.0.1:6443: connect: connection refused)\n"))

	gone := &scriptedReader{answers: []any{replicationv1alpha1.SyncRunning, refused}}
	err := a.waitFor(context.Background(), gone, followKeys(key), "", 50*time.Millisecond)
	g.Expect(err).To(MatchError(ContainSubstring("(context deadline exceeded; reads failing for")))
	g.Expect(err).To(MatchError(ContainSubstring("the last with: dial tcp 10.0.0.1:6443: connect: connection refused)")))
}

// TestWaitStopsOnReadErrorsThatCannotPass: a server certificate that is not trusted, a credential plugin
// that fails (an expired login) or refused credentials end the wait at once, saying why.
func TestWaitStopsOnReadErrorsThatCannotPass(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-wait-auth")
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "run"}}
	rs.Spec.ProviderRef.Name = "array-a"
	rs.Spec.PitName = "pit"
	rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{{FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: "dg-1"}}}
	g.Expect(k8sClient.Create(context.Background(), rs)).To(Succeed())
	key := client.ObjectKeyFromObject(rs)

	withoutCredentials := func() *rest.Config {
		c := rest.CopyConfig(cfg)
		c.CertData, c.KeyData, c.CertFile, c.KeyFile, c.BearerToken = nil, nil, "", "", ""
		return c
	}
	untrusted := rest.CopyConfig(cfg)
	untrusted.CAData, untrusted.CAFile = nil, "" // the system's roots do not know the test server's CA
	failingLogin := withoutCredentials()
	failingLogin.ExecProvider = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "false", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
	refused := withoutCredentials()
	refused.BearerToken = "expired"

	for name, c := range map[string]*rest.Config{"untrusted": untrusted, "failing login": failingLogin, "refused": refused} {
		reader, err := client.New(c, client.Options{Scheme: scheme})
		g.Expect(err).NotTo(HaveOccurred())
		a := &app{out: &bytes.Buffer{}, pollInterval: time.Millisecond}
		err = a.waitFor(context.Background(), reader, followKeys(key), "", 10*time.Second)
		g.Expect(err).To(MatchError(ContainSubstring("stopped waiting for ReplicationSync run, which goes on: reading it: ")), name)
		g.Expect(err).NotTo(MatchError(ContainSubstring("deadline exceeded")), name)
	}
}

// TestFailedErrorNamesAFewGroups: a run of 1000 failed groups names ten, and the command it gives for
// the rest lists every failed group.
func TestFailedErrorNamesAFewGroups(t *testing.T) {
	g := NewWithT(t)
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "big"}}
	rs.Status.Phase = replicationv1alpha1.SyncFailed
	for i := range 1001 {
		state := replicationv1alpha1.GroupFailed
		if i == 500 {
			state = replicationv1alpha1.GroupSynced
		}
		rs.Status.Groups = append(rs.Status.Groups, replicationv1alpha1.GroupStatus{
			ReplicationGroupID: replicationv1alpha1.ReplicationGroupID{
				FaultDomainID: replicationv1alpha1.FaultDomainID{ID: "fd-1"}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: fmt.Sprintf("dg-%d", i)},
			},
			State: state, Message: "replication link down",
		})
	}
	msg := failedError(rs).Error()
	lines := strings.Split(msg, "\n")
	g.Expect(lines).To(HaveLen(1+10+2), "the reason, ten groups, how to list the rest, where to read more")
	g.Expect(lines[1]).To(Equal("  fd-1/dg-0: replication link down"))
	more := lines[11]
	g.Expect(more).To(HavePrefix("  and 990 more: kubectl get rsync big -n ns -o jsonpath='"))

	// The jsonpath, as kubectl runs it, lists all 1000 failed groups.
	expr := strings.TrimSuffix(more[strings.Index(more, "jsonpath='")+len("jsonpath='"):], "'")
	jp := jsonpath.New("failed")
	g.Expect(jp.Parse(expr)).To(Succeed())
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rs)
	g.Expect(err).NotTo(HaveOccurred())
	var listed bytes.Buffer
	g.Expect(jp.Execute(&listed, obj)).To(Succeed())
	all := strings.Split(strings.TrimSuffix(listed.String(), "\n"), "\n")
	g.Expect(all).To(HaveLen(1000))
	g.Expect(all[0]).To(Equal("fd-1/dg-0: replication link down"))
	g.Expect(all).NotTo(ContainElement(HavePrefix("fd-1/dg-500:")))
}

// TestWaitTakesTheOutcomeOfADeletedRunFromItsEvent: a run deleted by ttlSecondsAfterFinished: 0 between
// two reads ended as its last event (reason Synced or Failed) says.
func TestWaitTakesTheOutcomeOfADeletedRunFromItsEvent(t *testing.T) {
	ctx := context.Background()
	for name, reason := range map[string]string{"synced": "Synced", "failed": "Failed", "no event": ""} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ns := namespace(t, g, "plugin-ttl-"+strings.ReplaceAll(name, " ", "-"))
			rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "run"}}
			rs.Spec.ProviderRef.Name, rs.Spec.PitName = "array-a", "pit"
			rs.Spec.GroupIDs = []replicationv1alpha1.ReplicationGroupID{id("fd-1", "dg-1"), id("fd-1", "dg-2")}
			g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())
			rs.Status.Phase = replicationv1alpha1.SyncRunning
			g.Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())

			out := &syncBuffer{}
			a := &app{out: out, pollInterval: 5 * time.Millisecond}
			errc := make(chan error, 1)
			go func() {
				errc <- a.waitFor(ctx, k8sClient, followKeys(client.ObjectKeyFromObject(rs)), "", waitTimeout)
			}()
			g.Eventually(out.String).WithTimeout(waitTimeout).Should(ContainSubstring("run: Running"))

			if reason != "" {
				message := map[string]string{"Synced": `All 2 groups synced to PiT "pit"`, "Failed": "1 of 2 groups failed: fd-1/dg-2 (replication link down)"}[reason]
				// As the operator records it (events.k8s.io), regarding the run.
				g.Expect(k8sClient.Create(ctx, &eventsv1.Event{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "run.final"},
					Regarding:  corev1.ObjectReference{APIVersion: replicationv1alpha1.GroupVersion.String(), Kind: "ReplicationSync", Namespace: ns, Name: rs.Name, UID: rs.UID},
					Reason:     reason, Note: message, Type: corev1.EventTypeNormal, Action: "Sync",
					EventTime: metav1.NewMicroTime(now), ReportingController: "replicationsync-controller", ReportingInstance: "manager",
				})).To(Succeed())
			}
			g.Expect(k8sClient.Delete(ctx, rs)).To(Succeed())

			var err error
			g.Eventually(errc).WithTimeout(waitTimeout).Should(Receive(&err))
			switch reason {
			case "Synced":
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(out.String()).To(HaveSuffix("run: Succeeded 2/2 synced, 0 failed, 0 pending\nSynced 2 groups to PiT pit\n"))
			case "Failed":
				g.Expect(err).To(MatchError(HavePrefix("ReplicationSync run failed: Failed: 1 of 2 groups failed: fd-1/dg-2 (replication link down)")))
			default:
				g.Expect(err).To(MatchError(ContainSubstring("was deleted before it was seen to finish (by its ttlSecondsAfterFinished, or by hand), last seen Running")))
				g.Expect(exitCode(err)).To(Equal(3), "its outcome is unknown, not failed: a script must not start another")
			}
		})
	}
}

// TestWaitForARunGoneBeforeItsFirstRead: a run that failed and was deleted (ttlSecondsAfterFinished: 0)
// before the wait first read it ends as its event says, exit code 1, not as a wait that stopped early.
// The event of an earlier run of its name (another UID) says nothing of it.
func TestWaitForARunGoneBeforeItsFirstRead(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-gone-first")
	final := func(name string, uid types.UID, reason string) {
		g.Expect(k8sClient.Create(ctx, &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Regarding:  corev1.ObjectReference{APIVersion: replicationv1alpha1.GroupVersion.String(), Kind: "ReplicationSync", Namespace: ns, Name: "run", UID: uid},
			Reason:     reason, Note: "1 of 1 groups failed: fd-1/dg-1 (no groups selected)", Type: corev1.EventTypeWarning, Action: "Sync",
			EventTime: metav1.NewMicroTime(now), ReportingController: "replicationsync-controller", ReportingInstance: "manager",
		})).To(Succeed())
	}
	final("run.earlier", "uid-of-an-earlier-run", "Synced")
	a := &app{out: &syncBuffer{}, pollInterval: 5 * time.Millisecond}
	run := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "run", UID: "uid-of-this-run"}}
	err := a.waitFor(ctx, k8sClient, []*replicationv1alpha1.ReplicationSync{run}, "", waitTimeout)
	g.Expect(err).To(MatchError(ContainSubstring("was deleted before it was seen to finish")), "not the earlier run's success")
	g.Expect(exitCode(err)).To(Equal(3))

	final("run.final", "uid-of-this-run", "Failed")
	err = a.waitFor(ctx, k8sClient, []*replicationv1alpha1.ReplicationSync{run}, "", waitTimeout)
	g.Expect(err).To(MatchError(HavePrefix("ReplicationSync run failed: Failed: 1 of 1 groups failed")))
	g.Expect(exitCode(err)).To(Equal(1))
}

// followKeys are runs to follow known by key only, as before their first read.
func followKeys(keys ...client.ObjectKey) []*replicationv1alpha1.ReplicationSync {
	out := make([]*replicationv1alpha1.ReplicationSync, len(keys))
	for i, k := range keys {
		out[i] = &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
	}
	return out
}
