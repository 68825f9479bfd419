package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopTimeout bounds a manager's graceful exit after SIGTERM.
const stopTimeout = time.Minute

// BuildManager builds the manager binary of the repository at root into dir and returns its path.
// It is built without the race detector: it is the product being measured.
func BuildManager(root, dir string) (string, error) {
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the manager: %w\n%s", err, out)
	}
	return bin, nil
}

// Manager is one manager process.
type Manager struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    *os.File
}

// StartManager runs bin with kubeconfig, watching ns, with the flags a deployment sets for a
// single replica plus extra; its output goes to logPath.
func StartManager(bin, kubeconfig, ns, logPath string, extra []string) (*Manager, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--watch-namespace=" + ns,
		"--leader-elect=false",
		"--metrics-bind-address=" + metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address=0",
	}, extra...)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	m := &Manager{cmd: cmd, exited: make(chan struct{}), log: logFile}
	go func() {
		m.err = cmd.Wait()
		_ = logFile.Close()
		close(m.exited)
	}()
	return m, nil
}

// PID returns the process id.
func (m *Manager) PID() int { return m.cmd.Process.Pid }

// Running tells whether the process still runs.
func (m *Manager) Running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Sample reads the process's CPU and memory.
func (m *Manager) Sample() (ProcSample, error) { return SampleProc(m.PID()) }

// Stop sends SIGTERM and waits for the exit, killing the process after stopTimeout.
func (m *Manager) Stop() error {
	if !m.Running() {
		return m.exitErr()
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return m.exitErr()
	case <-time.After(stopTimeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return fmt.Errorf("manager still running %v after SIGTERM", stopTimeout)
	}
}

// exitErr is the exit error, nil for a clean exit or one by SIGTERM.
func (m *Manager) exitErr() error {
	var ee *exec.ExitError
	if errors.As(m.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return m.err
}

// LogTail returns the last n lines of the log at path.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
