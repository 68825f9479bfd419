package sms_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// soapAnswer is a SOAP envelope whose body holds body.
func soapAnswer(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		body + `</soapenv:Body></soapenv:Envelope>`
}

// noSessionManager is a ServiceContent without the sessionManager every vCenter has.
var noSessionManager = soapAnswer(`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><about><name>x</name><apiVersion>8.0.3.0</apiVersion></about></returnval></RetrieveServiceContentResponse>`)

// writeAnswer answers with status 200 and body of the binding's content type.
func writeAnswer(w http.ResponseWriter, contentType, body string) bool {
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, body)
	return true
}

// TestEmptyStorageManagerAnswer: a QueryStorageManager answered without a storage manager (an empty SOAP
// body, an empty VI/JSON one) fails the login as a malformed answer, without a panic or a session that
// names no storage manager.
func TestEmptyStorageManagerAnswer(t *testing.T) {
	for b, answer := range map[sms.Binding][2]string{
		sms.BindingSOAP: {"text/xml", soapAnswer("")},
		sms.BindingJSON: {"application/json", ""},
	} {
		t.Run(string(b), func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			cfg := behindFront(t, sim, b, func(w http.ResponseWriter, r *http.Request) bool {
				if bytes.Contains(requestBody(r), []byte("<QueryStorageManager")) || strings.HasSuffix(r.URL.Path, "/QueryStorageManager") {
					return writeAnswer(w, answer[0], answer[1])
				}
				return false
			})
			_, err := sms.Dial(context.Background(), cfg)
			g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
			g.Expect(err.Error()).To(ContainSubstring("QueryStorageManager answered no storage manager"))
		})
	}
}

// TestServiceContentWithoutSessionManager: a ServiceContent without sessionManager fails a login as a
// malformed answer, the first one and one after the session expired (which callers make from goroutines
// without a recover): never a panic.
func TestServiceContentWithoutSessionManager(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	var broken atomic.Bool
	broken.Store(true)
	cfg := behindFront(t, sim, sms.BindingSOAP, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case !broken.Load():
			return false
		case r.URL.Path == sms.Path:
			w.WriteHeader(http.StatusUnauthorized)
			return true
		case bytes.Contains(requestBody(r), []byte("<RetrieveServiceContent")):
			return writeAnswer(w, "text/xml", noSessionManager)
		}
		return false
	})
	_, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
	g.Expect(err.Error()).To(ContainSubstring("RetrieveServiceContent answered no sessionManager"))

	broken.Store(false)
	c, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	broken.Store(true)
	_, err = c.Providers(context.Background())
	g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
	g.Expect(err).To(MatchError(sms.ErrNotSent), "the call was refused before the login")
}

// TestPanicInDecodingIsAnError: where govmomi panics on an answer (session.Manager.Login on a Login
// answered with an empty body; its XML decoder on a group result of a type that is none), the call fails
// as a malformed answer instead.
func TestPanicInDecodingIsAnError(t *testing.T) {
	t.Run("Login", func(t *testing.T) {
		g := NewWithT(t)
		sim := startSim(t)
		cfg := behindFront(t, sim, sms.BindingSOAP, func(w http.ResponseWriter, r *http.Request) bool {
			return isLogin(r) && writeAnswer(w, "text/xml", soapAnswer(""))
		})
		_, err := sms.Dial(context.Background(), cfg)
		g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
		g.Expect(err.Error()).To(ContainSubstring("panicked"))
	})
	t.Run("QueryPointInTimeReplica", func(t *testing.T) {
		g := NewWithT(t)
		sim := startSim(t)
		cfg := behindFront(t, sim, sms.BindingSOAP, func(w http.ResponseWriter, r *http.Request) bool {
			return bytes.Contains(requestBody(r), []byte("<QueryPointInTimeReplica")) && writeAnswer(w, "text/xml",
				soapAnswer(`<QueryPointInTimeReplicaResponse xmlns="urn:sms"><returnval xsi:type="string">x</returnval></QueryPointInTimeReplicaResponse>`))
		})
		c, err := sms.Dial(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		ids, _ := groups("fd-1", 2)
		done := make(chan error)
		go func() { // as the controllers call: a panic here would end the process
			_, err := c.PointInTimeReplicas(context.Background(), "vasaprovider-1", ids, "p")
			done <- err
		}()
		err = <-done
		g.Expect(err).To(MatchError(sms.ErrMalformedAnswer))
		g.Expect(errors.Is(err, sms.ErrNotSent)).To(BeFalse())
	})
}
