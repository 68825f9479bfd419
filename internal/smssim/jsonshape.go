package smssim

import "encoding/json"

// bareTaskErrors reports whether SmsTaskInfo.error goes out as a bare fault on a VI/JSON release path.
// The 8.0.3 API reference shows the bare fault; older release paths are assumed to keep the
// LocalizedMethodFault wrapper of the SOAP schema, so that clients meet both shapes.
func bareTaskErrors(release string) bool { return compareVersions(release, "8.0.3.0") >= 0 }

// bareTaskError replaces a wrapped {"_typeName":"LocalizedMethodFault","fault":{...}} in the "error" of
// an encoded SmsTaskInfo by the fault object itself; other bodies are returned as they are.
func bareTaskError(body []byte) []byte {
	var info map[string]json.RawMessage
	if json.Unmarshal(body, &info) != nil || info["error"] == nil {
		return body
	}
	var wrapped struct {
		Fault json.RawMessage `json:"fault"`
	}
	if json.Unmarshal(info["error"], &wrapped) != nil || wrapped.Fault == nil {
		return body
	}
	info["error"] = wrapped.Fault
	out, err := json.Marshal(info)
	if err != nil {
		return body
	}
	return out
}

// withFaultString adds the SOAP faultstring to an encoded VI/JSON fault, as vCenter's fault bodies
// carry it ({"_typeName": ..., "faultstring": ...}).
func withFaultString(body []byte, faultString string) []byte {
	if faultString == "" {
		return body
	}
	var f map[string]json.RawMessage
	if json.Unmarshal(body, &f) != nil {
		return body
	}
	s, _ := json.Marshal(faultString)
	f["faultstring"] = s
	out, err := json.Marshal(f)
	if err != nil {
		return body
	}
	return out
}
