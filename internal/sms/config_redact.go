package sms

import "fmt"

// redacted stands in for the password wherever a Config is printed or logged.
const redacted = "<redacted>"

// safe returns a copy of c that carries no password and no CA bundle bytes.
func (c Config) safe() configView {
	v := configView{URL: c.URL, Username: c.Username, Thumbprint: c.Thumbprint, InsecureSkipVerify: c.InsecureSkipVerify,
		Binding: c.Binding, Version: c.Version, Timeout: c.Timeout.String(), ListTimeout: c.ListTimeout.String(), CABundleBytes: len(c.CABundle)}
	if c.Password != "" {
		v.Password = redacted
	}
	return v
}

// configView is what a printed or logged Config shows.
type configView struct {
	URL, Username, Password, Thumbprint string
	InsecureSkipVerify                  bool
	Binding                             Binding
	Version, Timeout, ListTimeout       string
	CABundleBytes                       int
}

// String implements fmt.Stringer without the password, so %v and %+v of a Config never print it.
func (c Config) String() string { return fmt.Sprintf("%+v", c.safe()) }

// GoString implements fmt.GoStringer without the password, for %#v.
func (c Config) GoString() string { return fmt.Sprintf("sms.Config%+v", c.safe()) }

// MarshalLog implements logr.Marshaler without the password, for structured loggers (zap, funcr).
func (c Config) MarshalLog() any { return c.safe() }
