package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// WebSocket is a WebSocket endpoint: each connection is one more Conn,
// counted against the same limits as every accepted connection and run by
// Handler, with one text message per inbound message and one per encoded
// event. It is an http.Handler.
type WebSocket struct {
	Server  *Server
	Name    string  // labels the endpoint in logs ("ws")
	Handler Handler // what runs each connection (the native protocol, unframed)
	// OriginPatterns are the other origins (host patterns, as
	// github.com/coder/websocket takes them) whose pages may connect;
	// the page's own origin always may.
	OriginPatterns []string
}

// ServeHTTP upgrades the request and runs the connection until it ends.
func (ws *WebSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := ws.Server
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	hw := &hijackWriter{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{OriginPatterns: ws.OriginPatterns, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.log.Warn("WebSocket upgrade refused", "protocol", ws.Name, "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return // Accept has answered (403 for a foreign origin)
	}
	conn.SetReadLimit(int64(s.opts.MaxFrameBytes))
	s.tune(hw.sock.Conn) // the same socket options as a listener's connections
	nc := newWSConn(conn, hw.sock, r)
	c := newConn(nc, s, ws.Name, nil)
	c.framer = &wsReader{nc: nc}
	c.accepted = at(time.Now())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "the server is shutting down")
		return
	}
	refusal := s.admitLocked(c)
	if refusal != nil {
		if s.refusing >= maxRefusing {
			s.mu.Unlock()
			_ = conn.CloseNow()
			return
		}
		s.refusing++
		c.refused = true
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.noteAccepted(ws.Name)
	s.serveConn(ws.Name, c, ws.Handler, refusal, false) // on this request's goroutine, like any connection's handler
}

// hijackWriter hands the WebSocket library a socket of ours when it takes
// the connection over: a frameConn, through which it writes its frames.
type hijackWriter struct {
	http.ResponseWriter
	sock *frameConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: the HTTP connection cannot be taken over")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.sock = &frameConn{Conn: nc}
	// Reads keep net/http's reader (it may hold the first frame already);
	// writes go through the frameConn.
	return w.sock, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.sock, 4096)), nil
}

// frameConn is the socket under a WebSocket. The library (github.com/
// coder/websocket) does the handshake, reads, and writes the control
// frames (pong, close); the text messages that carry events are framed
// here, a batch of them in one write: the library would take a lock and
// flush, one system call, per message, which made a WebSocket delivery
// cost seven times a framed one. Writes are serialised, so the library's
// frames (each written whole: it flushes at the end of a frame, and control
// frames are far smaller than its buffer) never land inside a batch.
type frameConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *frameConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(b)
}

// writeText writes each of msgs as one text message, all in one write,
// within deadline (none if zero). It returns the bytes written, frame
// headers included.
func (c *frameConn) writeText(msgs [][]byte, deadline time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := c.buf[:0]
	for _, m := range msgs {
		buf = appendTextFrame(buf, m)
	}
	if !deadline.IsZero() {
		if err := c.Conn.SetWriteDeadline(deadline); err != nil {
			return 0, err
		}
		// The deadline is the batch's only: the library's own writes
		// have theirs.
		defer func() { _ = c.Conn.SetWriteDeadline(time.Time{}) }()
	}
	n, err := c.Conn.Write(buf)
	if cap(buf) > 256<<10 {
		buf = nil // a burst's buffer is not kept
	}
	c.buf = buf[:0]
	return n, err
}

// appendTextFrame appends one final, unmasked text frame carrying p (RFC
// 6455 section 5.2: a server's frames are never masked).
func appendTextFrame(dst, p []byte) []byte {
	dst = append(dst, 0x80|0x1) // FIN, opcode text
	switch n := len(p); {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}

// wsConn adapts a WebSocket to the net.Conn a Conn writes to: each Write is
// one text message (the writer's buffers are whole encoded events), a
// batch (WriteBatch) goes out in one write, and deadlines are kept for the
// message reader.
type wsConn struct {
	ws     *websocket.Conn
	sock   *frameConn // the socket under ws
	remote net.Addr

	mu       sync.Mutex
	rdl, wdl time.Time
	changed  chan struct{} // a read deadline was set (capacity 1)
	closed   chan struct{}
	once     sync.Once
	// handshake starts the closing handshake once; closing says it has.
	handshake sync.Once
	closing   atomic.Bool
}

func newWSConn(ws *websocket.Conn, sock *frameConn, r *http.Request) *wsConn {
	var remote net.Addr = &net.TCPAddr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	return &wsConn{ws: ws, sock: sock, remote: remote, changed: make(chan struct{}, 1), closed: make(chan struct{})}
}

// WriteBatch sends each buffer (a whole encoded event) as one text message,
// all of them in one write to the socket, within the write deadline.
func (c *wsConn) WriteBatch(bufs [][]byte) (int, error) {
	c.mu.Lock()
	dl := c.wdl
	c.mu.Unlock()
	return c.sock.writeText(bufs, dl) // a passed deadline is os.ErrDeadlineExceeded: a slow consumer
}

// Read returns EOF: input is read message by message (wsReader), and
// there is nothing to drain after a finish.
func (c *wsConn) Read([]byte) (int, error) { return 0, io.EOF }

// Write sends b as one text message, within the write deadline.
func (c *wsConn) Write(b []byte) (int, error) { return c.WriteBatch([][]byte{b}) }

// CloseWrite starts the closing handshake after the last message, on a
// goroutine of its own: it waits for the peer's close frame (the library
// bounds that to a few seconds, then closes the socket), and Finish, which
// calls it, must not wait.
func (c *wsConn) CloseWrite() error {
	c.handshake.Do(func() {
		c.closing.Store(true)
		go func() { _ = c.ws.Close(websocket.StatusNormalClosure, "") }()
	})
	return nil
}

// Close closes the socket at once, unless the closing handshake has
// started: that closes it when it ends. It never waits.
func (c *wsConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	if c.closing.Load() {
		return nil
	}
	return c.ws.CloseNow()
}

func (c *wsConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return nil
}

func (c *wsConn) readDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rdl
}

// wsReader reads one WebSocket message per ReadMessage. A goroutine of its
// own reads the socket, so that a read deadline can pass without closing
// the WebSocket (the library closes it when a read's context ends).
type wsReader struct {
	nc      *wsConn
	msgs    chan wsMessage
	started sync.Once
}

type wsMessage struct {
	typ websocket.MessageType
	b   []byte
	err error
}

// ReadsWhole marks one message as one message (server.ReadsWhole).
func (r *wsReader) ReadsWhole() {}

func (r *wsReader) ReadMessage() ([]byte, error) {
	r.started.Do(func() {
		r.msgs = make(chan wsMessage)
		go r.pump()
	})
	for {
		var timeout <-chan time.Time
		var t *time.Timer
		if dl := r.nc.readDeadline(); !dl.IsZero() {
			t = time.NewTimer(time.Until(dl))
			timeout = t.C
		}
		msg, again, err := r.wait(timeout)
		if t != nil {
			t.Stop()
		}
		if !again {
			return msg, err
		}
	}
}

// wait waits for the next message, the deadline, a new deadline (again:
// look once more) or the end of the connection.
func (r *wsReader) wait(timeout <-chan time.Time) (msg []byte, again bool, err error) {
	select {
	case m := <-r.msgs:
		switch {
		case m.err != nil:
			if s := websocket.CloseStatus(m.err); s == websocket.StatusNormalClosure || s == websocket.StatusGoingAway {
				return nil, false, io.EOF
			}
			return nil, false, m.err
		case m.typ != websocket.MessageText:
			return nil, false, &engine.BadInput{Fatal: true, Err: chat.Errorf(chat.CodeProtocol, "binary messages are not accepted: send each event as a JSON text message; closing the connection")}
		case !utf8.Valid(m.b):
			return nil, false, &engine.BadInput{Fatal: true, Err: chat.Errorf(chat.CodeProtocol, "a text message that is not valid UTF-8; closing the connection")}
		}
		return m.b, false, nil
	case <-timeout:
		return nil, false, os.ErrDeadlineExceeded
	case <-r.nc.changed:
		return nil, true, nil
	case <-r.nc.closed:
		return nil, false, net.ErrClosed
	}
}

func (r *wsReader) pump() {
	for {
		typ, b, err := r.nc.ws.Read(context.Background())
		select {
		case r.msgs <- wsMessage{typ, b, err}:
		case <-r.nc.closed:
			return
		}
		if err != nil {
			return
		}
	}
}
