// Package faultfields rewrites the faults inside a VI/JSON SMS answer. The SOAP schema (and govmomi's
// sms/types) types them LocalizedMethodFault; the 8.0.3 VI/JSON API reference shows them as bare
// MethodFault objects. The client wraps bare ones, the simulator unwraps wrapped ones, both with Rewrite.
package faultfields

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Names are the SMS fields typed LocalizedMethodFault: SmsTaskInfo.error, GroupErrorResult.error,
// GroupOperationResult.warning (so every group result's), QueryReplicationPeerResult.error and
// .warning, SmsProviderInfo.warnings and VasaProviderInfo.statusFault. No other SMS field has these
// names.
var Names = []string{"error", "warning", "warnings", "statusFault"}

// Rewrite applies fault to every fault in body's Names fields (each element of an array, or the one
// value) and returns body encoded again if fault changed any, else body itself. A body that is not
// JSON is returned as it is.
func Rewrite(body []byte, fault func(json.RawMessage) (json.RawMessage, bool)) []byte {
	if !mentionsName(body) {
		return body
	}
	if out, changed := walk(body, fault); changed {
		return out
	}
	return body
}

// mentionsName is a cheap test that lets the many answers without a fault skip the walk.
func mentionsName(body []byte) bool {
	return slices.ContainsFunc(Names, func(n string) bool { return bytes.Contains(body, []byte(`"`+n+`"`)) })
}

func walk(v json.RawMessage, fault func(json.RawMessage) (json.RawMessage, bool)) (json.RawMessage, bool) {
	switch FirstByte(v) {
	case '[':
		return eachItem(v, func(item json.RawMessage) (json.RawMessage, bool) { return walk(item, fault) })
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil {
			return v, false
		}
		changed := false
		for key, val := range obj {
			var c bool
			switch {
			case !slices.Contains(Names, key):
				val, c = walk(val, fault)
			case FirstByte(val) == '[':
				val, c = eachItem(val, fault)
			default:
				val, c = fault(val)
			}
			if c {
				obj[key], changed = val, true
			}
		}
		return EncodeIf(v, obj, changed)
	}
	return v, false
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
