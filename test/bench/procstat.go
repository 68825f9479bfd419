package bench

import (
	"fmt"
	"os"

	"github.com/prometheus/procfs"
)

// ProcSample is what /proc says about one process at one moment.
type ProcSample struct {
	// CPUSeconds is user plus system time so far (utime+stime of /proc/<pid>/stat).
	CPUSeconds float64
	// RSS and PeakRSS are VmRSS and VmHWM of /proc/<pid>/status, in bytes.
	RSS, PeakRSS uint64
}

// SampleProc reads /proc for pid.
func SampleProc(pid int) (ProcSample, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	stat, err := p.Stat()
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d stat: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d status: %w", pid, err)
	}
	return ProcSample{CPUSeconds: stat.CPUTime(), RSS: status.VmRSS, PeakRSS: status.VmHWM}, nil
}

// ChildPID returns the pid of this process's child whose command name is comm (as envtest starts
// kube-apiserver and etcd), or 0 when there is none.
func ChildPID(comm string) int {
	procs, err := procfs.AllProcs()
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, p := range procs {
		stat, err := p.Stat()
		if err == nil && stat.PPID == self && stat.Comm == comm {
			return p.PID
		}
	}
	return 0
}

// cpuOf returns the CPU seconds of pid, 0 when pid is 0 or gone.
func cpuOf(pid int) float64 {
	if pid == 0 {
		return 0
	}
	s, err := SampleProc(pid)
	if err != nil {
		return 0
	}
	return s.CPUSeconds
}
