package main

import (
	"os"
	"runtime/debug"
	"strconv"

	"github.com/go-logr/logr"
)

// containerMemoryLimitEnv names the container's memory limit in bytes (the manifests set it from
// resources.limits.memory).
const containerMemoryLimitEnv = "CONTAINER_MEMORY_LIMIT"

// goMemoryLimitShare is the share of the container's memory limit the Go heap may use before the
// runtime collects harder: the rest is for what it does not count (socket buffers of hundreds of TLS
// connections, thread stacks). An OOMKill between a sync call and its commit leaves the call in doubt.
const goMemoryLimitShare = 0.9

// leastContainerMemoryLimit is the least container limit taken as one: a value in another unit than
// bytes (a resourceFieldRef with a divisor) would have the runtime collect without end.
const leastContainerMemoryLimit = 64 << 20

// goMemoryLimit is the Go memory limit for the environment: none when GOMEMLIMIT is set (the runtime
// reads it) or the container limit is not given in bytes. (Without a limit on the container, Kubernetes
// gives the node's allocatable memory.)
func goMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit, err := strconv.ParseInt(getenv(containerMemoryLimitEnv), 10, 64)
	if err != nil || limit < leastContainerMemoryLimit {
		return 0, false
	}
	return int64(float64(limit) * goMemoryLimitShare), true
}

// setGoMemoryLimit applies goMemoryLimit to the runtime.
func setGoMemoryLimit(log logr.Logger) {
	if limit, ok := goMemoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
		log.Info("Set the Go memory limit", "bytes", limit)
	}
}
