package sms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// slowTimeout is the round trip bound of these tests; the server answers each request in slowAnswer, in
// time with a margin for a loaded machine, but 14 such answers take more than 4 round trips' bound.
const (
	slowTimeout = 600 * time.Millisecond
	slowAnswer  = 400 * time.Millisecond
)

// refusedVersion is the SOAP fault of a vCenter that does not know the SMS version asked for.
var refusedVersion = soapAnswer(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Request version 'urn:sms/x' and namespace 'urn:sms' are not supported</faultstring></soapenv:Fault>`)

// TestLoginIsBoundedAsAWhole: a server that answers each round trip of a login just in time, refusing every
// SMS version (14 round trips), has the login fail after 4 round trips' time, not 14.
func TestLoginIsBoundedAsAWhole(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	cfg := behindFront(t, sim, sms.BindingSOAP, func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(slowAnswer)
		if bytes.Contains(requestBody(r), []byte("<QueryStorageManager")) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(refusedVersion))
			return true
		}
		return false
	})
	cfg.Timeout = slowTimeout
	start := time.Now()
	_, err := sms.Dial(context.Background(), cfg)
	took := time.Since(start)
	var unreachable *sms.UnreachableError
	g.Expect(errors.As(err, &unreachable)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("logging in took longer than %s", 4*slowTimeout))
	g.Expect(took).To(BeNumerically("<", 4500*time.Millisecond), "4 round trips of 600 ms (and a logout), not 14 of 400 ms")
}

// TestProviderListingIsBoundedAsAWhole: a vCenter whose providers are many, each answered just in time,
// has FindProvider fail after 4 round trips' time, not one per provider.
func TestProviderListingIsBoundedAsAWhole(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t, func(c *smssim.Config) {
		for i := range 14 {
			c.Providers = append(c.Providers, smssim.ProviderConfig{Name: fmt.Sprintf("array-%d", i), UID: fmt.Sprintf("uid-%d", i)})
		}
	})
	cfg := behindFront(t, sim, sms.BindingSOAP, func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(string(requestBody(r)), "<QueryProviderInfo") {
			time.Sleep(slowAnswer)
		}
		return false
	})
	cfg.Timeout = slowTimeout
	c, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	start := time.Now()
	_, err = c.FindProvider(context.Background(), "array-13", "")
	took := time.Since(start)
	var unreachable *sms.UnreachableError
	g.Expect(errors.As(err, &unreachable)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("took longer than %s", 4*slowTimeout))
	g.Expect(took).To(BeNumerically("<", 4500*time.Millisecond), "4 round trips of 600 ms, not 16 of 400 ms")
}
