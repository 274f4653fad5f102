package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/chat"
)

// idleCheck pings a session that has sent nothing for the idle timeout, and
// finishes its connection when nothing arrives within the ping timeout
// after that. It is a timer, not a read deadline, so it works the same on
// every transport and costs the read loop one atomic store per message.
type idleCheck struct {
	c           Conn
	s           *chat.Session
	idle, grace time.Duration
	last        atomic.Int64 // unix nanos of the last message read

	mu       sync.Mutex // guards the fields below
	t        *time.Timer
	pingedAt int64 // when the ping went out, 0 if none is pending
	stopped  bool
}

func startIdleCheck(c Conn, s *chat.Session, idle, grace time.Duration) *idleCheck {
	ic := &idleCheck{c: c, s: s, idle: idle, grace: grace}
	ic.last.Store(time.Now().UnixNano())
	ic.mu.Lock()
	ic.t = time.AfterFunc(idle, ic.fire)
	ic.mu.Unlock()
	return ic
}

// touch records that a message arrived. Safe on a nil check.
func (ic *idleCheck) touch() {
	if ic != nil {
		ic.last.Store(time.Now().UnixNano())
	}
}

func (ic *idleCheck) stop() {
	ic.mu.Lock()
	ic.stopped = true
	ic.t.Stop()
	ic.mu.Unlock()
}

// fire runs on the timer's goroutine.
func (ic *idleCheck) fire() {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.stopped {
		return
	}
	now := time.Now().UnixNano()
	last := ic.last.Load()
	if ic.pingedAt != 0 && last < ic.pingedAt {
		ic.s.Send(chat.ErrorEvent(chat.Errorf(chat.CodeProtocol, "idle past the deadline: no answer to a ping; closing the connection"), ""))
		ic.c.Finish(ReasonIdle)
		return
	}
	ic.pingedAt = 0
	if quiet := time.Duration(now - last); quiet < ic.idle {
		ic.t.Reset(ic.idle - quiet)
		return
	}
	ic.pingedAt = now
	ic.s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindPing, Time: ic.s.Hub().Now()}})
	ic.t.Reset(ic.grace)
}
