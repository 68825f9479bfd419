package controllers

import (
	"context"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/tcprelay"
)

// TestSilentVCenterIsTriedByOneCheck: the VasaProviders of a vCenter that takes connections and answers
// nothing do not each hold a check worker for a connection's timeout. The first check that got no answer
// tries that vCenter for all; the checks of the others call nothing and say so, until its check finds
// vCenter answering again; they are woken when the silence starts. A trier that stays away, or whose
// check sends nothing, is taken over.
func TestSilentVCenterIsTriedByOneCheck(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newVPWorld(t, smssim.Config{})
	simURL, err := url.Parse(w.sim.URL())
	g.Expect(err).NotTo(HaveOccurred())
	relay := tcprelay.Start(t, simURL.Host)
	relay.Set(tcprelay.Hold)
	const timeout = time.Second
	w.r.Dial = func(ctx context.Context, cfg sms.Config) (sms.Client, error) {
		cfg.Timeout = timeout
		return sms.Dial(ctx, cfg)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	w.r.Clock = clk
	var vps []*replicationv1alpha1.VasaProvider
	for _, name := range []string{"a", "b", "c"} {
		vp := w.simProvider()
		vp.Name = name
		vp.Spec.VCenter.URL = "https://" + relay.Addr() + simURL.Path
		g.Expect(k8sClient.Create(ctx, vp)).To(Succeed())
		t.Cleanup(func() { w.r.Sessions.Forget(client.ObjectKeyFromObject(vp)) })
		vps = append(vps, vp)
	}
	ready := func(vp *replicationv1alpha1.VasaProvider) (reason, message string) {
		c := vpCondition(vp, replicationv1alpha1.ReadyCondition)
		return c.Reason, c.Message
	}

	w.r.siblings = make(chan event.GenericEvent, 8)
	reason, msg := ready(w.recheck(ctx, t, vps[0]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
	woken := []string{(<-w.r.siblings).Object.GetName(), (<-w.r.siblings).Object.GetName()}
	g.Expect(woken).To(ConsistOf("b", "c"), "the others are checked at once, not at their next check")
	g.Expect(w.r.siblings).To(BeEmpty())
	tried := relay.Accepted()
	g.Expect(tried).To(BeNumerically(">", 0))
	for _, vp := range vps[1:] {
		began := time.Now()
		reason, msg = ready(w.recheck(ctx, t, vp))
		g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
		g.Expect(msg).To(ContainSubstring(`the check of VasaProvider "a" tries it for every VasaProvider of this vCenter`))
		g.Expect(time.Since(began)).To(BeNumerically("<", timeout), "no call, no wait for a timeout")
	}
	g.Expect(relay.Accepted()).To(Equal(tried), "one check tried the silent vCenter")

	clk.Step(ProviderUnreachableRetryInterval)
	_, _ = ready(w.recheck(ctx, t, vps[0]))
	g.Expect(relay.Accepted()).To(BeNumerically(">", tried), "the trier tries again")

	relay.Set(tcprelay.Forward)
	reason, _ = ready(w.recheck(ctx, t, vps[1]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), "not tried before the trier finds vCenter answering")
	reason, msg = ready(w.recheck(ctx, t, vps[0]))
	g.Expect(reason).To(Equal(replicationv1alpha1.ConnectedReason), msg)
	for _, vp := range vps[1:] {
		reason, msg = ready(w.recheck(ctx, t, vp))
		g.Expect(reason).To(Equal(replicationv1alpha1.ConnectedReason), msg)
	}

	// Silent again; the trier is deleted before its next check: another takes over once it stays away.
	relay.Set(tcprelay.Hold)
	for _, vp := range vps[1:] {
		w.r.Sessions.Forget(client.ObjectKeyFromObject(vp))
	}
	reason, msg = ready(w.recheck(ctx, t, vps[1]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
	g.Expect(msg).NotTo(ContainSubstring("tries it for every"), "b tried it itself")
	reason, msg = ready(w.recheck(ctx, t, vps[2]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
	g.Expect(msg).To(ContainSubstring(`the check of VasaProvider "b"`))
	g.Expect(k8sClient.Delete(ctx, vps[1])).To(Succeed())
	clk.Step(takeOver + time.Second)
	tried = relay.Accepted()
	reason, msg = ready(w.recheck(ctx, t, vps[2]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
	g.Expect(msg).NotTo(ContainSubstring("tries it for every"), "c took over")
	g.Expect(relay.Accepted()).To(BeNumerically(">", tried))

	// The trier's check sends nothing (its Secret is gone): the next check of another tries at once.
	c := &replicationv1alpha1.VasaProvider{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vps[2]), c)).To(Succeed())
	c.Spec.VCenter.CredentialsSecretRef.Name = "gone"
	g.Expect(k8sClient.Update(ctx, c)).To(Succeed())
	reason, msg = ready(w.recheck(ctx, t, c))
	g.Expect(reason).To(Equal(replicationv1alpha1.SecretNotFoundReason), msg)
	tried = relay.Accepted()
	reason, msg = ready(w.recheck(ctx, t, vps[0]))
	g.Expect(reason).To(Equal(replicationv1alpha1.UnreachableReason), msg)
	g.Expect(msg).NotTo(ContainSubstring("tries it for every"), "a tried it itself")
	g.Expect(relay.Accepted()).To(BeNumerically(">", tried))
}
