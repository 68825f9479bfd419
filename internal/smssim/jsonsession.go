package smssim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// sessionHeader carries the session on the VI/JSON binding.
const sessionHeader = "vmware-api-session-id"

var (
	sessionManagerRef = vimtypes.ManagedObjectReference{Type: "SessionManager", Value: "SessionManager"}
	vimServiceRef     = vimtypes.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}
)

// vimSOAP returns an in-process SOAP client of vcsim's /sdk that sends cookie (when set) as its session.
func (h *jsonHandler) vimSOAP(cookie string) *soap.Client {
	sc := soap.NewClient(&url.URL{Scheme: "http", Host: "smssim.invalid", Path: "/sdk"}, true)
	sc.Client.Transport = muxTransport{h.mux}
	if cookie != "" {
		sc.Client.Jar.SetCookies(&url.URL{Scheme: "http", Host: "smssim.invalid", Path: "/"},
			[]*http.Cookie{{Name: soap.SessionCookieName, Value: cookie}})
	}
	return sc
}

// serveVim serves the few vim25 methods of the VI/JSON binding a client of SMS needs:
// SessionManager Login and Logout, and ServiceInstance RetrieveServiceContent (for AboutInfo).
func (h *jsonHandler) serveVim(w http.ResponseWriter, r *http.Request, this vimtypes.ManagedObjectReference, method string, data []byte) {
	ctx := r.Context()
	switch {
	case this == sessionManagerRef && method == "Login":
		h.login(ctx, w, data)
	case this == sessionManagerRef && method == "Logout":
		id := r.Header.Get(sessionHeader)
		cookie, ok := h.sim.jsonCookie(id)
		if !ok {
			http.Error(w, "not authenticated", http.StatusUnauthorized)
			return
		}
		_, _ = methods.Logout(ctx, h.vimSOAP(cookie), &vimtypes.Logout{This: sessionManagerRef})
		h.sim.dropJSONSession(id)
		w.WriteHeader(http.StatusNoContent)
	case this == vimServiceRef && method == "RetrieveServiceContent":
		res, err := methods.RetrieveServiceContent(ctx, h.vimSOAP(""), &vimtypes.RetrieveServiceContent{This: vimServiceRef})
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res.Returnval)
	default:
		// Real vCenters serve every vim25 method here; the simulator only those an SMS client needs.
		http.Error(w, "not simulated: "+this.Type+"/"+this.Value+"/"+method, http.StatusNotFound)
	}
}

// login logs in to vcsim over SOAP and issues a VI/JSON session id for that session.
func (h *jsonHandler) login(ctx context.Context, w http.ResponseWriter, data []byte) {
	req := vimtypes.Login{}
	if err := decodeInto(data, &req); err != nil {
		writeJSONError(w, err)
		return
	}
	req.This = sessionManagerRef
	sc := h.vimSOAP("")
	res, err := methods.Login(ctx, sc, &req)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	cookie := sc.SessionCookie()
	if cookie == nil {
		http.Error(w, "internal error: login set no session cookie", http.StatusInternalServerError)
		return
	}
	id := cookie.Value
	if h.sim.jsonStrict {
		id = newSessionID()
	}
	h.sim.mu.Lock()
	h.sim.jsonSess[id] = cookie.Value
	h.sim.mu.Unlock()
	w.Header().Set(sessionHeader, id)
	writeJSON(w, http.StatusOK, res.Returnval)
}

// jsonCookie returns the vCenter session cookie of a VI/JSON session id. In shared mode an unknown id is
// taken as a SOAP cookie itself.
func (s *Sim) jsonCookie(id string) (string, bool) {
	if id == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.jsonSess[id]; ok {
		return c, true
	}
	return id, !s.jsonStrict
}

func (s *Sim) dropJSONSession(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jsonSess, id)
}

// newSessionID returns a random session id shaped like vCenter's (40 hex digits).
func newSessionID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeJSON writes v in the VI/JSON encoding.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := newJSONEncoder(&buf).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
