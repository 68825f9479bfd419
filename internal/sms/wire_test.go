package sms_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// update rewrites the golden wire transcripts: go test ./internal/sms -run TestWireTranscripts -update
// (or UPDATE_GOLDEN=1). A changed transcript is a wire change to review in the diff.
var update = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") != "", "rewrite testdata/wire golden files")

var (
	soapMethod   = regexp.MustCompile(`<Body[^>]*><(\w+)`)
	soapCookie   = regexp.MustCompile(`(<vcSessionCookie[^>]*>)[^<]*</vcSessionCookie>`)
	jsonPassword = regexp.MustCompile(`"password":"[^"]*"`)
	// a PiT query's interval ends a day past the clock
	toDate        = regexp.MustCompile(`(<toDate>|"toDate":")[0-9T:.Z-]+`)
	transcriptDir = filepath.Join("testdata", "wire")
)

// TestWireTranscripts records, against the simulator, the first request of every method the operator
// makes on each binding (path, SOAPAction or JSON headers, body), and of each shape a method takes (the
// discovery's listing of every group, its newest-PiT query), and compares it with the committed
// transcript. Session ids, the password and a PiT query's end (toDate) are replaced by placeholders.
func TestWireTranscripts(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			// A task's result left out of its info is read by QuerySmsTaskResult.
			sim := startSim(t, func(cfg *smssim.Config) { cfg.Providers[0].ResultOnlyByQuery = true })
			sim.SetWireLog(true)
			c, err := sms.Dial(ctx, clientConfig(sim, b))
			g.Expect(err).NotTo(HaveOccurred())
			p, err := c.FindProvider(ctx, "array-a", "")
			g.Expect(err).NotTo(HaveOccurred())
			ids, _ := groups("fd-1", 2)
			_, err = c.ReplicationGroups(ctx, p.Ref, ids)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = c.PointInTimeReplicas(ctx, p.Ref, ids, "nightly-1")
			g.Expect(err).NotTo(HaveOccurred())
			task, err := c.SyncReplicationGroups(ctx, p.Ref, ids, "nightly-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Eventually(func(g Gomega) {
				info, err := c.TaskInfo(ctx, task)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(info.Results).NotTo(BeEmpty())
			}).Should(Succeed())
			_, err = c.AllReplicationGroups(ctx, p.Ref)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = c.NewestPointInTimes(ctx, p.Ref, ids)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.Close(ctx)).To(Succeed())

			seen := map[string]bool{}
			dir := filepath.Join(transcriptDir, strings.ToLower(string(b)))
			for _, r := range sim.WireLog() {
				name, text := transcript(r)
				if seen[name] {
					continue
				}
				seen[name] = true
				compareGolden(t, filepath.Join(dir, name+".txt"), text)
			}
			want := []string{"QueryStorageManager", "QueryProvider", "QueryProviderInfo", "QueryReplicationGroup",
				"QueryPointInTimeReplica", "SyncReplicationGroup_Task", "QuerySmsTaskInfo", "QuerySmsTaskResult",
				"QueryReplicationGroup-all", "QueryPointInTimeReplica-newest"}
			if b == sms.BindingJSON {
				want = append(want, "Login", "RetrieveServiceContent", "Logout")
			}
			for _, m := range want {
				g.Expect(seen).To(HaveKey(m), "a transcript of %s", m)
			}
			if !*update {
				files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(files).To(HaveLen(len(seen)), "no stale transcripts in %s", dir)
			}
		})
	}
}

// transcript renders one request as a method name and a stable text.
func transcript(r smssim.WireRequest) (string, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.Path)
	body := r.Body
	var name string
	if r.Binding == "SOAP" {
		if m := soapMethod.FindStringSubmatch(body); m != nil {
			name = m[1]
		}
		fmt.Fprintf(&b, "SOAPAction: %s\nContent-Type: %s\n", r.SOAPAction, r.ContentType)
		body = soapCookie.ReplaceAllString(body, "${1}SESSION</vcSessionCookie>")
	} else {
		name = r.Path[strings.LastIndex(r.Path, "/")+1:]
		fmt.Fprintf(&b, "Content-Type: %s\nAccept: %s\n", r.ContentType, r.Accept)
		if r.Session != "" {
			b.WriteString("vmware-api-session-id: SESSION\n")
		}
		body = jsonPassword.ReplaceAllString(body, `"password":"PASSWORD"`)
	}
	body = toDate.ReplaceAllString(body, "${1}NOW+24h")
	fmt.Fprintf(&b, "\n%s\n", body)
	return name + shapeOf(name, body), b.String()
}

// shapeOf tells the discovery's requests from the runs' requests of the same method: a listing of every
// group names none, and a newest-PiT query asks for a number of PiTs instead of a PiT name.
func shapeOf(method, body string) string {
	switch {
	case method == "QueryReplicationGroup" && !strings.Contains(body, "groupId"):
		return "-all"
	case method == "QueryPointInTimeReplica" && !strings.Contains(body, "pitName"):
		return "-newest"
	}
	return ""
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil { //nolint:gosec // a golden file in the repository
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update to record it): %v", path, err)
	}
	if string(want) != got {
		t.Errorf("the wire changed for %s (review, then run with -update):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
