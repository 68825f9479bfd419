package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"time"

	vimjson "github.com/vmware/govmomi/vim25/json"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/faultfields"
)

// sessionHeader carries the vCenter session on the VI/JSON binding.
const sessionHeader = "vmware-api-session-id"

// JSONPath returns the VI/JSON path of an SMS method, e.g.
// /sdk/vim25/8.0.1.0/sms/VasaProvider/vasaprovider-7/SyncReplicationGroup_Task.
func JSONPath(release string, this types.ManagedObjectReference, method string) string {
	return fmt.Sprintf("/sdk/vim25/%s/sms/%s/%s/%s",
		url.PathEscape(release), url.PathEscape(this.Type), url.PathEscape(this.Value), url.PathEscape(method))
}

// SMSTypeFunc resolves a VMOMI type name, preferring the sms namespace.
func SMSTypeFunc(name string) (reflect.Type, bool) {
	tf := types.TypeFunc()
	if t, ok := tf("sms:" + name); ok {
		return t, true
	}
	return tf(name)
}

// NewJSONDecoder returns a VMOMI JSON decoder that resolves sms and vim25 type names.
func NewJSONDecoder(r io.Reader) *vimjson.Decoder {
	dec := vimjson.NewDecoder(r)
	dec.SetDiscriminator("_typeName", "_value", vimjson.DiscriminatorToTypeFunc(func(name string) (reflect.Type, bool) {
		if t, ok := SMSTypeFunc(name); ok {
			return t, true
		}
		if t, ok := primitiveTypes[name]; ok {
			return t, true
		}
		return nil, false
	}))
	return dec
}

// primitiveTypes are the VMOMI primitive discriminator names.
var primitiveTypes = map[string]reflect.Type{
	"boolean":  reflect.TypeOf(true),
	"byte":     reflect.TypeOf(uint8(0)),
	"short":    reflect.TypeOf(int16(0)),
	"int":      reflect.TypeOf(int32(0)),
	"long":     reflect.TypeOf(int64(0)),
	"float":    reflect.TypeOf(float32(0)),
	"double":   reflect.TypeOf(float64(0)),
	"string":   reflect.TypeOf(""),
	"binary":   reflect.TypeOf([]byte{}),
	"dateTime": reflect.TypeOf(time.Time{}),
}

// jsonTransport is a soap.RoundTripper speaking the VI/JSON binding of SMS over one VI/JSON session.
type jsonTransport struct {
	base    *url.URL // scheme://host
	release string
	http    *http.Client
	session string // vmware-api-session-id issued by the login
	limit   int64  // the most bytes of an answer read
}

// errNotServed means the server has nothing at a VI/JSON path (HTTP 404): that release path is not served.
var errNotServed = errors.New("VI/JSON release path not served")

var (
	sessionManager = types.ManagedObjectReference{Type: "SessionManager", Value: "SessionManager"}
	vimService     = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}
)

// vimPath returns the VI/JSON path of a vim25 method, e.g. /sdk/vim25/8.0.3.0/SessionManager/SessionManager/Login.
func vimPath(release string, this types.ManagedObjectReference, method string) string {
	return fmt.Sprintf("/sdk/vim25/%s/%s/%s/%s",
		url.PathEscape(release), url.PathEscape(this.Type), url.PathEscape(this.Value), url.PathEscape(method))
}

// login opens a VI/JSON session through the SessionManager and keeps the id the server returns.
func (t *jsonTransport) login(ctx context.Context, user, pass string) error {
	body, err := encodeParams(&types.Login{UserName: user, Password: pass})
	if err != nil {
		return err
	}
	resp, _, err := t.post(ctx, vimPath(t.release, sessionManager, "Login"), body) //nolint:bodyclose // post closes it
	if err != nil {
		return err
	}
	id := resp.Header.Get(sessionHeader)
	if id == "" {
		return fmt.Errorf("VI/JSON login answered no %s header", sessionHeader)
	}
	t.session = id
	return nil
}

// logout ends the VI/JSON session.
func (t *jsonTransport) logout(ctx context.Context) error {
	_, _, err := t.post(ctx, vimPath(t.release, sessionManager, "Logout"), nil) //nolint:bodyclose // post closes it
	return err
}

// about reads the vCenter's AboutInfo (RetrieveServiceContent).
func (t *jsonTransport) about(ctx context.Context) (types.AboutInfo, error) {
	_, data, err := t.post(ctx, vimPath(t.release, vimService, "RetrieveServiceContent"), nil) //nolint:bodyclose // post closes it
	if err != nil {
		return types.AboutInfo{}, err
	}
	var sc types.ServiceContent
	if err := decodeAnswer(data, &sc); err != nil {
		return types.AboutInfo{}, fmt.Errorf("decoding RetrieveServiceContent response: %w", err)
	}
	return sc.About, nil
}

// post sends one VI/JSON request and turns HTTP errors into typed errors: a JSON fault body a fault, whatever
// the failed status; else 401 is an expired session, 503 the SMS service starting, 404 a path not served.
// The response it returns has its body read and closed already: callers use its headers only.
func (t *jsonTransport) post(ctx context.Context, path string, body []byte) (*http.Response, []byte, error) {
	u := *t.base
	u.Path, u.RawPath = path, ""
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if t.session != "" {
		hreq.Header.Set(sessionHeader, t.session)
	}
	resp, err := t.http.Do(hreq)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(limitBody(resp.Body, t.limit))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 400 && isJSON(resp) {
		// The API sends faults with HTTP 500, but a fault body says more than any status it comes with.
		// A JSON body that is no fault leaves other statuses their own meaning.
		if err := jsonFault(data); soap.IsSoapFault(err) || resp.StatusCode == http.StatusInternalServerError {
			return nil, nil, err
		}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, nil, &notAuthenticatedError{Message: "HTTP " + resp.Status}
	case resp.StatusCode == http.StatusServiceUnavailable:
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return nil, nil, unavailableAnswer(resp)
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil, fmt.Errorf("%s %s: %w", http.MethodPost, path, errNotServed)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, nil, fmt.Errorf("%s %s: HTTP %s", http.MethodPost, path, resp.Status)
	}
	return resp, data, nil
}

// RoundTrip implements soap.RoundTripper for the generated sms/methods bodies.
func (t *jsonTransport) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	this, method, params, err := unpackRequest(req)
	if err != nil {
		return err
	}
	body, err := encodeParams(params)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", method, err)
	}
	_, data, err := t.post(ctx, JSONPath(t.release, this, method), body) //nolint:bodyclose // post closes it
	if err != nil {
		return err
	}
	result, err := resultPtr(res)
	if err != nil {
		return err
	}
	if result == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := decodeAnswer(wrapBareFaults(data), result); err != nil {
		return fmt.Errorf("decoding %s response: %w", method, err)
	}
	return nil
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// unknownFaultText begins the error of a fault body that does not decode, which quotes its start.
const unknownFaultText = "server fault of unknown type"

// jsonFault decodes a VI/JSON fault body into a soap fault error, so SOAP and JSON share decoding.
func jsonFault(data []byte) error {
	// Only a fault object is decoded: decoding anything else into any would build a generic value of it
	// many times its size (32 MiB of [{},{},...] took 1 GiB).
	var head jsonFaultHead
	if faultfields.FirstByte(data) != '{' || json.Unmarshal(data, &head) != nil || !isFaultType(head.TypeName) {
		return fmt.Errorf("%s: %.200s", unknownFaultText, string(data))
	}
	var f any
	if err := decodeAnswer(data, &f); err != nil {
		return fmt.Errorf("decoding fault: %w", err)
	}
	if _, ok := asBaseMethodFault(f); !ok {
		return fmt.Errorf("%s: %.200s", unknownFaultText, string(data))
	}
	msg := head.text()
	sf := &soap.Fault{Code: "ServerFaultCode", String: msg}
	if t := reflect.TypeOf(f); t != nil {
		sf.XMLName = xml.Name{Local: t.Name()}
	}
	sf.Detail.Fault = f
	return soap.WrapSoapFault(sf)
}

// isFaultType reports whether name is a VMOMI fault type.
func isFaultType(name string) bool {
	t, ok := SMSTypeFunc(name)
	return ok && reflect.PointerTo(t).Implements(reflect.TypeFor[types.BaseMethodFault]())
}

// jsonFaultHead is what a VI/JSON fault object says of itself: its type and its text, which vCenter puts
// in faultstring or faultMessage (and a wrapper in localizedMessage).
type jsonFaultHead struct {
	TypeName         string `json:"_typeName"`
	FaultString      string `json:"faultstring"`
	LocalizedMessage string `json:"localizedMessage"`
	Message          string `json:"message"`
	FaultMessage     []struct {
		Message string `json:"message"`
	} `json:"faultMessage"`
}

// text is the fault's message: the first of its text fields that is set.
func (h jsonFaultHead) text() string {
	msg := firstNonEmpty(h.FaultString, h.LocalizedMessage, h.Message)
	for _, m := range h.FaultMessage {
		msg = firstNonEmpty(msg, m.Message)
	}
	return msg
}

// encodeParams encodes the method parameters, without the _this reference.
func encodeParams(params any) ([]byte, error) {
	var buf bytes.Buffer
	if err := types.NewJSONEncoder(&buf).Encode(params); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, err
	}
	delete(m, "_this")
	delete(m, "_typeName")
	return json.Marshal(m)
}

func unpackRequest(req soap.HasFault) (types.ManagedObjectReference, string, any, error) {
	var this types.ManagedObjectReference
	v := reflect.ValueOf(req)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return this, "", nil, errors.New("request body is not a pointer to a struct")
	}
	r := v.Elem().FieldByName("Req")
	if r.Kind() != reflect.Pointer || r.IsNil() || r.Elem().Kind() != reflect.Struct {
		return this, "", nil, errors.New("request body has no Req")
	}
	t, ok := r.Elem().FieldByName("This").Interface().(types.ManagedObjectReference)
	if !ok {
		return this, "", nil, errors.New("request has no This reference")
	}
	return t, r.Elem().Type().Name(), r.Interface(), nil
}

func resultPtr(res soap.HasFault) (any, error) {
	v := reflect.ValueOf(res)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, errors.New("response body is not a pointer to a struct")
	}
	r := v.Elem().FieldByName("Res")
	if r.Kind() != reflect.Pointer {
		return nil, errors.New("response body has no Res")
	}
	if r.IsNil() {
		r.Set(reflect.New(r.Type().Elem()))
	}
	rv := r.Elem().FieldByName("Returnval")
	if !rv.IsValid() {
		return nil, nil
	}
	return rv.Addr().Interface(), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// DecodeJSON decodes VMOMI JSON into v. govmomi's decoder can panic on malformed discriminator input
// (found by fuzzing), so a panic becomes an error: a provider's answer must never crash the manager.
func DecodeJSON(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed VI/JSON (decoder panicked: %v)", r)
		}
	}()
	return NewJSONDecoder(bytes.NewReader(data)).Decode(v)
}
