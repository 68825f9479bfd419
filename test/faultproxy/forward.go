package faultproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// hopHeaders are per connection and never forwarded (RFC 9110 section 7.6.1).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// serve forwards one request to the vCenter, then applies the first matching rule to the response.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	method := methodOf(r, body)
	p.mu.Lock()
	s := p.statsOf(method)
	s.Requests++
	s.RequestBytes += int64(len(body))
	p.inFlight[method]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight[method]--
		p.mu.Unlock()
	}()

	// Once sent, the request runs to its end at the vCenter whatever happens to the client.
	code, header, respBody, err := p.forward(context.WithoutCancel(r.Context()), r, body)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	p.statsOf(method).ResponseBytes += int64(len(respBody))
	p.mu.Unlock()

	if rule := p.decide(r.Context(), method, code); rule != nil {
		switch rule.Action {
		case Kill:
			p.kill()
			panic(http.ErrAbortHandler) // closes the connection without a response
		case Drop:
			panic(http.ErrAbortHandler)
		case Delay:
			t := time.NewTimer(rule.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(code)
	if _, err := w.Write(respBody); err != nil {
		return
	}
	p.mu.Lock()
	p.statsOf(method).Delivered++
	p.mu.Unlock()
}

// forward sends the request to the vCenter and reads the whole response.
func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.upstream.Do(out)
	if err != nil {
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, respBody, nil
}
