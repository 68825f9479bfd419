package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestLoginAnswerCutInsideThePasswordQuotesNoPartOfIt: the client quotes only the start of an unexpected
// answer (200 bytes of a VI/JSON one, 1 KiB of a 503). When that cut falls inside an echoed password,
// the part before the cut is no password any more, yet must not be quoted either.
func TestLoginAnswerCutInsideThePasswordQuotesNoPartOfIt(t *testing.T) {
	const password = "Corr3ctHorseBatteryStaple"
	for name, tc := range map[string]struct {
		code   int
		quoted int // how much of the answer the client quotes
	}{
		"VI/JSON 500": {http.StatusInternalServerError, 200},
		"VI/JSON 503": {http.StatusServiceUnavailable, 1 << 10},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			vc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				at := strings.Index(string(body), password)
				if at < 0 {
					w.WriteHeader(http.StatusNotFound) // not the Login
					return
				}
				pad := tc.quoted - 6 - at // the quote ends 6 characters into the password
				g.Expect(pad).To(BeNumerically(">", 0))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(strings.Repeat("x", pad) + string(body)))
			}))
			defer vc.Close()
			_, err := sms.Dial(context.Background(), sms.Config{URL: vc.URL, Username: "svc", Password: password, Binding: sms.BindingJSON,
				Thumbprint: sms.FormatThumbprint(vc.Certificate().Raw), Timeout: 5 * time.Second})
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("xxx"), "the answer is quoted")
			g.Expect(err.Error()).NotTo(ContainSubstring(password[:3]))
		})
	}
}

// TestLoginErrorEndingAsThePasswordBeginsKeepsItsKind: an error that quotes no answer is left as it is,
// though its last word begins as the password does: a refused login stays a LoginError, which the
// session cache counts against the account's refusal budget.
func TestLoginErrorEndingAsThePasswordBeginsKeepsItsKind(t *testing.T) {
	g := NewWithT(t)
	refused := &sms.LoginError{Username: "svc", Err: errors.New("invalid username or password")}
	got := sms.WithoutPassword(refused, "passwordfish2024")
	g.Expect(got).To(BeIdenticalTo(refused))
	unreachable := fmt.Errorf("dial tcp 10.0.0.1:443: connect: connection refused")
	g.Expect(sms.WithoutPassword(unreachable, "refusedNot!")).To(BeIdenticalTo(unreachable))
}

// TestFaultQuotingACutPasswordQuotesNoPartOfIt: a fault whose text quotes the Login request, cut inside
// the password, gets no part of it into the error; a refused login wrapping a fault stays a LoginError.
func TestFaultQuotingACutPasswordQuotesNoPartOfIt(t *testing.T) {
	g := NewWithT(t)
	const password = "Corr3ctHorseBatteryStaple"
	got := sms.WithoutPassword(&sms.InvalidArgumentError{Message: "bad request: <password>Corr3ctHor…"}, password)
	g.Expect(got.Error()).NotTo(ContainSubstring("Cor"))
	refused := &sms.LoginError{Username: "svc", Err: &sms.InvalidArgumentError{Message: "user or password"}}
	g.Expect(sms.WithoutPassword(refused, "passwordfish2024")).To(BeIdenticalTo(refused))
}
