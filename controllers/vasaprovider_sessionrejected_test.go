package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

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
