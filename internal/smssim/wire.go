package smssim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// DefaultLateResponseDelay is how long a late response is held back when LateResponseRule.Delay is
// unset: twice the client's default timeout (sms.DefaultTimeout, 30 s).
const DefaultLateResponseDelay = time.Minute

// wireState lets Close wake the handlers that hold back late responses.
type wireState struct {
	mu     sync.Mutex
	done   chan struct{}
	closed bool
}

func (w *wireState) stopped() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		w.done = make(chan struct{})
	}
	return w.done
}

func (w *wireState) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		w.done = make(chan struct{})
	}
	if !w.closed {
		close(w.done)
		w.closed = true
	}
}

// wireKey marks a request whose response a wireHandler already looks after: the VI/JSON binding
// calls the SOAP endpoint in process with the outer request's context.
type wireKey struct{}

var (
	soapSyncCall   = regexp.MustCompile(`<(?:[\w.-]+:)?SyncReplicationGroup_Task[\s>/]`)
	soapReturnval  = regexp.MustCompile(`<returnval[^>]*>([^<]*)</returnval>`)
	jsonSyncSuffix = "/SyncReplicationGroup_Task"
)

// wireHandler wraps an SMS endpoint so that the HTTP responses of SyncReplicationGroup_Task calls
// can be lost, late or empty, as configured per provider. The call itself is handled as usual (the
// task is created, the call logged); only what reaches the client changes, as when a proxy, a load
// balancer or vCenter itself drops or delays an answer. Other calls pass through untouched.
func (s *Sim) wireHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(wireKey{}) != nil || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		jsonBinding := !strings.HasPrefix(r.URL.Path, Path)
		if !isSyncCall(r, jsonBinding) {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), wireKey{}, true)))
		res := rec.Result()
		defer func() { _ = res.Body.Close() }()
		body := rec.Body.Bytes()
		var ref string
		if res.StatusCode == http.StatusOK {
			ref = taskRefOf(body, jsonBinding)
		}
		response, delay := s.responseFate(ref, jsonBinding)
		switch response {
		case ResponseLost:
			dropConnection(w)
			return
		case ResponseLate:
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return // the client gave up: nobody reads the answer
			case <-s.wire.stopped():
				dropConnection(w)
				return
			}
		case ResponseReset:
			http.Error(w, UpstreamResetText, http.StatusServiceUnavailable)
			return
		case ResponseEmpty:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			return
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

// isSyncCall tells whether r calls SyncReplicationGroup_Task; on SOAP it reads the body and puts
// it back.
func isSyncCall(r *http.Request, jsonBinding bool) bool {
	if jsonBinding {
		return strings.HasSuffix(r.URL.Path, jsonSyncSuffix)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(data))
	return err == nil && soapSyncCall.Match(data)
}

// taskRefOf returns the SmsTask moId of a successful SyncReplicationGroup_Task answer.
func taskRefOf(body []byte, jsonBinding bool) string {
	if jsonBinding {
		var ref struct {
			Value string `json:"value"`
		}
		if json.Unmarshal(body, &ref) != nil {
			return ""
		}
		return ref.Value
	}
	if m := soapReturnval.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http then closes the connection (or resets the stream)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// responseFate decides what happens to the answer of the call that created task ref and notes it
// in the call log: "" (sent as is), ResponseLost, ResponseReset, ResponseLate (with the delay) or ResponseEmpty
// (VI/JSON only, where an empty 200 body is a plausible answer).
func (s *Sim) responseFate(ref string, jsonBinding bool) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := s.callOfTask(ref)
	if call == nil {
		return "", 0
	}
	p := s.byName[call.Provider]
	roll := s.rnd.Float64
	switch {
	case p.responses.lost.pick(p.cfg.LostResponses, roll):
		call.Response = ResponseLost
		return ResponseLost, 0
	case p.responses.reset.pick(p.cfg.ResetResponses, roll):
		call.Response = ResponseReset
		return ResponseReset, 0
	case p.cfg.LateResponses != nil && p.responses.late.pick(&p.cfg.LateResponses.ResponseRule, roll):
		call.Response = ResponseLate
		if d := p.cfg.LateResponses.Delay.Duration; d > 0 {
			return ResponseLate, d
		}
		return ResponseLate, DefaultLateResponseDelay
	case jsonBinding && p.responses.empty.pick(p.cfg.EmptyTaskRefs, roll):
		call.Response = ResponseEmpty
		return ResponseEmpty, 0
	}
	return "", 0
}
