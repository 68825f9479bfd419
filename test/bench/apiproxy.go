package bench

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// APIProxy sits between the manager and the API server and counts the manager's requests by verb and
// resource, and the bytes it sends. It serves HTTPS with HTTP/2, as the API server does, and forwards
// with the manager's own identity (its client certificate), so the API server authorizes the manager
// exactly as without the proxy.
type APIProxy struct {
	srv      *httptest.Server
	resolver *request.RequestInfoFactory

	mu     sync.Mutex
	counts map[string]int
	sent   int64
}

// StartAPIProxy starts a proxy to the API server of user (a config with the manager's identity).
func StartAPIProxy(user *rest.Config) (*APIProxy, error) {
	target, err := url.Parse(user.Host)
	if err != nil {
		return nil, fmt.Errorf("api server host %q: %w", user.Host, err)
	}
	transport, err := rest.TransportFor(user)
	if err != nil {
		return nil, fmt.Errorf("transport of the manager's identity: %w", err)
	}
	p := &APIProxy{
		resolver: &request.RequestInfoFactory{
			// The resolver's fields still have the old set type; a plain map literal fills them.
			APIPrefixes:          map[string]sets.Empty{"api": {}, "apis": {}},
			GrouplessAPIPrefixes: map[string]sets.Empty{"api": {}},
		},
		counts: map[string]int{},
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     transport,
		FlushInterval: -1, // watches stream
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		rp.ServeHTTP(w, r)
	}))
	p.srv.EnableHTTP2 = true
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	return p, nil
}

// count records one request under "verb resource[/subresource]".
func (p *APIProxy) count(r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if info, err := p.resolver.NewRequestInfo(r); err == nil && info.IsResourceRequest {
		key = info.Verb + " " + info.Resource
		if info.Subresource != "" {
			key += "/" + info.Subresource
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[key]++
	if r.ContentLength > 0 {
		p.sent += r.ContentLength
	}
}

// Counts returns the requests so far per "verb resource[/subresource]" and the request body bytes sent.
func (p *APIProxy) Counts() (map[string]int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out, p.sent
}

// Kubeconfig returns a kubeconfig that reaches the API server through the proxy.
func (p *APIProxy) Kubeconfig() ([]byte, error) {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: p.srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["manager"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "manager"}
	cfg.CurrentContext = "bench"
	return clientcmd.Write(*cfg)
}

// Close stops the proxy.
func (p *APIProxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// diffCounts returns after minus before, dropping zeros.
func diffCounts(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// formatCounts writes counts as "k=v" sorted by key; per divides each value when > 0.
func formatCounts(counts map[string]int, per float64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if per > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.2f", k, float64(counts[k])/per))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
		}
	}
	return strings.Join(parts, " ")
}
