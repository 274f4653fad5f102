package server

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// writerPool runs connections' writers (Conn.writeLoop) on a bounded set
// of goroutines that outlive one burst.
//
// A writer exists only while its connection has something to write, so a
// busy room needs one per member many times a second; a new goroutine each
// time would also grow its stack through the socket write and copy it,
// every time (7% of the server's CPU in a 2000-client fan-out). And the
// number of goroutines alive at once must stay small: the runtime keeps
// the descriptor of every goroutine it ever ran (about 480 bytes), so a
// fan-out to 15,000 connections that started a writer for each would
// leave 7 MB behind for good.
//
// So a connection with something to write is handed to a waiting worker,
// or gets a new one while fewer than maxWriters hold a slot, and waits in
// a queue past that, which the workers take from when they are done. A
// write never holds a slot while it waits for the client: when the socket
// is full (EAGAIN), the worker gives its slot up (another worker may
// start) and waits for the socket alone, taking a slot back when it is
// done, or exiting if there is none. A worker that finds nothing to do
// waits writerIdle for more, then exits: an idle server keeps none.
//
// The bound is high enough that the fan-out of a busy room of hundreds
// finds a worker per member as before (a bound of 256 added 10-15 ms to
// the 99th percentile of a 500-member room at 20 messages a second per
// sender, and 16 added 9 ms), and low enough that the goroutines a
// fan-out to 15,000 leaves behind are a thousand, not 7,000.
type writerPool struct {
	handoff chan *Conn // unbuffered: a send succeeds only when a worker waits
	queue   chan *Conn // connections waiting for a slot
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	limit   int64

	workers atomic.Int64 // alive now
	peak    atomic.Int64 // most workers alive at once
	slots   atomic.Int64 // workers holding a slot
}

// writerIdle is how long a worker waits for more work before it exits.
const writerIdle = 200 * time.Millisecond

// maxWriters bounds the workers holding a slot.
var maxWriters = max(1024, 512*runtime.GOMAXPROCS(0))

// writerQueue is the queue's capacity. A connection that finds it full
// (a burst to more connections than that, all while every slot is busy)
// gets a worker of its own, without a slot.
const writerQueue = 16384

func newWriterPool() *writerPool {
	return &writerPool{handoff: make(chan *Conn), queue: make(chan *Conn, writerQueue), quit: make(chan struct{}), limit: int64(maxWriters)}
}

// start runs c's writer on a waiting worker, on a new one if a slot is
// free, or queues it for the next free worker. It never blocks.
func (p *writerPool) start(c *Conn) {
	select {
	case p.handoff <- c:
		return
	default:
	}
	if p.slots.Add(1) <= p.limit {
		p.spawn(c, true)
		return
	}
	p.slots.Add(-1)
	select {
	case p.queue <- c:
	default:
		p.spawn(c, false)
	}
}

func (p *writerPool) spawn(c *Conn, slot bool) {
	p.wg.Add(1)
	n := p.workers.Add(1)
	for old := p.peak.Load(); n > old && !p.peak.CompareAndSwap(old, n); old = p.peak.Load() {
	}
	go p.work(c, slot)
}

// writerSlot is a worker's hold on a slot of the pool; the worker's
// current connection gives it up when a write would block (blocked).
type writerSlot struct {
	p    *writerPool
	held bool

	// The write in progress (Conn.writeSocket), and the RawConn callback
	// that does it, made once.
	write   func(fd uintptr) bool
	one     []byte
	many    net.Buffers
	written int
	err     error
}

// blocked gives the slot up: the write it was taken for now waits for the
// client. Safe on nil (a writer outside the pool).
func (w *writerSlot) blocked() {
	if w == nil || !w.held {
		return
	}
	w.held = false
	w.p.slots.Add(-1)
	if len(w.p.queue) == 0 {
		return
	}
	if w.p.slots.Add(1) <= w.p.limit {
		w.p.spawn(nil, true) // for the queue, with the slot just taken
		return
	}
	w.p.slots.Add(-1) // none free after all
}

// take takes a slot back; it reports false when none is free.
func (w *writerSlot) take() bool {
	if w.held {
		return true
	}
	if w.p.slots.Add(1) > w.p.limit {
		w.p.slots.Add(-1)
		return false
	}
	w.held = true
	return true
}

// drop gives the slot up on the way out.
func (w *writerSlot) drop() {
	if w.held {
		w.held = false
		w.p.slots.Add(-1)
	}
}

func (p *writerPool) work(c *Conn, slot bool) {
	defer p.wg.Done()
	defer p.workers.Add(-1)
	w := &writerSlot{p: p, held: slot}
	w.write = w.writeFD
	defer w.drop()
	var idle *time.Timer
	for {
		if c != nil {
			c.writeLoop(w)
			c = nil
		}
		if !w.take() {
			return // it waited for a client while others took the slots
		}
		select {
		case c = <-p.queue:
			continue
		default:
		}
		if idle == nil {
			idle = time.NewTimer(writerIdle)
		} else {
			idle.Reset(writerIdle)
		}
		select {
		case c = <-p.handoff:
		case c = <-p.queue:
		case <-idle.C:
			w.drop()
			if len(p.queue) > 0 && w.take() {
				continue // queued as it was leaving
			}
			return
		case <-p.quit:
			for { // what was queued before the close is written still
				select {
				case c = <-p.queue:
					c.writeLoop(w)
				default:
					return
				}
			}
		}
	}
}

// close makes the waiting workers exit and waits for every worker; the
// caller makes sure no writer starts any more.
func (p *writerPool) close() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}
