package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestLoginAnswerEchoingThePasswordIsNotQuoted: a server (or a proxy before it) that answers a Login with
// the request quoted, in an HTTP 500 or 503, gets no part of the password into the error, which reaches
// the VasaProvider's condition, events and logs; a 503 still reads as the service unavailable.
func TestLoginAnswerEchoingThePasswordIsNotQuoted(t *testing.T) {
	const password = `hunter2<&"secret>`
	for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			vc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				_, _ = w.Write([]byte(`{"error":"bad gateway","request":` + string(body) + `}`))
			}))
			defer vc.Close()
			_, err := sms.Dial(context.Background(), sms.Config{URL: vc.URL, Username: "svc", Password: password, Binding: sms.BindingJSON,
				Thumbprint: sms.FormatThumbprint(vc.Certificate().Raw), Timeout: 5 * time.Second})
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).NotTo(ContainSubstring("hunter2"))
			g.Expect(err.Error()).To(ContainSubstring(`"password":"***"`), "the rest of the answer is still quoted")
			var su *sms.ServiceUnavailableError
			g.Expect(errors.As(err, &su)).To(Equal(code == http.StatusServiceUnavailable))
		})
	}
}
