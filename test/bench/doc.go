// Package bench measures the operator end to end at a provider's limit: a control plane (envtest), the
// SMS simulator over HTTPS, a counting proxy between the two (test/faultproxy), the manager binary run as
// in production with the RBAC of config/rbac/role.yaml, a counting proxy in front of the API server for
// the manager's requests, and a watch on ReplicationSyncs that records every status write.
//
// Each scenario prints one row: the makespan against the provider's limit ⌈groups / (B·C)⌉ × T, a naive
// client (one call per group, sequential, polling until done) measured in the same process against the
// same simulator, task polls per task, the lag between a task's end in the simulator and its group
// turning Synced in status (median and p95), status writes and bytes per synced group, and the
// manager's peak RSS and CPU with the API server's and etcd's CPU. Results are ratios and counts;
// nothing here asserts an absolute time.
//
// Commands (from the repository root):
//
//	make bench                                  # the packages' benchmarks, then this sweep (BenchmarkSweep)
//	make bench-e2e                              # the sweep only, about 10 minutes on 2 cores
//	make bench-e2e BENCH=Goals                  # the goals rows of issue 10 (tens of minutes)
//	make bench-e2e BENCH=Goals/wave-1000        # one goals row; see BenchmarkGoals for the names
//	make bench-e2e BENCH='Goals/(wave-1000|tasks-60s|many-2000)'   # several (make needs $$ for a $)
//	BENCH_SYNCS=1000,5000,10000 make bench-e2e BENCH=Goals/many
//	go test ./test/bench -run TestInstrument    # the instrument's own check (under a minute)
//
// The table is printed when the run ends; its columns are explained in README.md beside this file.
//
// Environment: BENCH_MANAGER_ARGS adds flags to the manager; BENCH_SYNCS lists the sizes of the
// many-syncs run (default 10000); BENCH_MANY_TIMEOUT caps it (default 20m); BENCH_KEEP_LOGS keeps the
// run's directory with each row's manager log and its task timeline (<row>.tasks.tsv: per task, its
// start, end, first answer that it had ended, polls, and when its groups were first seen Synced).
package bench
