//go:build linux

package server

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller waits for the input of parked connections (see Conn.Park) with
// one epoll instance of its own, so that an idle connection needs no
// goroutine, and so no stack, while it waits. Its one goroutine does not
// hold a thread either: the epoll descriptor is itself waited for through
// the runtime's network poller, and closing it ends the goroutine.
//
// Each connection is registered once, one-shot: an event disarms it until
// it parks again (EPOLL_CTL_MOD). Events carry a token, never a pointer,
// and are looked up in conns, so an event that arrives after its
// connection is gone finds nothing.
type poller struct {
	ep   *os.File // the epoll descriptor, in the runtime's poller
	epfd int      // the same, for epoll_ctl (File.Fd would make it blocking)
	done chan struct{}

	mu    sync.Mutex
	conns map[uint64]*Conn // registered connections by token
	next  uint64
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	p := &poller{ep: os.NewFile(uintptr(fd), "epoll"), epfd: fd, done: make(chan struct{}), conns: make(map[uint64]*Conn)}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		return nil, err
	}
	go p.loop(rc)
	return p, nil
}

// parkEvents is what a parked connection waits for: input, the peer's
// close, or an error.
const parkEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// arm registers (or re-arms) c's descriptor fd. Caller holds c.mu, which
// orders it with wake.
func (p *poller) arm(c *Conn, fd int) error {
	if c.pollToken == 0 {
		p.mu.Lock()
		p.next++
		c.pollToken = p.next
		p.conns[c.pollToken] = c
		p.mu.Unlock()
	}
	ev := unix.EpollEvent{Events: parkEvents, Fd: int32(c.pollToken), Pad: int32(c.pollToken >> 32)}
	op := unix.EPOLL_CTL_MOD
	if !c.pollAdded {
		op = unix.EPOLL_CTL_ADD
	}
	err := unix.EpollCtl(p.fd(), op, fd, &ev)
	switch {
	case errors.Is(err, unix.EEXIST):
		err = unix.EpollCtl(p.fd(), unix.EPOLL_CTL_MOD, fd, &ev)
	case errors.Is(err, unix.ENOENT):
		err = unix.EpollCtl(p.fd(), unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	c.pollAdded = true
	return nil
}

// fd is the epoll descriptor. Its registrations never race with its close:
// the poller is closed after every connection has ended.
func (p *poller) fd() int { return p.epfd }

// forget drops c's token; an event still in flight for it finds nothing.
// (Its registration ends with its descriptor.)
func (p *poller) forget(c *Conn) {
	if c.pollToken == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, c.pollToken)
	p.mu.Unlock()
}

// loop wakes the connections whose input has arrived, until close.
func (p *poller) loop(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	var ready []*Conn
	for {
		n := 0
		err := rc.Read(func(fd uintptr) bool {
			var werr error
			n, werr = unix.EpollWait(int(fd), events, 0)
			if werr != nil {
				n = 0 // EINTR: try again once woken
			}
			return n > 0
		})
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		for i := range events[:n] {
			token := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if c := p.conns[token]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for _, c := range ready {
			c.wake() // takes c.mu: not under p.mu (arm holds c.mu, then p.mu)
		}
		clear(ready)
		ready = ready[:0]
	}
}

// close ends the poller's goroutine and releases the epoll descriptor.
func (p *poller) close() {
	p.ep.Close()
	<-p.done
}

// park arms c's descriptor unless input (or the peer's close) is already
// waiting, which the caller then reads at once instead. Caller holds c.mu.
func (p *poller) park(c *Conn, raw syscall.RawConn) bool {
	armed := false
	err := raw.Control(func(fd uintptr) {
		var b [1]byte
		if _, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
			return // input, EOF or an error: the read path deals with each
		}
		armed = p.arm(c, int(fd)) == nil
	})
	return err == nil && armed
}
