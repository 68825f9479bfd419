package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "vasa_sync"

// Label names shared by the metrics. "provider" is the VasaProvider object's name.
const (
	LabelNamespace = "namespace"
	LabelProvider  = "provider"
	LabelSchedule  = "schedule"
	LabelResult    = "result"
	LabelFault     = "fault"
	LabelName      = "name"
)

// The results of SyncsTotal.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)

var (
	// SyncsTotal counts finished ReplicationSyncs by result (succeeded, failed).
	SyncsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "syncs_total",
		Help: "Finished ReplicationSyncs by result (succeeded, failed); 0 for both from the first check of the provider, or the first reconcile of a run that finds it.",
	}, []string{LabelNamespace, LabelProvider, LabelResult})

	// GroupsTotal counts replication groups that reached a final state, by result (synced, failed).
	GroupsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "groups_total",
		Help: "Replication groups that reached a final state, by result (synced, failed).",
	}, []string{LabelNamespace, LabelProvider, LabelResult})

	// SyncDurationSeconds observes the duration of finished ReplicationSyncs, from start to completion.
	SyncDurationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "sync_duration_seconds",
		Help:    "Duration of finished ReplicationSyncs from start to completion.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1s .. ~2.3h
	}, []string{LabelNamespace, LabelProvider, LabelResult})

	// ProviderFaultsTotal counts faults answered by providers, by SMS fault type.
	ProviderFaultsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "provider_faults_total",
		Help: "Faults answered by VASA providers, by SMS fault type.",
	}, []string{LabelNamespace, LabelProvider, LabelFault})

	// TasksInFlight is the number of SMS sync tasks in flight per provider.
	TasksInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "tasks_in_flight",
		Help: "SMS sync tasks in flight per provider.",
	}, []string{LabelNamespace, LabelProvider})

	// LearnedBatchSize is the batch size learned from the provider's TooMany fault (0 = not learned).
	LearnedBatchSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "learned_batch_size",
		Help: "Batch size learned from the provider's TooMany fault (0 = not learned).",
	}, []string{LabelNamespace, LabelProvider})

	// LastSuccessTimestampSeconds is the Unix time of the last succeeded ReplicationSync per provider.
	LastSuccessTimestampSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "last_success_timestamp_seconds",
		Help: "Unix time of the last succeeded ReplicationSync per provider.",
	}, []string{LabelNamespace, LabelProvider})

	// ProviderReady is 1 when the VasaProvider is Ready, else 0.
	ProviderReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "provider_ready",
		Help: "1 when the VasaProvider is Ready, else 0.",
	}, []string{LabelNamespace, LabelProvider})

	// ProviderInsecureTLS is 1 when a VasaProvider skips certificate verification (insecureSkipVerify).
	ProviderInsecureTLS = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "provider_insecure_tls",
		Help: "1 when the VasaProvider does not verify the vCenter certificate (spec.vcenter.tls.insecureSkipVerify), else 0.",
	}, []string{LabelNamespace, LabelProvider})

	// ScheduleLastSuccessTimestampSeconds is the Unix time of a schedule's newest recovery point: the
	// oldest PiT of its last succeeded run (status.lastRecoveryPointTime), not when that run ended, so that
	// the RPO alert counts from the data, not from a long run's end. Its creation while no run has
	// succeeded (so that the RPO alert also covers a schedule that never worked).
	ScheduleLastSuccessTimestampSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "schedule_last_success_timestamp_seconds",
		Help: "Unix time of the recovery point of the last succeeded run of a ReplicationSyncSchedule (its oldest PiT, status.lastRecoveryPointTime); its creation time while no run has succeeded.",
	}, []string{LabelNamespace, LabelSchedule})

	// ScheduleIntervalSeconds is the gap between recovery points a schedule is closing, for RPO alerts.
	ScheduleIntervalSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "schedule_interval_seconds",
		Help: "Seconds between recovery points that a ReplicationSyncSchedule is closing: the larger of the gap its next scheduled run closes (next run minus the scheduled time before it) and the gap before that one.",
	}, []string{LabelNamespace, LabelSchedule})

	// ScheduleReady is 1 when a ReplicationSyncSchedule is Ready (also while suspended), else 0.
	ScheduleReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "schedule_ready",
		Help: "1 when the ReplicationSyncSchedule is Ready (valid, also while suspended), else 0 (schedule or template invalid, or runs rejected by the API server).",
	}, []string{LabelNamespace, LabelSchedule})

	// ScheduleMissedRunsTotal counts scheduled runs that were never started (status.missedRuns).
	ScheduleMissedRunsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "schedule_missed_runs_total",
		Help: "Scheduled runs of a ReplicationSyncSchedule that were never started: overtaken by a later scheduled time (operator down, schedule suspended, concurrencyPolicy Forbid) or not started within startingDeadlineSeconds. Runs scheduled before a spec change was observed are not counted.",
	}, []string{LabelNamespace, LabelSchedule})
)

// InDoubtReissuesTotal counts groups issued again because an earlier sync call's outcome was unknown.
var InDoubtReissuesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: namespace, Name: "in_doubt_reissues_total",
	Help: "Replication groups issued a second time after a sync call without an answer and no PiT within the in-doubt window.",
}, []string{LabelNamespace, LabelProvider})

// LabelMethod names the SMS method of ProviderCallDurationSeconds.
const LabelMethod = "method"

// ProviderCallDurationSeconds observes how long the SMS calls of runs take, per VasaProvider and method,
// answered or not: a provider slow to answer shows here before its runs' deadlines pass.
var ProviderCallDurationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: namespace, Name: "provider_call_duration_seconds",
	Help:    "Duration of the SMS calls ReplicationSyncs make, per VasaProvider and method, answered or not.",
	Buckets: prometheus.ExponentialBuckets(0.05, 2, 12), // 50ms .. ~100s (a call gives up after 30s)
}, []string{LabelNamespace, LabelProvider, LabelMethod})

// RunWithoutProgress is 1 for a running ReplicationSync without progress for its progressDeadlineSeconds.
// Its provider (spec.providerRef, immutable) lets an alert leave out the runs of a provider not Ready.
var RunWithoutProgress = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: namespace, Name: "run_without_progress",
	Help: "1 when a running ReplicationSync made no progress for progressDeadlineSeconds, else 0; removed when it ends.",
}, []string{LabelNamespace, LabelName, LabelProvider})

// ManagerLeading is 1 while this manager runs the controllers (it holds the leader-election Lease, or leader
// election is off) and 0 while it stands by. controller-runtime's leader_election_master_status cannot tell a
// manager that never got the Lease from one that runs without leader election: neither has a series.
var ManagerLeading = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: namespace, Name: "manager_leading",
	Help: "1 while this manager runs the controllers (it holds the leader-election Lease, or leader election is off), 0 while it stands by.",
})

// InitSyncsTotal creates the SyncsTotal series of a provider for both results at 0, so that
// increase() in an alert sees the first finished run after a manager start (a series that first
// appears at 1 has no increase).
func InitSyncsTotal(namespace, provider string) {
	for _, result := range []string{ResultSucceeded, ResultFailed} {
		SyncsTotal.WithLabelValues(namespace, provider, result).Add(0)
	}
}

// ForgetProvider drops every series of a deleted VasaProvider: its checks', its runs' and its discovery's.
func ForgetProvider(namespace, provider string) {
	labels := prometheus.Labels{LabelNamespace: namespace, LabelProvider: provider}
	for _, vec := range perProvider() {
		vec.DeletePartialMatch(labels)
	}
}

// perProvider are the vectors with series per VasaProvider (labels namespace and provider).
func perProvider() []*prometheus.MetricVec {
	return []*prometheus.MetricVec{
		SyncsTotal.MetricVec, GroupsTotal.MetricVec, SyncDurationSeconds.MetricVec, ProviderFaultsTotal.MetricVec,
		TasksInFlight.MetricVec, LearnedBatchSize.MetricVec, LastSuccessTimestampSeconds.MetricVec,
		ProviderReady.MetricVec, ProviderInsecureTLS.MetricVec, InDoubtReissuesTotal.MetricVec,
		GroupNewestPiTTimestampSeconds.MetricVec, DiscoveredGroups.MetricVec,
		DiscoveryLastSuccessTimestampSeconds.MetricVec, DiscoveryIntervalSeconds.MetricVec,
		ProviderCallDurationSeconds.MetricVec,
	}
}

// ForgetRun drops the per-run series of a ReplicationSync that ended or was deleted.
func ForgetRun(namespace, name string) {
	RunWithoutProgress.DeletePartialMatch(prometheus.Labels{LabelNamespace: namespace, LabelName: name})
}

func init() {
	ctrlmetrics.Registry.MustRegister(
		SyncsTotal, GroupsTotal, SyncDurationSeconds, ProviderFaultsTotal, TasksInFlight,
		LearnedBatchSize, LastSuccessTimestampSeconds, ProviderReady, ProviderInsecureTLS,
		ScheduleLastSuccessTimestampSeconds, ScheduleIntervalSeconds, ScheduleMissedRunsTotal, ScheduleReady,
		InDoubtReissuesTotal, RunWithoutProgress, ManagerLeading, ProviderCallDurationSeconds,
	)
}
