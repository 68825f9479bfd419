// Command manager runs the vasa-sync-operator controllers.
package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	opmetrics "github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(replicationv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metrics                              metricsFlags
		probeAddr, watchNamespace, pprofAddr string
		leaderElectionID, leaderElectionNS   string
		leaderElect                          bool
		syncBackoff                          backoff.Policy
		pollInitial, pollMax                 time.Duration
		sessionMaxAge                        time.Duration
		syncConcurrency, scheduleConcurrency int
	)
	flag.StringVar(&metrics.addr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address a Go pprof endpoint binds to, for profiling; empty disables it.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one manager reconciles at a time.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; empty means the manager pod's own (set it when running outside a cluster).")
	flag.StringVar(&leaderElectionID, "leader-election-id", "vasa-sync-operator.replication.vasa.io", "Name of the leader-election Lease; installs that share a namespace need their own.")
	flag.BoolVar(&metrics.secure, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&metrics.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off because of CVE-2023-44487).")
	flag.StringVar(&metrics.certPath, "metrics-cert-path", "", "Directory with the metrics server's certificate and key (watched for renewals); empty serves a self-signed certificate.")
	flag.StringVar(&metrics.certName, "metrics-cert-name", "tls.crt", "File name of the metrics server's certificate in --metrics-cert-path.")
	flag.StringVar(&metrics.certKey, "metrics-cert-key", "tls.key", "File name of the metrics server's key in --metrics-cert-path.")
	flag.StringVar(&watchNamespace, "watch-namespace", "", "Only watch these namespaces (comma-separated); empty watches all namespaces.")
	flag.DurationVar(&syncBackoff.Base, "provider-backoff-base", backoff.DefaultBase, "Delay after a provider's first busy, out-of-resource or unavailable fault.")
	flag.DurationVar(&syncBackoff.Max, "provider-backoff-max", backoff.DefaultMax, "Cap of the delay after provider faults.")
	flag.DurationVar(&pollInitial, "task-poll-initial", controllers.DefaultPollInitial, "Least wait before querying again a task past the provider's typical duration without progress, or one first seen already running; other queries are timed by the provider's task durations and the task's progress.")
	flag.DurationVar(&pollMax, "task-poll-max", controllers.DefaultPollMax, "Cap of the interval between two queries of a task (not of its first query).")
	flag.DurationVar(&sessionMaxAge, "session-max-age", controllers.DefaultSessionMaxAge, "How long a VasaProvider's vCenter session serves before its check logs in anew, so that a password expired or changed in vCenter shows as InvalidCredentials; 0 keeps a session until vCenter ends it.")
	flag.IntVar(&syncConcurrency, "sync-concurrency", controllers.DefaultMaxConcurrentSyncReconciles, "ReplicationSyncs reconciled at once.")
	flag.IntVar(&scheduleConcurrency, "schedule-concurrency", controllers.DefaultMaxConcurrentScheduleReconciles, "ReplicationSyncSchedules reconciled at once.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")
	setGoMemoryLimit(setupLog)

	metricsOpts, err := metricsOptions(metrics)
	if err != nil {
		setupLog.Error(err, "Invalid metrics flags")
		os.Exit(1)
	}
	cacheOpts := cacheOptions(watchNamespace)

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: leaderElectionNS,
		LeaseDuration:           ptr.To(controllers.LeaseDuration),
		RenewDeadline:           ptr.To(controllers.RenewDeadline),
		Cache:                   cacheOpts,
		// Sync calls in flight at SIGTERM finish and their task refs are written before the process
		// exits (controllers.ShutdownGrace); the Deployment's terminationGracePeriodSeconds is longer.
		GracefulShutdownTimeout: ptr.To(controllers.ShutdownGrace),
		// A stopping leader gives the Lease up, so the next pod leads at once instead of after the
		// lease duration. controller-runtime (v0.25 engageStopProcedure) releases it after the
		// reconciles have returned; only when the grace above runs out does it release it with a
		// reconcile still running, right before the process exits and ends it (as a kill would).
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		setupLog.Error(err, "Unable to create manager")
		os.Exit(1)
	}

	// Controllers are wired here. Both reconcilers share the sessions and what was learned about each
	// provider's capacity; the ReplicationSync reconciler wakes the VasaProvider one to record it.
	sessions, ledger := session.New(), capacity.New()
	capacityEvents := make(chan event.GenericEvent, 64)
	if err := (&controllers.VasaProviderReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Sessions:       sessions,
		Capacity:       ledger,
		CapacityEvents: capacityEvents,
		SessionMaxAge:  sessionMaxAge,
		Recorder:       controllers.BoundedRecorder(mgr.GetEventRecorder("vasaprovider-controller")),
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "VasaProvider")
		os.Exit(1)
	}
	syncs := &controllers.ReplicationSyncReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Sessions:                sessions,
		Capacity:                ledger,
		ProviderEvents:          capacityEvents,
		Recorder:                controllers.BoundedRecorder(mgr.GetEventRecorder("replicationsync-controller")),
		MaxConcurrentReconciles: syncConcurrency,
		Backoff:                 syncBackoff,
		PollInitial:             pollInitial,
		PollMax:                 pollMax,
	}
	if err := syncs.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "ReplicationSync")
		os.Exit(1)
	}
	if err := (&controllers.ReplicationGroupReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Sessions:  sessions,
		Recorder:  controllers.BoundedRecorder(mgr.GetEventRecorder("replicationgroup-discovery")),
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "ReplicationGroup")
		os.Exit(1)
	}
	// Clock defaults to clock.RealClock{} in SetupWithManager.
	if err := (&controllers.ReplicationSyncScheduleReconciler{
		Client:                  mgr.GetClient(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                controllers.BoundedRecorder(mgr.GetEventRecorder("replicationsyncschedule-controller")),
		MaxConcurrentReconciles: scheduleConcurrency,
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "ReplicationSyncSchedule")
		os.Exit(1)
	}

	// A runnable that needs leader election starts with the controllers: once elected, or at once
	// without leader election. A standby exports 0, so an install where no manager leads can alert.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		opmetrics.ManagerLeading.Set(1)
		<-ctx.Done()
		return nil
	})); err != nil {
		setupLog.Error(err, "Unable to add the leading gauge")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr.GetCache(), watchedKinds()...)); err != nil {
		setupLog.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}
	setupLog.Info("Starting manager")
	signals := ctrl.SetupSignalHandler()
	err = mgr.Start(signals)
	if signals.Err() == nil || (err != nil && strings.Contains(err.Error(), "leader election lost")) {
		// Stopped by no signal, or by a lost Lease (controller-runtime's error, which it does not export),
		// for which controller-runtime skips the graceful shutdown and returns with reconciles still in
		// their calls. Their commits first. After a SIGTERM the manager waited already, and the pod's
		// termination grace has no room for a second wait.
		drainCtx, cancelDrain := context.WithTimeout(context.Background(), controllers.ShutdownGrace)
		if !syncs.Drain(drainCtx) {
			setupLog.Info("Exiting with ReplicationSync reconciles still running: their groups are in doubt for the next manager")
		}
		cancelDrain()
	}
	// After the reconciles (their calls and commits) ended: vCenter keeps a session left open until its
	// idle timeout, and counts it against its limit.
	logoutCtx, cancelLogout := context.WithTimeout(context.Background(), logoutGrace)
	sessions.CloseAll(logoutCtx)
	cancelLogout()
	if err != nil {
		setupLog.Error(err, "Manager exited with an error")
		os.Exit(1)
	}
}

// logoutGrace bounds the vCenter logouts at exit; the Deployment's terminationGracePeriodSeconds leaves room
// for it after controllers.ShutdownGrace and the release of the leader-election Lease.
const logoutGrace = 5 * time.Second
