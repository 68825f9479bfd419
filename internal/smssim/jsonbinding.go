package smssim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimjson "github.com/vmware/govmomi/vim25/json"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// jsonHandler serves the VI/JSON binding of SMS:
// POST /sdk/vim25/{release}/sms/{moType}/{moId}/{method}. It translates each call into a SOAP call
// to /sms/sdk in process, so both bindings share sessions, fault injection and state.
type jsonHandler struct {
	sim *Sim
	mux http.Handler
}

// muxTransport sends requests to an http.Handler in process.
type muxTransport struct{ h http.Handler }

// RoundTrip implements http.RoundTripper.
func (t muxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// ServeHTTP implements http.Handler.
func (h *jsonHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	session := r.Header.Get(sessionHeader)
	h.sim.logWire(WireRequest{
		Binding: "JSON", Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"),
		Accept: r.Header.Get("Accept"), Session: session, Body: string(data),
	})
	// sdk, vim25, release, [sms,] type, id, method
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) >= 6 && parts[0] == "sdk" && parts[1] == "vim25" && h.sim.profile.newerThanServed(parts[2]) {
		// Assumed from a field report (8.0.x answers a 9.0.0.0 path with HTTP 500, other builds with
		// 404): a release that serves VI/JSON refuses a newer release path as an invalid request.
		f := &soap.Fault{Code: "ServerFaultCode", String: fmt.Sprintf("Unsupported version %q", parts[2])}
		f.Detail.Fault = &vimtypes.InvalidRequest{}
		writeJSONError(w, soap.WrapSoapFault(f))
		return
	}
	if len(parts) < 6 || parts[0] != "sdk" || parts[1] != "vim25" || !h.sim.profile.servesJSON(parts[2]) {
		// A release without VI/JSON, or an older release path it does not serve: nothing answers there.
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	release := parts[2]
	if len(parts) == 6 {
		h.serveVim(w, r, vimtypes.ManagedObjectReference{Type: parts[3], Value: parts[4]}, parts[5], data)
		return
	}
	if len(parts) != 7 || parts[3] != Namespace {
		http.Error(w, "not an SMS JSON path: want /sdk/vim25/{release}/sms/{type}/{id}/{method}", http.StatusNotFound)
		return
	}
	if h.sim.initPhase() == phaseUnavailable {
		http.Error(w, NoBackendText, http.StatusServiceUnavailable)
		return
	}
	cookie, ok := h.sim.jsonCookie(session)
	if !ok {
		http.Error(w, "not authenticated", http.StatusUnauthorized)
		return
	}
	method := parts[6]
	this := vimtypes.ManagedObjectReference{Type: parts[4], Value: parts[5]}
	sc := soap.NewClient(&url.URL{Scheme: "http", Host: "smssim.invalid", Path: Path}, true)
	sc.Client.Transport = muxTransport{h.mux}
	sc.Namespace = "urn:" + Namespace
	sc.Version = release
	sc.Types = sms.SMSTypeFunc
	sc.Cookie = func() *soap.HeaderElement { return &soap.HeaderElement{Value: cookie} }
	result, err := h.dispatch(withInternal(r.Context()), sc, this, method, data)
	if err != nil {
		if h.sim.jsonStrict && isNotAuthenticated(err) {
			// An expired VI/JSON session is an HTTP 401, not a fault body.
			h.sim.dropJSONSession(session)
			http.Error(w, "not authenticated", http.StatusUnauthorized)
			return
		}
		writeJSONError(w, err)
		return
	}
	if result == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var buf bytes.Buffer
	if err := newJSONEncoder(&buf).Encode(result); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := buf.Bytes()
	if bareFaults(release) {
		out = unwrapFaults(out)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func isNotAuthenticated(err error) bool {
	if !soap.IsSoapFault(err) {
		return false
	}
	switch soap.ToSoapFault(err).VimFault().(type) {
	case vimtypes.NotAuthenticated, *vimtypes.NotAuthenticated, smstypes.InvalidSession, *smstypes.InvalidSession:
		return true
	}
	return false
}

// newJSONEncoder encodes like the VI/JSON API: every object carries _typeName, arrays stay plain arrays.
func newJSONEncoder(w io.Writer) *vimjson.Encoder {
	enc := vimjson.NewEncoder(w)
	enc.SetDiscriminator("_typeName", "_value", vimjson.DiscriminatorEncodeTypeNameAllObjects)
	enc.SetTypeToDiscriminatorFunc(vimtypes.VmomiTypeName)
	return enc
}

// decodeInto decodes the JSON parameters into req, whose This is then set.
func decodeInto(data []byte, req any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := sms.DecodeJSON(data, req); err != nil {
		return &badRequest{err}
	}
	return nil
}

type badRequest struct{ err error }

// Error implements error.
func (b *badRequest) Error() string { return "invalid request body: " + b.err.Error() }

func (h *jsonHandler) dispatch(ctx context.Context, sc *soap.Client, this vimtypes.ManagedObjectReference, method string, data []byte) (any, error) {
	switch method {
	case "QueryStorageManager":
		req := smstypes.QueryStorageManager{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QueryStorageManager(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QueryProvider":
		req := smstypes.QueryProvider{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QueryProvider(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QueryProviderInfo":
		req := smstypes.QueryProviderInfo{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QueryProviderInfo(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QueryReplicationGroup":
		req := smstypes.QueryReplicationGroup{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QueryReplicationGroup(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QueryPointInTimeReplica":
		req := smstypes.QueryPointInTimeReplica{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QueryPointInTimeReplica(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "SyncReplicationGroup_Task":
		req := smstypes.SyncReplicationGroup_Task{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.SyncReplicationGroup_Task(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QuerySmsTaskInfo":
		req := smstypes.QuerySmsTaskInfo{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QuerySmsTaskInfo(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	case "QuerySmsTaskResult":
		req := smstypes.QuerySmsTaskResult{}
		if err := decodeInto(data, &req); err != nil {
			return nil, err
		}
		req.This = this
		res, err := methods.QuerySmsTaskResult(ctx, sc, &req)
		if err != nil {
			return nil, err
		}
		return res.Returnval, nil
	}
	return nil, soap.WrapVimFault(&vimtypes.MethodNotFound{Receiver: this, Method: method})
}

// writeJSONError writes a fault as HTTP 500 with a JSON fault body, as the VI/JSON API does.
func writeJSONError(w http.ResponseWriter, err error) {
	var f vimtypes.AnyType
	switch {
	case soap.IsSoapFault(err):
		f = soap.ToSoapFault(err).VimFault()
	case soap.IsVimFault(err):
		f = soap.ToVimFault(err)
	}
	var b *badRequest
	if errors.As(err, &b) {
		http.Error(w, b.Error(), http.StatusBadRequest)
		return
	}
	if f == nil {
		http.Error(w, fmt.Sprintf("internal error: %v", err), http.StatusBadGateway)
		return
	}
	var buf bytes.Buffer
	if eerr := newJSONEncoder(&buf).Encode(f); eerr != nil {
		http.Error(w, eerr.Error(), http.StatusInternalServerError)
		return
	}
	out := buf.Bytes()
	if soap.IsSoapFault(err) {
		out = withFaultString(out, soap.ToSoapFault(err).String)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(out)
}
