package v1alpha1

import "net/url"

// SafeURL returns the vCenter URL without any user or password, for messages, events, logs and the
// plugin's output. Admission refuses a URL with userinfo, but objects stored before that rule may still
// carry one.
func (v VCenterSpec) SafeURL() string {
	u, err := url.Parse(v.URL)
	if err != nil {
		return "(unparsable vcenter.url)"
	}
	u.User = nil
	return u.String()
}
