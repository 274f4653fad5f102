package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Options are the transport limits. Zero fields take the defaults.
type Options struct {
	MaxQueueBytes    int           // outbound bytes queued per connection before it is a slow consumer; default 4 MiB
	WriteTimeout     time.Duration // a write that takes longer makes a slow consumer; default 10 s
	HandshakeTimeout time.Duration // time to send a valid name; default 10 s
	ReadBufferSize   int           // per-connection read buffer; default 1 KiB (frames larger than it are read straight into their payload)
	// SendBuffer caps each connection's kernel send buffer (SO_SNDBUF, in
	// bytes; the kernel doubles it for bookkeeping). Zero leaves the kernel's
	// autotuning, which on Linux lets one client that does not read hold up
	// to 4 MiB (net.ipv4.tcp_wmem) before MaxQueueBytes and WriteTimeout
	// even start to count.
	SendBuffer    int
	MaxFrameBytes int // largest framed payload; default 64 KiB
	MaxLineBytes  int // longest line on the line protocol; default 8 KiB
	// MessageTimeout bounds how long a message may take to arrive once its
	// first byte has (a frame, a line): past it the connection is closed as
	// a protocol violation, so a started message cannot pin its buffer
	// forever; default 20 s, negative for no bound.
	MessageTimeout time.Duration
	Logger         *slog.Logger // default slog.Default()

	MaxConns      int           // most open connections in total; default DefaultMaxConns() (the descriptor limit less FDReserve), negative for no limit
	MaxConnsPerIP int           // most open connections from one remote IP; default 20, negative for no limit
	LimitLoopback bool          // apply MaxConnsPerIP to loopback addresses too (exempt by default)
	KeepAlive     time.Duration // TCP keepalive idle time; default 30 s, negative disables
}

func (o *Options) setDefaults() {
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = 4 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 1024
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 64 * 1024
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 8 * 1024
	}
	if o.MessageTimeout == 0 {
		o.MessageTimeout = DefaultMessageTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.setLimitDefaults()
}

// Handler speaks one wire protocol over a connection (engine.Handler is
// the one every front-end uses). ServeConn owns the read side: it returns
// when the connection is finished, after which the server closes it.
type Handler interface {
	ServeConn(ctx context.Context, c engine.Conn)
}

// MessageReader reads one inbound message at a time.
type MessageReader interface {
	ReadMessage() ([]byte, error)
}

// PendingReader is implemented by message readers that can hold whole
// messages of their own, beyond the connection's buffered reader (the raw
// dialects split one read into its lines): a connection does not park
// while its reader holds one.
type PendingReader interface {
	Pending() bool
}

// ReadsWhole is implemented by message readers for which one read from the
// socket is one message (raw text with no framing): the connection then
// reads nothing ahead for them, which would split a message in two.
type ReadsWhole interface {
	ReadsWhole()
}

// Framing makes the message reader of one connection of a stream listener:
// how its bytes split into messages (10-byte-header frames, lines, raw
// reads). It reads through r, the connection's buffered reader, and may
// use the limits in o.
type Framing func(r *Reader, o *Options) MessageReader

// Listener describes one listening socket: what it serves and how.
type Listener struct {
	Name    string      // labels the listener in logs: "frame", "line", ...
	Addr    string      // host:port for Listen
	TLS     *tls.Config // serve this listener over TLS (1.2 or newer); nil for plain TCP
	Framing Framing     // how its streams split into messages
	Handler Handler     // what runs each connection
}

// Server runs listeners and tracks their connections for shutdown.
type Server struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*Conn]struct{}
	admitted  int            // connections counted against MaxConns
	perIP     map[string]int // connections counted against MaxConnsPerIP
	refusing  int            // connections being refused (server full)
	closing   bool
	wg        sync.WaitGroup // accept loops and connection goroutines
	readBufs  *BufferPool    // connections' read buffers, held only while input is buffered
	stats     stats

	writers  *writerPool // runs the connections' writers
	starts   starter     // the gate on handlers' goroutines (starts.go)
	pollOnce sync.Once
	poll     atomic.Pointer[poller] // parked connections' input; nil until the first park, or on platforms without one
}

// New returns a server with the given limits.
func New(opts Options) *Server {
	opts.setDefaults()
	ctx, stop := context.WithCancel(context.Background())
	return &Server{opts: opts, log: opts.Logger, ctx: ctx, stop: stop, conns: make(map[*Conn]struct{}), perIP: make(map[string]int),
		readBufs: NewBufferPool(opts.ReadBufferSize), writers: newWriterPool()}
}

// Options returns the effective limits.
func (s *Server) Options() Options { return s.opts }

// Listen starts accepting TCP connections on l.Addr. It returns the bound
// address (useful with port 0).
func (s *Server) Listen(l Listener) (net.Addr, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(s.ctx, "tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	return s.Serve(ln, l)
}

// listenerTLS returns a copy of cfg that allows TLS 1.2 or newer only.
func listenerTLS(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	return cfg
}

// Serve accepts connections from ln as l says until Shutdown.
func (s *Server) Serve(ln net.Listener, l Listener) (net.Addr, error) {
	if l.TLS != nil {
		l.TLS = listenerTLS(l.TLS)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("server: shutting down")
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.track(l.Name)
	s.log.Info("listening", "protocol", l.Name, "addr", ln.Addr().String(), "tls", l.TLS != nil)
	go s.acceptLoop(ln, l)
	return ln.Addr(), nil
}

func (s *Server) acceptLoop(ln net.Listener, l Listener) {
	name := l.Name
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed", "protocol", name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		c := newConn(s.prepare(nc, l.TLS), s, name, l.Framing)
		c.accepted = at(time.Now())
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		refusal := s.admitLocked(c)
		if refusal != nil {
			if s.refusing >= maxRefusing {
				s.mu.Unlock()
				nc.Close()
				continue
			}
			s.refusing++
			c.refused = true
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.stats.noteAccepted(name)
		if l.TLS != nil {
			go s.serveConn(name, c, l.Handler, refusal, false)
		} else {
			s.starts.start(func(slot bool) { s.serveConn(name, c, l.Handler, refusal, slot) })
		}
	}
}

func (s *Server) serveConn(name string, c *Conn, h Handler, refusal *chat.Error, slot bool) {
	c.debug("connection accepted", "protocol", name)
	s.runHandler(c, func(st *runState) {
		st.slot = slot
		c.run = st
		if refusal != nil {
			c.Logger().Warn("connection refused", "protocol", name, "why", refusal.Message)
			if r, ok := h.(Refuser); ok {
				_ = c.SetReadDeadline(c.RefuseDeadline())
				r.Refuse(c, refusal)
			}
			c.Finish(engine.ReasonServerFull)
			return
		}
		if !s.handshake(c) {
			return
		}
		h.ServeConn(s.ctx, c)
	})
}

// runHandler runs (part of) a connection's handler on the calling
// goroutine, and then ends the connection unless the handler parked it
// (see Conn.Park), in which case the goroutine that resumes it will.
func (s *Server) runHandler(c *Conn, run func(st *runState)) {
	st := &runState{}
	defer func() {
		if p := recover(); p != nil {
			c.Logger().Error("connection handler panicked", "protocol", c.listener, "panic", p)
			c.Close(engine.ReasonProtocolViolation)
		}
		s.leaveStart(st)
		if !st.parked {
			s.endConn(c)
		}
	}()
	run(st)
}

// endConn cleans up after a connection's handler has returned for good.
func (s *Server) endConn(c *Conn) {
	defer s.wg.Done()
	c.wait() // the writer ends within the write deadline, or at once if closed
	if c.finished() {
		c.linger()
	}
	c.Close(engine.ReasonClientClosed) // no-op if already closed with a reason
	c.reader.Release()                 // the handler and linger are done reading
	if p := s.poll.Load(); p != nil {
		p.forget(c)
	}
	s.stats.noteClosed(c.Reason())
	s.mu.Lock()
	delete(s.conns, c)
	s.releaseLocked(c)
	s.mu.Unlock()
	c.debug("connection closed", "protocol", c.listener, "reason", c.Reason().String())
}

// Listening returns the number of open listeners.
func (s *Server) Listening() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.listeners)
}

// Conns returns the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// StopAccepting closes the listeners and cancels the server context, which
// handlers watch during their handshakes. Connections already open stay up.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.closing = true
	lns := s.listeners
	s.listeners = nil
	var handshaking []*Conn
	for c := range s.conns {
		c.mu.Lock()
		if c.enc == nil {
			handshaking = append(handshaking, c)
		}
		c.mu.Unlock()
	}
	s.mu.Unlock()
	s.stop()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range handshaking {
		c.Close(engine.ReasonServerShutdown) // no session yet: nothing to flush
	}
}

// Shutdown stops accepting and waits for every connection to finish (the
// hub's bye makes sessions flush and close). Connections still open when
// ctx ends are closed. It returns once every goroutine has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.StopAccepting()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.closePoller()
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.conns)
	for c := range s.conns {
		c.Close(engine.ReasonServerShutdown)
	}
	s.mu.Unlock()
	s.log.Warn("shutdown deadline passed; closed remaining connections", "count", n)
	<-done
	s.closePoller()
	return ctx.Err()
}

// closePoller stops the poller and the writer pool, once every
// connection has ended.
func (s *Server) closePoller() {
	s.writers.close()
	s.pollOnce.Do(func() {}) // no poller starts after this
	if p := s.poll.Swap(nil); p != nil {
		p.close()
	}
}
