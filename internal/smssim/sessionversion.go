package smssim

import (
	"bytes"
	"net/http"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/xml"
)

// A VMODL server leaves out of its answers the properties newer than the version of the request (pyVmomi's
// SoapAdapter does; pyVmomi's type table names the version of each property). vcsim's handlers do not see
// the request's version, so the SOAP gate notes it per session cookie, and the answers that have such
// properties ask for it (versionOf). A client keeps one version per session.

// noteVersion records the SMS version of the request the session with cookie made.
func (s *Sim) noteVersion(cookie, version string) {
	if cookie == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.versions[cookie]; !ok && len(s.versions) >= maxNotedVersions {
		clear(s.versions) // sessions of long ago; a session's next request notes its version again
	}
	s.versions[cookie] = version
}

// maxNotedVersions bounds the sessions whose version the simulator keeps.
const maxNotedVersions = 4096

// versionOf returns the SMS version of the request ctx answers ("" if unknown: the oldest).
func (s *Sim) versionOf(ctx *simulator.Context) string {
	cookie := simulator.SOAPCookie(ctx)
	if cookie == "" {
		cookie = simulator.HTTPCookie(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[cookie]
}

// sessionCookieOf returns the session cookie of a SOAP request: its vcSessionCookie header, or its
// vmware_soap_session HTTP cookie.
func sessionCookieOf(r *http.Request, body []byte) string {
	var env struct {
		Header struct {
			Cookie string `xml:"vcSessionCookie"`
		} `xml:"Header"`
	}
	if xml.NewDecoder(bytes.NewReader(body)).Decode(&env) == nil && env.Header.Cookie != "" {
		return env.Header.Cookie
	}
	if c, err := r.Cookie(soap.SessionCookieName); err == nil {
		return c.Value
	}
	return ""
}

// targetNameSince is the first SMS version whose TargetGroupInfo has a name (pyVmomi: v8_0_2_0).
const targetNameSince = "8.0.2.0"
