package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestSyncChecksFlagsBeforeKubeconfig: with a kubeconfig that cannot be loaded, a flag mistake is still
// reported as such; only flags that are right reach the kubeconfig.
func TestSyncChecksFlagsBeforeKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	tests := map[string]struct {
		args []string
		want string
	}{
		"no provider":                           {[]string{"--group", "fd-1/dg-1"}, "--provider is required"},
		"neither":                               {[]string{"--provider", "array-a"}, "give the groups with --group FAULT_DOMAIN/DEVICE_GROUP, --rg REPLICATION_GROUP or -l SELECTOR"},
		"both":                                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "-l", "x=y"}, "ids or a selector, not both"},
		"bad group":                             {[]string{"--provider", "array-a", "--group", "dg-1"}, `--group "dg-1": write FAULT_DOMAIN/DEVICE_GROUP`},
		"group id with a space after the slash": {[]string{"--provider", "array-a", "--group", "fd-1/ dg-1"}, `--group "fd-1/ dg-1": the ids must not start or end with white space`},
		"group id with a line break":            {[]string{"--provider", "array-a", "--group", "fd-1/dg-1\n"}, `--group "fd-1/dg-1\n": the ids must not start or end with white space`},
		"pit name with a trailing space":        {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "manual "}, `--pit-name "manual ": a PiT name must not start or end with white space`},
		"negative timeout":                      {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--wait", "--timeout", "-5s"}, `--timeout -5s: give how long to wait, or 0 for no limit`},
		"timeout without wait":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--timeout", "1m"}, `--timeout bounds --wait: add --wait, or drop --timeout`},
		"pit name with U+FFFF":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "manual\uffff"}, `a PiT name must not start or end with white space or contain control characters, U+FFFE or U+FFFF`},
		"group id with U+FFFE":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg\ufffe1"}, `the ids must not start or end with white space or contain control characters, U+FFFE or U+FFFF`},
		"provider not an object name":           {[]string{"--provider", "Array_A", "--group", "fd-1/dg-1"}, `--provider "Array_A" is not a VasaProvider name`},
		"bad selector":                          {[]string{"--provider", "array-a", "-l", "a in (b"}, `-l "a in (b" is not a label selector`},
		"bad name":                              {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--name", "Not_A_Name"}, `--name "Not_A_Name"`},
		"schedule and groups":                   {[]string{"--from-schedule", "weekly", "-l", "x=y"}, "--from-schedule takes provider and groups from the schedule"},
		"schedule and provider":                 {[]string{"--from-schedule", "weekly", "--provider", "array-a"}, "--from-schedule takes provider and groups from the schedule"},
		"split without a selector":              {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--split"}, "--split shares out the groups a selector matches: use it with -l or --from-schedule"},
		"output not name":                       {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "-o", "json"}, `--output "json": the one output is name`},
		"more groups than a run holds":          {append([]string{"--provider", "array-a"}, manyGroups(1001)...), "1001 groups given, more than one ReplicationSync holds (1000): choose them with -l and --split"},
		"flags right":                           {[]string{"--provider", "array-a", "--group", "fd-1/dg-1"}, "loading the kubeconfig"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := &syncBuffer{}
			a := &app{out: out, errOut: out}
			cmd := a.rootCommand()
			cmd.SetArgs(append([]string{"sync", "--kubeconfig", missing, "-n", "storage"}, tc.args...))
			NewWithT(t).Expect(cmd.Execute()).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// manyGroups are n --group flags.
func manyGroups(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "--group", fmt.Sprintf("fd-1/dg-%d", i))
	}
	return out
}

// TestSyncOutputName: -o name puts the names of the runs created or followed, and nothing else, on
// stdout, for a script to capture; what the command says otherwise goes to stderr.
func TestSyncOutputName(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-output-name")
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{}, nil, nil)
	for range 2 { // created, then followed
		stdout, stderr := &syncBuffer{}, &syncBuffer{}
		a := &app{out: stdout, errOut: stderr, now: func() time.Time { return now }, restConfig: cfg}
		cmd := a.rootCommand()
		cmd.SetArgs([]string{"sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "scripted", "-o", "name"})
		g.Expect(cmd.Execute()).To(Succeed())
		g.Expect(stdout.String()).To(Equal("replicationsync.replication.vasa.io/scripted\n"))
		g.Expect(stderr.String()).To(ContainSubstring("replicationsync.replication.vasa.io/scripted "))
	}
}

// TestHangingAPIServerEndsTheCommand: an API server that takes connections and never answers (half
// reachable in an outage) ends a command after --request-timeout, 30 s unless set, instead of hanging.
func TestHangingAPIServerEndsTheCommand(t *testing.T) {
	g := NewWithT(t)
	hang := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["hanging"] = &clientcmdapi.Cluster{Server: srv.URL, InsecureSkipTLSVerify: true}
	kc.AuthInfos["hanging"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["hanging"] = &clientcmdapi.Context{Cluster: "hanging", AuthInfo: "hanging"}
	kc.CurrentContext = "hanging"
	g.Expect(clientcmd.WriteToFile(*kc, kubeconfig)).To(Succeed())

	out := &syncBuffer{}
	a := &app{out: out, errOut: out}
	cmd := a.rootCommand()
	g.Expect(cmd.PersistentFlags().Lookup("request-timeout").DefValue).To(Equal("30s"))
	cmd.SetArgs([]string{"doctor", "--kubeconfig", kubeconfig, "-n", "storage", "--request-timeout", "1s"})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	g.Expect(cmd.ExecuteContext(ctx)).To(MatchError(Or(ContainSubstring("Client.Timeout exceeded"), ContainSubstring("timeout=1s\": context deadline exceeded"))))
	g.Expect(ctx.Err()).NotTo(HaveOccurred(), "ended by --request-timeout, not by the test")
}

// pluginProcess runs the plugin as a process against the test API server and returns its output and
// exit code.
func pluginProcess(t *testing.T, g *WithT, args ...string) (string, int) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	g.Expect(clientcmd.WriteToFile(*kc, kubeconfig)).To(Succeed())

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	g.Expect(ctx.Err()).NotTo(HaveOccurred(), "the plugin did not end: %s", out)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	g.Expect(err).NotTo(HaveOccurred())
	return string(out), 0
}

// TestSyncExitCodes: a script tells a wait that stopped before the sync finished (exit code 3: the sync
// goes on, do not start another) from a failure (1); a negative --timeout is a flag mistake.
func TestSyncExitCodes(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-exit-codes")
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{}, nil, nil)

	out, code := pluginProcess(t, g, "sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "slow", "--wait", "--timeout", "100ms")
	g.Expect(out).To(ContainSubstring("error: stopped waiting for ReplicationSync slow (context deadline exceeded); the sync goes on"))
	g.Expect(code).To(Equal(3))

	// The same command again (a retry after an unclear answer) follows the run: nothing synced twice.
	out, code = pluginProcess(t, g, "sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "slow", "--wait", "--timeout", "100ms")
	g.Expect(out).To(ContainSubstring("replicationsync.replication.vasa.io/slow unchanged: it exists with the same provider, PiT and groups (phase Pending); following it"))
	g.Expect(code).To(Equal(3))
	// Another run of that name is not followed, and the advice keeps the PiT name.
	out, code = pluginProcess(t, g, "sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-2", "--pit-name", "slow", "--wait")
	g.Expect(out).To(ContainSubstring("error: nothing created: ReplicationSync slow already exists in namespace " + ns + " with another provider, PiT name or groups: choose another --name."))
	g.Expect(out).To(ContainSubstring("keep that --pit-name"))
	g.Expect(code).To(Equal(1))

	// An interrupt (Ctrl-C) cancels the command's context: the sync goes on as after --timeout.
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	a := &app{out: &syncBuffer{}, pollInterval: time.Millisecond}
	err := a.waitFor(interrupted, k8sClient, followKeys(client.ObjectKey{Namespace: ns, Name: "slow"}), "", 0)
	g.Expect(err).To(MatchError(ContainSubstring("stopped waiting for ReplicationSync slow (context canceled); the sync goes on")))
	g.Expect(exitCode(err)).To(Equal(3))

	out, code = pluginProcess(t, g, "sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "negative", "--wait", "--timeout", "-1m")
	g.Expect(out).To(Equal("error: --timeout -1m0s: give how long to wait, or 0 for no limit\n"))
	g.Expect(code).To(Equal(1))
}
