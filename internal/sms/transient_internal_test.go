package sms

import (
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestUnavailableAnswerHidesSessionTokens: a proxy's 503 page that echoes the request's headers puts
// neither the SOAP session cookie nor the VI/JSON session id in the error, which goes to logs, status and
// events.
func TestUnavailableAnswerHidesSessionTokens(t *testing.T) {
	g := NewWithT(t)
	req, err := http.NewRequest(http.MethodPost, "https://vc.example/sms/sdk", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Cookie", `vmware_soap_session="52a1c0ffee"; vcSessionCookie=52a1c0ffee`)
	req.Header.Set(sessionHeader, "9f3e-json-session")
	page := "Service Unavailable. Request headers: Cookie: vmware_soap_session=\"52a1c0ffee\"; vcSessionCookie=52a1c0ffee; " +
		sessionHeader + ": 9f3e-json-session"
	res := &http.Response{Status: "503 Service Unavailable", StatusCode: http.StatusServiceUnavailable,
		Body: io.NopCloser(strings.NewReader(page)), Request: req}

	text := unavailableAnswer(res).Error()
	g.Expect(text).NotTo(Or(ContainSubstring("52a1c0ffee"), ContainSubstring("9f3e-json-session")))
	g.Expect(text).To(ContainSubstring("Request headers"), "the rest of the page is kept")

	// A token where the quoted text is cut leaves no part of it.
	res.Body = io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<10-10) + " 9f3e-json-session"))
	g.Expect(unavailableAnswer(res).Error()).NotTo(ContainSubstring("9f3e"))
}
