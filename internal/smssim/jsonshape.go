package smssim

import (
	"encoding/json"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/faultfields"
)

// bareFaults reports whether the faults inside answers (a task's error, a group's errors and warnings) go
// out bare on a VI/JSON release path. The 8.0.3 API reference shows them as bare MethodFault objects;
// older release paths are assumed to keep the LocalizedMethodFault wrapper of the SOAP schema, so that
// clients meet both shapes.
func bareFaults(release string) bool { return compareVersions(release, "8.0.3.0") >= 0 }

// unwrapFaults replaces each {"_typeName":"LocalizedMethodFault","fault":{...},"localizedMessage":m}
// inside an encoded answer by the fault object itself, its message moved to faultMessage as a VI/JSON
// MethodFault carries it (the message key is assumed: vCenter's keys are not documented).
func unwrapFaults(body []byte) []byte {
	return faultfields.Rewrite(body, func(v json.RawMessage) (json.RawMessage, bool) {
		var wrapped struct {
			Fault            map[string]json.RawMessage `json:"fault"`
			LocalizedMessage string                     `json:"localizedMessage"`
		}
		if json.Unmarshal(v, &wrapped) != nil || wrapped.Fault == nil {
			return v, false
		}
		if wrapped.LocalizedMessage != "" && wrapped.Fault["faultMessage"] == nil {
			msg, err := json.Marshal([]map[string]string{{"_typeName": "LocalizableMessage", "key": "com.vmware.vim.sms.fault", "message": wrapped.LocalizedMessage}})
			if err == nil {
				wrapped.Fault["faultMessage"] = msg
			}
		}
		return faultfields.EncodeIf(v, wrapped.Fault, true)
	})
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
