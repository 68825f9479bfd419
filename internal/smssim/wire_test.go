package smssim_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestLostResponse: the task is created and logged, but the client never gets an answer.
func TestLostResponse(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 3, func(p *smssim.ProviderConfig) {
				p.TaskDuration = smssim.Duration{Duration: time.Minute}
			})
			c := dialSim(t, sim, b, 10*time.Second)
			sim.Provider("p").LoseResponses(1)

			_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:2], "lost-1")
			g.Expect(err).To(HaveOccurred())
			g.Expect(faultType(err)).To(BeEmpty(), "a dropped connection is no provider fault: %v", err)
			g.Expect(timedOut(err)).To(BeFalse(), "the connection was closed, not timed out: %v", err)

			calls := sim.Calls()
			g.Expect(calls).To(HaveLen(1), "the transport must not resend a POST")
			g.Expect(calls[0].Provider).To(Equal("p"))
			g.Expect(calls[0].Groups).To(Equal(ids[:2]))
			g.Expect(calls[0].PitName).To(Equal("lost-1"))
			g.Expect(calls[0].Response).To(Equal(smssim.ResponseLost))
			g.Expect(calls[0].Fault).To(BeEmpty())
			g.Expect(calls[0].Task).NotTo(BeEmpty())
			g.Expect(sim.TaskState(calls[0].Task)).To(Equal("queued"), "the task runs although nobody knows it")
			info, err := c.TaskInfo(ctx, calls[0].Task)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(info.State).To(Equal(sms.TaskQueued))

			// A second call for the same groups meets the task the lost answer named.
			_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:2], "lost-1")
			var so *sms.SyncOngoingError
			g.Expect(errors.As(err, &so)).To(BeTrue(), "%v", err)
			g.Expect(so.TaskRef).To(Equal(calls[0].Task))
			g.Expect(sim.CallCounts("lost-1")).To(Equal(map[smssim.GroupID]int{ids[0]: 2, ids[1]: 2}))

			// The count is used up: the next answer arrives.
			ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:], "lost-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sim.Calls()[2].Task).To(Equal(ref))
			g.Expect(sim.Calls()[2].Response).To(BeEmpty())
		})
	}
}

// TestResetResponse: SMS restarts while in a sync call; the task runs, and the front proxy answers 503.
// Unlike a 503 for a service that does not listen, the client learns the call may have run.
func TestResetResponse(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 2, func(p *smssim.ProviderConfig) { p.TaskDuration = smssim.Duration{Duration: time.Minute} })
			c := dialSim(t, sim, b, 5*time.Second)
			sim.Provider("p").ResetResponses(1)

			_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "reset-1")
			var su *sms.ServiceUnavailableError
			g.Expect(errors.As(err, &su)).To(BeTrue(), "%v", err)
			g.Expect(su.MayHaveRun).To(BeTrue())
			g.Expect(su.Message).To(ContainSubstring("connection termination"))
			calls := sim.Calls()
			g.Expect(calls).To(HaveLen(1))
			g.Expect(calls[0].Response).To(Equal(smssim.ResponseReset))
			g.Expect(sim.TaskState(calls[0].Task)).To(Equal("queued"), "the task runs although nobody knows it")

			sim.SetServiceInitializing(time.Minute) // nothing listens behind the proxy: the call never arrives
			_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:], "reset-1")
			g.Expect(errors.As(err, &su)).To(BeTrue(), "%v", err)
			g.Expect(su.MayHaveRun).To(BeFalse())
			g.Expect(sim.Calls()).To(HaveLen(1))
		})
	}
}

// TestLostResponsesByProbability loses some answers and delivers the others.
func TestLostResponsesByProbability(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 24, nil)
	c := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	sim.Provider("p").SetLostResponses(&smssim.ResponseRule{Probability: 0.5})
	failed := 0
	for _, id := range ids {
		if _, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", []smssim.GroupID{id}, "coin"); err != nil {
			failed++
		}
	}
	lost := 0
	for _, call := range sim.Calls() {
		g.Expect(call.Task).NotTo(BeEmpty())
		if call.Response == smssim.ResponseLost {
			lost++
		}
	}
	g.Expect(sim.Calls()).To(HaveLen(len(ids)))
	g.Expect(lost).To(Equal(failed), "exactly the lost answers fail the client")
	g.Expect(lost).To(And(BeNumerically(">", 0), BeNumerically("<", len(ids))), "p=0.5 over %d calls", len(ids))
}

// TestLateResponse holds the answer back: after the client's timeout it is lost to the client;
// within it, it arrives late.
func TestLateResponse(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim, ids := startOne(t, 2, nil)
			// The answer is held far longer than the client waits: only the client's timeout ends the call.
			impatient := dialSim(t, sim, b, 2*time.Second)
			sim.Provider("p").DelayResponses(1, time.Hour)
			_, err := impatient.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "late-1")
			g.Expect(err).To(HaveOccurred())
			g.Expect(timedOut(err)).To(BeTrue(), "the client's timeout ended the call: %v", err)
			calls := sim.Calls()
			g.Expect(calls).To(HaveLen(1))
			g.Expect(calls[0].Response).To(Equal(smssim.ResponseLate))
			g.Expect(calls[0].Task).NotTo(BeEmpty())
			g.Eventually(func() (string, error) { return sim.TaskState(calls[0].Task) }).Should(Equal("success"))

			patient := dialSim(t, sim, b, 10*time.Second)
			const delay = 250 * time.Millisecond
			sim.Provider("p").DelayResponses(1, delay)
			start := time.Now()
			ref, err := patient.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:], "late-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(time.Since(start)).To(BeNumerically(">=", delay))
			g.Expect(sim.Calls()[1].Task).To(Equal(ref))
			g.Expect(sim.Calls()[1].Response).To(Equal(smssim.ResponseLate))
		})
	}
}

// TestEmptyTaskRef: on VI/JSON the answer is HTTP 200 without a body, the task exists all the same;
// SOAP answers are left alone.
func TestEmptyTaskRef(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, ids := startOne(t, 3, nil)
	sim.Provider("p").EmptyTaskRefs(1)

	soapClient := dialSim(t, sim, sms.BindingSOAP, 5*time.Second)
	ref, err := soapClient.SyncReplicationGroups(ctx, "vasaprovider-1", ids[:1], "empty")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ref).NotTo(BeEmpty())

	jsonClient := dialSim(t, sim, sms.BindingJSON, 5*time.Second)
	_, err = jsonClient.SyncReplicationGroups(ctx, "vasaprovider-1", ids[1:2], "empty")
	g.Expect(errors.Is(err, sms.ErrEmptyTaskRef)).To(BeTrue(), "%v", err)
	last := sim.Calls()[1]
	g.Expect(last.Response).To(Equal(smssim.ResponseEmpty))
	g.Expect(last.Task).NotTo(BeEmpty(), "modelled as created: the worse case")
	g.Expect(waitDone(t, jsonClient, last.Task).State).To(Equal(sms.TaskSuccess))

	ref, err = jsonClient.SyncReplicationGroups(ctx, "vasaprovider-1", ids[2:], "empty")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ref).To(Equal(sim.Calls()[2].Task))
}

// TestResponseRulesLeaveFaultsAlone: only answers that carry a task are tampered with.
func TestResponseRulesLeaveFaultsAlone(t *testing.T) {
	g := NewWithT(t)
	sim, ids := startOne(t, 2, func(p *smssim.ProviderConfig) { p.MaxBatchSize = 1 })
	c := dialSim(t, sim, sms.BindingJSON, 5*time.Second)
	sim.Provider("p").LoseResponses(1)
	_, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "x")
	g.Expect(faultType(err)).To(Equal("TooMany"))
	g.Expect(sim.Calls()[0].Response).To(BeEmpty())
	_, err = c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids[:1], "x")
	g.Expect(err).To(HaveOccurred())
	g.Expect(sim.Calls()[1].Response).To(Equal(smssim.ResponseLost))
}

// timedOut reports whether err says the client gave up waiting, rather than that the connection broke.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
