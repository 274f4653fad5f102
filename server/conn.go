package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Conn is one client connection, message-oriented: it reads one inbound
// message at a time through its listener's Framing, and queues outbound
// events and bytes. It implements engine.Conn and chat.Sink: Deliver and
// Send never block; what they queue (bounded in bytes) is written by a
// writer goroutine that exists only while there is something to write,
// batches everything queued into one writev, and runs under a write
// deadline.
type Conn struct {
	conn     net.Conn
	raw      syscall.RawConn // conn's descriptor, if it is plain TCP: read through socketReader, parked in the poller
	server   *Server
	listener string // the listener's name, for Stats
	reader   Reader // holds a buffer only while input is buffered
	framer   MessageReader

	accepted instant // when accepted: the handshake deadline counts from here
	msgEnd   instant // the deadline armed for the message being read; zero if none is (reader goroutine only, see ReadMessage)

	// (The flags are together: each one alone would take a word.)
	admitted  bool // counted against MaxConns (guarded by server.mu)
	perIP     bool // and against MaxConnsPerIP, under its remote IP (guarded by server.mu)
	refused   bool // over the limits: refused instead of served
	inMessage bool // a message's first byte has arrived and the framing is reading the rest (reader goroutine only)
	msgArmed  bool // a read deadline was set for this message and must be restored (reader goroutine only)

	mu sync.Mutex // guards the fields below
	// Guarded by mu too.
	lagging   bool // catching up from the store (catchup.go): live messages are dropped
	writing   bool
	flushDue  bool // a deferred delivery waits for Flush to start the writer
	closed    bool
	finishing bool // Finish was called: write what is queued, then shut down
	pollAdded bool // the descriptor is registered in the poller
	reason    engine.CloseReason

	rdeadline instant // the read deadline the handler set (SetReadDeadline)
	// Catch-up (catchup.go).
	backlog     engine.Backlog // the session, to catch up from; nil: drop when full
	self        uint64         // the session's id
	lag         *lagState      // the catch-up's state; nil until the connection first lags
	liveHead    uint64         // the newest live message delivered (queued or dropped)
	lastWritten uint64         // the newest message written to the socket
	drained     chan struct{}  // closed by the writer after a batch, for AwaitRoom; nil when no one waits
	enc         engine.Encoder
	skip        engine.Skipper // enc, if it can tell what it skips
	queue       []*chat.Event  // events, and raw bytes as events of no kind (see rawEvent)
	spare       []*chat.Event
	queued      int     // bytes estimated in queue
	lingerUntil instant // end of the drain after Finish
	wdeadline   instant // write deadline last set; used by the one running writer only
	writerWG    sync.WaitGroup

	// Parking (park.go).
	run       *runState   // the goroutine running the handler now (reader side only)
	parked    func()      // the handler's continuation while parked; nil otherwise
	parkTimer *time.Timer // wakes a connection parked with a read deadline, at it
	pollToken uint64      // the connection's token in the poller; 0 before it first parks
}

// instant is a point in time in Unix nanoseconds, 0 for none: a third of
// the size of a time.Time, for the times every connection keeps.
type instant int64

func at(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	return instant(t.UnixNano())
}

func (i instant) time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i))
}

// rawFormat is the encoding slot of bytes queued by Send: they travel in
// the queue as an event of no kind whose only encoding is those bytes, so
// that the queue stays a slice of pointers (it is on the fan-out path).
var rawFormat = chat.NewFormat()

func rawEvent(b []byte) *chat.Event {
	ev := &chat.Event{}
	ev.Encoded(rawFormat, func(*chat.Event) []byte { return b })
	return ev
}

// isRaw reports whether a queued event carries raw bytes.
func isRaw(ev *chat.Event) bool { return ev.Kind == 0 }

var _ engine.Conn = (*Conn)(nil)

func newConn(nc net.Conn, s *Server, listener string, framing Framing) *Conn {
	c := &Conn{
		conn:     nc,
		server:   s,
		listener: listener,
	}
	var rd io.Reader = nc
	if tc, ok := nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw, rd = raw, (*socketReader)(c)
		}
	}
	c.reader.init(rd, s.readBufs)
	c.reader.wait = c.armMessageDeadline
	if framing != nil {
		c.framer = framing(&c.reader, &s.opts)
	}
	return c
}

// socketReader reads a plain TCP connection's socket as net.TCPConn.Read
// would, except that while the handler holds a start slot (starts.go) it
// reads through the RawConn, to give the slot back when, and only when, a
// read finds nothing to read and is about to wait for the client.
type socketReader Conn

func (r *socketReader) Read(p []byte) (int, error) {
	c := (*Conn)(r)
	if c.run == nil || !c.run.slot {
		return c.conn.Read(p) // no slot to give back (and no closure to allocate)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			c.yieldStart()
			return false // wait for input, then read again
		}
		return true
	})
	n = max(n, 0)
	if err == nil && rerr != nil {
		err = os.NewSyscallError("read", rerr)
	}
	switch {
	case err != nil:
		return n, &net.OpError{Op: "read", Net: "tcp", Source: c.conn.LocalAddr(), Addr: c.conn.RemoteAddr(), Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// ReadMessage reads the next inbound message through the listener's
// framing. Waiting for a message is bounded only by the handler's read
// deadline; once its first byte has arrived, the rest must follow within
// MessageTimeout, or the connection fails as a protocol violation (a
// *engine.BadInput). The deadline is armed only when the framing has to
// wait for more bytes mid-message, so a message that arrived whole costs
// nothing. Only the connection's handler goroutine may call it.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.framer == nil {
		return nil, errors.New("server: listener has no framing")
	}
	if _, whole := c.framer.(ReadsWhole); whole {
		return c.framer.ReadMessage() // one read is one message: nothing is started mid-way
	}
	if c.reader.Buffered() == 0 {
		if _, err := c.reader.Peek(1); err != nil {
			return nil, err
		}
	}
	c.inMessage = true
	msg, err := c.framer.ReadMessage()
	c.inMessage = false
	if c.msgArmed {
		hit := c.msgEnd != 0 && !time.Now().Before(c.msgEnd.time())
		c.msgArmed, c.msgEnd = false, 0
		c.mu.Lock()
		restore := c.effectiveDeadlineLocked()
		c.mu.Unlock()
		_ = c.conn.SetReadDeadline(restore)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && hit {
			return nil, &engine.BadInput{Fatal: true, Err: chat.Errorf(chat.CodeProtocol,
				"a message was started but not finished within %s; closing the connection", c.server.opts.MessageTimeout)}
		}
	}
	return msg, err
}

// armMessageDeadline bounds the rest of a started message, before a read
// that may block. Reader goroutine only.
func (c *Conn) armMessageDeadline() {
	timeout := c.server.opts.MessageTimeout
	if !c.inMessage || c.msgArmed || timeout <= 0 {
		return
	}
	c.msgArmed = true
	end := time.Now().Add(timeout)
	c.mu.Lock()
	current := c.effectiveDeadlineLocked()
	c.mu.Unlock()
	if current.IsZero() || end.Before(current) {
		c.msgEnd = at(end)
		_ = c.conn.SetReadDeadline(end)
	}
}

// effectiveDeadlineLocked is the read deadline in force: the handler's,
// or the end of the linger after Finish if that is sooner. Caller holds
// c.mu.
func (c *Conn) effectiveDeadlineLocked() time.Time {
	t := c.rdeadline.time()
	if linger := c.lingerUntil.time(); !linger.IsZero() && (t.IsZero() || linger.Before(t)) {
		t = linger
	}
	return t
}

// Reader returns the buffered reader front-ends read the connection
// through. Only the connection's handler goroutine may use it.
func (c *Conn) Reader() *Reader { return &c.reader }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Logger returns a logger that names this connection (its remote address).
// It is made on each call rather than kept: a logger clone per connection
// costs every idle connection a few hundred bytes, and logging is rare.
func (c *Conn) Logger() *slog.Logger {
	return c.server.log.With("remote", c.conn.RemoteAddr().String())
}

// debug logs at debug level, naming the connection, only when that level
// is enabled.
func (c *Conn) debug(msg string, args ...any) {
	if c.server.log.Enabled(context.Background(), slog.LevelDebug) {
		c.Logger().Debug(msg, args...)
	}
}

// SetReadDeadline sets the deadline for the next reads; zero clears it.
// A Finish's drain deadline stays in force if it is sooner.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdeadline = at(t)
	t = c.effectiveDeadlineLocked()
	c.mu.Unlock()
	return c.conn.SetReadDeadline(t)
}

// SetEncoder attaches the encoder that renders queued events. Call it before
// handing the Conn to the hub as a Sink; events queued before it wait.
func (c *Conn) SetEncoder(enc engine.Encoder) {
	c.mu.Lock()
	c.enc = enc
	c.skip, _ = enc.(engine.Skipper)
	c.startWriterLocked()
	c.mu.Unlock()
}

// Deliver queues ev for writing. It never blocks. If the queue would pass
// the byte bound the connection is closed as a slow consumer.
func (c *Conn) Deliver(ev *chat.Event) {
	if ev.Kind == chat.KindError {
		c.server.stats.noteError(ev)
	}
	c.mu.Lock()
	if !c.enqueueLocked(ev, ev.Size()) {
		c.closeSlow()
		return
	}
	c.startWriterLocked()
	c.mu.Unlock()
}

// DeliverDeferred queues evs as Deliver would each, under one lock, but
// leaves starting the writer to Flush (chat.DeferringSink): it reports
// whether Flush is due, which is once per batch, and not when a writer is
// running already.
func (c *Conn) DeliverDeferred(evs []*chat.Event) (flush bool) {
	c.mu.Lock()
	for _, ev := range evs {
		if !c.enqueueLocked(ev, ev.Size()) {
			c.closeSlow()
			return false
		}
	}
	if !c.writing && len(c.queue) > 0 && !c.flushDue {
		c.flushDue = true
		flush = true
	}
	c.mu.Unlock()
	return flush
}

// Flush starts the writer for what DeliverDeferred queued.
func (c *Conn) Flush() {
	c.mu.Lock()
	c.flushDue = false
	c.startWriterLocked()
	c.mu.Unlock()
}

var _ chat.DeferringSink = (*Conn)(nil)

// Send queues b to be written as it is, in order with delivered events
// (handshake prompts and replies, which no encoder renders).
func (c *Conn) Send(b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	if !c.enqueueLocked(rawEvent(b), len(b)) {
		c.closeSlow()
		return
	}
	c.startWriterLocked()
	c.mu.Unlock()
}

// closeSlow closes the connection as a slow consumer. Caller holds c.mu,
// which it releases.
func (c *Conn) closeSlow() {
	queued, events := c.queued, len(c.queue)
	c.mu.Unlock()
	c.server.stats.dropped.Add(1)
	c.Logger().Warn("disconnecting slow consumer", "queued_bytes", queued, "queued_events", events)
	c.Close(engine.ReasonSlowConsumer)
}

// enqueueLocked queues ev (size bytes), or drops it when the connection
// is closing, would write nothing for it, has written it already from the
// store, or is catching up and will read it from there. It reports false
// when the queue is over its bound: the caller then closes the connection
// as a slow consumer (closeSlow). The caller starts the writer. Caller
// holds c.mu.
func (c *Conn) enqueueLocked(ev *chat.Event, size int) bool {
	if c.closed || c.finishing {
		return true
	}
	if c.skip != nil && !isRaw(ev) && c.skip.Skips(ev) {
		return true // it would write nothing: it costs the queue nothing
	}
	live := isLive(ev)
	if live && ev.ID > c.liveHead {
		c.liveHead = ev.ID
	}
	if live && !c.lagging && ev.ID <= max(c.lastWritten, c.lag.at()) {
		// Already written from the store: a catch-up reads what is stored,
		// which can be ahead of what the fan-out has delivered yet, and
		// live messages come in id order.
		return true
	}
	limit := c.server.opts.MaxQueueBytes
	if !c.lagging && c.queued+size > limit && len(c.queue) > 0 && c.backlog != nil && (live || c.othersChange(ev) || c.canShedLocked()) {
		c.startCatchUpLocked() // a reader that is merely slow: it reads on from the store
		c.startWriterLocked()
	}
	if c.lagging {
		switch {
		case live:
			if ev.Ref != "" && ev.Session == c.self && len(c.lag.ownRefs) < maxOwnRefs {
				if c.lag.ownRefs == nil {
					c.lag.ownRefs = map[uint64]string{}
				}
				c.lag.ownRefs[ev.ID] = ev.Ref // its echo from the store still confirms it
			}
			return true // it will come from the store
		case c.othersChange(ev):
			c.lag.unshown++
			return true
		}
		limit *= 2 // what the store cannot give back is kept, up to a bound
	}
	if c.queued+size > limit && len(c.queue) > 0 {
		return false
	}
	if cap(c.queue) == 0 {
		c.queue = eventSlabs.get()
	}
	c.queue = append(c.queue, ev)
	c.queued += size
	return true
}

// startWriterLocked starts the writer if there is something it can write:
// raw bytes always, events once an encoder is attached. Caller holds c.mu.
func (c *Conn) startWriterLocked() {
	if c.writing || (len(c.queue) == 0 && !c.lagging) || (len(c.queue) > 0 && c.enc == nil && !isRaw(c.queue[0])) {
		return
	}
	c.writing = true
	c.writerWG.Add(1)
	c.server.writers.start(c)
}

// writeLoop drains the queue and exits when it is empty, so an idle
// connection keeps no writer goroutine.
// w is the pool's slot it runs on (nil outside the pool), given up while a
// write waits for the client.
func (c *Conn) writeLoop(w *writerSlot) {
	defer c.writerWG.Done()
	var bufs net.Buffers // the iovecs, this writer's while it runs
	defer func() { bufSlabs.put(bufs) }()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 && c.lagging && !c.closed && !c.finishing && c.enc != nil {
			c.mu.Unlock()
			if !c.catchUp(w) {
				return
			}
			continue
		}
		if len(c.queue) == 0 || c.closed || (c.enc == nil && !isRaw(c.queue[0])) {
			c.writing = false
			c.releaseBuffersLocked()
			finish := c.finishing && !c.closed
			c.mu.Unlock()
			if finish {
				c.shutWrite()
			}
			return
		}
		batch := c.queue
		enc := c.enc
		if enc == nil {
			// No encoder yet: only the raw bytes before the first event.
			n := 0
			for n < len(batch) && isRaw(batch[n]) {
				n++
			}
			batch, c.queue = batch[:n], append(c.spare[:0], batch[n:]...)
			c.spare = nil
			c.queued = 0
			for _, ev := range c.queue {
				c.queued += ev.Size()
			}
		} else {
			c.queue, c.spare = c.spare[:0], nil
			c.queued = 0
		}
		c.mu.Unlock()
		if bufs == nil {
			bufs = bufSlabs.get()
		}

		var bye *chat.Event
		var newest uint64
		var err error
		for _, ev := range batch {
			if isRaw(ev) {
				bufs = append(bufs, ev.Encoded(rawFormat, nil))
			} else {
				if b := enc.Encode(ev); len(b) > 0 {
					bufs = append(bufs, b)
				}
				if ev.Kind.IsMessage() {
					newest = max(newest, ev.ID)
				}
				if ev.Kind == chat.KindBye {
					bye = ev
					break
				}
			}
			if len(bufs) == maxWritev {
				// A batch is written in chunks as it is encoded: the
				// iovec slice never grows past one chunk.
				if err = c.writeBuffers(bufs, w); err != nil {
					break
				}
				clear(bufs)
				bufs = bufs[:0]
			}
		}
		if err == nil {
			err = c.writeBuffers(bufs, w)
		}
		clear(batch)
		clear(bufs)
		c.mu.Lock()
		c.spare, bufs = batch[:0], bufs[:0]
		if err == nil {
			c.lastWritten = max(c.lastWritten, newest)
		}
		c.signalDrainedLocked()
		if bye != nil && err == nil {
			c.finishLocked(byeReason(bye))
			c.queue = c.queue[:0] // nothing is written after a bye
		}
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
		if bye != nil {
			c.wake()
		}
	}
}

// AwaitRoom blocks until the queue is under half its bound, or the
// connection is closing, or the writer made no progress for WriteTimeout
// (the next delivery past the bound then deals with it). A session calls
// it (chat.Pacer) between the pages of a long replay, on its own
// goroutine, so that a resume or a history page larger than the queue
// bound is paced by the client instead of overflowing it.
func (c *Conn) AwaitRoom() {
	c.yieldStart()
	for {
		c.mu.Lock()
		if c.closed || c.finishing || c.queued < c.server.opts.MaxQueueBytes/2 {
			c.mu.Unlock()
			return
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		t := time.NewTimer(c.server.opts.WriteTimeout)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			return
		}
	}
}

// signalDrainedLocked wakes AwaitRoom after the writer made progress.
// Caller holds c.mu.
func (c *Conn) signalDrainedLocked() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// writeFailed closes the connection after a failed write: a write that
// made no progress for WriteTimeout is a slow consumer.
func (c *Conn) writeFailed(err error) {
	reason := engine.ReasonWriteError
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = engine.ReasonSlowConsumer
		c.server.stats.dropped.Add(1)
		c.Logger().Warn("disconnecting slow consumer: no progress writing", "timeout", c.server.opts.WriteTimeout)
	}
	c.debug("write failed", "err", err)
	c.Close(reason)
}

func byeReason(bye *chat.Event) engine.CloseReason {
	if bye.Reason == chat.ByeGoodbye {
		return engine.ReasonQuit
	}
	if bye.By != "" {
		return engine.ReasonRemoved
	}
	return engine.ReasonServerShutdown
}

func (c *Conn) writeBuffers(bufs net.Buffers, w *writerSlot) error {
	if len(bufs) == 0 {
		return nil
	}
	// Write in chunks of at most maxWritev buffers and about
	// maxWritevBytes, each under a fresh write deadline: a client is
	// dropped when it takes no chunk for WriteTimeout (no progress), not
	// when a large backlog takes longer than that in all. (The runtime also
	// keeps, per descriptor, an iovec array as long as the longest writev
	// it was given: small chunks keep an idle connection from holding a
	// burst's.)
	for len(bufs) > 0 {
		n, size := 0, 0
		for n < len(bufs) && n < maxWritev && (n == 0 || size+len(bufs[n]) <= maxWritevBytes) {
			size += len(bufs[n])
			n++
		}
		chunk := bufs[:n]
		bufs = bufs[n:]
		// Moving the deadline costs a runtime timer update, which shows
		// in profiles of rate-limited fan-out (one small write per message
		// per connection): move it only once it has come within 3/4 of the
		// timeout, so a chunk may block between 3/4 and all of WriteTimeout.
		now := time.Now()
		if timeout := c.server.opts.WriteTimeout; time.Duration(int64(c.wdeadline)-now.UnixNano()) < timeout-timeout/4 {
			deadline := now.Add(timeout)
			c.wdeadline = at(deadline)
			if err := c.conn.SetWriteDeadline(deadline); err != nil {
				return err
			}
		}
		var written int64
		var err error
		if bw, ok := c.conn.(batchWriter); ok {
			var n int
			n, err = bw.WriteBatch(chunk)
			written = int64(n)
		} else {
			written, err = c.writeChunk(chunk, size, w)
		}
		c.server.stats.bytesOut.Add(uint64(written))
		if err != nil {
			return err
		}
	}
	return nil
}

// writeChunk writes the buffers of one chunk (size bytes in all) to the
// socket. One buffer goes as it is; several that fit gatherBytes are
// copied into one pooled buffer and go in one write. Only larger chunks
// go through writev: the runtime keeps, per descriptor, an iovec array as
// long as the longest writev it was ever given (a kilobyte per connection
// after an IRC welcome burst), and a gathered write is also cheaper for
// the kernel than as many iovecs.
func (c *Conn) writeChunk(chunk net.Buffers, size int, w *writerSlot) (int64, error) {
	switch {
	case len(chunk) == 1:
		n, err := c.writeSocket(chunk[0], nil, w)
		return int64(n), err
	case size <= gatherBytes:
		p := gatherBufs.Get().(*[]byte)
		b := (*p)[:0]
		for _, part := range chunk {
			b = append(b, part...)
		}
		n, err := c.writeSocket(b, nil, w)
		*p = b[:0]
		gatherBufs.Put(p)
		return int64(n), err
	}
	n, err := c.writeSocket(nil, chunk, w)
	return int64(n), err
}

// writeSocket writes bufs whole, with write(2) for one buffer and writev(2)
// for several. A plain TCP socket is written through its RawConn, so that
// when it is full (the client reads slowly) the writer gives up its slot
// of the pool (w) before it waits; anything else through net.Conn.
func (c *Conn) writeSocket(one []byte, many net.Buffers, w *writerSlot) (int, error) {
	if c.raw == nil || w == nil {
		if many == nil {
			return c.conn.Write(one)
		}
		n, err := many.WriteTo(c.conn)
		return int(n), err
	}
	w.one, w.many, w.written, w.err = one, many, 0, nil
	err := c.raw.Write(w.write) // w.write was made once per worker: no allocation per write
	written, werr := w.written, w.err
	w.one, w.many = nil, nil
	if err == nil {
		err = werr
	}
	if err != nil {
		return written, &net.OpError{Op: "write", Net: "tcp", Source: c.conn.LocalAddr(), Addr: c.conn.RemoteAddr(), Err: err}
	}
	return written, nil
}

// writeFD is the RawConn callback of writeSocket: it writes w.one (or
// w.many) to fd until all is written, or the socket is full (it then
// gives the slot up and reports false: the runtime waits until the socket
// takes more and calls it again), or the write fails.
func (w *writerSlot) writeFD(fd uintptr) bool {
	for len(w.one) > 0 || len(w.many) > 0 {
		var n int
		var e error
		if w.many == nil {
			n, e = syscall.Write(int(fd), w.one)
			if n > 0 {
				w.one = w.one[n:]
			}
		} else {
			n, e = unix.Writev(int(fd), w.many)
			if n > 0 {
				consume(&w.many, n)
			}
		}
		w.written += max(n, 0)
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			w.blocked()
			return false
		case e != nil:
			w.err = os.NewSyscallError("write", e)
			return true
		case n == 0:
			w.err = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}

// consume drops the first n bytes of bufs.
func consume(bufs *net.Buffers, n int) {
	for len(*bufs) > 0 {
		if l := len((*bufs)[0]); n < l {
			(*bufs)[0] = (*bufs)[0][n:]
			return
		} else {
			n -= l
		}
		*bufs = (*bufs)[1:]
	}
}

// gatherBytes is the largest chunk copied into one buffer for one write.
const gatherBytes = 16 << 10

var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, gatherBytes); return &b }}

// batchWriter is a socket that writes a batch of buffers in one go, each
// one message (the WebSocket's wsConn).
type batchWriter interface {
	WriteBatch(bufs [][]byte) (int, error)
}

// maxWritev is the most buffers given to one writev, and maxWritevBytes
// about the most bytes (a single larger buffer goes alone).
const (
	maxWritev      = 64
	maxWritevBytes = 64 << 10
)

// releaseBuffersLocked gives the writer's slices back to their pools
// when it stops, so that a connection with nothing to write holds none.
// Caller holds c.mu. A queue still holding events (waiting for the
// encoder) is kept.
func (c *Conn) releaseBuffersLocked() {
	if len(c.queue) == 0 {
		eventSlabs.put(c.queue)
		c.queue = nil
	}
	eventSlabs.put(c.spare)
	c.spare = nil
}

// Close closes the connection at once with a reason; the first reason wins.
// Queued events are dropped. It does not wait and is safe from any goroutine.
func (c *Conn) Close(reason engine.CloseReason) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.signalDrainedLocked()
	if c.reason == engine.ReasonNone {
		c.reason = reason
	}
	if c.lagging {
		c.lagging = false
		c.server.stats.lagging.Add(-1)
	}
	c.queue = nil
	c.mu.Unlock()
	_ = c.conn.Close()
	c.wake() // a parked handler resumes, to read the error and leave
}

// Finish ends the connection gracefully: everything queued is written, then
// the write side is shut (the peer reads EOF after the last byte) and the
// read side gets a short deadline so the handler's read loop ends. Events
// delivered after Finish are dropped. The first reason wins.
func (c *Conn) Finish(reason engine.CloseReason) {
	c.mu.Lock()
	c.finishLocked(reason)
	idle := !c.writing && !c.closed
	c.mu.Unlock()
	if idle {
		c.shutWrite()
	}
	c.wake() // a parked handler resumes, to drain the input and close
}

func (c *Conn) finishLocked(reason engine.CloseReason) {
	if c.reason == engine.ReasonNone {
		c.reason = reason
	}
	c.finishing = true
}

// shutWrite sends FIN after the last written byte and bounds the reading
// that is left.
func (c *Conn) shutWrite() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.conn.SetReadDeadline(c.lingerDeadline())
}

// lingerDeadline returns the end of the drain period, fixed the first time
// it is asked for.
func (c *Conn) lingerDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lingerUntil == 0 {
		c.lingerUntil = at(time.Now().Add(lingerTime))
	}
	return c.lingerUntil.time()
}

// lingerTime bounds how long a finished connection's input is drained
// before it is closed, so the peer reads our last words instead of a reset.
const lingerTime = 2 * time.Second

// linger drains what the peer still sends (bounded in time and bytes) and
// then closes: closing with unread input would reset the connection and
// could destroy the farewell the peer has not read yet.
func (c *Conn) linger() {
	_ = c.conn.SetReadDeadline(c.lingerDeadline())
	_, _ = io.CopyN(io.Discard, &c.reader, 1<<20)
	c.Close(engine.ReasonClientClosed)
}

// Reason returns why the connection closed, or engine.ReasonNone while open.
func (c *Conn) Reason() engine.CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// readErrorReason maps a read error to a close reason, unless the
// connection was already closed for another reason.
func (c *Conn) readErrorReason(err error) engine.CloseReason {
	if r := c.Reason(); r != engine.ReasonNone {
		return r
	}
	switch {
	case errors.Is(err, io.EOF):
		return engine.ReasonClientClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return engine.ReasonIdle
	case errors.Is(err, net.ErrClosed):
		return engine.ReasonClientClosed
	}
	return engine.ReasonReadError
}

// Fail records why reading stopped (from err) unless a reason is already
// set, and returns the final reason. Front-ends call it when their read loop
// ends; the server closes the connection after the handler returns.
func (c *Conn) Fail(err error) engine.CloseReason {
	reason := c.readErrorReason(err)
	c.mu.Lock()
	if c.reason == engine.ReasonNone {
		c.reason = reason
	}
	reason = c.reason
	c.mu.Unlock()
	return reason
}

// finished reports whether Finish was called and the connection is not yet
// closed.
func (c *Conn) finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finishing && !c.closed
}

// wait blocks until the writer goroutine, if any, has stopped.
func (c *Conn) wait() { c.writerWG.Wait() }
