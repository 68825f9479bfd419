package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const serverName = "vso-metrics.vso-system.svc"

// testCA signs serving certificates for serverName.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a serving certificate for serverName with the given serial and its key into dir, as a
// mounted kubernetes.io/tls Secret holds them.
func (ca *testCA) issue(t *testing.T, dir, certName, keyName string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: serverName}, DNSNames: []string{serverName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		// Write and rename, as the kubelet swaps a Secret volume's files at once.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write(keyName, "EC PRIVATE KEY", keyDER)
	write(certName, "CERTIFICATE", der)
}

// serve starts a metrics server with opts (without the authentication filter, which needs an API server)
// on a free port and returns its address.
func serve(t *testing.T, opts metricsserver.Options) string {
	t.Helper()
	opts.BindAddress, opts.FilterProvider = "127.0.0.1:0", nil
	srv, err := metricsserver.NewServer(opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Start(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	NewWithT(t).Eventually(func() string {
		addr = srv.(interface{ GetBindAddr() string }).GetBindAddr()
		return addr
	}).WithTimeout(10 * time.Second).ShouldNot(BeEmpty())
	return addr
}

// servedSerial dials addr verifying the certificate against pool and serverName, and returns its serial.
func servedSerial(addr string, pool *x509.CertPool) (int64, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestMetricsServeMountedCertificate: with --metrics-cert-path the endpoint serves the mounted
// certificate, which a scraper verifies with its CA and the Service's name, and a renewed one without a
// restart.
func TestMetricsServeMountedCertificate(t *testing.T) {
	g := NewWithT(t)
	ca, dir := newTestCA(t), t.TempDir()
	ca.issue(t, dir, "cert.pem", "key.pem", 100)
	opts, err := metricsOptions(metricsFlags{addr: ":8443", secure: true, certPath: dir, certName: "cert.pem", certKey: "key.pem"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(opts.FilterProvider).NotTo(BeNil(), "scrapes stay authenticated and authorized")
	addr := serve(t, opts)

	g.Expect(servedSerial(addr, ca.pool)).To(Equal(int64(100)))
	ca.issue(t, dir, "cert.pem", "key.pem", 101)
	g.Eventually(func() (int64, error) { return servedSerial(addr, ca.pool) }).
		WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal(int64(101)))
}

// TestMetricsSelfSignedByDefault: without --metrics-cert-path the endpoint serves a self-signed
// certificate, which no CA verifies (scrapers skip verification, as the default ServiceMonitors do).
func TestMetricsSelfSignedByDefault(t *testing.T) {
	g := NewWithT(t)
	opts, err := metricsOptions(metricsFlags{addr: ":8443", secure: true, certName: "tls.crt", certKey: "tls.key"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(opts.CertDir).To(BeEmpty())
	addr := serve(t, opts)
	_, err = servedSerial(addr, newTestCA(t).pool)
	g.Expect(err).To(MatchError(ContainSubstring("certificate")))
}

// TestMetricsCertFlagsRejected: a certificate directory without the files, or with plain HTTP, is an
// error naming the flag instead of a silent self-signed certificate.
func TestMetricsCertFlagsRejected(t *testing.T) {
	dir := t.TempDir()
	newTestCA(t).issue(t, dir, "tls.crt", "tls.key", 1)
	for name, tc := range map[string]struct {
		flags metricsFlags
		want  string
	}{
		"missing certificate": {metricsFlags{secure: true, certPath: dir, certName: "other.crt", certKey: "tls.key"}, "--metrics-cert-name=other.crt"},
		"missing key":         {metricsFlags{secure: true, certPath: dir, certName: "tls.crt", certKey: "other.key"}, "--metrics-cert-key=other.key"},
		"empty key name":      {metricsFlags{secure: true, certPath: dir, certName: "tls.crt"}, "--metrics-cert-key is empty"},
		"missing directory":   {metricsFlags{secure: true, certPath: filepath.Join(dir, "none"), certName: "tls.crt", certKey: "tls.key"}, "no such file"},
		"plain HTTP":          {metricsFlags{secure: false, certPath: dir, certName: "tls.crt", certKey: "tls.key"}, "needs --metrics-secure"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := metricsOptions(tc.flags)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
