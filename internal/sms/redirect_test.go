package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// recorder is a server elsewhere that a redirect points at; it keeps what reached it.
type recorder struct {
	mu   sync.Mutex
	seen []string // method, path, session header and body of each request
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path+" session="+req.Header.Get("vmware-api-session-id")+" "+string(body))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNotFound)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// TestRedirectsAreNotFollowed: a vCenter address that answers with a redirect (a misconfigured load
// balancer, or a compromised front end behind a pinned certificate) must not receive the credentials
// elsewhere: Go's client would send a 307/308 POST body again, the VI/JSON Login with the password, to
// the Location's host and scheme, plain http included. No request may reach the other server, and the
// error names the redirect.
func TestRedirectsAreNotFollowed(t *testing.T) {
	const password = "hunter2-do-not-leak"
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		for _, b := range bindings {
			t.Run(string(b)+"/"+http.StatusText(code), func(t *testing.T) {
				g := NewWithT(t)
				elsewhere := &recorder{}
				plain := httptest.NewServer(elsewhere) // plain http: a redirect may also downgrade
				defer plain.Close()
				vc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, plain.URL+r.URL.Path, code)
				}))
				defer vc.Close()

				_, err := sms.Dial(context.Background(), sms.Config{
					URL: vc.URL, Username: "admin", Password: password, Binding: b,
					Thumbprint: sms.FormatThumbprint(vc.Certificate().Raw), Timeout: 5 * time.Second,
				})
				g.Expect(err).To(HaveOccurred())
				g.Expect(elsewhere.requests()).To(BeEmpty(), "the redirect was followed")
				var re *sms.RedirectError
				g.Expect(errors.As(err, &re)).To(BeTrue(), "got %T: %v", err, err)
				g.Expect(re.StatusCode).To(Equal(code))
				g.Expect(re.To).To(HavePrefix(plain.URL))
				g.Expect(err.Error()).NotTo(ContainSubstring(password))
			})
		}
	}
}

// TestRedirectErrorHasNoUserinfo: a Location with user information or a query is rendered without them.
func TestRedirectErrorHasNoUserinfo(t *testing.T) {
	g := NewWithT(t)
	vc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://user:pw-in-location@elsewhere.invalid/sdk?token=abc")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer vc.Close()
	_, err := sms.Dial(context.Background(), sms.Config{
		URL: vc.URL, Username: "admin", Password: "p", Binding: sms.BindingJSON,
		Thumbprint: sms.FormatThumbprint(vc.Certificate().Raw), Timeout: 5 * time.Second,
	})
	var re *sms.RedirectError
	g.Expect(errors.As(err, &re)).To(BeTrue(), "got %T: %v", err, err)
	g.Expect(re.To).To(Equal("https://elsewhere.invalid/sdk"))
	for _, s := range []string{"pw-in-location", "token=abc"} {
		g.Expect(strings.Contains(err.Error(), s)).To(BeFalse(), "%q in %v", s, err)
	}
}
