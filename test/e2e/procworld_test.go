package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// syncMethod is the SMS method whose responses the proxy kills, drops or delays.
const syncMethod = "SyncReplicationGroup_Task"

// procWorld is one test's setup for the manager binary: a simulator, a fault proxy in front of it, a
// namespace and a VasaProvider "array" that reaches the simulator's provider "array-a" through the proxy.
// Kill rules of the proxy kill the manager w.mgr and start it again, as a kubelet restarts a container.
type procWorld struct {
	t     *testing.T
	ns    string
	sim   *smssim.Sim
	proxy *faultproxy.Proxy
	mgr   *managerProcess
	seed  uint64
}

// newProcWorld starts the simulator with cfg and the proxy (seeded with seed) and creates a namespace.
// It starts no manager: see startManager.
func newProcWorld(t *testing.T, cfg smssim.Config, seed uint64) *procWorld {
	t.Helper()
	w := &procWorld{t: t, sim: startSim(t, cfg), ns: newNamespace(t), seed: seed}
	p, err := faultproxy.Start(faultproxy.Options{
		Target: w.sim.URL(), TargetCA: w.sim.CACertPEM(), Seed: seed,
		Kill: func() { w.mgr.KillAndRestart() },
	})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	t.Cleanup(p.Close)
	w.proxy = p
	return w
}

// startManager starts the manager process that the proxy's Kill rules kill.
func (w *procWorld) startManager(opts procOptions) *managerProcess {
	w.mgr = startManagerProcess(w.t, "manager", w.ns, opts)
	return w.mgr
}

// callHeld waits until the first sync call has reached the simulator (its task runs) and its response is
// held by the proxy; it returns the task.
func (w *procWorld) callHeld() string {
	w.t.Helper()
	NewWithT(w.t).Eventually(func(g Gomega) {
		g.Expect(callLog(w.sim)).To(HaveLen(1))
		g.Expect(w.proxy.InFlight(syncMethod)).To(Equal(1))
	}).WithTimeout(syncTimeout).WithPolling(10 * time.Millisecond).Should(Succeed())
	return callLog(w.sim)[0].Task
}

// rule adds a proxy rule.
func (w *procWorld) rule(r faultproxy.Rule) {
	w.t.Helper()
	NewWithT(w.t).Expect(w.proxy.AddRule(r)).To(Succeed())
}

// array creates the VasaProvider "array" for the simulator's provider "array-a", reached through the proxy
// with its certificate pinned by thumbprint, at most maxConcurrentTasks tasks at once and the floor of the
// in-doubt window set to inDoubt.
func (w *procWorld) array(maxConcurrentTasks int32, inDoubt time.Duration, mutate ...func(*replicationv1alpha1.VasaProvider)) {
	w.t.Helper()
	g := NewWithT(w.t)
	g.Expect(adminClient.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "array-creds"},
		StringData: map[string]string{"username": w.sim.Username(), "password": w.sim.Password()},
	})).To(Succeed())
	vp := &replicationv1alpha1.VasaProvider{}
	vp.Name, vp.Namespace = "array", w.ns
	vp.Spec.VCenter = replicationv1alpha1.VCenterSpec{
		URL:                  w.proxy.URL(),
		CredentialsSecretRef: replicationv1alpha1.LocalObjectReference{Name: "array-creds"},
		TLS:                  replicationv1alpha1.TLSSpec{Thumbprint: sms.FormatThumbprint(w.proxy.CertificateDER())},
	}
	vp.Spec.Provider.Name = "array-a"
	vp.Spec.MaxConcurrentTasks = maxConcurrentTasks
	vp.Spec.InDoubtWindow = &metav1.Duration{Duration: inDoubt}
	for _, m := range mutate {
		m(vp)
	}
	g.Expect(adminClient.Create(context.Background(), vp)).To(Succeed())
}

// run is one ReplicationSync of a test with its groups.
type syncRun struct {
	key     client.ObjectKey
	pitName string
	ids     []replicationv1alpha1.ReplicationGroupID
}

// syncGroups returns the simulator groups of n syncs of size groups each: sync i owns fault domain
// fd-i, so that no two syncs share a group (a shared group would get SyncOngoing legitimately).
func syncGroups(n, size int) []smssim.GroupConfig {
	var out []smssim.GroupConfig
	for i := range n {
		cfg, _ := groups(fmt.Sprintf("fd-%d", i), size)
		out = append(out, cfg...)
	}
	return out
}

// createSyncs creates n ReplicationSyncs of size groups each (the groups of syncGroups) on "array".
func (w *procWorld) createSyncs(n, size int, mutate ...func(*replicationv1alpha1.ReplicationSync)) []syncRun {
	w.t.Helper()
	g := NewWithT(w.t)
	var runs []syncRun
	for i := range n {
		_, ids := groups(fmt.Sprintf("fd-%d", i), size)
		r := syncRun{pitName: fmt.Sprintf("pit-%d", i), ids: ids}
		rs := newSync(w.ns, fmt.Sprintf("sync-%d", i), "array", r.pitName, ids)
		for _, m := range mutate {
			m(rs)
		}
		g.Expect(adminClient.Create(context.Background(), rs)).To(Succeed())
		r.key = client.ObjectKeyFromObject(rs)
		runs = append(runs, r)
	}
	w.t.Cleanup(func() {
		if w.t.Failed() {
			w.t.Log(tallyCalls(w.sim, runs).summary())
		}
	})
	return runs
}

// waitAllSucceeded waits until every run is Succeeded; a run that fails ends the wait at once.
func waitAllSucceeded(t *testing.T, runs []syncRun, timeout time.Duration) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		var notDone []string
		for _, r := range runs {
			rs := getSync(g, r.key)
			switch rs.Status.Phase {
			case replicationv1alpha1.SyncSucceeded:
				continue
			case replicationv1alpha1.SyncFailed:
				StopTrying(fmt.Sprintf("%s failed: %+v", r.key.Name, rs.Status.Conditions)).Now()
			}
			c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.ReconcilingCondition)
			notDone = append(notDone, fmt.Sprintf("%s %s %s groups=%s reconciling=%+v", r.key.Name, rs.Status.Phase, rs.Status.SyncedDisplay, groupStates(rs), c))
		}
		g.Expect(notDone).To(BeEmpty(), "runs not Succeeded yet")
	}).WithTimeout(timeout).WithPolling(250 * time.Millisecond).Should(Succeed())
}

// callTally counts sync calls per (group, pitName).
type callTally struct {
	// tasks counts calls that created a task; ongoing counts calls answered SyncOngoing.
	tasks, ongoing map[string]int
}

// tallyCalls counts the simulator's sync calls of the runs' pitNames.
func tallyCalls(sim *smssim.Sim, runs []syncRun) callTally {
	ours := map[string]bool{}
	for _, r := range runs {
		ours[r.pitName] = true
	}
	t := callTally{tasks: map[string]int{}, ongoing: map[string]int{}}
	for _, c := range callLog(sim) {
		if !ours[c.PitName] {
			continue
		}
		for _, id := range c.Groups {
			k := c.PitName + " " + id.FaultDomainID + "/" + id.DeviceGroupID
			switch c.Fault {
			case "":
				t.tasks[k]++
			case "SyncOngoing":
				t.ongoing[k]++
			}
		}
	}
	return t
}

// summary says how many (group, pitName) got more than one call, for a failed test's log.
func (t callTally) summary() string {
	twice := 0
	for _, n := range t.tasks {
		if n > 1 {
			twice++
		}
	}
	return fmt.Sprintf("sync calls so far: %d (group, pitName) called, %d of them more than once with a task created, %d answered SyncOngoing",
		len(t.tasks), twice, len(t.ongoing))
}

// callLog is the simulator's log of sync calls.
func callLog(sim *smssim.Sim) []smssim.SyncCall { return sim.Calls() }

// expectExactlyOnce asserts one task-creating sync call per (group, pitName) of the runs and no call
// answered SyncOngoing; the message counts every group that broke it.
func expectExactlyOnce(g Gomega, sim *smssim.Sim, runs []syncRun) {
	tally := tallyCalls(sim, runs)
	total := 0
	var twice, never []string
	for _, r := range runs {
		for _, id := range r.ids {
			total++
			k := r.pitName + " " + id.FaultDomainID.ID + "/" + id.DeviceGroupID.ID
			switch n := tally.tasks[k]; {
			case n == 0:
				never = append(never, k)
			case n > 1:
				twice = append(twice, fmt.Sprintf("%s (%d)", k, n))
			}
		}
	}
	ongoing := slices.Sorted(maps.Keys(tally.ongoing))
	g.Expect(twice).To(BeEmpty(), "%d of %d groups got more than one sync call that created a task", len(twice), total)
	g.Expect(ongoing).To(BeEmpty(), "%d of %d groups got a call answered SyncOngoing (a second call)", len(ongoing), total)
	g.Expect(never).To(BeEmpty(), "%d of %d groups were never called", len(never), total)
}

// expectAllSynced asserts that every run Succeeded with every group Synced to its one PiT.
func expectAllSynced(g Gomega, sim *smssim.Sim, runs []syncRun) {
	for _, r := range runs {
		rs := getSync(g, r.key)
		g.Expect(rs.Status.Phase).To(Equal(replicationv1alpha1.SyncSucceeded), r.key.Name)
		pits := expectOnePiTPerGroup(g, sim, r.pitName, r.ids)
		for _, gs := range rs.Status.Groups {
			g.Expect(gs.State).To(Equal(replicationv1alpha1.GroupSynced), "%s %s/%s", r.key.Name, gs.FaultDomainID.ID, gs.DeviceGroupID.ID)
			g.Expect(gs.PitID).To(Equal(pits[sms.GroupID{FaultDomainID: gs.FaultDomainID.ID, DeviceGroupID: gs.DeviceGroupID.ID}].PitID))
		}
	}
}

// groupStates returns the group states of a run as "state" strings, Issuing and Waiting included.
func groupStates(rs *replicationv1alpha1.ReplicationSync) string {
	var s []string
	for _, gs := range rs.Status.Groups {
		s = append(s, string(gs.State))
	}
	return strings.Join(s, ",")
}

// vcenterSessions lists the simulator's vCenter sessions other than the one it opens to ask, as an
// administrator sees them (SessionManager.sessionList).
func vcenterSessions(g Gomega, sim *smssim.Sim) []vimtypes.UserSession {
	ctx := context.Background()
	u, err := soap.ParseURL(sim.URL())
	g.Expect(err).NotTo(HaveOccurred())
	u.User = url.UserPassword(sim.Username(), sim.Password())
	c, err := govmomi.NewClient(ctx, u, true)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = c.Logout(ctx) }()
	own, err := c.SessionManager.UserSession(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	var sm mo.SessionManager
	g.Expect(c.RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"sessionList"}, &sm)).To(Succeed())
	return slices.DeleteFunc(sm.SessionList, func(s vimtypes.UserSession) bool { return s.Key == own.Key })
}
