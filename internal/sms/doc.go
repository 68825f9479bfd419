// Package sms contains the client of the vCenter Storage Monitoring Service (SMS)
// that logs in to vCenter, finds a VASA provider and drives its replication-group
// syncs, decoding every SMS fault into a typed Go error.
//
// # Protocol version
//
// vCenter refuses an SMS API version it does not know, so Dial negotiates one
// per session: on the SOAP binding it offers the versions of Versions newest
// first (skipping those newer than the vCenter's AboutInfo.apiVersion) in the
// SOAPAction header "urn:sms/<version>" of QueryStorageManager, and falls back
// on the version fault. Config.Version pins one instead. Request fields are gated
// by the version in use (queryParam.preferDetails only from 7.0.0.1). The
// version and the vCenter's AboutInfo are reported through ServerInfoReporter.
//
// # JSON binding
//
// With BindingJSON the session is opened by the VI/JSON SessionManager
//
//	POST https://{vc}/sdk/vim25/{release}/SessionManager/SessionManager/Login
//
// on the newest release path of JSONReleases the server serves (404 means not
// served); the vmware-api-session-id header of the answer carries the session
// id, sent back on every call. Every SMS call is a
//
//	POST https://{vc}/sdk/vim25/{release}/sms/{moType}/{moId}/{method}
//
// request. govmomi's soap.Client.UseJSON builds "{url}/{ns}/{version}/..." from
// the service client's URL ("/sms/sdk/sms/{version}/..."), which is not the
// documented path, so this package uses its own small JSON round tripper
// (jsontransport.go) built on govmomi's VMOMI JSON encoder and decoder. HTTP 401
// means the session expired (on Login: the credentials were refused), faults come
// as HTTP 500 with a JSON body whose text is in faultstring (a JSON fault body is
// decoded whatever the failed status), and the faults inside an answer (a task's
// error, a group's errors and warnings) may be bare or wrapped (faultshape.go).
//
// # Redirects
//
// No HTTP client of this package follows a redirect (RedirectError): Go's client
// would send a VI/JSON Login body, password included, and the session header again
// to the host and scheme a Location names.
//
// # Answer size
//
// Any tenant who may create a VasaProvider chooses the server it reaches, so no
// answer is read past 8 MiB, nor a listing of every group past 32 MiB
// (answersize.go): a longer one fails with *AnswerTooLargeError. The strings of an
// answer that may reach a Kubernetes object are bounded too (bounds.go): a task or
// provider id longer than 64 bytes, which the client would keep and send back, is
// taken for none; PiT ids are cut to 64 bytes, PiT names to 255, names, uids,
// versions, states and messages to 1 KiB, ending in an ellipsis.
//
// # Errors
//
// An expired session (NotAuthenticated, InvalidSession, HTTP 401) is re-opened
// once per call, by one login that every caller of the session waits for. A call
// that certainly did not run (its session refused and not re-opened, or its
// context ended before it was sent) fails with an error wrapping
// ErrNotSent. IsTransient says which errors pass by themselves
// (ServiceNotInitialized, HTTP 503, busy providers). An answer lacking what it
// must hold, or one govmomi panics on, fails with ErrMalformedAnswer: no call,
// Dial included, panics.
package sms
