package server

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The start gate: how many connection handlers run at once.
//
// Every goroutine the runtime ever started leaves its descriptor (about
// 480 bytes) behind for good, so the peak of goroutines alive at once is
// paid by every later connection. In a connect storm (a server restarted
// under 15,000 clients) connections arrive far faster than the hub can
// log them in, and without a bound nearly every one has a goroutine alive
// at once, queued on the hub's lock: 12,500 goroutines at 15,000 clients,
// 0.4 KB per connection kept after the storm, and their stacks (100 MB)
// during it.
//
// So a new connection's handler, and a parked connection's when its input
// arrives, start on a goroutine only when one of startSlots slots is free;
// otherwise they wait, as a queued function and no goroutine, first come
// first served. A slot is held only while the handler computes or waits
// for the hub: it is given back when the handler parks the connection or
// ends, and before any read or wait that depends on the client
// (Conn.yieldStart), so a client cannot hold one by stalling. A gate
// that moves is left to work however long its queue (a storm's logins
// wait their turn instead of all waiting on the hub's lock at once), but
// a stuck one does not hold connections back: when no slot has been given
// back for startWait, up to startSlots of the handlers that waited that
// long start without one (a stall of the hub or the store lasts longer
// than any login should; more handlers waiting on it cost memory and help
// nothing, so they are let through a slot's worth at a time). TLS connections, whose handshake reads on its goroutine, and
// WebSockets are not gated.

// startSlots is the number of gated handlers that may run at once.
var startSlots = max(64, 32*runtime.GOMAXPROCS(0))

// startWait is how long the gate may go without giving back a slot before
// the handlers that waited that long start without one.
const startWait = 500 * time.Millisecond

// starter is the start gate.
type starter struct {
	limit   int // slots; 0 means startSlots
	mu      sync.Mutex
	running int // started handlers holding a slot
	waiting []waitingStart
	head    int           // waiting[head:] is the queue
	moved   time.Time     // when a slot was last given back
	timer   *time.Timer   // starts the handlers that waited too long; nil when the queue is empty
	ungated atomic.Uint64 // handlers started without a slot, having waited startWait
}

type waitingStart struct {
	run   func(slot bool)
	since time.Time
}

// start runs run on a new goroutine, at once if a slot is free (run then
// holds it: slot is true) and otherwise when one is, or without one if
// the gate is stuck.
func (g *starter) start(run func(slot bool)) {
	g.mu.Lock()
	if g.running < g.slots() && g.head == len(g.waiting) {
		g.running++
		g.mu.Unlock()
		go run(true)
		return
	}
	g.waiting = append(g.waiting, waitingStart{run: run, since: time.Now()})
	if g.timer == nil {
		g.timer = time.AfterFunc(startWait, g.expire)
	}
	g.mu.Unlock()
}

func (g *starter) slots() int {
	if g.limit > 0 {
		return g.limit
	}
	return startSlots
}

// leave gives back a slot: the first waiting handler takes it.
func (g *starter) leave() {
	g.mu.Lock()
	g.moved = time.Now()
	if next, ok := g.popLocked(); ok {
		g.mu.Unlock()
		go next(true)
		return
	}
	g.running--
	g.mu.Unlock()
}

// popLocked takes the first waiting handler. Caller holds g.mu.
func (g *starter) popLocked() (func(bool), bool) {
	if g.head == len(g.waiting) {
		return nil, false
	}
	w := g.waiting[g.head]
	g.waiting[g.head] = waitingStart{}
	g.head++
	if g.head == len(g.waiting) {
		g.head, g.waiting = 0, g.waiting[:0]
		if cap(g.waiting) > 1024 {
			g.waiting = nil // a storm's queue is not kept
		}
	}
	return w.run, true
}

// expire starts, without a slot, the handlers that waited startWait if
// the gate has not moved for as long.
func (g *starter) expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if now.Sub(g.moved) >= startWait {
		for n := 0; n < g.slots() && g.head < len(g.waiting) && now.Sub(g.waiting[g.head].since) >= startWait; n++ {
			run, _ := g.popLocked()
			g.ungated.Add(1)
			go run(false)
		}
	}
	g.timer = nil
	if g.head < len(g.waiting) {
		next := max(startWait-now.Sub(g.waiting[g.head].since), startWait-now.Sub(g.moved), time.Millisecond)
		g.timer = time.AfterFunc(next, g.expire)
	}
}

// leaveStart gives back st's slot of the start gate, if it holds one.
func (s *Server) leaveStart(st *runState) {
	if st != nil && st.slot {
		st.slot = false
		s.starts.leave()
	}
}

// yieldStart gives back the start slot of the goroutine running c's
// handler before it waits for its client (a read that may block, room in
// the queue, a catch-up). Handler goroutine only.
func (c *Conn) yieldStart() { c.server.leaveStart(c.run) }
