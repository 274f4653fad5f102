package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Defaults of the connection limits in Options.
const (
	DefaultMaxConnsPerIP  = 20
	DefaultKeepAlive      = 30 * time.Second
	DefaultMessageTimeout = 20 * time.Second
)

// FDReserve is how many file descriptors DefaultMaxConns keeps back from
// the process's limit for everything that is not a client connection:
// listeners, the store's files, logs, profiles, and the connections being
// refused (up to maxRefusing at once).
const FDReserve = maxRefusing + 64

// fallbackMaxConns is DefaultMaxConns when the descriptor limit is unknown.
const fallbackMaxConns = 10000

// DefaultMaxConns returns the default of Options.MaxConns: the process's
// descriptor limit (RLIMIT_NOFILE; the Go runtime raises the soft limit to
// the hard one at start) less FDReserve, so the server refuses connections
// in its own protocol ("server full") only when it could not serve them
// anyway. It is 10000 when the limit cannot be read.
func DefaultMaxConns() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fallbackMaxConns
	}
	return maxConnsFor(l.Cur)
}

// maxConnsFor returns the connection limit for a descriptor limit.
func maxConnsFor(nofile uint64) int {
	const ceiling = 1 << 24 // RLIM_INFINITY and the like
	if nofile > ceiling {
		nofile = ceiling
	}
	return max(int(nofile)-FDReserve, 1)
}

// maxRefusing bounds the connections being told "server full" at once;
// past it, more connections over the limits are closed without a word, so
// a flood of refusals costs no more than this many goroutines.
const maxRefusing = 256

// refuseTimeout bounds how long a refused connection is kept to read its
// first input (so that the refusal is said in its protocol) and write it.
const refuseTimeout = 2 * time.Second

// Refuser is implemented by handlers that can tell a client it was refused
// (server full) in their own protocol. The server calls Refuse instead of
// ServeConn for a connection over the limits, with the read deadline set to
// RefuseDeadline; Refuse should queue why, and the server then finishes the
// connection (engine.ReasonServerFull). A handler that is not a Refuser has
// refused connections closed without a word.
type Refuser interface {
	Refuse(c engine.Conn, why *chat.Error)
}

// setLimitDefaults fills the connection limit fields of o.
func (o *Options) setLimitDefaults() {
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns()
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
}

// prepare caps the send buffer, turns on TCP keepalive and wraps nc in TLS
// when the listener has a TLS configuration.
func (s *Server) prepare(nc net.Conn, tlsConfig *tls.Config) net.Conn {
	s.tune(nc)
	if tlsConfig != nil {
		return tls.Server(nc, tlsConfig)
	}
	return nc
}

// tune caps the send buffer of a TCP connection (under TLS too) and turns
// on TCP keepalive.
func (s *Server) tune(nc net.Conn) {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		if n := s.opts.SendBuffer; n > 0 {
			_ = tc.SetWriteBuffer(n)
		}
		if ka := s.opts.KeepAlive; ka > 0 {
			_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: ka, Interval: max(ka/3, time.Second), Count: 3})
		} else {
			_ = tc.SetKeepAlive(false)
		}
	}
}

// remoteIP returns the remote IP of c as a map key, and whether the
// per-IP limit applies to it.
func (s *Server) remoteIP(c *Conn) (string, bool) {
	ap, err := netip.ParseAddrPort(c.conn.RemoteAddr().String())
	if err != nil {
		return "", false // not an IP connection (tests over pipes, unix sockets)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() && !s.opts.LimitLoopback {
		return "", false
	}
	return ip.String(), true
}

// admitLocked counts c against the limits, or returns why it is refused.
// Caller holds s.mu.
func (s *Server) admitLocked(c *Conn) *chat.Error {
	if s.opts.MaxConns > 0 && s.admitted >= s.opts.MaxConns {
		s.stats.refused.Add(1)
		return chat.Errorf(chat.CodeFull, "the server is full (%d connections); try again later", s.opts.MaxConns)
	}
	ip, limited := s.remoteIP(c)
	if limited && s.opts.MaxConnsPerIP > 0 {
		if s.perIP[ip] >= s.opts.MaxConnsPerIP {
			s.stats.refused.Add(1)
			return chat.Errorf(chat.CodeFull, "too many connections from your address (the limit is %d); close one and try again", s.opts.MaxConnsPerIP)
		}
		s.perIP[ip]++
		c.perIP = true
	}
	s.admitted++
	c.admitted = true
	return nil
}

// releaseLocked gives back what admitLocked counted for c. Caller holds s.mu.
func (s *Server) releaseLocked(c *Conn) {
	if c.refused {
		s.refusing--
	}
	if !c.admitted {
		return
	}
	c.admitted = false
	s.admitted--
	if c.perIP {
		c.perIP = false
		ip, _ := s.remoteIP(c) // what admitLocked counted: the address does not change
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
}

// handshake runs the TLS handshake, if any, within the handshake deadline.
func (s *Server) handshake(c *Conn) bool {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return true
	}
	_ = tc.SetDeadline(c.HandshakeDeadline())
	if err := tc.HandshakeContext(s.ctx); err != nil {
		var plain tls.RecordHeaderError
		if errors.As(err, &plain) {
			// Worth telling the operator: a tutorial program or nc pointed
			// at a TLS port, which closes on them without a word.
			c.Logger().Warn("a client spoke plain text to a TLS port; closing it (point plain clients at a plain listener)")
		} else {
			c.debug("TLS handshake failed", "err", err)
		}
		c.Close(engine.ReasonHandshakeFailed)
		return false
	}
	_ = tc.SetWriteDeadline(time.Time{})
	return true
}

// HandshakeDeadline returns when the connection's handshake must be done:
// the handshake timeout after it was accepted. Front-ends set it as the read
// deadline until the client has a session, so the TLS handshake, a password
// and every name attempt share one deadline.
func (c *Conn) HandshakeDeadline() time.Time {
	return c.accepted.time().Add(c.server.opts.HandshakeTimeout)
}

// RefuseDeadline returns the deadline for telling a refused connection why
// (see Refuser).
func (c *Conn) RefuseDeadline() time.Time { return c.accepted.time().Add(refuseTimeout) }

// Admitted returns the number of connections counted against MaxConns.
func (s *Server) Admitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted
}
