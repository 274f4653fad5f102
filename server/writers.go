package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// writerPool runs connections' writers (Conn.writeLoop) on goroutines that
// outlive one burst. A writer exists only while its connection has
// something to write, so a busy room starts one per member many times a
// second; a new goroutine each time would also grow its stack through the
// socket write and copy it, every time (7% of the server's CPU in a
// 2000-client fan-out). A worker whose writer is done waits writerIdle for
// another connection to write for, then exits: an idle server keeps none.
type writerPool struct {
	handoff chan *Conn // unbuffered: a send succeeds only when a worker waits
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	workers atomic.Int64 // alive now
}

// writerIdle is how long a worker waits for more work before it exits.
const writerIdle = 200 * time.Millisecond

func newWriterPool() *writerPool {
	return &writerPool{handoff: make(chan *Conn), quit: make(chan struct{})}
}

// start runs c's writer on a waiting worker, or on a new one. It never
// blocks.
func (p *writerPool) start(c *Conn) {
	select {
	case p.handoff <- c:
	default:
		p.wg.Add(1)
		p.workers.Add(1)
		go p.work(c)
	}
}

func (p *writerPool) work(c *Conn) {
	defer p.wg.Done()
	defer p.workers.Add(-1)
	var idle *time.Timer
	for {
		c.writeLoop()
		if idle == nil {
			idle = time.NewTimer(writerIdle)
		} else {
			idle.Reset(writerIdle)
		}
		select {
		case c = <-p.handoff:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}

// close makes the waiting workers exit and waits for every worker; the
// caller makes sure no writer starts any more.
func (p *writerPool) close() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}
