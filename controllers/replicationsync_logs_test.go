package controllers

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms/smsfake"
)

// TestLogsSayWhatTheRunDecided: a run's log lines carry its provider and PiT name; a call without an
// answer, and the groups it left in doubt issued again, are each one line however many groups; the run's
// end says how it ended.
func TestLogsSayWhatTheRunDecided(t *testing.T) {
	trap := &leakTrap{}
	h := newRunHarness(t, 3, shortWindow)
	h.ctx = ctrl.LoggerInto(h.ctx, trap.logger())
	var answered atomic.Bool
	h.fake.Sync = func(c smsfake.SyncCall) (string, error) {
		if answered.CompareAndSwap(false, true) {
			return "", timeoutErr // never reached the array: no PiT appears
		}
		return h.fake.CreateTask(c.Groups, c.PitName), nil
	}
	h.reconcile()
	h.runFor(2 * window)
	h.fake.FinishAll(h.clock.Now())
	h.runFor(time.Minute)

	pitName := h.get().Spec.PitName
	trap.mu.Lock()
	seen := append([]string(nil), trap.seen...)
	trap.mu.Unlock()
	with := func(msg string) []string {
		var out []string
		for _, l := range seen {
			if strings.Contains(l, `"msg"="`+msg) {
				out = append(out, l)
			}
		}
		return out
	}
	h.g.Expect(with("A sync call's outcome is unknown")).To(HaveLen(1))
	reissued := with("Issuing in-doubt groups again")
	h.g.Expect(reissued).To(HaveLen(1), "one line for the three groups")
	h.g.Expect(reissued[0]).To(ContainSubstring(`"groups"=3`))
	finished := with("Sync finished")
	h.g.Expect(finished).To(HaveLen(1))
	h.g.Expect(finished[0]).To(And(ContainSubstring(`"reason"="Succeeded"`), ContainSubstring(`"vasaProvider"=`),
		ContainSubstring(`"pitName"="`+pitName+`"`)))
}
