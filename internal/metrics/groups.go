package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// LabelGroup is the ReplicationGroup object's name (unique in its namespace, stable for the group).
const LabelGroup = "group"

var (
	// GroupNewestPiTTimestampSeconds is the Unix time of each discovered group's newest PiT, whoever made
	// it. The age (time() minus it) is the group's current RPO; a timestamp rather than an age keeps the
	// value right between discoveries. Only groups in TARGET state have a series (only a target has an
	// RPO); one without any PiT has the time discovery first saw it (its object's creation), so an RPO
	// alert fires for it an RPO later.
	GroupNewestPiTTimestampSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "group_newest_pit_timestamp_seconds",
		Help: "Unix time of the newest point-in-time replica of each discovered replication group in TARGET state; when it has no replica at all, the time discovery first saw it.",
	}, []string{LabelNamespace, LabelProvider, LabelGroup})

	// DiscoveredGroups is the number of replication groups the last discovery found per provider.
	DiscoveredGroups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "discovered_groups",
		Help: "Replication groups the last discovery found per VasaProvider.",
	}, []string{LabelNamespace, LabelProvider})

	// DiscoveryLastSuccessTimestampSeconds is the Unix time of the last complete discovery per provider.
	DiscoveryLastSuccessTimestampSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "discovery_last_success_timestamp_seconds",
		Help: "Unix time of the last complete replication group discovery per VasaProvider.",
	}, []string{LabelNamespace, LabelProvider})

	// DiscoveryIntervalSeconds is spec.discovery.interval of each VasaProvider whose discovery is on: the
	// stale-discovery alert measures the last success against it.
	DiscoveryIntervalSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "discovery_interval_seconds",
		Help: "The replication group discovery interval of each VasaProvider whose discovery is on.",
	}, []string{LabelNamespace, LabelProvider})
)

func init() {
	ctrlmetrics.Registry.MustRegister(GroupNewestPiTTimestampSeconds, DiscoveredGroups, DiscoveryLastSuccessTimestampSeconds, DiscoveryIntervalSeconds)
}
