package smssim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// soapGate sits in front of vcsim's /sms/sdk handler and does what vCenter's SOAP layer does before a
// method runs: refuse an SMS version the release does not know, refuse request fields the version does
// not know, and answer 503 or ServiceNotInitialized while the SMS service initializes.
type soapGate struct {
	sim  *Sim
	next http.Handler
}

// internalKey marks a request the JSON binding makes in process; it is neither logged nor gated twice.
type internalKey struct{}

func withInternal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(r *http.Request) bool { v, _ := r.Context().Value(internalKey{}).(bool); return v }

// ServeHTTP implements http.Handler.
func (g *soapGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = r.Body.Close()
	action := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	if !isInternal(r) {
		g.sim.logWire(WireRequest{
			Binding: "SOAP", Method: r.Method, Path: r.URL.Path, SOAPAction: r.Header.Get("SOAPAction"),
			ContentType: r.Header.Get("Content-Type"), Body: string(body),
		})
	}
	switch g.sim.initPhase() {
	case phaseUnavailable:
		http.Error(w, NoBackendText, http.StatusServiceUnavailable)
		return
	case phaseNotInitialized:
		writeSOAPFault(w, "The Storage Monitoring Service is not initialized yet.", &smstypes.ServiceNotInitialized{})
		return
	}
	version, ok := smsVersionOf(action)
	if !ok || !g.sim.profile.acceptsSMS(version) {
		// The text users of other vCenter service endpoints report; the fault type is assumed.
		writeSOAPFault(w, fmt.Sprintf("Request version '%s' and namespace 'urn:%s' are not supported", action, Namespace),
			&vimtypes.InvalidRequest{})
		return
	}
	if !knowsPreferDetails(version) && bytes.Contains(body, []byte("<preferDetails>")) {
		// A VMODL deserializer refuses an element the request's version does not define.
		writeSOAPFault(w, fmt.Sprintf("Unexpected element 'preferDetails' in QueryPointInTimeReplicaParam for version urn:%s/%s", Namespace, version),
			&vimtypes.InvalidRequest{})
		return
	}
	g.sim.noteVersion(sessionCookieOf(r, body), version)
	r.Body = io.NopCloser(bytes.NewReader(body))
	g.next.ServeHTTP(w, r)
}

// smsVersionOf returns the version of a SOAPAction "urn:sms/<version>" (or "urn:sms", version "").
func smsVersionOf(action string) (string, bool) {
	ns, version, _ := strings.Cut(action, "/")
	return version, ns == "urn:"+Namespace
}

// writeSOAPFault writes a SOAP fault envelope with HTTP 500, as vCenter does.
func writeSOAPFault(w http.ResponseWriter, msg string, f vimtypes.BaseMethodFault) {
	sf := &soap.Fault{Code: "ServerFaultCode", String: msg}
	sf.Detail.Fault = f
	env := soap.Envelope{Body: &struct {
		Fault *soap.Fault
	}{sf}}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(env); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(buf.Bytes())
}
