package sms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ParseThumbprint normalizes a SHA-256 thumbprint given as "SHA256:AA:BB:...",
// "AA:BB:..." or bare hex into its 32 raw bytes.
func ParseThumbprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if i := strings.IndexByte(t, ':'); i >= 0 && strings.EqualFold(strings.ReplaceAll(t[:i], "-", ""), "sha256") {
		t = t[i+1:]
	}
	t = strings.NewReplacer(":", "", " ", "").Replace(t)
	b, err := hex.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("thumbprint is not hex: %w", err)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("thumbprint has %d bytes, want %d (SHA-256)", len(b), sha256.Size)
	}
	return b, nil
}

// FormatThumbprint renders the SHA-256 thumbprint of a DER certificate as "SHA256:AA:BB:...".
func FormatThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "SHA256:" + strings.Join(parts, ":")
}

// errThumbprintMismatch is returned by the pinning verifier.
var errThumbprintMismatch = errors.New("server certificate thumbprint does not match the pinned thumbprint")

// tlsConfig builds the client TLS configuration from cfg.
func tlsConfig(cfg Config, serverName string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Thumbprint != "":
		want, err := ParseThumbprint(cfg.Thumbprint)
		if err != nil {
			return nil, err
		}
		// Pinning replaces chain verification: the pin is the trust anchor.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errThumbprintMismatch
			}
			got := sha256.Sum256(raw[0])
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("%w: got %s", errThumbprintMismatch, FormatThumbprint(raw[0]))
			}
			return nil
		}
	case cfg.InsecureSkipVerify:
		tc.InsecureSkipVerify = true
	}
	if len(cfg.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CABundle) {
			return nil, errors.New("CA bundle holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// tlsDialer returns a DialTLSContext func that honours ctx and the TLS config. (A connection that fails
// to open carried no request: connTransport says so.)
func tlsDialer(tc *tls.Config, d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&tls.Dialer{NetDialer: d, Config: tc}).DialContext
}

// isTLSError reports whether err is a certificate verification failure.
func isTLSError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.Is(err, errThumbprintMismatch)
}
