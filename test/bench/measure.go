package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// SMS methods counted per task.
const (
	methodSync = "SyncReplicationGroup_Task"
	methodPoll = "QuerySmsTaskInfo"
)

// measure fills the run's figures from the counters, the simulator's task log and the watch.
func (e *Env) measure(res *Result, sim *smssim.Sim, w *Watcher, mgr *Manager, before, after snapshot) {
	sc := res.Scenario
	res.ProviderCalls = providerCalls(before.provider, after.provider)
	res.SyncCalls, res.Polls = res.ProviderCalls[methodSync], res.ProviderCalls[methodPoll]
	res.APIRequests = diffCounts(after.api, before.api)
	res.SentBytes = after.sent - before.sent
	res.APIServerCPU, res.EtcdCPU = after.apiserver-before.apiserver, after.etcd-before.etcd
	res.BenchCPU = after.bench - before.bench
	res.Writes, res.Bytes = w.Writes()
	if s, err := mgr.Sample(); err == nil {
		res.ManagerCPU, res.RSS, res.PeakRSS = s.CPUSeconds, s.RSS, s.PeakRSS
	}

	// The end of each group's task, by sync: the last successful task that held it.
	ends := map[string]map[GroupKey]time.Time{}
	var busy time.Duration
	var starts, stops []time.Time
	var noticed []time.Duration
	var tasks []smssim.TaskRecord
	for _, t := range sim.Tasks() {
		if !strings.HasPrefix(t.PitName, "bench-") {
			continue
		}
		tasks = append(tasks, t)
		res.Tasks++
		starts = append(starts, t.Start)
		if t.Done {
			stops = append(stops, t.End)
		}
		if !t.SeenEnd.IsZero() {
			noticed = append(noticed, t.SeenEnd.Sub(t.End))
		}
		busy += min(t.Duration, res.Makespan)
		if !t.Done || t.Failed {
			continue
		}
		m := ends[t.PitName]
		if m == nil {
			m = map[GroupKey]time.Time{}
			ends[t.PitName] = m
		}
		for _, g := range t.Groups {
			if k := keyOf(g); t.End.After(m[k]) {
				m[k] = t.End
			}
		}
	}
	if len(stops) > 0 {
		firstEnd := slices.MinFunc(stops, time.Time.Compare)
		for _, t := range tasks {
			if t.Start.After(firstEnd) {
				res.SteadyTasks++
				res.SteadyPolls += t.Queries
			}
		}
	}
	if res.Makespan > 0 {
		res.SlotsBusy = busy.Seconds() / (float64(sc.Slots) * res.Makespan.Seconds())
	}
	var lags []time.Duration
	for i := range sc.syncs() {
		synced := w.SyncedAt(syncName(i))
		res.SyncedGroups += len(synced)
		for k, at := range synced {
			if end, ok := ends[pitName(i)][k]; ok {
				lags = append(lags, at.Sub(end))
			}
		}
	}
	res.LagP50, res.LagP95 = percentile(lags, 0.50), percentile(lags, 0.95)
	res.NoticedP50, res.NoticedP95 = percentile(noticed, 0.50), percentile(noticed, 0.95)
	res.LagSamples, res.NoticedSamples = len(lags), len(noticed)
	idle := slotIdle(starts, stops, sc.Slots)
	res.IdleP50, res.IdleP95 = percentile(idle, 0.50), percentile(idle, 0.95)
	res.DrawnLimit = drawnLimit(tasks, sc.Tasks(), sc.Slots)
}

// drawnLimit is the makespan a client without overhead would reach with the durations the simulator
// drew in this run: the first n tasks (the fewest the scenario allows) in the order they started, each
// on the first slot free, the first at zero. Tasks beyond n count against the run, not the baseline.
func drawnLimit(tasks []smssim.TaskRecord, n, slots int) time.Duration {
	tasks = slices.SortedFunc(slices.Values(tasks), func(a, b smssim.TaskRecord) int { return a.Start.Compare(b.Start) })
	free := make([]time.Duration, max(slots, 1))
	var end time.Duration
	for _, t := range tasks[:min(n, len(tasks))] {
		i := slices.Index(free, slices.Min(free))
		free[i] += t.Duration
		end = max(end, free[i])
	}
	return end
}

// slotIdle is, for each task that started after the first C, how long the slot it took stood free:
// the k-th start (in time order) takes the slot the (k-C)-th end (in time order) freed.
func slotIdle(starts, ends []time.Time, slots int) []time.Duration {
	slices.SortFunc(starts, time.Time.Compare)
	slices.SortFunc(ends, time.Time.Compare)
	var out []time.Duration
	for k := slots; k < len(starts) && k-slots < len(ends); k++ {
		out = append(out, max(starts[k].Sub(ends[k-slots]), 0))
	}
	return out
}

// keyOf is the GroupKey of an SMS group id.
func keyOf(g sms.GroupID) GroupKey { return GroupKey(g.FaultDomainID + "/" + g.DeviceGroupID) }

// syncedTwice lists the (pitName, group) of the operator's runs that more than one task synced, by the
// simulator's task log: a run at scale (waves, pre-claims, relays) must sync each group once. A task
// that ended in error made no PiT and does not count.
func syncedTwice(tasks []smssim.TaskRecord) []string {
	n := map[string]int{}
	for _, t := range tasks {
		if !strings.HasPrefix(t.PitName, "bench-") || t.Failed {
			continue
		}
		for _, g := range t.Groups {
			n[t.PitName+" "+string(keyOf(g))]++
		}
	}
	var out []string
	for k, c := range n {
		if c > 1 {
			out = append(out, fmt.Sprintf("%s (%d tasks)", k, c))
		}
	}
	slices.Sort(out)
	return out
}

// percentile returns the p-quantile (nearest rank) of ds, 0 when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// naiveTime estimates the naive client's time for every group of the scenario from NaiveGroups
// groups synced one by one against the same simulator (directly, not through the proxy). The time
// per group depends only on the task durations, so it is measured once per (task, jitter) and
// reused by later scenarios of the same process.
func (e *Env) naiveTime(ctx context.Context, sc Scenario, sim *smssim.Sim) (time.Duration, error) {
	key := fmt.Sprintf("%v±%v", sc.Task, sc.Jitter)
	per, ok := e.naivePerGroup(key)
	if !ok {
		c, err := sms.Dial(ctx, sms.Config{
			URL: sim.URL(), Username: sim.Username(), Password: sim.Password(), CABundle: sim.CACertPEM(),
		})
		if err != nil {
			return 0, fmt.Errorf("naive client: %w", err)
		}
		defer func() { _ = c.Close(context.Background()) }()
		p, err := c.FindProvider(ctx, providerName, "")
		if err != nil {
			return 0, fmt.Errorf("naive client: %w", err)
		}
		n := min(sc.NaiveGroups, sc.Groups*sc.syncs())
		groups := make([]sms.GroupID, n)
		for i := range groups {
			groups[i] = groupID(i)
		}
		d, err := Naive{Client: c, ProviderRef: p.Ref}.Run(ctx, groups, "naive")
		if err != nil {
			return 0, err
		}
		per = d / time.Duration(n)
		e.setNaivePerGroup(key, per)
	}
	return per * time.Duration(sc.Groups*sc.syncs()), nil
}
