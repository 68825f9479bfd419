package controllers

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestTLSFailureSaysWhatFixesIt: the errors of real TLS handshakes each get the advice that fixes them. A
// CA or a thumbprint is the fix for an unknown CA only: not for a URL the certificate does not name (an
// IP address where the certificate names the FQDN), nor for an expired certificate.
func TestTLSFailureSaysWhatFixesIt(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // its certificate names example.com and 127.0.0.1
	t.Cleanup(srv.Close)
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())
	handshake := func(url string, roots *x509.CertPool, now time.Time) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Time: func() time.Time { return now }}}}
		resp, err := c.Get(url)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	for name, tc := range map[string]struct {
		url    string
		roots  *x509.CertPool
		now    time.Time
		advice string
	}{
		"unknown CA":                 {srv.URL, nil, time.Now(), "set spec.vcenter.tls.caBundleSecretRef"},
		"URL the cert does not name": {strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), trusted, time.Now(), "spec.vcenter.url must use a name the certificate holds"},
		"expired":                    {srv.URL, trusted, srv.Certificate().NotAfter.Add(time.Hour), "renew vCenter's certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := handshake(tc.url, tc.roots, tc.now)
			g.Expect(err).To(HaveOccurred())
			reason, msg := classifyConnectError(newProvider("ns", "vp", "creds"), &sms.TLSError{Host: "vc", Err: err})
			g.Expect(reason).To(Equal(replicationv1alpha1.TLSVerificationFailedReason))
			g.Expect(msg).To(ContainSubstring(tc.advice))
		})
	}
}
