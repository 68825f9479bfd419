package sms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// parseURL returns the scheme and host of a vCenter URL; any path, query or user information is dropped.
func parseURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, invalidURLError(s)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("vcenter url scheme %q is not https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("vcenter url has no host")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// HostOf returns the host (and port) a vCenter URL reaches, or the URL as given when it does not parse:
// two spellings of one vCenter's URL (letter case, the default port written out, a trailing dot) name
// one host.
func HostOf(raw string) string {
	u, err := parseURL(raw)
	if err != nil {
		return raw
	}
	host, port := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), u.Port()
	if port == "" || port == "443" && u.Scheme == "https" || port == "80" && u.Scheme == "http" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// accountLookupTimeout bounds the name lookup of AccountHostOf.
const accountLookupTimeout = 2 * time.Second

// accountAddresses keeps the address AccountHostOf first resolved each name to, so that a name keeps one
// account key however its lookups later answer (round robin, a timeout), and is looked up once.
var accountAddresses sync.Map

// AccountHostOf is HostOf with the host name resolved to the lowest of its addresses, when it resolves:
// the FQDN, the short name and the address of one vCenter name one host, whose accounts vCenter locks
// alike. A name that does not resolve here (a proxy resolves it) stays as HostOf has it.
func AccountHostOf(ctx context.Context, raw string) string {
	hostPort := HostOf(raw)
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		host, port = hostPort, ""
	}
	if net.ParseIP(host) == nil {
		if addr, ok := accountAddresses.Load(host); ok {
			host = addr.(string)
		} else {
			ctx, cancel := context.WithTimeout(ctx, accountLookupTimeout)
			defer cancel()
			if addrs, err := net.DefaultResolver.LookupHost(ctx, host); err == nil && len(addrs) > 0 {
				addr, _ := accountAddresses.LoadOrStore(host, slices.Min(addrs))
				host = addr.(string)
			}
		}
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// invalidURLError says why s does not parse without quoting its user information: url.Parse's error
// quotes the whole string, and its reason may quote a part of a password (an invalid escape or port).
func invalidURLError(s string) error {
	r := withoutUserinfo(s)
	if _, err := url.Parse(r); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("vcenter url %q is not a valid URL: %w", r, ue.Err)
		}
		return fmt.Errorf("vcenter url %q is not a valid URL", r)
	}
	return fmt.Errorf("vcenter url %q (user information left out) is not a valid URL: put the username and password in the credentials Secret, not in the url", r)
}

// withoutUserinfo cuts everything between "://" and the last "@" before any query or fragment. A
// password may hold "/" or "@", so the authority's end cannot be trusted; cutting a path's "@" too
// only shortens a message.
func withoutUserinfo(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	end := strings.IndexAny(rest, "?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}
