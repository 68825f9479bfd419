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

// jsonTransport is a soap.RoundTripper speaking the VI/JSON binding of SMS.
type jsonTransport struct {
	base    *url.URL // scheme://host
	release string
	http    *http.Client
	session func() string
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
	u := *t.base
	u.Path = JSONPath(t.release, this, method)
	u.RawPath = ""
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if id := t.session(); id != "" {
		hreq.Header.Set(sessionHeader, id)
	}
	resp, err := t.http.Do(hreq)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	result, err := resultPtr(res)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusInternalServerError && isJSON(resp):
		return jsonFault(data)
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("%s %s: HTTP %s", http.MethodPost, u.Path, resp.Status)
	}
	if result == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := NewJSONDecoder(bytes.NewReader(data)).Decode(result); err != nil {
		return fmt.Errorf("decoding %s response: %w", method, err)
	}
	return nil
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// jsonFault decodes a VI/JSON fault body into a soap fault error, so SOAP and JSON share decoding.
func jsonFault(data []byte) error {
	var f any
	if err := NewJSONDecoder(bytes.NewReader(data)).Decode(&f); err != nil {
		return fmt.Errorf("decoding fault: %w", err)
	}
	if _, ok := asBaseMethodFault(f); !ok {
		return fmt.Errorf("server fault of unknown type: %.200s", string(data))
	}
	msg := ""
	var plain struct {
		FaultMessage []struct {
			Message string `json:"message"`
		} `json:"faultMessage"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &plain) == nil {
		msg = plain.Message
	}
	sf := &soap.Fault{Code: "ServerFaultCode", String: msg}
	sf.XMLName = xml.Name{Local: reflect.TypeOf(f).Name()}
	sf.Detail.Fault = f
	return soap.WrapSoapFault(sf)
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
