package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// lostAnswers is a transport whose creates of ReplicationSyncs reach the API server but whose answer is
// lost, as when a connection drops or the command is interrupted after the request went out; with
// readsFail, reading them back fails too.
type lostAnswers struct {
	next      http.RoundTripper
	readsFail atomic.Bool
	// neverSent drops the creates before they reach the API server.
	neverSent atomic.Bool
}

func (l *lostAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	ours := strings.Contains(req.URL.Path, "/replicationsyncs")
	if ours && req.Method == http.MethodGet && l.readsFail.Load() {
		return nil, errors.New("connection reset by peer")
	}
	if ours && req.Method == http.MethodPost && !req.URL.Query().Has("dryRun") && l.neverSent.Load() {
		return nil, errors.New("connection reset by peer")
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || !ours || req.Method != http.MethodPost || req.URL.Query().Has("dryRun") {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, io.ErrUnexpectedEOF
}

// TestSyncWhoseAnswerWasLost: a create the API server applied but whose answer was lost is read back and
// followed, not reported failed (a script would run the command again, under a new PiT name by default);
// when it cannot be read back either, the command says it may exist, with exit code 3, and running it
// again with the same names follows the run instead of creating another. One read back as missing was
// not created.
func TestSyncWhoseAnswerWasLost(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, g, "plugin-lost-answer")
	provider(g, ns, "array-a", replicationv1alpha1.TLSSpec{}, nil, nil)
	lossy := &lostAnswers{}
	config := rest.CopyConfig(cfg)
	config.Wrap(func(rt http.RoundTripper) http.RoundTripper { lossy.next = rt; return lossy })
	runLossy := func(args ...string) (string, error) {
		out := &syncBuffer{}
		a := &app{out: out, errOut: out, now: func() time.Time { return now }, restConfig: config, pollInterval: 5 * time.Millisecond}
		cmd := a.rootCommand()
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	runs := func() []string {
		list := &replicationv1alpha1.ReplicationSyncList{}
		g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		var names []string
		for _, rs := range list.Items {
			names = append(names, rs.Name+"/"+rs.Spec.PitName)
		}
		return names
	}

	out, err := runLossy("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-1")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("replicationsync.replication.vasa.io/manual-20261123-120000 created"))
	g.Expect(runs()).To(ConsistOf("manual-20261123-120000/manual-20261123-120000"))

	lossy.readsFail.Store(true)
	out, err = runLossy("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-2", "--pit-name", "retry-me")
	g.Expect(err).To(MatchError(And(ContainSubstring("creating ReplicationSync retry-me: "), ContainSubstring("it may have been created"),
		ContainSubstring("Run the command again with --name retry-me --pit-name retry-me"))), out)
	g.Expect(exitCode(err)).To(Equal(3), "not failed: a script must not start another under a new PiT name")

	lossy.readsFail.Store(false)
	out, err = runLossy("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-2", "--name", "retry-me", "--pit-name", "retry-me")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("replicationsync.replication.vasa.io/retry-me unchanged: it exists with the same provider, PiT and groups"))
	g.Expect(runs()).To(ConsistOf("manual-20261123-120000/manual-20261123-120000", "retry-me/retry-me"))

	// A create that never reached the API server is read back as missing: not created, exit 1.
	lossy.neverSent.Store(true)
	out, err = runLossy("sync", "-n", ns, "--provider", "array-a", "--group", "fd-1/dg-3", "--pit-name", "lost-on-the-way")
	g.Expect(err).To(MatchError(And(HavePrefix("creating ReplicationSync lost-on-the-way: "), Not(ContainSubstring("may have been created")))), out)
	g.Expect(exitCode(err)).To(Equal(1))
	g.Expect(runs()).To(HaveLen(2))
}
