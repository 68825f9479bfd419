// Package tcprelay passes TCP connections on to a target, or stops passing them the way an address
// whose host or network is failing does: resetting each connection, or taking it and sending nothing.
package tcprelay

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Mode is what the relay does with a connection.
type Mode int32

const (
	// Forward passes the connection on to the target.
	Forward Mode = iota
	// Reset resets it before a byte passes, as a vCenter's reverse proxy restarting in an upgrade.
	Reset
	// Hold takes it and sends nothing, as the address of a site half down (a load balancer up, the
	// vCenter behind it not).
	Hold
)

// Relay listens on a local address; see Mode.
type Relay struct {
	ln       net.Listener
	target   string
	mode     atomic.Int32
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

// Start starts a relay to target (host:port) in mode Forward, closed when the test ends.
func Start(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); r.closeAll() })
	go r.serve()
	return r
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Accepted counts the connections the relay took.
func (r *Relay) Accepted() int { return int(r.accepted.Load()) }

// Set switches the relay to m; leaving Forward, it closes every connection it holds.
func (r *Relay) Set(m Mode) {
	r.mode.Store(int32(m))
	if m != Forward {
		r.closeAll()
	}
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.accepted.Add(1)
		switch Mode(r.mode.Load()) {
		case Reset:
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		case Hold:
			r.keep(c)
		default:
			go r.forward(c)
		}
	}
}

func (r *Relay) forward(c net.Conn) {
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		_ = c.Close()
		return
	}
	r.keep(c, up)
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func (r *Relay) keep(conns ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, conns...)
}

func (r *Relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}
