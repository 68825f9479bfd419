package main

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// provider creates a VasaProvider with the given TLS settings and Ready condition (nil: never checked).
func provider(g *WithT, ns, name string, tls replicationv1alpha1.TLSSpec, ready *metav1.Condition, info *replicationv1alpha1.ProviderInfo) {
	ctx := context.Background()
	vp := &replicationv1alpha1.VasaProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.VasaProviderSpec{
			VCenter: replicationv1alpha1.VCenterSpec{
				URL: "https://vc-" + name + ".example.com", CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "vc-creds"}, TLS: tls,
			},
			Provider: replicationv1alpha1.ProviderSelector{Name: name + "-vp"},
		},
	}
	g.ExpectWithOffset(1, k8sClient.Create(ctx, vp)).To(Succeed())
	if ready == nil {
		return
	}
	ready.LastTransitionTime = metav1.NewTime(now)
	vp.Status.Conditions = []metav1.Condition{*ready}
	vp.Status.LastCheckedTime = ago(time.Minute)
	vp.Status.ProviderInfo = info
	vp.Status.ObservedGeneration = vp.Generation
	g.ExpectWithOffset(1, k8sClient.Status().Update(ctx, vp)).To(Succeed())
}

func TestDoctor(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-doctor")
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{Thumbprint: "SHA256:" + repeatHex()},
		&metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: replicationv1alpha1.ConnectedReason, Message: "Connected"},
		&replicationv1alpha1.ProviderInfo{Name: "array-a-vp", Version: "3.0", Status: "online"})
	provider(g, ns, "array-b", replicationv1alpha1.TLSSpec{InsecureSkipVerify: true},
		&metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: replicationv1alpha1.InvalidCredentialsReason,
			Message: `vCenter https://vc-array-b.example.com rejected the login of the user in Secret "vc-creds": fix the username and password there`}, nil)
	provider(g, ns, "array-c", replicationv1alpha1.TLSSpec{}, nil, nil)
	connected := &metav1.Condition{Type: replicationv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: replicationv1alpha1.ConnectedReason, Message: "Connected"}
	provider(g, ns, "array-d", replicationv1alpha1.TLSSpec{}, connected, &replicationv1alpha1.ProviderInfo{Name: "array-d-vp", Version: "3.0", Status: "online"})
	group(g, ns, "array-a", "fd-1", "dg-1", "TARGET", "oracle", 0, nil)
	group(g, ns, "array-d", "fd-1", "dg-1", "TARGET", "oracle", 0, nil)
	discovered(g, ns, "array-a", replicationv1alpha1.DiscoveryStatus{LastAttemptTime: ago(2 * time.Minute), LastSuccessTime: ago(2 * time.Minute), Groups: 1})
	// A discovery that fails while the provider is Ready (the provider times out listing its groups).
	discovered(g, ns, "array-d", replicationv1alpha1.DiscoveryStatus{LastAttemptTime: ago(time.Minute), LastSuccessTime: ago(time.Hour), Groups: 1,
		Message: "Discovering replication groups failed: QueryReplicationGroup: context deadline exceeded"})

	// Ready and discovered, but hours ago: the manager is down, or no replica leads.
	provider(g, ns, "array-e", replicationv1alpha1.TLSSpec{}, connected, &replicationv1alpha1.ProviderInfo{Name: "array-e-vp", Version: "3.0", Status: "online"})
	checked(g, ns, "array-e", ago(2*time.Hour))
	group(g, ns, "array-e", "fd-1", "dg-1", "TARGET", "oracle", 0, nil)
	discovered(g, ns, "array-e", replicationv1alpha1.DiscoveryStatus{LastAttemptTime: ago(2 * time.Hour), LastSuccessTime: ago(2 * time.Hour), Groups: 1})

	// A discovery that completed and says what it could not read: shown, nothing to fix.
	provider(g, ns, "array-f", replicationv1alpha1.TLSSpec{}, connected, &replicationv1alpha1.ProviderInfo{Name: "array-f-vp", Version: "3.0", Status: "online"})
	group(g, ns, "array-f", "fd-1", "dg-1", "TARGET", "oracle", 0, nil)
	discovered(g, ns, "array-f", replicationv1alpha1.DiscoveryStatus{LastAttemptTime: ago(time.Minute), LastSuccessTime: ago(time.Minute), Groups: 1,
		Message: "The provider does not implement QueryPointInTimeReplica (an array without PiT support)"})

	// Runs: one of array-a stalled (a human must act), one of array-f on its way, one of a provider
	// that does not exist (a typo), and finished ones, which say nothing.
	runOf(g, ns, "stuck", "array-a", replicationv1alpha1.SyncRunning, &metav1.Condition{Type: replicationv1alpha1.StalledCondition,
		Status: metav1.ConditionTrue, Reason: "ProviderChanged", Message: "the VasaProvider reaches another vCenter: delete the run and create it again"})
	runOf(g, ns, "going", "array-f", replicationv1alpha1.SyncRunning, nil)
	runOf(g, ns, "typo", "arrray-a", replicationv1alpha1.SyncPending, nil)
	runOf(g, ns, "done", "arrray-a", replicationv1alpha1.SyncFailed, nil)

	out, err := run("doctor", "-n", ns)
	g.Expect(err).To(MatchError("5 of 6 VasaProviders need attention, and 1 ReplicationSyncs name no VasaProvider (see Fix above)"))
	golden(t, "doctor", out)

	_, err = run("doctor", "-n", "plugin-nothing")
	g.Expect(err).To(MatchError(ContainSubstring("no VasaProvider in namespace plugin-nothing: create one")))
}

// runOf creates run name of provider in phase, with a Stalled condition if given.
func runOf(g *WithT, ns, name, provider string, phase replicationv1alpha1.SyncPhase, stalled *metav1.Condition) {
	ctx := context.Background()
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: replicationv1alpha1.ReplicationSyncSpec{ProviderRef: replicationv1alpha1.LocalObjectReference{Name: provider}, PitName: name,
			GroupIDs: []replicationv1alpha1.ReplicationGroupID{id("fd-1", "dg-1")}}}
	g.ExpectWithOffset(1, k8sClient.Create(ctx, rs)).To(Succeed())
	rs.Status.Phase = phase
	if stalled != nil {
		stalled.LastTransitionTime = metav1.NewTime(now)
		rs.Status.Conditions = []metav1.Condition{*stalled}
	}
	g.ExpectWithOffset(1, k8sClient.Status().Update(ctx, rs)).To(Succeed())
}

// checked sets a VasaProvider's status.lastCheckedTime.
func checked(g *WithT, ns, name string, at *metav1.Time) {
	ctx := context.Background()
	vp := &replicationv1alpha1.VasaProvider{}
	g.ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vp)).To(Succeed())
	vp.Status.LastCheckedTime = at
	g.ExpectWithOffset(1, k8sClient.Status().Update(ctx, vp)).To(Succeed())
}

// discovered sets a VasaProvider's status.discovery.
func discovered(g *WithT, ns, name string, st replicationv1alpha1.DiscoveryStatus) {
	ctx := context.Background()
	vp := &replicationv1alpha1.VasaProvider{}
	g.ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vp)).To(Succeed())
	vp.Status.Discovery = &st
	g.ExpectWithOffset(1, k8sClient.Status().Update(ctx, vp)).To(Succeed())
}

// ago is the time d before the tests' fixed now.
func ago(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(-d))
	return &t
}

func repeatHex() string {
	s := "AB"
	for range 31 {
		s += ":AB"
	}
	return s
}

// TestDoctorHidesCredentialsInTheURL: a VasaProvider stored before admission refused userinfo in
// vcenter.url may still carry a password there; doctor's output is pasted into incident channels.
func TestDoctorHidesCredentialsInTheURL(t *testing.T) {
	g := NewWithT(t)
	out := &syncBuffer{}
	a := &app{out: out, now: func() time.Time { return now }}
	vp := &replicationv1alpha1.VasaProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "storage", Name: "array-a"}}
	vp.Spec.VCenter.URL = "https://administrator%40vsphere.local:s3cret@vc.example.com/sdk"
	a.checkProvider(vp, 0)
	g.Expect(out.String()).To(ContainSubstring("https://vc.example.com/sdk"))
	g.Expect(out.String()).NotTo(Or(ContainSubstring("s3cret"), ContainSubstring("administrator")))
}
