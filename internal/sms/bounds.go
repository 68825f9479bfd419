package sms

// Bounds on the strings of an answer that reach Kubernetes objects. Whoever may create a VasaProvider
// chooses the server it reaches; unbounded, its strings could make a status write larger than etcd takes
// (1.5 MiB an object), and the object stuck: a 2 MiB provider version fails the VasaProvider's status
// patch, a long task id the commit of a run's task refs.

import "unicode/utf8"

const (
	// maxRefBytes bounds a managed object id the client keeps and sends back: a task's, a provider's.
	// vCenter's are short ("SmsTask-12", "vasaprovider-7"). A run of 1,000 groups keeps a task and a
	// provider per group: with ids at the API's bounds and refs of 64 bytes its status weighs 1.3 MiB,
	// with refs of 256 bytes 1.8 MiB, over etcd's limit. A longer one is refused, never cut: a cut id
	// names another object or none.
	maxRefBytes = 64
	// maxPiTIDBytes bounds a PiT id, kept per group of a run as a ref is; only shown, it is cut.
	maxPiTIDBytes = 64
	// maxPiTNameBytes bounds a PiT name as the API bounds spec.pitName: the name a run asked for is kept
	// whole.
	maxPiTNameBytes = 255
	// maxNameBytes bounds names, uids, versions and states: 255 characters of up to 4 bytes, so that
	// whatever name a spec can hold (255 characters) stays whole, and a cut one (256 characters at
	// least) matches none.
	maxNameBytes = 1024
	// maxMessageBytes bounds a message: a fault's text, a group's errors.
	maxMessageBytes = 1024
)

// ellipsis ends a cut string.
const ellipsis = "…"

// cut returns s, or when it is longer than limit bytes its start, on a character boundary, and an
// ellipsis, limit bytes at most.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	end := limit - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis
}

// keptRef returns a managed object id of an answer, or "" when it is longer than maxRefBytes: as if the
// answer named none.
func keptRef(id string) string {
	if len(id) > maxRefBytes {
		return ""
	}
	return id
}
