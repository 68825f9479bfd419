package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

func TestClient(t *testing.T) {
	ctx := context.Background()
	all, _ := groups("fd-1", 40)
	cases := map[string]struct {
		setup func(sim *smssim.Sim)
		run   func(g *WithT, sim *smssim.Sim, c sms.Client)
	}{
		"finds providers by name and uid": {
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				p, err := c.FindProvider(ctx, "array-b", "")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(p).To(Equal(sms.ProviderInfo{Ref: "vasaprovider-2", Name: "array-b", UID: "uid-b", Version: "3.0", Status: "online"}))
				p, err = c.FindProvider(ctx, "", "uid-a")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(p.Name).To(Equal("array-a"))
				ps, err := c.Providers(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ps).To(HaveLen(2))
			},
		},
		"reports a missing provider": {
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				_, err := c.FindProvider(ctx, "nope", "")
				g.Expect(errors.Is(err, sms.ErrProviderNotFound)).To(BeTrue())
				_, err = c.FindProvider(ctx, "", "uid-nope")
				g.Expect(errors.Is(err, sms.ErrProviderNotFound)).To(BeTrue())
				_, err = c.FindProvider(ctx, "a", "b")
				g.Expect(err).To(HaveOccurred())
			},
		},
		"syncs one group": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "pit-one")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskSuccess))
				g.Expect(info.Progress).To(BeEquivalentTo(100))
				g.Expect(info.Results).To(HaveLen(1))
				r := info.Results[0]
				g.Expect(r.Group).To(Equal(all[0]))
				g.Expect(r.Succeeded).To(BeTrue())
				g.Expect(r.PitName).To(Equal("pit-one"))
				g.Expect(r.PitID).NotTo(BeEmpty())
				g.Expect(r.TimeStamp).NotTo(BeZero())
				g.Expect(sim.PiTs()).To(HaveLen(1))
			},
		},
		"syncs many groups and finds their PiTs by name": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all, "nightly")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskSuccess))
				g.Expect(info.Results).To(HaveLen(40))
				pits, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:5], "nightly")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(HaveLen(5))
				g.Expect(pits[0].Group).To(Equal(all[0]))
				g.Expect(pits[0].Name).To(Equal("nightly"))
				pits, err = c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:5], "other")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(BeEmpty())
				g.Expect(sim.PiTs()).To(HaveLen(40))
			},
		},
		"reports task progress while running": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetTaskDuration(400 * time.Millisecond) },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "p")
				g.Expect(err).NotTo(HaveOccurred())
				info, err := c.TaskInfo(ctx, ref)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(info.State).To(BeElementOf(sms.TaskQueued, sms.TaskRunning))
				g.Expect(info.Results).To(BeEmpty())
				g.Expect(waitTask(t, c, ref).State).To(Equal(sms.TaskSuccess))
			},
		},
		"TooMany carries maxBatchSize and batching then works": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetMaxBatchSize(7) },
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:37], "b")
				var tm *sms.TooManyError
				g.Expect(errors.As(err, &tm)).To(BeTrue())
				g.Expect(tm.MaxBatchSize).To(BeEquivalentTo(7))
				g.Expect(tm.EffectiveBatchSize()).To(Equal(7))
				g.Expect(tm.FaultMessage()).NotTo(BeEmpty())
				for i := 0; i < 37; i += 7 {
					_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[i:min(i+7, 37)], "b")
					g.Expect(err).NotTo(HaveOccurred())
				}
				var sizes []int
				for _, call := range sim.Calls() {
					sizes = append(sizes, call.GroupCount())
				}
				g.Expect(sizes).To(Equal([]int{37, 7, 7, 7, 7, 7, 2}))
				g.Expect(sim.Calls()[0].Fault).To(Equal("TooMany"))
			},
		},
		"TooMany without maxBatchSize means one": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetTooManyWithoutSize(true) },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "b")
				var tm *sms.TooManyError
				g.Expect(errors.As(err, &tm)).To(BeTrue())
				g.Expect(tm.MaxBatchSize).To(BeNumerically("<=", 0))
				g.Expect(tm.EffectiveBatchSize()).To(Equal(1))
			},
		},
		"provider faults are typed and carry their message": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				p := sim.Provider("array-a")
				kinds := []struct {
					kind   smssim.FaultKind
					target sms.Fault
				}{
					{smssim.FaultBusy, &sms.ProviderBusyError{}},
					{smssim.FaultOutOfResource, &sms.ProviderOutOfResourceError{}},
					{smssim.FaultUnavailable, &sms.ProviderUnavailableError{}},
					{smssim.FaultNotImplemented, &sms.NotImplementedError{}},
					{smssim.FaultReplication, &sms.ReplicationFaultError{}},
					{smssim.FaultInvalidArgument, &sms.InvalidArgumentError{}},
				}
				for _, k := range kinds {
					p.AddFault(smssim.FaultRule{Method: "SyncReplicationGroup_Task", Fault: k.kind, Times: 1, Message: "msg-" + string(k.kind)})
					_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "f")
					var f sms.Fault
					g.Expect(errors.As(err, &f)).To(BeTrue(), string(k.kind))
					g.Expect(f.FaultType()).To(Equal(k.target.FaultType()))
					g.Expect(f.FaultMessage()).To(Equal("msg-" + string(k.kind)))
				}
				// the rules were used up: the next call succeeds
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "f")
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		"busy twice then success": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").FailNext("", smssim.FaultBusy, 2) },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				var busy *sms.ProviderBusyError
				for range 2 {
					_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "x")
					g.Expect(errors.As(err, &busy)).To(BeTrue())
				}
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "x")
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		"NotImplemented": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetNotImplemented(true) },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "x")
				var ni *sms.NotImplementedError
				g.Expect(errors.As(err, &ni)).To(BeTrue())
			},
		},
		"InvalidArgument for bad input": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetGroupState(all[3], "INTEST") },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				for name, tc := range map[string]struct {
					groups []sms.GroupID
					pit    string
					prop   string
				}{
					"empty groups":    {nil, "p", "groupId"},
					"empty pitName":   {all[:1], "", "pitName"},
					"duplicate group": {[]sms.GroupID{all[0], all[0]}, "p", "groupId"},
				} {
					_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", tc.groups, tc.pit)
					var ia *sms.InvalidArgumentError
					g.Expect(errors.As(err, &ia)).To(BeTrue(), name)
					g.Expect(ia.Property).To(Equal(tc.prop), name)
				}
				// A group the provider cannot sync is an SmsReplicationFault, the fault the API has for it.
				for name, tc := range map[string]struct {
					groups []sms.GroupID
					fault  string
				}{
					"unknown group": {[]sms.GroupID{{FaultDomainID: "fd-1", DeviceGroupID: "nope"}}, "SmsReplicationFault"},
					"not TARGET":    {all[3:4], "InvalidReplicationState"},
				} {
					_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", tc.groups, "p")
					var rf *sms.ReplicationFaultError
					g.Expect(errors.As(err, &rf)).To(BeTrue(), "%s: %v", name, err)
					g.Expect(rf.FaultType()).To(Equal(tc.fault), name)
				}
			},
		},
		"InactiveProvider names the active provider": {
			setup: func(sim *smssim.Sim) {
				_, b := groups("fd-1", 40)
				sim.Provider("array-b").AddGroups(b...)
				sim.Provider("array-a").SetInactive("array-b", "fd-1")
			},
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:3], "x")
				var ip *sms.InactiveProviderError
				g.Expect(errors.As(err, &ip)).To(BeTrue())
				g.Expect(ip.Mapping).To(Equal([]sms.FaultDomainMapping{{ActiveProviderRef: "vasaprovider-2", FaultDomainIDs: []string{"fd-1"}}}))
				syncDone(t, g, c, ip.Mapping[0].ActiveProviderRef, all[:3], "x")
			},
		},
		"SyncOngoing names the running task": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetTaskDuration(300 * time.Millisecond) },
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				other := sim.Provider("array-a").StartSync(all[:1], "someone-else")
				_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "mine")
				var so *sms.SyncOngoingError
				g.Expect(errors.As(err, &so)).To(BeTrue())
				g.Expect(so.TaskRef).To(Equal(other))
				var rf sms.Fault
				g.Expect(errors.As(err, &rf)).To(BeTrue())
				g.Expect(waitTask(t, c, so.TaskRef).State).To(Equal(sms.TaskSuccess))
				_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "mine")
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		"task ends in error": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").FailTasks(1) },
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "x")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskError))
				var rf *sms.ReplicationFaultError
				g.Expect(errors.As(info.Err, &rf)).To(BeTrue())
				g.Expect(rf.Message).To(ContainSubstring("simulated task failure"))
				g.Expect(sim.PiTs()).To(BeEmpty())
			},
		},
		"task ends in error with a provider's fault": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").FailTasksWith(1, smssim.FaultBusy) },
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "busy")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskError))
				g.Expect(sms.IsTransient(info.Err)).To(BeTrue(), "%v", info.Err)
				g.Expect(sim.PiTs()).To(BeEmpty())
			},
		},
		"mixed per-group results": {
			setup: func(sim *smssim.Sim) {
				sim.Provider("array-a").SetGroupErrors(all[1], 1, "disk on fire")
			},
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:3], "mixed")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskSuccess))
				g.Expect(info.Results).To(HaveLen(3))
				byGroup := map[sms.GroupID]sms.GroupResult{} // the provider answers in no set order
				for _, r := range info.Results {
					byGroup[r.Group] = r
				}
				g.Expect(byGroup).To(HaveLen(3))
				g.Expect(byGroup[all[0]].Succeeded).To(BeTrue())
				g.Expect(byGroup[all[1]].Succeeded).To(BeFalse())
				g.Expect(byGroup[all[1]].Errors).To(ConsistOf(ContainSubstring("disk on fire")))
				g.Expect(byGroup[all[2]].Succeeded).To(BeTrue())
				g.Expect(sim.PiTs()).To(HaveLen(2))
				// second attempt succeeds (error only once)
				ref, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", all[1:2], "mixed")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(waitTask(t, c, ref).Results[0].Succeeded).To(BeTrue())
			},
		},
		"a result only QuerySmsTaskResult answers": {
			setup: func(sim *smssim.Sim) {
				sim.Provider("array-a").SetResultOnlyByQuery(true)
				sim.Provider("array-a").SetGroupErrors(all[1], 1, "disk on fire")
				sim.SetWireLog(true)
			},
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "by-query")
				g.Expect(err).NotTo(HaveOccurred())
				info := waitTask(t, c, ref)
				g.Expect(info.State).To(Equal(sms.TaskSuccess))
				g.Expect(info.Results).To(ConsistOf(
					And(HaveField("Group", all[0]), HaveField("Succeeded", true), HaveField("PitName", "by-query"), HaveField("PitID", Not(BeEmpty()))),
					And(HaveField("Group", all[1]), HaveField("Succeeded", false), HaveField("Errors", ConsistOf(ContainSubstring("disk on fire"))))))
				asked := 0
				for _, r := range sim.WireLog() {
					if strings.Contains(r.Path+r.Body, "QuerySmsTaskResult") {
						asked++
					}
				}
				g.Expect(asked).To(Equal(1), "asked once, when the task's info ended without it")
			},
		},
		"a group's result with a provider's fault": {
			setup: func(sim *smssim.Sim) {
				sim.Provider("array-a").SetGroupErrorsWith(all[1], 1, smssim.FaultBusy, "volumes of dg-1 busy")
			},
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:2], "busy-group")
				g.Expect(err).NotTo(HaveOccurred())
				for _, r := range waitTask(t, c, ref).Results {
					g.Expect(sms.IsTransient(r.Err)).To(Equal(r.Group == all[1]), "%v: %v", r.Group, r.Err)
				}
			},
		},
		"finds a PiT whose name has XSD regex metacharacters": {
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				const name = `db+nightly(1).[x]$`
				// A PiT the unescaped pattern would match, which must not be taken for it.
				for _, n := range []string{name, `dbbnightly1Zx$`} {
					syncDone(t, g, c, "vasaprovider-1", all[:2], n)
				}
				pits, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:3], name)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(HaveLen(2))
				for i, p := range pits {
					g.Expect(p.Group).To(Equal(all[i]))
					g.Expect(p.Name).To(Equal(name))
					g.Expect(p.ID).NotTo(BeEmpty())
				}
			},
		},
		"PiT summaries from a provider that ignores preferDetails": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetPiTSummaries(true) },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				const name = `weekly.(2)`
				syncDone(t, g, c, "vasaprovider-1", all[:2], name)
				pits, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:3], name)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(HaveLen(2))
				for i, p := range pits {
					g.Expect(p.Group).To(Equal(all[i]))
					g.Expect(p.Name).To(Equal(name))
					g.Expect(p.ID).To(BeEmpty())
					g.Expect(p.TimeStamp).NotTo(BeZero())
				}
				pits, err = c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:3], "weeklyX(2)")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(BeEmpty())
			},
		},
		"replication group states": {
			setup: func(sim *smssim.Sim) { sim.Provider("array-a").SetGroupState(all[2], "FAILEDOVER") },
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				rgs, err := c.ReplicationGroups(ctx, "vasaprovider-1", all[:3])
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(rgs).To(Equal([]sms.ReplicationGroup{
					{Group: all[0], State: "TARGET"}, {Group: all[1], State: "TARGET"}, {Group: all[2], State: "FAILEDOVER"},
				}))
			},
		},
		"a group the provider cannot answer for now is not an unknown one": {
			setup: func(sim *smssim.Sim) {
				sim.Provider("array-a").FailGroupQuery(all[1], smssim.FaultRule{Fault: smssim.FaultQueryExecution, Message: "inventory lookup failed"})
			},
			run: func(g *WithT, _ *smssim.Sim, c sms.Client) {
				unknown := sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: "no-such-group"}
				rgs, err := c.ReplicationGroups(ctx, "vasaprovider-1", []sms.GroupID{all[0], all[1], unknown})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(rgs).To(Equal([]sms.ReplicationGroup{
					{Group: all[0], State: "TARGET"}, {Group: all[1], State: sms.StateUnanswered}, {Group: unknown, State: sms.StateError},
				}))
			},
		},
		"expired session is re-established transparently": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				sim.ExpireSessions()
				_, err := c.FindProvider(ctx, "array-a", "")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(sim.ExpiredSessions()).To(Equal(1))
				sim.SetSessionExpiresAfterCalls(3)
				for range 10 {
					syncDone(t, g, c, "vasaprovider-1", all[:1], "s")
				}
				g.Expect(sim.ExpiredSessions()).To(BeNumerically(">", 2))
			},
		},
		"a re-login that reaches another vCenter stops the client": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				ref, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", all[:1], "before")
				g.Expect(err).NotTo(HaveOccurred())
				before := c.(sms.ServerInfoReporter).ServerInfo().VCenterInstanceUUID
				g.Expect(before).To(Equal(sim.About().InstanceUuid))
				// Another vCenter answers at the url; it numbers its tasks anew, so ref may name one of its own.
				sim.Redeploy()
				g.Expect(sim.About().InstanceUuid).NotTo(Equal(before))
				calls, logins := len(sim.Calls()), sim.LoginAttempts()
				_, err = c.TaskInfo(ctx, ref)
				g.Expect(errors.Is(err, sms.ErrVCenterChanged)).To(BeTrue(), "%v", err)
				_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", all[1:2], "after")
				g.Expect(errors.Is(err, sms.ErrVCenterChanged)).To(BeTrue(), "%v", err)
				g.Expect(len(sim.Calls())).To(Equal(calls), "nothing called on the other vCenter")
				g.Expect(sim.LoginAttempts()-logins).To(Equal(1), "no login after the one that met the other vCenter")
				g.Expect(c.(sms.ServerInfoReporter).ServerInfo().VCenterInstanceUUID).To(Equal(before))
			},
		},
		"failed re-login is not retried (no SSO lockout storm)": {
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				// The password was rotated in vCenter but not in the Secret, then the session expired.
				sim.SetPassword("rotated-in-vcenter")
				sim.ExpireSessions()
				attempts, failed := sim.LoginAttempts(), sim.FailedLogins()
				_, err := c.Providers(ctx)
				var le *sms.LoginError
				g.Expect(errors.As(err, &le)).To(BeTrue(), "%v", err)
				g.Expect(sim.FailedLogins() - failed).To(Equal(1))
				// Later calls, of any method and concurrently, fail fast with the same LoginError.
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, err := c.PointInTimeReplicas(ctx, "vasaprovider-1", all[:1], "x")
						errs <- err
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					var le2 *sms.LoginError
					g.Expect(errors.As(err, &le2)).To(BeTrue(), "%v", err)
					g.Expect(le2).To(BeIdenticalTo(le))
				}
				_, err = c.TaskInfo(ctx, "smstask-1")
				g.Expect(errors.As(err, &le)).To(BeTrue(), "%v", err)
				g.Expect(sim.LoginAttempts() - attempts).To(Equal(1))
				g.Expect(sim.FailedLogins() - failed).To(Equal(1))
				g.Expect(c.Close(ctx)).To(Succeed())
			},
		},
		"concurrent use with expiring sessions": {
			setup: func(sim *smssim.Sim) { sim.SetSessionExpiresAfterCalls(30) },
			run: func(g *WithT, sim *smssim.Sim, c sms.Client) {
				var wg sync.WaitGroup
				errs := make(chan error, 40)
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// A session that 7 other callers use up (30 calls) before this one's retry is refused
						// again: ErrSessionRejected, which callers retry later, as the operator does. Nothing ran.
						retried := func(call func() error) error {
							err := call()
							for n := 0; n < 3 && errors.Is(err, sms.ErrSessionRejected); n++ {
								err = call()
							}
							return err
						}
						for j := range 5 {
							id := all[i*5+j]
							var ref string
							err := retried(func() (err error) {
								ref, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", []sms.GroupID{id}, "conc")
								return err
							})
							if err != nil {
								errs <- err
								return
							}
							if err := retried(func() error { _, err := c.TaskInfo(ctx, ref); return err }); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					g.Expect(err).NotTo(HaveOccurred())
				}
				g.Eventually(func() []smssim.PiTRecord { return sim.PiTs() }).Should(HaveLen(40))
			},
		},
	}
	for _, b := range bindings {
		for name, tc := range cases {
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				g := NewWithT(t)
				sim := startSim(t)
				if tc.setup != nil {
					tc.setup(sim)
				}
				c := dial(t, sim, b)
				tc.run(g, sim, c)
			})
		}
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	sim := startSim(t)
	for _, b := range bindings {
		t.Run(string(b)+"/wrong password", func(t *testing.T) {
			g := NewWithT(t)
			cfg := clientConfig(sim, b)
			cfg.Password = "wrong-horse-battery"
			_, err := sms.Dial(ctx, cfg)
			var le *sms.LoginError
			g.Expect(errors.As(err, &le)).To(BeTrue())
			g.Expect(err.Error()).NotTo(ContainSubstring("wrong-horse-battery"))
			// fixing the credentials on the server side makes the same config work
			sim.SetPassword("wrong-horse-battery")
			defer sim.SetPassword("s3cret")
			c, err := sms.Dial(ctx, cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.Close(ctx)).To(Succeed())
		})
	}
	tlsCases := map[string]struct {
		mutate func(*sms.Config)
		ok     bool
	}{
		"right thumbprint": {func(*sms.Config) {}, true},
		"right thumbprint as bare lowercase hex": {func(c *sms.Config) {
			c.Thumbprint = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(c.Thumbprint, "SHA256:"), ":", ""))
		}, true},
		"wrong thumbprint": {func(c *sms.Config) {
			c.Thumbprint = "SHA256:" + strings.Repeat("AB:", 31) + "AB"
		}, false},
		"untrusted without CA": {func(c *sms.Config) { c.Thumbprint = "" }, false},
		"CA bundle":            {func(c *sms.Config) { c.Thumbprint = ""; c.CABundle = sim.CACertPEM() }, true},
		"insecure":             {func(c *sms.Config) { c.Thumbprint = ""; c.InsecureSkipVerify = true }, true},
	}
	for name, tc := range tlsCases {
		t.Run("tls/"+name, func(t *testing.T) {
			g := NewWithT(t)
			cfg := clientConfig(sim, sms.BindingSOAP)
			tc.mutate(&cfg)
			c, err := sms.Dial(ctx, cfg)
			if tc.ok {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c.Close(ctx)).To(Succeed())
				return
			}
			var te *sms.TLSError
			g.Expect(errors.As(err, &te)).To(BeTrue(), "%v", err)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		g := NewWithT(t)
		cfg := clientConfig(sim, sms.BindingSOAP)
		cfg.URL = "https://127.0.0.1:1"
		cfg.Timeout = 2 * time.Second
		_, err := sms.Dial(ctx, cfg)
		var ue *sms.UnreachableError
		g.Expect(errors.As(err, &ue)).To(BeTrue(), "%v", err)
	})
}

func TestClosedClient(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	c, err := sms.Dial(context.Background(), clientConfig(sim, sms.BindingSOAP))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Close(context.Background())).To(Succeed())
	_, err = c.Providers(context.Background())
	g.Expect(errors.Is(err, sms.ErrClosed)).To(BeTrue())
	g.Expect(c.Close(context.Background())).To(Succeed())
}

// TestCloseLeavesNoConnections: a closed client keeps no connection (and its goroutines) open; a session
// replaced after a Secret rotation or an outage would otherwise leave them for good.
func TestCloseLeavesNoConnections(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			dialAndClose := func() {
				c, err := sms.Dial(context.Background(), clientConfig(sim, b))
				g.Expect(err).NotTo(HaveOccurred())
				_, err = c.Providers(context.Background())
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c.Close(context.Background())).To(Succeed())
			}
			dialAndClose() // the simulator's own goroutines start
			base := runtime.NumGoroutine()
			for range 5 {
				dialAndClose()
			}
			g.Eventually(runtime.NumGoroutine).WithTimeout(5 * time.Second).Should(BeNumerically("<=", base+2))
		})
	}
}

// TestReLoginRefusedWith401IsALoginError: the session expired and vCenter answers the new login with HTTP
// 401. A Login carries no session, so it was its credentials that were refused: a LoginError (nothing was
// called, no provider fault), and the client does not offer those credentials again.
func TestReLoginRefusedWith401IsALoginError(t *testing.T) {
	g := NewWithT(t)
	c, logins := expiredWithReLoginAnswered(t, http.StatusUnauthorized)
	_, err := c.Providers(context.Background())
	var le *sms.LoginError
	g.Expect(errors.As(err, &le)).To(BeTrue(), "got %v", err)
	var f sms.Fault
	g.Expect(errors.As(err, &f)).To(BeFalse(), "no provider fault: %v", err)
	g.Expect(logins.Load()).To(BeEquivalentTo(2))
	_, err = c.Providers(context.Background())
	g.Expect(errors.As(err, &le)).To(BeTrue(), "got %v", err)
	g.Expect(logins.Load()).To(BeEquivalentTo(2), "no further login")
}

// TestJSONLoginRefusedWith401IsALoginError: a VI/JSON vCenter that answers a Login with bad credentials with
// HTTP 401 (not an InvalidLogin fault) makes Dial fail with a LoginError, not a transient error that would
// have the operator try the same credentials again and again (and lock the SSO account).
func TestJSONLoginRefusedWith401IsALoginError(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	cfg := behindFront(t, sim, sms.BindingJSON, func(w http.ResponseWriter, r *http.Request) bool {
		if isLogin(r) {
			http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
			return true
		}
		return false
	})
	_, err := sms.Dial(context.Background(), cfg)
	var le *sms.LoginError
	g.Expect(errors.As(err, &le)).To(BeTrue(), "got %v", err)
	g.Expect(sms.IsTransient(err)).To(BeFalse())
}

// expiredWithReLoginAnswered dials a VI/JSON client whose session has expired and whose next login the
// front end answers with HTTP status; it returns the client and the count of logins seen.
func expiredWithReLoginAnswered(t *testing.T, status int) (sms.Client, *atomic.Int32) {
	t.Helper()
	return expiredWithReLogin(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(status), status)
	})
}

// expiredWithReLogin dials a VI/JSON client whose session has expired and whose next logins answer
// answers; it returns the client and the count of logins seen.
func expiredWithReLogin(t *testing.T, answer func(http.ResponseWriter, *http.Request)) (sms.Client, *atomic.Int32) {
	t.Helper()
	sim := startSim(t)
	logins := &atomic.Int32{}
	cfg := behindFront(t, sim, sms.BindingJSON, func(w http.ResponseWriter, r *http.Request) bool {
		if isLogin(r) && logins.Add(1) > 1 {
			answer(w, r)
			return true
		}
		return false
	})
	c, err := sms.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	sim.ExpireSessions()
	return c, logins
}

// TestFailedReLoginIsNotSent: the call was refused for its expired session, so it never ran; whatever
// then stops the new login (not only rejected credentials), the error says the call was not sent
// (sms.ErrNotSent) and still leads to its cause.
func TestFailedReLoginIsNotSent(t *testing.T) {
	for name, tc := range map[string]struct {
		answer func(http.ResponseWriter, *http.Request)
		cause  func(error) bool
	}{
		"connection dropped": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			},
			cause: func(err error) bool { var ue *sms.UnreachableError; return errors.As(err, &ue) },
		},
		"HTTP 502": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
			},
			cause: func(err error) bool { return strings.Contains(err.Error(), "502") },
		},
		"no VI/JSON release served any more": {
			answer: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			cause:  func(err error) bool { return errors.Is(err, sms.ErrJSONUnsupported) },
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c, _ := expiredWithReLogin(t, tc.answer)
			ids, _ := groups("fd-1", 1)
			_, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "p")
			g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
			g.Expect(tc.cause(err)).To(BeTrue(), "the cause is kept: %v", err)
		})
	}
}

// TestRetryWithoutARoundTripLeftIsNotSent: a re-login slow enough to leave the call less time before its
// deadline than a round trip may take ends the call as not sent, and nothing reaches the provider. Sent,
// the deadline could cut it off after the provider took it, leaving its outcome unknown.
func TestRetryWithoutARoundTripLeftIsNotSent(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			logins := &atomic.Int32{}
			cfg := behindFront(t, sim, b, func(_ http.ResponseWriter, r *http.Request) bool {
				if isLogin(r) && logins.Add(1) > 1 {
					time.Sleep(700 * time.Millisecond) // then passed on: the login succeeds, late
				}
				return false
			})
			cfg.Timeout = time.Second
			c, err := sms.Dial(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			sim.ExpireSessions()
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			ids, _ := groups("fd-1", 1)
			_, err = c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "p")
			g.Expect(errors.Is(err, sms.ErrNoTimeLeft)).To(BeTrue(), "got %v", err)
			g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
			g.Expect(logins.Load()).To(BeEquivalentTo(2), "logged in again")
			g.Expect(sim.Calls()).To(BeEmpty())
		})
	}
}

// TestQueriesWithLittleTimeLeftAreSent: the round-trip margin is for sync calls only. A query changes
// nothing, so one cut off costs nothing, and a caller with a short bound (a status write's) still polls.
func TestQueriesWithLittleTimeLeftAreSent(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			c := dial(t, sim, b) // Timeout 10 s
			ids, _ := groups("fd-1", 1)
			ref, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "p")
			g.Expect(err).NotTo(HaveOccurred())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = c.TaskInfo(ctx, ref)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = c.ReplicationGroups(ctx, "vasaprovider-1", ids)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = c.PointInTimeReplicas(ctx, "vasaprovider-1", ids, "p")
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}

// TestCallWithEndedContextIsNotSent: a call whose context ended before it was sent says it was not sent,
// and nothing reaches the provider.
func TestCallWithEndedContextIsNotSent(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			c := dial(t, sim, b)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			ids, _ := groups("fd-1", 1)
			_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "p")
			g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
			g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
			g.Expect(sim.Calls()).To(BeEmpty())
		})
	}
}

// heldLogins holds every login request that reaches the simulator while hold is set, until free.
type heldLogins struct {
	hold atomic.Bool
	held chan struct{} // closed when the first login is held
	free func()
}

// dialHoldingLogins dials sim over binding b through a front that holds logins (heldLogins).
func dialHoldingLogins(t *testing.T, g *WithT, sim *smssim.Sim, b sms.Binding) (sms.Client, *heldLogins) {
	t.Helper()
	l := &heldLogins{held: make(chan struct{})}
	release := make(chan struct{})
	var heldOnce, releaseOnce sync.Once
	l.free = func() { releaseOnce.Do(func() { close(release) }) }
	cfg := behindFront(t, sim, b, func(_ http.ResponseWriter, r *http.Request) bool {
		if l.hold.Load() && isLogin(r) {
			heldOnce.Do(func() { close(l.held) })
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	})
	t.Cleanup(l.free)
	c, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, l
}

// TestLoginOutlivesTheCallerThatStartedIt: the caller whose call started a re-login gives up (its
// context ends); a caller that waited for that login logs in itself instead of failing with the other's
// cancellation.
func TestLoginOutlivesTheCallerThatStartedIt(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	c, l := dialHoldingLogins(t, g, sim, sms.BindingSOAP)

	sim.ExpireSessions()
	l.hold.Store(true)
	first, cancel := context.WithCancel(context.Background())
	firstErr, waiterErr := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Providers(first); firstErr <- err }()
	g.Eventually(l.held).WithTimeout(5 * time.Second).Should(BeClosed())
	go func() { _, err := c.Providers(context.Background()); waiterErr <- err }()
	g.Eventually(func() int { return sms.LoginWaiters(c) }).WithTimeout(5*time.Second).Should(Equal(1), "the waiter waits for the login in flight")
	cancel()
	g.Eventually(firstErr).WithTimeout(5 * time.Second).Should(Receive(MatchError(context.Canceled)))
	g.Consistently(waiterErr).WithTimeout(200*time.Millisecond).ShouldNot(Receive(), "it logs in again, held too")
	l.free()
	g.Eventually(waiterErr).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
}

// TestCallWaitingForALoginIsNotSent: while one caller logs in again (slowly), a call whose context ends
// meanwhile returns when it ends, saying it was not sent, rather than going out late and failing in a way
// that leaves its groups in doubt. The caller that started the login gets the new session.
func TestCallWaitingForALoginIsNotSent(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			c, l := dialHoldingLogins(t, g, sim, b)
			held, free := l.held, l.free
			logins := sim.LoginAttempts()

			sim.ExpireSessions()
			l.hold.Store(true)
			relogged := make(chan error, 1)
			go func() { _, err := c.Providers(context.Background()); relogged <- err }()
			g.Eventually(held).WithTimeout(5 * time.Second).Should(BeClosed())
			// A client that made the call wait for the held login would hang here: end the hold after a
			// while so that it fails the expectations below instead.
			timer := time.AfterFunc(3*time.Second, free)
			defer timer.Stop()

			// Cancelled, not a deadline: a deadline shorter than a round trip would keep the call from being
			// sent at all (TestRetryWithoutARoundTripLeftIsNotSent), and it must get to the login.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(200*time.Millisecond, cancel)
			ids, _ := groups("fd-1", 1)
			_, err := c.SyncReplicationGroups(ctx, "vasaprovider-1", ids, "p")
			g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
			g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "got %v", err)
			g.Expect(sim.Calls()).To(BeEmpty())

			free()
			g.Eventually(relogged).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
			g.Expect(sim.LoginAttempts() - logins).To(Equal(1))
			syncDone(t, g, c, "vasaprovider-1", ids, "p")
		})
	}
}

// TestProviderWithUnreadableInfo: one provider's QueryProviderInfo faults (an unrelated provider being
// unregistered): the listing goes on without it, and looking up a provider that is not among those read
// says that some could not be read and why, instead of "not found".
func TestProviderWithUnreadableInfo(t *testing.T) {
	const msg = "The object has already been deleted or has not been completely created"
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sim := startSim(t)
			cfg := behindFront(t, sim, b, func(w http.ResponseWriter, r *http.Request) bool {
				if b == sms.BindingJSON {
					if !strings.HasSuffix(r.URL.Path, "/sms/VasaProvider/vasaprovider-1/QueryProviderInfo") {
						return false
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(w, `{"_typeName":"ManagedObjectNotFound","faultstring":"`+msg+`","obj":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vasaprovider-1"}}`)
					return true
				}
				body := string(requestBody(r))
				if r.URL.Path != sms.Path || !strings.Contains(body, "QueryProviderInfo") || !strings.Contains(body, ">vasaprovider-1<") {
					return false
				}
				w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>`+msg+`</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VasaProvider">vasaprovider-1</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
				return true
			})
			c, err := sms.Dial(ctx, cfg)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = c.Close(ctx) })

			ps, err := c.Providers(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ps).To(HaveLen(1))
			g.Expect(ps[0].Name).To(Equal("array-b"))
			p, err := c.FindProvider(ctx, "array-b", "")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Ref).To(Equal("vasaprovider-2"))

			_, err = c.FindProvider(ctx, "array-a", "")
			g.Expect(errors.Is(err, sms.ErrProviderNotFound)).To(BeFalse(), "it may be the one that could not be read: %v", err)
			g.Expect(err.Error()).To(And(ContainSubstring(`"array-a"`), ContainSubstring("vasaprovider-1"), ContainSubstring(msg)))
			var of *sms.OtherFaultError
			g.Expect(errors.As(err, &of)).To(BeTrue(), "got %v", err)
			g.Expect(of.Type).To(Equal("ManagedObjectNotFound"))
		})
	}
}

// TestReLoginMeeting503SentNothing: the session expired and the new login meets a 503 that does not say
// nothing listened. The call itself was refused before it ran, so the error must not say it may have run.
func TestReLoginMeeting503SentNothing(t *testing.T) {
	g := NewWithT(t)
	c, _ := expiredWithReLoginAnswered(t, http.StatusServiceUnavailable)
	_, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", nil, "p")
	var su *sms.ServiceUnavailableError
	g.Expect(errors.As(err, &su)).To(BeTrue(), "got %v", err)
	g.Expect(su.MayHaveRun).To(BeFalse())
	g.Expect(sms.IsTransient(err)).To(BeTrue())
	g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
}

// TestReLoginLeavesASharedFailureAsItWas: the session cache hands one failed login to every client of
// the account that waited its turn. Each client's re-login says its call was not run, without changing
// the error the others (and the client whose login it was) hold.
func TestReLoginLeavesASharedFailureAsItWas(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	shared := &sms.ServiceUnavailableError{StatusCode: http.StatusServiceUnavailable, MayHaveRun: true}
	clients := make([]sms.Client, 2)
	for i := range clients {
		cfg := clientConfig(sim, sms.BindingJSON)
		cfg.Relogin = func(context.Context, func(context.Context) error) error { return shared }
		c, err := sms.Dial(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		clients[i] = c
	}
	sim.ExpireSessions()
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { _, errs[i] = c.SyncReplicationGroups(context.Background(), "vasaprovider-1", nil, "p") })
	}
	wg.Wait()
	for _, err := range errs {
		var su *sms.ServiceUnavailableError
		g.Expect(errors.As(err, &su)).To(BeTrue(), "got %v", err)
		g.Expect(su.MayHaveRun).To(BeFalse())
		g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeTrue(), "got %v", err)
	}
	g.Expect(shared.MayHaveRun).To(BeTrue(), "the shared failure was changed")
}

// TestClientClosedWhileAwaitingItsTurnDoesNotLogIn: a re-login waits for its account's turn
// (Config.Relogin); a client closed meanwhile (its VasaProvider deleted, its Secret changed) logs in no
// more: that session would only be logged out again, one more login of an account that may be failing.
func TestClientClosedWhileAwaitingItsTurnDoesNotLogIn(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	var logins atomic.Int32
	cfg := behindFront(t, sim, sms.BindingJSON, func(_ http.ResponseWriter, r *http.Request) bool {
		if isLogin(r) {
			logins.Add(1)
		}
		return false
	})
	turn, waiting := make(chan struct{}), make(chan struct{})
	cfg.Relogin = func(ctx context.Context, do func(context.Context) error) error {
		close(waiting)
		<-turn
		return do(ctx)
	}
	c, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	sim.ExpireSessions()
	done := make(chan error, 1)
	go func() {
		_, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", nil, "p")
		done <- err
	}()
	<-waiting
	_ = c.Close(context.Background()) // the expired session's logout is refused
	close(turn)
	g.Expect(<-done).To(MatchError(sms.ErrClosed))
	g.Expect(logins.Load()).To(BeEquivalentTo(1), "the first login only")
}

// TestTaskResultThatCannotBeRead: a task that succeeded without a result in its info, whose result
// QuerySmsTaskResult does not give. Refused for good (a fault; the VI/JSON path not served) leaves the
// task's groups without a result (the run then looks for their PiTs). No answer (the connection dropped,
// a proxy's 502) reads the task again at the next poll: asked again, the result may come.
func TestTaskResultThatCannotBeRead(t *testing.T) {
	ids, _ := groups("fd-1", 2)
	refused := map[sms.Binding]func(w http.ResponseWriter){
		sms.BindingSOAP: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(soapAnswer(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Unexpected error</faultstring><detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>no result</reason></SystemErrorFault></detail></soapenv:Fault>`)))
		},
		sms.BindingJSON: func(w http.ResponseWriter) { http.Error(w, "404 page not found", http.StatusNotFound) },
	}
	for _, b := range bindings {
		for name, tc := range map[string]struct {
			answer    func(w http.ResponseWriter)
			wantError bool
		}{
			"refused": {answer: refused[b]},
			"dropped": {answer: func(w http.ResponseWriter) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			}, wantError: true},
			"bad gateway": {answer: func(w http.ResponseWriter) { http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway) }, wantError: true},
		} {
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				g := NewWithT(t)
				sim := startSim(t)
				sim.Provider("array-a").SetResultOnlyByQuery(true)
				c, err := sms.Dial(context.Background(), behindFront(t, sim, b, func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.Contains(r.URL.Path+string(requestBody(r)), "QuerySmsTaskResult") {
						return false
					}
					tc.answer(w)
					return true
				}))
				g.Expect(err).NotTo(HaveOccurred())
				t.Cleanup(func() { _ = c.Close(context.Background()) })
				ref, err := c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "unread")
				g.Expect(err).NotTo(HaveOccurred())
				g.Eventually(func(g Gomega) {
					g.Expect(sim.TaskState(ref)).To(Equal("success"))
				}).Should(Succeed())
				info, err := c.TaskInfo(context.Background(), ref)
				if tc.wantError {
					g.Expect(err).To(HaveOccurred())
					return
				}
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(info.State).To(Equal(sms.TaskSuccess))
				g.Expect(info.Results).To(BeEmpty())
			})
		}
	}
}
