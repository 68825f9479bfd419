package sms

import (
	"encoding/json"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/faultfields"
)

// wrapBareFaults puts every bare fault of a VI/JSON answer (a task's error, a group's errors and
// warnings) into the LocalizedMethodFault wrapper the SOAP schema and govmomi's types have, so that both
// shapes decode the same way. Without it govmomi's decoder drops a bare fault's keys, and a per-group
// NotImplemented or TooMany arrives as an empty fault.
func wrapBareFaults(body []byte) []byte { return faultfields.Rewrite(body, wrapFault) }

// wrapFault wraps one bare fault object, taking its message from its text fields (jsonFaultHead); a
// LocalizedMethodFault or anything without a _typeName is left as it is.
func wrapFault(v json.RawMessage) (json.RawMessage, bool) {
	var head jsonFaultHead
	if faultfields.FirstByte(v) != '{' || json.Unmarshal(v, &head) != nil || head.TypeName == "" || head.TypeName == "LocalizedMethodFault" {
		return v, false
	}
	msg := head.text()
	return faultfields.EncodeIf(v, map[string]any{"_typeName": "LocalizedMethodFault", "fault": v, "localizedMessage": msg}, true)
}
