package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsFlags are the flags of the metrics endpoint.
type metricsFlags struct {
	addr        string
	secure      bool
	enableHTTP2 bool
	// certPath is a directory with a serving certificate and key (e.g. a mounted cert-manager Secret);
	// empty serves a self-signed certificate generated in memory at start.
	certPath, certName, certKey string
}

// metricsOptions turns the flags into the metrics server's options. A certificate directory must hold
// both files: controller-runtime would otherwise fall back to a self-signed certificate without a word,
// and scrapes that verify the certificate would fail. It watches the files and serves a renewed
// certificate without a restart.
func metricsOptions(f metricsFlags) (metricsserver.Options, error) {
	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	opts := metricsserver.Options{BindAddress: f.addr, SecureServing: f.secure, TLSOpts: tlsOpts}
	if f.secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if f.certPath == "" {
		return opts, nil
	}
	if !f.secure {
		return opts, fmt.Errorf("--metrics-cert-path=%s needs --metrics-secure: plain HTTP serves no certificate", f.certPath)
	}
	for flag, name := range map[string]string{"--metrics-cert-name": f.certName, "--metrics-cert-key": f.certKey} {
		if name == "" {
			return opts, fmt.Errorf("%s is empty: it names a file in --metrics-cert-path", flag)
		}
		if _, err := os.Stat(filepath.Join(f.certPath, name)); err != nil {
			return opts, fmt.Errorf("--metrics-cert-path=%s, %s=%s: %w", f.certPath, flag, name, err)
		}
	}
	opts.CertDir, opts.CertName, opts.KeyName = f.certPath, f.certName, f.certKey
	return opts, nil
}
