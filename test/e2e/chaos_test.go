package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// chaosTimeout bounds the chaos test's runs.
const chaosTimeout = 3 * time.Minute

// chaosSeed returns E2E_CHAOS_SEED when set, else a new seed; the test prints it.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("E2E_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_CHAOS_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// TestChaos: 30 syncs of 5 groups against a provider that is busy, out of resources or unavailable at
// random, loses sync responses, expires sessions and limits its tasks, while the manager is killed at
// the worst moment (aimed, on sync responses) and at random times. Every group ends Synced with exactly
// one sync call per (group, pitName).
func TestChaos(t *testing.T) {
	const syncs, size = 30, 5
	seed := chaosSeed(t)
	t.Logf("chaos seed %d (set E2E_CHAOS_SEED=%d to replay the proxy's and the killer's draws)", seed, seed)

	cfg := arrayA(syncGroups(syncs, size), time.Second, func(pc *smssim.ProviderConfig) {
		pc.TaskDurationJitter = smssim.Duration{Duration: 500 * time.Millisecond}
		pc.MaxConcurrentTasks = 6
		pc.Faults = []smssim.FaultRule{
			{Method: syncMethod, Fault: smssim.FaultBusy, Probability: 0.1},
			{Method: syncMethod, Fault: smssim.FaultOutOfResource, Probability: 0.05},
			{Method: syncMethod, Fault: smssim.FaultUnavailable, Probability: 0.05},
		}
		pc.LostResponses = &smssim.ResponseRule{Probability: 0.05}
	})
	cfg.SessionExpiresAfterCalls = 40
	w := newProcWorld(t, cfg, seed)
	// Aimed kills: the first sync response that created a task, then some at random.
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 1, OnlySuccess: true})
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Kill, Times: 4, Probability: 0.15, OnlySuccess: true})
	w.rule(faultproxy.Rule{Method: syncMethod, Action: faultproxy.Drop, Probability: 0.05, OnlySuccess: true})
	w.array(8, 5*time.Second)
	w.startManager(procOptions{})
	runs := w.createSyncs(syncs, size)

	stop := randomKills(w, rand.New(rand.NewPCG(seed, 1)), 3)
	waitAllSucceeded(t, runs, chaosTimeout)
	randomKilled := stop()

	g := NewWithT(t)
	st := w.proxy.Count(syncMethod)
	t.Logf("kills: %d aimed, %d random; %d sync responses dropped by the proxy; %d sessions expired; %d manager generations",
		st.Killed, randomKilled, st.Dropped, w.sim.ExpiredSessions(), w.mgr.Generation())
	faults := map[string]int{}
	for _, c := range callLog(w.sim) {
		faults[c.Fault+"/"+c.Response]++
	}
	t.Logf("sync calls by fault/response: %v", faults)
	g.Expect(st.Killed).To(BeNumerically(">=", 1), "aimed kills happened")
	g.Expect(randomKilled).To(BeNumerically(">=", 1), "random kills happened")
	expectExactlyOnce(g, w.sim, runs)
	expectAllSynced(g, w.sim, runs)
}

// randomKills kills and restarts the manager up to n times at random moments 1-5 s apart; the returned
// function stops it and returns how many kills it made.
func randomKills(w *procWorld, rnd *rand.Rand, n int) func() int {
	done := make(chan struct{})
	var wg sync.WaitGroup
	kills := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for kills < n {
			t := time.NewTimer(time.Second + time.Duration(rnd.Int64N(int64(4*time.Second))))
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
				w.mgr.KillAndRestart()
				kills++
			}
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return kills
	}
}
