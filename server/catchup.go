package server

import (
	"fmt"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Catch-up: a connection whose live queue passes MaxQueueBytes is not
// dropped. It discards its queued live messages and switches to catch-up:
// its writer reads the messages it was meant to get from the store (the
// session's Backlog), from the last one it actually wrote, a page at a
// time at the client's pace, and switches back to live delivery when it
// reaches the live head. Nothing is lost, duplicated or reordered, and the
// memory it holds is one page, not its backlog. Only a client that makes
// no progress at all (a write blocked for WriteTimeout) is dropped, as a
// slow consumer.
//
// While catching up, the connection keeps what the store cannot give back
// (replies, its own joins and parts, history replays it asked for) and
// drops the others' joins, parts and other changes, which it summarises in
// one notice when it is live again.

// A backlog read brings at most catchUpPage messages and, once the size of
// messages is known, about catchUpBytes of them: the memory a lagging
// connection holds.
const (
	catchUpPage  = 64
	catchUpBytes = 256 << 10
)

// maxOwnRefs bounds the refs of the client's own messages a catching-up
// connection keeps, to put them back on their echoes.
const maxOwnRefs = 4096

// SetBacklog tells the connection where to catch up from if it falls
// behind: its session. Without one, a connection past MaxQueueBytes is
// dropped as a slow consumer.
func (c *Conn) SetBacklog(b engine.Backlog) {
	c.mu.Lock()
	c.backlog, c.self = b, b.ID()
	c.mu.Unlock()
}

// maxCatchUpWait bounds AwaitCaughtUp.
const maxCatchUpWait = 10 * time.Second

// AwaitCaughtUp blocks while the connection is catching up from the
// store, at most maxCatchUpWait, so that a reply queued after it comes
// after every message the client was sent before: the reader's goroutine
// calls it (an IRC PING), and the client, which is slow anyway, waits.
func (c *Conn) AwaitCaughtUp() {
	c.yieldStart()
	deadline := time.Now().Add(maxCatchUpWait)
	for {
		c.mu.Lock()
		busy := c.lagging && !c.closed && !c.finishing
		c.mu.Unlock()
		if !busy || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isLive reports whether ev is a live message, which the store can give
// back.
func isLive(ev *chat.Event) bool { return ev.ID > 0 && !ev.History && ev.Kind.IsMessage() }

// othersChange reports whether ev is someone else's join, part, nick or
// topic change: shown live, summarised while catching up. A user's notice
// is content, not a change, and is kept.
func (c *Conn) othersChange(ev *chat.Event) bool {
	return ev.Session != 0 && ev.Session != c.self && !ev.History && !ev.Kind.IsMessage() && ev.Kind != chat.KindUserNotice
}

// canShedLocked reports whether a catch-up would free some of the queue:
// it holds a live message (the store has it) or another's change (it is
// summarised). An overflow on a reply of the session's own (which only
// the queue has) then starts a catch-up instead of dropping a client
// that is merely slow. Caller holds c.mu; called only on an overflow.
func (c *Conn) canShedLocked() bool {
	for _, ev := range c.queue {
		if isLive(ev) || c.othersChange(ev) {
			return true
		}
	}
	return false
}

// startCatchUpLocked switches to catch-up: the queued live messages and
// others' changes go. Caller holds c.mu.
func (c *Conn) startCatchUpLocked() {
	if c.lag == nil {
		c.lag = &lagState{}
	}
	c.lagging, c.lag.since = true, time.Now().UnixNano()
	kept := c.queue[:0]
	c.queued = 0
	for _, ev := range c.queue {
		switch {
		case isLive(ev):
		case c.othersChange(ev):
			c.lag.unshown++
		default:
			kept = append(kept, ev)
			c.queued += ev.Size()
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.server.stats.lagging.Add(1)
	c.server.stats.catchUps.Add(1)
}

// catchUp writes one page of the backlog. It reports false when the
// connection is done (a write failed, and it was closed).
func (c *Conn) catchUp(w *writerSlot) bool {
	c.mu.Lock()
	after := max(c.lag.cursor, c.lastWritten)
	head, bl, enc := c.liveHead, c.backlog, c.enc
	limit := catchUpPage
	if c.lag.pageAvg > 0 {
		limit = max(1, min(catchUpPage, catchUpBytes/c.lag.pageAvg))
	}
	first := !c.lag.logged
	c.lag.logged = true
	c.mu.Unlock()
	if first {
		c.Logger().Info("client fell behind: catching up from the store", "from_id", after, "live_head", head)
	}
	page, err := bl.Backlog(after, limit)
	if err != nil {
		c.Logger().Error("catch-up read failed; retrying", "err", err)
		time.Sleep(100 * time.Millisecond)
		return true
	}
	var bufs [][]byte
	last := after
	size := 0
	for _, ev := range page {
		size += ev.Size()
	}
	c.mu.Lock()
	if len(page) > 0 {
		c.lag.pageAvg = max(1, size/len(page))
	}
	for _, ev := range page {
		if ref, ok := c.lag.ownRefs[ev.ID]; ok {
			ev.Ref = ref
			delete(c.lag.ownRefs, ev.ID)
		}
	}
	c.mu.Unlock()
	for _, ev := range page {
		if b := enc.Encode(ev); len(b) > 0 {
			bufs = append(bufs, b)
		}
		last = max(last, ev.ID)
	}
	if err := c.writeBuffers(bufs, w); err != nil {
		c.writeFailed(err)
		return false
	}
	c.mu.Lock()
	c.signalDrainedLocked()
	c.lastWritten = max(c.lastWritten, last)
	c.lag.cursor = last
	var took time.Duration
	caughtUp := false
	if len(page) < limit {
		// Everything stored after the cursor when the page was read is in
		// it, and every live message up to head was stored before it was
		// delivered: the cursor is at head.
		c.lag.cursor = max(c.lag.cursor, head)
		if c.liveHead <= c.lag.cursor && c.lagging {
			took, caughtUp = c.stopCatchUpLocked(), true
		}
	}
	c.mu.Unlock()
	if caughtUp {
		c.Logger().Info("client caught up: live again", "took", took.Round(time.Millisecond))
	}
	return true
}

// stopCatchUpLocked goes back to live delivery and returns how long the
// catch-up took. Caller holds c.mu.
func (c *Conn) stopCatchUpLocked() time.Duration {
	c.lagging, c.lag.logged = false, false
	c.server.stats.lagging.Add(-1)
	if c.lag.unshown > 0 {
		c.queue = append(c.queue, &chat.Event{Message: chat.Message{Kind: chat.KindNotice, Time: time.Now(),
			Text: fmt.Sprintf("while you were catching up, %d joins, parts or other changes were not shown; /who lists who is here", c.lag.unshown)}})
		c.lag.unshown = 0
	}
	return time.Duration(time.Now().UnixNano() - c.lag.since)
}

// lagState is a connection's catch-up state, made when it first falls
// behind: most connections never do, and carry only the pointer.
type lagState struct {
	since   int64 // when the catch-up began, Unix nanoseconds
	logged  bool
	unshown int               // others' changes dropped while catching up
	cursor  uint64            // where the catch-up has read the backlog to
	pageAvg int               // average size of the messages of the last backlog page
	ownRefs map[uint64]string // refs of the session's own messages dropped while catching up, by id
}

// at is where the catch-up has read the backlog to; 0 if it never ran.
func (l *lagState) at() uint64 {
	if l == nil {
		return 0
	}
	return l.cursor
}
