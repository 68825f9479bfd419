package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
	"github.com/vasa-sync-operator/vasa-sync-operator/test/faultproxy"
)

// providerName is the simulated provider's name.
const providerName = "array-a"

// Run measures one scenario with a fresh simulator, proxy, namespace and manager process.
func (e *Env) Run(ctx context.Context, sc Scenario) (Result, error) {
	if err := sc.validate(); err != nil {
		return Result{}, err
	}
	var floor Floor
	if sc.manySyncs() {
		var err error
		if floor, err = e.measureFloor(ctx, sc.syncs()); err != nil {
			return Result{}, err
		}
		if err := sleep(ctx, floorSettle); err != nil { // so that the row finds the API server as before
			return Result{}, err
		}
	}
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{
		Name:               providerName,
		MaxBatchSize:       sc.BatchSize,
		MaxConcurrentTasks: sc.Slots,
		TaskDuration:       smssim.Duration{Duration: sc.Task},
		TaskDurationJitter: smssim.Duration{Duration: sc.Jitter},
		Groups:             simGroups(sc.Groups * sc.syncs()),
	}}})
	if err != nil {
		return Result{}, err
	}
	defer sim.Close()
	proxy, err := faultproxy.Start(faultproxy.Options{Target: sim.URL(), TargetCA: sim.CACertPEM()})
	if err != nil {
		return Result{}, err
	}
	defer proxy.Close()

	ns, err := e.setupNamespace(ctx, sc, proxy)
	if err != nil {
		return Result{}, err
	}
	watcher, err := StartWatcher(e.AdminConfig, ns)
	if err != nil {
		return Result{}, err
	}
	defer watcher.Stop()
	logPath := filepath.Join(e.Dir, sc.Name+".log")
	mgr, err := StartManager(e.Bin, e.Kubeconfig, ns, logPath, e.ManagerArgs)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = mgr.Stop() }()
	if err := e.waitProviderReady(ctx, ns, mgr); err != nil {
		return Result{}, fmt.Errorf("%w\nmanager log:\n%s", err, LogTail(logPath, 40))
	}

	res := Result{Scenario: sc, Floor: floor}
	before := e.snapshot(proxy)
	start := time.Now()
	if err := e.createSyncs(ctx, ns, sc); err != nil {
		return Result{}, err
	}
	res.Created = time.Since(start)
	waitCtx, cancel := context.WithTimeout(ctx, sc.Timeout)
	finished, last, werr := watcher.WaitFinished(waitCtx, sc.syncs())
	cancel()
	if werr != nil && ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if !mgr.Running() {
		return Result{}, fmt.Errorf("the manager exited during the run\nmanager log:\n%s", LogTail(logPath, 40))
	}
	res.Finished, res.Failed = finished, watcher.Failed()
	res.Makespan = time.Since(start)
	if finished == sc.syncs() {
		res.Makespan = last.Sub(start)
	}
	after := e.snapshot(proxy)
	e.measure(&res, sim, watcher, mgr, before, after)
	if err := e.writeTimeline(sc, start, sim.Tasks(), watcher); err != nil {
		return res, err
	}
	if twice := syncedTwice(sim.Tasks()); len(twice) > 0 {
		return res, fmt.Errorf("%d groups were synced more than once for one PiT name, first %s", len(twice), twice[0])
	}

	if sc.Idle > 0 && finished == sc.syncs() {
		if err := e.measureIdle(ctx, &res, sim, proxy, &mgr, ns, logPath); err != nil {
			return res, err
		}
	}
	if err := mgr.Stop(); err != nil {
		return res, fmt.Errorf("stopping the manager: %w", err)
	}
	if sc.NaiveGroups > 0 {
		if res.Naive, err = e.naiveTime(ctx, sc, sim); err != nil {
			return res, err
		}
	}
	return res, nil
}

// snapshot is the counters read at one moment.
type snapshot struct {
	provider  map[string]faultproxy.Stats
	api       map[string]int
	sent      int64
	apiserver float64
	etcd      float64
	bench     float64
}

// snapshot reads every counter.
func (e *Env) snapshot(proxy *faultproxy.Proxy) snapshot {
	api, sent := e.API.Counts()
	return snapshot{provider: proxy.Counts(), api: api, sent: sent, apiserver: cpuOf(e.APIServerPID), etcd: cpuOf(e.EtcdPID), bench: cpuOf(os.Getpid())}
}

// providerCalls returns the provider requests per method between two snapshots.
func providerCalls(before, after map[string]faultproxy.Stats) map[string]int {
	out := map[string]int{}
	for m, s := range after {
		if d := s.Requests - before[m].Requests; d != 0 {
			out[m] = d
		}
	}
	return out
}

// measureIdle counts provider calls for sc.Idle with nothing to do, then restarts the manager and
// counts them again; it also checks that the restart issued no sync.
func (e *Env) measureIdle(ctx context.Context, res *Result, sim *smssim.Sim, proxy *faultproxy.Proxy, mgr **Manager, ns, logPath string) error {
	idle := res.Scenario.Idle
	before := proxy.Counts()
	if err := sleep(ctx, idle); err != nil {
		return err
	}
	res.IdleCalls = providerCalls(before, proxy.Counts())
	if err := (*mgr).Stop(); err != nil {
		return fmt.Errorf("stopping the manager for a restart: %w", err)
	}
	before = proxy.Counts()
	next, err := StartManager(e.Bin, e.Kubeconfig, ns, logPath+".restart", e.ManagerArgs)
	if err != nil {
		return err
	}
	*mgr = next
	if err := sleep(ctx, idle); err != nil {
		return err
	}
	res.RestartCalls = providerCalls(before, proxy.Counts())
	return nil
}
