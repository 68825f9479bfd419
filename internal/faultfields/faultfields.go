// Package faultfields rewrites the faults inside a VI/JSON SMS answer. The SOAP schema (and govmomi's
// sms/types) types them LocalizedMethodFault; the 8.0.3 VI/JSON API reference shows them as bare
// MethodFault objects. The client wraps bare ones, the simulator unwraps wrapped ones, both with Rewrite.
package faultfields

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
)

// Names are the SMS fields typed LocalizedMethodFault: SmsTaskInfo.error, GroupErrorResult.error,
// GroupOperationResult.warning (so every group result's), QueryReplicationPeerResult.error and
// .warning, SmsProviderInfo.warnings and VasaProviderInfo.statusFault. No other SMS field has these
// names.
var Names = []string{"error", "warning", "warnings", "statusFault"}

// Rewrite applies fault to every fault in body's Names fields (each element of an array, or the one
// value) and returns body with those values replaced if fault changed any, else body itself. A body that
// is not JSON is returned as it is.
func Rewrite(body []byte, fault func(json.RawMessage) (json.RawMessage, bool)) []byte {
	if !mentionsName(body) {
		return body
	}
	out, err := rewrite(body, fault)
	if err != nil {
		return body
	}
	return out
}

// mentionsName is a cheap test that lets the many answers without a fault skip the walk.
func mentionsName(body []byte) bool {
	return slices.ContainsFunc(Names, func(n string) bool { return bytes.Contains(body, []byte(`"`+n+`"`)) })
}

// rewrite walks body's tokens once and splices each rewritten fault in place: the rest of body is never
// copied, however deep it nests (decoding each level into a map copied the subtree below it at every
// level: 16 MiB nested 16 deep took 480 MiB).
func rewrite(body []byte, fault func(json.RawMessage) (json.RawMessage, bool)) ([]byte, error) {
	// frame is an open object (key: its next token is a key or its end) or array.
	type frame struct{ object, key bool }
	var (
		stack []frame
		out   []byte // body before done, with its faults rewritten; nil while none is
		done  int64
	)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number is passed over as it is, whatever its range
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.key && tok != json.Delim('}') {
			top.key = false
			if name, _ := tok.(string); slices.Contains(Names, name) {
				var val json.RawMessage
				if err := dec.Decode(&val); err != nil {
					return nil, err
				}
				end := dec.InputOffset()
				start := end - int64(len(val)) // the value as decoded has no white space around it
				var changed bool
				if FirstByte(val) == '[' {
					val, changed = eachItem(val, fault)
				} else {
					val, changed = fault(val)
				}
				if changed {
					out = append(append(out, body[done:start]...), val...)
					done = end
				}
				top.key = true
			}
			continue
		}
		if top != nil {
			top.key = top.object // a value of top was read (or begins): a key comes next
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, frame{object: tok == json.Delim('{'), key: tok == json.Delim('{')})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[done:]...), nil
}

func eachItem(v json.RawMessage, f func(json.RawMessage) (json.RawMessage, bool)) (json.RawMessage, bool) {
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return v, false
	}
	changed := false
	for i := range items {
		var c bool
		if items[i], c = f(items[i]); c {
			changed = true
		}
	}
	return EncodeIf(v, items, changed)
}

// EncodeIf encodes val when changed, and keeps orig otherwise (or when encoding fails).
func EncodeIf(orig json.RawMessage, val any, changed bool) (json.RawMessage, bool) {
	if !changed {
		return orig, false
	}
	out, err := json.Marshal(val)
	if err != nil {
		return orig, false
	}
	return out, true
}

// FirstByte is the first byte of a JSON value after white space: '{', '[', '"' ..., 0 when empty.
func FirstByte(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}
