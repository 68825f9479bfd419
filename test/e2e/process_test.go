package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// terminateTimeout bounds how long a manager may take to exit after SIGTERM (controller-runtime's
// graceful shutdown is 30s).
const terminateTimeout = 45 * time.Second

var (
	// buildDir holds the manager binary and the kubeconfig, removed by TestMain.
	buildDir      string
	buildOnce     sync.Once
	buildErr      error
	managerBinary string
)

// buildManager builds the manager binary once per test run (without -race: it is the product, not the test).
func buildManager(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "vasa-e2e-"); buildErr != nil {
			return
		}
		managerBinary = filepath.Join(buildDir, "manager")
		cmd := exec.Command("go", "build", "-o", managerBinary, ".")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build of the manager: %w\n%s", err, out)
			return
		}
		buildErr = os.WriteFile(filepath.Join(buildDir, "kubeconfig"), managerKubeconfig, 0o600)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return managerBinary
}

// removeBuild deletes what buildManager made.
func removeBuild() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// procOptions say how to run a manager process.
type procOptions struct {
	// leaderElect turns leader election on.
	leaderElect bool
	// args are extra flags.
	args []string
}

// managerProcess is the manager binary run as a subprocess with the restricted identity, watching one
// namespace, restarted by the test as a kubelet would. Every method is safe for concurrent use (a proxy
// kills it from its own goroutine).
type managerProcess struct {
	t    *testing.T
	name string
	bin  string
	args []string

	// restartMu serialises KillAndRestart, which a proxy and a test may call at once.
	restartMu sync.Mutex

	mu          sync.Mutex
	cur         *run // nil when stopped
	closed      bool // set at the end of the test: nothing starts any more
	generation  int
	metricsAddr string
	probeAddr   string
	logs        lockedBuffer
}

// startManagerProcess builds the binary (once) and starts a manager named name (for logs) watching ns.
// The process is killed at the end of the test; its logs go to t.Log when the test failed.
func startManagerProcess(t *testing.T, name, ns string, opts procOptions) *managerProcess {
	t.Helper()
	m := &managerProcess{t: t, name: name, bin: buildManager(t)}
	m.args = append([]string{
		"--kubeconfig=" + filepath.Join(buildDir, "kubeconfig"),
		"--watch-namespace=" + ns,
		fmt.Sprintf("--leader-elect=%t", opts.leaderElect),
		"--metrics-secure=false",
		"--task-poll-initial=200ms",
		"--task-poll-max=1s",
		"--provider-backoff-base=200ms",
		"--provider-backoff-max=2s",
		"--zap-log-level=info",
	}, opts.args...)
	t.Cleanup(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.Kill()
		if t.Failed() || os.Getenv("E2E_VERBOSE") != "" {
			t.Logf("manager %s logs:\n%s", m.name, tail(m.logs.String(), logLines))
		}
	})
	m.Start()
	return m
}

// run is one generation of the process.
type run struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited; err is set then
	err    error
}

// done tells whether the process has exited.
func (r *run) done() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// Start starts a new generation of the process; it is an error to start a running one.
func (m *managerProcess) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.cur != nil && !m.cur.done() {
		m.t.Errorf("manager %s: started while running", m.name)
		return
	}
	m.generation++
	m.metricsAddr, m.probeAddr = freeAddr(m.t), freeAddr(m.t)
	args := append([]string{"--metrics-bind-address=" + m.metricsAddr, "--health-probe-bind-address=" + m.probeAddr}, m.args...)
	cmd := exec.Command(m.bin, args...)
	out := &prefixWriter{prefix: fmt.Sprintf("[%s#%d] ", m.name, m.generation), w: &m.logs}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		m.t.Errorf("manager %s: %v", m.name, err)
		return
	}
	r := &run{cmd: cmd, exited: make(chan struct{})}
	m.cur = r
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
}

// signal sends sig to the running process and waits up to timeout for it to exit; it returns whether
// it exited in time and its exit error. A stopped manager is left as it is.
func (m *managerProcess) signal(sig syscall.Signal, timeout time.Duration) (bool, error) {
	m.mu.Lock()
	r := m.cur
	m.mu.Unlock()
	if r == nil {
		return true, nil
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(timeout):
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == r {
		m.cur = nil
	}
	return true, r.err
}

// Kill kills the process with SIGKILL and returns once it is dead.
func (m *managerProcess) Kill() {
	if ok, _ := m.signal(syscall.SIGKILL, time.Minute); !ok {
		m.t.Errorf("manager %s: still running a minute after SIGKILL", m.name)
	}
}

// KillAndRestart kills the process with SIGKILL and starts the next generation.
func (m *managerProcess) KillAndRestart() {
	m.restartMu.Lock()
	defer m.restartMu.Unlock()
	m.Kill()
	m.Start()
}

// Terminate sends SIGTERM and waits for a graceful exit; it fails the test when the process takes longer
// than terminateTimeout or exits with an error.
func (m *managerProcess) Terminate() {
	ok, err := m.signal(syscall.SIGTERM, terminateTimeout)
	if !ok {
		m.t.Errorf("manager %s: still running %v after SIGTERM", m.name, terminateTimeout)
		m.Kill()
		return
	}
	if err != nil {
		m.t.Errorf("manager %s: exit after SIGTERM: %v", m.name, err)
	}
}

// WaitExit waits up to timeout for the process to exit by itself; it returns whether it did and its exit
// error.
func (m *managerProcess) WaitExit(timeout time.Duration) (bool, error) { return m.signal(0, timeout) }

// Generation returns how many times the process was started.
func (m *managerProcess) Generation() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.generation
}

// WaitReady waits until the running process answers its readiness probe.
func (m *managerProcess) WaitReady() {
	m.t.Helper()
	NewWithT(m.t).Eventually(m.Ready).WithTimeout(syncTimeout).WithPolling(50 * time.Millisecond).Should(Succeed())
}

// Ready asks the running process's readiness probe once; nil means Ready.
func (m *managerProcess) Ready() error {
	m.mu.Lock()
	url := "http://" + m.probeAddr + "/readyz"
	m.mu.Unlock()
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// Metrics scrapes the running process's metrics endpoint.
func (m *managerProcess) Metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	m.mu.Lock()
	url := "http://" + m.metricsAddr + "/metrics"
	m.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// MetricSum scrapes the process and sums the samples of a counter or gauge whose labels include labels.
func (m *managerProcess) MetricSum(g Gomega, name string, labels map[string]string) float64 {
	families, err := m.Metrics(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, metric := range families[name].GetMetric() {
		if hasLabels(metric, labels) {
			sum += metric.GetCounter().GetValue() + metric.GetGauge().GetValue()
		}
	}
	return sum
}

// hasLabels tells whether metric carries every label of want with its value.
func hasLabels(metric *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range metric.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Errorf("finding a free port: %v", err)
		return "127.0.0.1:0"
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// logLines is how many of a manager's last log lines a failed test shows.
const logLines = 400

// tail returns the last n lines of s, saying how many it left out.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("(%d earlier lines left out)\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], ""))
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prefixWriter prefixes every line with the process's name and generation.
type prefixWriter struct {
	prefix  string
	w       io.Writer
	partial bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.partial {
			out.WriteString(p.prefix)
		}
		out.WriteString(line)
		p.partial = !strings.HasSuffix(line, "\n")
	}
	if _, err := io.WriteString(p.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
