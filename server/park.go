package server

import (
	"time"

	"github.com/parleychat/parley/engine"
)

// Parking: an idle connection holds no goroutine.
//
// A chat connection spends nearly all its life waiting for its client to
// say something. Waiting in a blocking read costs a goroutine whose stack
// has grown through the whole session loop (8 KiB for most), per
// connection. Instead, the session loop parks the connection between
// messages (engine.Parker): the connection's descriptor is armed in the
// server's poller and the goroutine returns, unwinding its stack. When
// input arrives, or the connection is closed or finished, the loop resumes
// on a new goroutine. Whichever goroutine runs the loop when it ends for
// good does the connection's cleanup (endConn); one that parked leaves it
// to the next.
//
// Plain TCP connections park (on Linux); TLS connections (whose decrypted
// input the socket cannot show) and WebSockets read on their goroutine as
// before.

var _ engine.Parker = (*Conn)(nil)

// runState belongs to one goroutine running a connection's handler: Park
// marks it, so that goroutine knows it must not clean up.
// Only that goroutine uses it.
type runState struct {
	parked bool
	slot   bool // holds a slot of the start gate (starts.go)
}

// Park arranges for resume to run on a new goroutine once input arrives
// or the connection is closed or finished, and reports true: the caller
// must then return without touching the connection. A read deadline
// (a handshake's) still holds while parked: the connection is woken at it.
// It reports false, having done nothing, when input is already waiting or
// buffered, the read deadline has passed, the connection is ending, or it
// cannot park (TLS, WebSocket, no poller on this platform); the caller
// then reads as usual.
func (c *Conn) Park(resume func()) bool {
	if c.raw == nil || c.reader.Buffered() > 0 {
		return false
	}
	if pr, ok := c.framer.(PendingReader); ok && pr.Pending() {
		return false // a message already read waits in the framing
	}
	p := c.server.poller()
	if p == nil {
		return false
	}
	c.reader.Release() // nothing is buffered: hold no buffer while parked
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := c.effectiveDeadlineLocked()
	if c.closed || c.finishing || c.run == nil || (!deadline.IsZero() && !time.Now().Before(deadline)) || !p.park(c, c.raw) {
		return false // a deadline already passed: the read fails at once
	}
	c.parked = resume
	c.run.parked = true
	c.server.stats.parked.Add(1)
	if !deadline.IsZero() {
		// The read deadline (a handshake's) still holds: wake at it, and
		// the resumed read fails as it would have. wake stops the timer.
		c.parkTimer = time.AfterFunc(time.Until(deadline), c.wake)
	}
	return true
}

// wake resumes a parked connection's loop on a new goroutine; it does
// nothing if the connection is not parked (the loop is running, or an
// earlier wake already resumed it). Safe from any goroutine.
func (c *Conn) wake() {
	c.mu.Lock()
	resume := c.parked
	c.parked = nil
	if t := c.parkTimer; t != nil {
		t.Stop()
		c.parkTimer = nil
	}
	c.mu.Unlock()
	if resume == nil {
		return
	}
	c.server.stats.parked.Add(-1)
	c.server.starts.start(func(slot bool) {
		c.server.runHandler(c, func(st *runState) {
			st.slot = slot
			c.run = st // the goroutine that parked no longer reads it
			resume()
		})
	})
}

// poller returns the server's poller, started on first use; nil if this
// platform has none.
func (s *Server) poller() *poller {
	s.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			s.log.Debug("connections will not park", "err", err)
			return
		}
		s.poll.Store(p)
	})
	return s.poll.Load()
}
