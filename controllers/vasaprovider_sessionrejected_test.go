package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// usedUpSessions is a real client whose first lookups meet a session other callers used up right after
// its re-login, as the client reports it (sms.ErrSessionRejected).
type usedUpSessions struct {
	sms.Client
	left *atomic.Int32
}

func (c usedUpSessions) FindProvider(ctx context.Context, name, uid string) (sms.ProviderInfo, error) {
	if c.left.Add(-1) >= 0 {
		return sms.ProviderInfo{}, fmt.Errorf("%w: NotAuthenticated", sms.ErrSessionRejected)
	}
	return c.Client.FindProvider(ctx, name, uid)
}

// TestVasaProviderLooksAgainAfterAUsedUpSession: a session expired again right after its re-login says
// nothing of the provider, whose vCenter answers and takes the login: the check looks again and is
// Connected, instead of Unreachable with its runs held for 30 s. Only a vCenter that keeps doing so is
// reported.
func TestVasaProviderLooksAgainAfterAUsedUpSession(t *testing.T) {
	for name, tc := range map[string]struct {
		rejected int32
		reason   string
	}{
		"once":         {rejected: 1, reason: replicationv1alpha1.ConnectedReason},
		"twice":        {rejected: sessionRejectedTries - 1, reason: replicationv1alpha1.ConnectedReason},
		"at each look": {rejected: sessionRejectedTries, reason: replicationv1alpha1.UnreachableReason},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			w := newVPWorld(t, smssim.Config{})
			left := &atomic.Int32{}
			left.Store(tc.rejected)
			w.r.Dial = func(ctx context.Context, cfg sms.Config) (sms.Client, error) {
				cl, err := sms.Dial(ctx, cfg)
				if err != nil {
					return nil, err
				}
				return usedUpSessions{Client: cl, left: left}, nil
			}
			vp, _ := w.reconcile(t, nil)
			ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Reason).To(Equal(tc.reason), ready.Message)
		})
	}
}

// replacedMidLookup is a real client whose first lookup finds its session replaced meanwhile: a run saw
// the credentials Secret rotated and opened a session with it, which closes this one (sms.ErrClosed).
type replacedMidLookup struct {
	sms.Client
	replace func(context.Context)
	first   *atomic.Bool
}

func (c replacedMidLookup) FindProvider(ctx context.Context, name, uid string) (sms.ProviderInfo, error) {
	if c.first.CompareAndSwap(true, false) {
		c.replace(ctx)
		return sms.ProviderInfo{}, sms.ErrClosed
	}
	return c.Client.FindProvider(ctx, name, uid)
}

// TestVasaProviderCheckKeepsTheSessionThatReplacedItsOwn: a check whose session a run replaced during its
// lookup (the Secret rotated) looks again on the new session: Connected, and the new session stays open.
// Dropping "the" session would close the one the runs just opened, and report Unreachable for nothing.
func TestVasaProviderCheckKeepsTheSessionThatReplacedItsOwn(t *testing.T) {
	g := NewWithT(t)
	w := newVPWorld(t, smssim.Config{})
	first := &atomic.Bool{}
	first.Store(true)
	var replacement sms.Client
	w.r.Dial = func(ctx context.Context, cfg sms.Config) (sms.Client, error) {
		cl, err := sms.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return replacedMidLookup{Client: cl, first: first, replace: func(ctx context.Context) {
			vp := &replicationv1alpha1.VasaProvider{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(w.simProvider()), vp)).To(Succeed())
			creds := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "creds"}, creds)).To(Succeed())
			creds.Annotations = map[string]string{"rotated": "yes"}
			g.Expect(k8sClient.Update(ctx, creds)).To(Succeed())
			var err error
			replacement, err = providerClient(ctx, k8sClient, k8sClient, w.r.Sessions, w.r.Dial, vp)
			g.Expect(err).NotTo(HaveOccurred())
		}}, nil
	}
	vp, _ := w.reconcile(t, nil)
	ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.ConnectedReason), ready.Message)
	cl, ok := cachedSession(context.Background(), k8sClient, w.r.Sessions, vp)
	g.Expect(ok).To(BeTrue(), "the session the run opened is still open")
	g.Expect(cl.(replacedMidLookup).Client).To(BeIdenticalTo(replacement.(replacedMidLookup).Client))
}
