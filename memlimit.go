package main

import (
	"os"
	"runtime/debug"
	"strconv"
)

// containerMemoryLimitEnv names the container's memory limit in bytes (the manifests set it from
// resources.limits.memory).
const containerMemoryLimitEnv = "CONTAINER_MEMORY_LIMIT"

// goMemoryLimitShare is the share of the container's memory limit the Go heap may use before the
// runtime collects harder: the rest is for what it does not count (socket buffers of hundreds of TLS
// connections, thread stacks). An OOMKill between a sync call and its commit leaves the call in doubt.
const goMemoryLimitShare = 0.9

// goMemoryLimit is the Go memory limit for the environment: none when GOMEMLIMIT is set (the runtime
// reads it) or no container limit is given.
func goMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit, err := strconv.ParseInt(getenv(containerMemoryLimitEnv), 10, 64)
	if err != nil || limit <= 0 {
		return 0, false
	}
	return int64(float64(limit) * goMemoryLimitShare), true
}

// setGoMemoryLimit applies goMemoryLimit to the runtime.
func setGoMemoryLimit() {
	if limit, ok := goMemoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
}
