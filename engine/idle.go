package engine

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/chat"
)

// idleWatch pings the sessions of one handler that have sent nothing for
// the idle timeout, and finishes a connection when nothing arrives within
// the ping timeout after that. One timer per handler does it for every
// session: it is set for the earliest deadline among them (never sooner
// than a tick after the last check, so that sessions due close together
// are checked together), and a check walks them all. A session's share is
// three words in its loop (idleState) and one atomic store per message
// read; it used to be a timer of its own, about 200 bytes per idle
// connection. It is a timer, not a read deadline, so it works the same on
// every transport.
//
// Lock order: idleWatch.mu, then whatever Session.Send and Conn.Finish
// lock (they are called with it held, so that a session that has stopped
// being watched is never pinged or finished by a check that raced its
// end).
type idleWatch struct {
	mu    sync.Mutex
	loops []*loop     // the watched sessions; a loop's idleState.at is its index
	t     *time.Timer // made on the first watch
	due   int64       // unix nanos the timer is set for; 0 when it is not set
}

// idleState is a loop's part of the idle check.
type idleState struct {
	last     atomic.Int64 // unix nanos of the last message read
	pingedAt int64        // when the pending ping went out, 0 for none, -1 once finished (idleWatch.mu)
	at       int32        // index in idleWatch.loops (idleWatch.mu)
	watched  bool         // set and cleared by the loop itself, read without the lock
}

// idleTick is the least time between two checks: a quarter of the shorter
// timeout, between 1 ms and 1 s. A ping or a disconnect is at most that
// late.
func idleTick(idle, grace time.Duration) int64 {
	return int64(min(max(min(idle, grace)/4, time.Millisecond), time.Second))
}

// watch starts the idle check of lp's session.
func (h *Handler) watch(lp *loop) {
	w := &h.idle
	now := time.Now().UnixNano()
	lp.idle.last.Store(now)
	lp.idle.watched = true
	w.mu.Lock()
	defer w.mu.Unlock()
	lp.idle.at = int32(len(w.loops))
	w.loops = append(w.loops, lp)
	if w.due == 0 { // the others are due before lp: only an unset timer moves
		w.set(h, now, now+int64(h.Options.IdleTimeout))
	}
}

// unwatch ends the idle check of lp's session; it is a no-op for one that
// is not watched. Only lp's own loop calls it.
func (h *Handler) unwatch(lp *loop) {
	if !lp.idle.watched {
		return
	}
	lp.idle.watched = false
	w := &h.idle
	w.mu.Lock()
	defer w.mu.Unlock()
	i := lp.idle.at
	last := len(w.loops) - 1
	w.loops[i] = w.loops[last]
	w.loops[i].idle.at = i
	w.loops[last] = nil
	w.loops = w.loops[:last]
	if len(w.loops) == 0 {
		w.loops = nil // a burst's array is not kept
	}
}

// set arms the timer for due, or for a tick after now if that is later.
// w.mu is held.
func (w *idleWatch) set(h *Handler, now, due int64) {
	due = max(due, now+idleTick(h.Options.IdleTimeout, h.Options.PingTimeout))
	w.due = due
	d := time.Duration(due - now)
	if w.t == nil {
		w.t = time.AfterFunc(d, func() { w.check(h) })
		return
	}
	w.t.Reset(d)
}

// check runs on the timer's goroutine: it pings the sessions silent for
// the idle timeout, finishes those whose ping went unanswered, and sets
// the timer for the next deadline (it stays unset while none is watched).
func (w *idleWatch) check(h *Handler) {
	idle, grace := int64(h.Options.IdleTimeout), int64(h.Options.PingTimeout)
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now().UnixNano()
	next := int64(math.MaxInt64)
	var ping *chat.Event
	for _, lp := range w.loops {
		st := &lp.idle
		if st.pingedAt < 0 {
			continue // finished; unwatched when its loop ends
		}
		last := st.last.Load()
		if st.pingedAt > 0 && last >= st.pingedAt {
			st.pingedAt = 0 // answered
		}
		switch {
		case st.pingedAt > 0 && now-st.pingedAt >= grace:
			st.pingedAt = -1
			lp.s.Send(chat.ErrorEvent(chat.Errorf(chat.CodeProtocol, "idle past the deadline: no answer to a ping; closing the connection"), ""))
			lp.Finish(ReasonIdle)
			continue
		case st.pingedAt > 0:
			next = min(next, st.pingedAt+grace)
		case now-last >= idle:
			st.pingedAt = now
			if ping == nil { // one event for every session pinged in this check
				ping = &chat.Event{Message: chat.Message{Kind: chat.KindPing, Time: h.Hub.Now()}}
			}
			lp.s.Send(ping)
			next = min(next, now+grace)
		default:
			next = min(next, last+idle)
		}
	}
	w.due = 0
	if next != math.MaxInt64 {
		w.set(h, now, next)
	}
}
