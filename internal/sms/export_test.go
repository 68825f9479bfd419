package sms

import (
	"net/http"

	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// PickProvider exposes pickProvider to the tests of package sms_test.
var PickProvider = pickProvider

// NewStatusTransport exposes statusTransport to the tests of package sms_test.
func NewStatusTransport(base http.RoundTripper) http.RoundTripper {
	return statusTransport{base: base, limit: maxAnswerBytes}
}

// WithoutPassword exposes withoutPassword to the tests of package sms_test.
var WithoutPassword = withoutPassword

// IsVersionFault exposes isVersionFault to the tests of package sms_test.
var IsVersionFault = isVersionFault

// LoginWaiters is how many callers came to wait for c's login in flight (0 with none in flight).
func LoginWaiters(c Client) int {
	cl := c.(*client)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.loggingIn == nil {
		return 0
	}
	return cl.loggingIn.waiters
}

// DecodeTaskResultJSON decodes a VI/JSON answer of QuerySmsTaskResult as the client does.
func DecodeTaskResultJSON(data []byte) ([]GroupResult, error) {
	var v vimtypes.AnyType
	err := decodeAnswer(wrapBareFaults(data), &v)
	return DecodeGroupResults(v), err
}
