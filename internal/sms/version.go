package sms

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Versions are the SMS API versions that have the replication methods (6.5 and later), newest first, as
// pyvmomi's _typeinfo_sms.py lists them. The SOAP binding negotiates among them; the VI/JSON binding
// among JSONReleases.
var Versions = []string{"8.0.3.0", "8.0.2.0", "8.0.1.0", "8.0.0.0", "7.0.3.2", "7.0.0.1", "7.0.0.0", "6.8.7", "6.7.2", "6.7.1", "6.7", "6.5"}

// JSONReleases are the VI/JSON release path segments that may serve SMS, newest first (VI/JSON arrives
// with vCenter 8.0U1).
var JSONReleases = []string{"8.0.3.0", "8.0.2.0", "8.0.1.0"}

// preferDetailsSince is the first SMS version that knows QueryPointInTimeReplicaParam.preferDetails.
const preferDetailsSince = "7.0.0.1"

// ServerInfo is what a session learned about the server when it was opened.
type ServerInfo struct {
	// Binding is the binding in use.
	Binding Binding
	// SMSVersion is the SMS API version in use: the "urn:sms/<version>" SOAPAction, or the VI/JSON release path.
	SMSVersion string
	// VCenterVersion, VCenterBuild and VCenterAPIVersion come from the vCenter's AboutInfo.
	VCenterVersion, VCenterBuild, VCenterAPIVersion string
	// VCenterFullName is AboutInfo.fullName, e.g. "VMware vCenter Server 8.0.3 build-24022515".
	VCenterFullName string
	// VCenterInstanceUUID is AboutInfo.instanceUuid: one per vCenter installation, so it tells two vCenters
	// apart whose task and provider moIds look alike.
	VCenterInstanceUUID string
}

// ServerInfoReporter is implemented by the clients Dial returns: callers that want to show the versions
// in use type-assert a Client to it (an optional interface, so that Client's fakes stay valid).
type ServerInfoReporter interface {
	// ServerInfo returns what the current session negotiated; it changes only when a session is re-opened.
	ServerInfo() ServerInfo
}

// VersionError means the server accepted none of the SMS versions tried.
type VersionError struct {
	// Tried are the versions offered, in order.
	Tried []string
	// Pinned is true when the version came from Config.Version.
	Pinned bool
	// Err is the server's answer to the last one.
	Err error
}

// Error implements error.
func (e *VersionError) Error() string {
	if e.Pinned {
		return fmt.Sprintf("the server does not accept the pinned SMS version %s: %v", strings.Join(e.Tried, ", "), e.Err)
	}
	return fmt.Sprintf("the server accepts none of the SMS versions %s: %v", strings.Join(e.Tried, ", "), e.Err)
}

// Unwrap returns the server's answer.
func (e *VersionError) Unwrap() error { return e.Err }

// ErrJSONUnsupported is returned (wrapped) by Dial with BindingJSON when the vCenter serves no VI/JSON
// release path that this client knows (vCenter before 8.0U1).
var ErrJSONUnsupported = errors.New("the vCenter does not serve the VI/JSON binding for SMS (it needs vCenter 8.0U1 or later): use the SOAP binding")

// candidates returns the versions to offer, newest first: the pinned one, or the known ones the vCenter's
// API version can serve (compared on the first three parts, since 7.0U3 reports API 7.0.3.0 and serves
// SMS 7.0.3.2; its first builds may not, as pyvmomi's 7.0U3 bindings stop at 7.0.0.1, and then refuse it,
// and the next is offered). Without a usable API version every known one is offered.
func candidates(known []string, pinned, apiVersion string) []string {
	if pinned != "" {
		return []string{pinned}
	}
	out := make([]string, 0, len(known))
	for _, v := range known {
		if apiVersion == "" || compareVersions(v, apiVersion, 3) <= 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return known
	}
	return out
}

// knowsPreferDetails reports whether SMS version v has QueryPointInTimeReplicaParam.preferDetails.
func knowsPreferDetails(v string) bool { return compareVersions(v, preferDetailsSince, 0) >= 0 }

// compareVersions compares dotted numeric versions on their first n parts (all when n is 0).
func compareVersions(a, b string, n int) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	l := max(len(pa), len(pb))
	if n > 0 {
		l = n
	}
	for i := range l {
		x, y := versionPart(pa, i), versionPart(pb, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionPart(p []string, i int) int {
	if i >= len(p) {
		return 0
	}
	n, _ := strconv.Atoi(p[i])
	return n
}

// isVersionFault reports whether err is the server refusing the request's SMS version. vCenter's service
// endpoints answer "Request version '...' and namespace '...' are not supported"; its /sdk answers a
// version it does not know with faultcode VersionMismatchFaultCode and "Unsupported version URI ...". The
// fault type of the SMS answer is not documented, so an InvalidRequest (not one of its subtypes such as
// MethodNotFound) counts, and any fault whose code or text says so; nothing else does (a passing fault
// must not make the client give up on every version).
func isVersionFault(err error) bool {
	if !soap.IsSoapFault(err) {
		return false
	}
	f := soap.ToSoapFault(err)
	switch f.VimFault().(type) {
	case vimtypes.InvalidRequest, *vimtypes.InvalidRequest:
		return true
	}
	return strings.Contains(f.Code, "VersionMismatch") || versionRefused.MatchString(f.String)
}

// versionRefused matches the texts of a refused version: "Request version 'urn:sms/8.0.3.0' and namespace
// 'urn:sms' are not supported", "Unsupported version URI \"urn:sms/8.0.3.0\"".
var versionRefused = regexp.MustCompile(`(?i)version\b.*\bnot supported|unsupported version|version mismatch`)

// UnsupportedBindingError means the vCenter does not serve the binding asked for.
type UnsupportedBindingError struct {
	// URL is the vCenter.
	URL string
	// Err says which binding and what to do (ErrJSONUnsupported).
	Err error
}

// Error implements error.
func (e *UnsupportedBindingError) Error() string { return fmt.Sprintf("vcenter %s: %v", e.URL, e.Err) }

// Unwrap returns the reason.
func (e *UnsupportedBindingError) Unwrap() error { return e.Err }
