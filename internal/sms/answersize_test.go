package sms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// allocated returns how many bytes f allocated (runtime.MemStats.TotalAlloc): a bound on how much heap it
// can have held.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hugeAnswers is a "vCenter" answering every request with status, contentType and a body of prefix
// followed by size bytes of "A" (and suffix); sent counts the bytes of "A" that went out.
func hugeAnswers(t *testing.T, status int, contentType, prefix string, size int, suffix string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var sent atomic.Int64
	chunk := strings.Repeat("A", 1<<20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("vmware-api-session-id", "s")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, prefix)
		for range size >> 20 {
			n, err := io.WriteString(w, chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, suffix)
	}))
	t.Cleanup(srv.Close)
	return srv, &sent
}

func hugeConfig(srv *httptest.Server, b sms.Binding) sms.Config {
	return sms.Config{URL: srv.URL, Username: "u", Password: "p", Binding: b, Timeout: 30 * time.Second,
		Thumbprint: sms.FormatThumbprint(srv.Certificate().Raw)}
}

// TestHugeAnswerIsNotRead: an answer of 256 MiB (here the first one, to the login) is read up to the
// limit and refused, on both bindings; the manager neither holds it nor reads it all.
func TestHugeAnswerIsNotRead(t *testing.T) {
	const size = 256 << 20
	for b, answer := range map[sms.Binding][3]string{
		sms.BindingSOAP: {"text/xml; charset=utf-8",
			`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:vim25"><soapenv:Body><RetrieveServiceContentResponse><returnval><about><fullName>`,
			`</fullName></about></returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>`},
		sms.BindingJSON: {"application/json", `{"key":"`, `"}`},
	} {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			srv, sent := hugeAnswers(t, http.StatusOK, answer[0], answer[1], size, answer[2])
			var err error
			bytes := allocated(func() { _, err = sms.Dial(context.Background(), hugeConfig(srv, b)) })
			var tooLarge *sms.AnswerTooLargeError
			g.Expect(errors.As(err, &tooLarge)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring("answer larger than 8 MiB"))
			t.Logf("Dial allocated %d MiB; the server sent %d MiB", bytes>>20, sent.Load()>>20)
			g.Expect(bytes).To(BeNumerically("<", 64<<20))
			g.Expect(sent.Load()).To(BeNumerically("<", 64<<20), "the client stopped reading")
		})
	}
}

// TestJSONFaultBodyIsNotDecodedAsAny: a JSON body of an HTTP error that is no fault object is not decoded
// into a generic value, which takes many times its size.
func TestJSONFaultBodyIsNotDecodedAsAny(t *testing.T) {
	g := NewWithT(t)
	const size = 7 << 20
	srv, _ := hugeAnswers(t, http.StatusInternalServerError, "application/json", "[", 0, strings.Repeat("{},", size/3)+"{}]")
	var err error
	bytes := allocated(func() { _, err = sms.Dial(context.Background(), hugeConfig(srv, sms.BindingJSON)) })
	g.Expect(err).To(MatchError(ContainSubstring("server fault of unknown type")))
	t.Logf("Dial allocated %d MiB", bytes>>20)
	g.Expect(bytes).To(BeNumerically("<", 48<<20))
}

// padListings puts pad bytes of white space into the simulator's answers to QueryReplicationGroup, before
// their last closing tag or bracket.
func padListings(t *testing.T, sim *smssim.Sim, b sms.Binding, pad *atomic.Int64) sms.Config {
	t.Helper()
	return rewriteAnswers(t, sim, b, "QueryReplicationGroup", func(body []byte) []byte {
		cut := bytes.LastIndexAny(body, "<]")
		return slices.Concat(body[:cut], bytes.Repeat([]byte(" "), int(pad.Load())), body[cut:])
	})
}

// TestListingMayBeLarger: the answer listing every group of a provider may be larger than other answers
// (32 MiB, not 8), and is bounded too.
func TestListingMayBeLarger(t *testing.T) {
	for _, b := range bindings {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			var pad atomic.Int64
			c, err := sms.Dial(context.Background(), padListings(t, sim, b, &pad))
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			ctx := context.Background()
			var tooLarge *sms.AnswerTooLargeError

			pad.Store(12 << 20)
			all, err := c.AllReplicationGroups(ctx, "vasaprovider-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(all).To(HaveLen(40))
			ids, _ := groups("fd-1", 2)
			_, err = c.ReplicationGroups(ctx, "vasaprovider-1", ids)
			g.Expect(errors.As(err, &tooLarge)).To(BeTrue(), "got %v", err)
			g.Expect(tooLarge.Limit).To(BeEquivalentTo(8 << 20))

			pad.Store(40 << 20)
			_, err = c.AllReplicationGroups(ctx, "vasaprovider-1")
			g.Expect(errors.As(err, &tooLarge)).To(BeTrue(), "got %v", err)
			g.Expect(tooLarge.Limit).To(BeEquivalentTo(32 << 20))
		})
	}
}

// TestAnswerTooLargeIsAskedInHalves: a query whose answer is too large to read is asked again in halves,
// down to one group, whose own too-large answer is its answer.
func TestAnswerTooLargeIsAskedInHalves(t *testing.T) {
	g := NewWithT(t)
	var groups []sms.GroupID
	for i := range 10 {
		groups = append(groups, sms.GroupID{FaultDomainID: "fd-1", DeviceGroupID: fmt.Sprintf("dg-%d", i)})
	}
	huge := groups[7] // its answer alone is too large
	query := func(part []sms.GroupID) ([]sms.GroupID, error) {
		if len(part) > 3 || slices.Contains(part, huge) {
			return nil, fmt.Errorf("reading the answer: %w", &sms.AnswerTooLargeError{Limit: 8 << 20})
		}
		return part, nil
	}
	var answered []sms.GroupID
	var failed [][]sms.GroupID
	sms.AskInParts(groups, query, func(part []sms.GroupID, items []sms.GroupID, err error) {
		if err != nil {
			failed = append(failed, part)
		}
		answered = append(answered, items...)
	})
	g.Expect(failed).To(Equal([][]sms.GroupID{{huge}}))
	g.Expect(answered).To(Equal(slices.DeleteFunc(slices.Clone(groups), func(id sms.GroupID) bool { return id == huge })))
}
