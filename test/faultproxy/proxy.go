package faultproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// upstreamTimeout bounds one forwarded round trip; a request that reached the vCenter is completed
// even when its client is gone, as a real vCenter would.
const upstreamTimeout = 2 * time.Minute

// maxBody bounds what the proxy buffers per request or response.
const maxBody = 64 << 20

// Options configure a Proxy.
type Options struct {
	// Target is the base URL of the vCenter to forward to, e.g. https://127.0.0.1:8989 (required).
	Target string
	// TargetCA is the PEM of the CA the vCenter's certificate chains to (required).
	TargetCA []byte
	// Kill is called by Kill rules; it must return once the client process is dead. Optional.
	Kill func()
	// Seed seeds the random draws of probabilistic rules.
	Seed uint64
}

// Stats are the counts of one method.
type Stats struct {
	// Requests is how many requests arrived.
	Requests int
	// Delivered is how many responses reached the client in full.
	Delivered int
	// Killed, Dropped and Delayed count the responses rules acted on.
	Killed, Dropped, Delayed int
	// RequestBytes and ResponseBytes are body bytes received from the client and from the vCenter.
	RequestBytes, ResponseBytes int64
}

// Proxy is a running HTTPS proxy in front of one vCenter. Its methods are safe for concurrent use.
type Proxy struct {
	srv      *httptest.Server
	target   *url.URL
	upstream *http.Client
	kill     func()

	mu       sync.Mutex
	rnd      *rand.Rand
	rules    []*ruleState
	stats    map[string]*Stats
	inFlight map[string]int
}

// Start serves a proxy to opts.Target on 127.0.0.1 with its own self-signed certificate.
func Start(opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || target.Scheme != "https" || target.Host == "" {
		return nil, fmt.Errorf("target %q: want an https URL", opts.Target)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(opts.TargetCA) {
		return nil, errors.New("targetCA: no PEM certificate")
	}
	p := &Proxy{
		target: target,
		upstream: &http.Client{Timeout: upstreamTimeout, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableCompression:  true, // pass bodies through as they are
			MaxIdleConnsPerHost: 64,
		}},
		kill:     opts.Kill,
		rnd:      rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		stats:    map[string]*Stats{},
		inFlight: map[string]int{},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	// Clients killed mid-handshake are part of the job; their errors are not news.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	return p, nil
}

// URL returns the proxy's base URL, e.g. https://127.0.0.1:41234.
func (p *Proxy) URL() string { return p.srv.URL }

// CACertPEM returns the PEM of the proxy's self-signed certificate (its own CA).
func (p *Proxy) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// CertificateDER returns the proxy's certificate, e.g. to compute a thumbprint to pin.
func (p *Proxy) CertificateDER() []byte { return p.srv.Certificate().Raw }

// Close stops the proxy and closes every client connection.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// AddRule adds a rule; rules are checked in the order they were added and the first that matches acts.
func (p *Proxy) AddRule(r Rule) error {
	if err := r.validate(p.kill != nil); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &ruleState{Rule: r})
	return nil
}

// Counts returns the stats of every method seen so far.
func (p *Proxy) Counts() map[string]Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Stats, len(p.stats))
	for m, s := range p.stats {
		out[m] = *s
	}
	return out
}

// Count returns the stats of one method.
func (p *Proxy) Count(method string) Stats { return p.Counts()[method] }

// InFlight returns how many requests of method were received and not yet answered or dropped.
func (p *Proxy) InFlight(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight[method]
}

// statsOf returns the stats of method, creating them. Callers hold p.mu.
func (p *Proxy) statsOf(method string) *Stats {
	s := p.stats[method]
	if s == nil {
		s = &Stats{}
		p.stats[method] = s
	}
	return s
}

// decide picks the rule for a response and counts its use; nil means deliver unchanged. A rule is not
// used up on a client that has gone already: there is nobody to kill or to drop.
func (p *Proxy) decide(ctx context.Context, method string, code int) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	for _, r := range p.rules {
		if r.matches(method, code, p.rnd.Float64) {
			r.applied++
			rule := r.Rule
			s := p.statsOf(method)
			switch r.Action {
			case Kill:
				s.Killed++
			case Drop:
				s.Dropped++
			case Delay:
				s.Delayed++
			}
			return &rule
		}
	}
	return nil
}
