package sms

import "encoding/json"

// wrapBareTaskError puts a bare fault in the "error" of a VI/JSON SmsTaskInfo into the
// LocalizedMethodFault wrapper the SOAP schema (and govmomi's SmsTaskInfo) has, so that both shapes decode
// the same way. The 8.0.3 API reference shows the bare fault; older answers carry the wrapper. Bodies
// that are not an object with such an error are returned unchanged.
func wrapBareTaskError(body []byte) []byte {
	var info map[string]json.RawMessage
	if json.Unmarshal(body, &info) != nil || len(info["error"]) == 0 {
		return body
	}
	var head struct {
		TypeName     string `json:"_typeName"`
		FaultString  string `json:"faultstring"`
		FaultMessage []struct {
			Message string `json:"message"`
		} `json:"faultMessage"`
	}
	if json.Unmarshal(info["error"], &head) != nil || head.TypeName == "" || head.TypeName == "LocalizedMethodFault" {
		return body
	}
	msg := head.FaultString
	for _, m := range head.FaultMessage {
		msg = firstNonEmpty(msg, m.Message)
	}
	wrapped, err := json.Marshal(map[string]any{
		"_typeName":        "LocalizedMethodFault",
		"fault":            info["error"],
		"localizedMessage": msg,
	})
	if err != nil {
		return body
	}
	info["error"] = wrapped
	out, err := json.Marshal(info)
	if err != nil {
		return body
	}
	return out
}
