//go:build linux

package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/engine"
)

// TestStarterBoundsAndQueuesInOrder: no more handlers than slots run at
// once; the others wait, and start first come first served as slots are
// given back, each taking the slot it was given.
func TestStarterBoundsAndQueuesInOrder(t *testing.T) {
	g := &starter{limit: 2}
	var mu sync.Mutex
	var started []int
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		g.start(func(slot bool) {
			defer wg.Done()
			mu.Lock()
			started = append(started, i)
			mu.Unlock()
			if !slot {
				t.Errorf("handler %d started without a slot", i)
			}
			<-release
			g.leave()
		})
		if i < 2 {
			testkitEventually(t, "a free slot to be taken", func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == i+1 })
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }
	time.Sleep(20 * time.Millisecond) // give a wrongly started handler time to show
	if n := count(); n != 2 {
		t.Fatalf("%d handlers running with 2 slots", n)
	}
	for want := 3; want <= 6; want++ {
		release <- struct{}{}
		testkitEventually(t, "the next waiting handler", func() bool { return count() == want })
	}
	close(release)
	wg.Wait()
	for i, v := range started {
		if v != i {
			t.Fatalf("started in order %v, want first come first served", started)
		}
	}
	if g.running != 0 || g.head != len(g.waiting) {
		t.Fatalf("after all: running %d, %d waiting", g.running, len(g.waiting)-g.head)
	}
}

// TestStarterStuckGate: when no slot is given back for startWait, a
// waiting handler starts without one instead of waiting for ever.
func TestStarterStuckGate(t *testing.T) {
	g := &starter{limit: 1}
	hold := make(chan struct{})
	held := make(chan struct{})
	g.start(func(bool) { close(held); <-hold; g.leave() })
	<-held
	ran := make(chan bool, 1)
	began := time.Now()
	g.start(func(slot bool) { ran <- slot })
	select {
	case slot := <-ran:
		if slot {
			t.Fatal("started with a slot while the only one was held")
		}
		if waited := time.Since(began); waited < startWait {
			t.Fatalf("let through after %v, before startWait (%v)", waited, startWait)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stuck gate held a handler back for 5 s")
	}
	if g.ungated.Load() != 1 {
		t.Fatalf("ungated = %d, want 1", g.ungated.Load())
	}
	close(hold)
	testkitEventually(t, "the slot to come back", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.running == 0 })
}

// echoLines is a handler that reads lines and hands each to the test.
type echoLines struct{ lines chan string }

func (h echoLines) ServeConn(_ context.Context, c engine.Conn) {
	for {
		msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		h.lines <- string(msg)
	}
}

// TestStalledClientHoldsNoStartSlot: clients that stop in the middle of a
// message (their handler blocked reading the rest) do not hold the gate's
// slots, so a client after them is served at once, with a slot, not by
// the stuck gate's escape.
func TestStalledClientHoldsNoStartSlot(t *testing.T) {
	s := New(Options{})
	s.starts.limit = 2
	h := echoLines{lines: make(chan string, 8)}
	addr, err := s.Listen(Listener{Name: "test", Addr: "127.0.0.1:0", Handler: h,
		Framing: func(r *Reader, _ *Options) MessageReader { return lineReader{r} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	for range 4 {
		nc := dial()
		if _, err := io.WriteString(nc, "half a li"); err != nil {
			t.Fatal(err)
		}
	}
	testkitEventually(t, "the stalled clients' handlers to wait", func() bool {
		s.starts.mu.Lock()
		defer s.starts.mu.Unlock()
		return s.Conns() == 4 && s.starts.running == 0
	})
	nc := dial()
	if _, err := io.WriteString(nc, "hello\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-h.lines:
		if got != "hello" {
			t.Fatalf("got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the line after the stalled clients was not read")
	}
	if n := s.starts.ungated.Load(); n != 0 {
		t.Fatalf("%d handlers were let through a stuck gate: the stalled clients held slots", n)
	}
}

// TestSocketReader: reads through the RawConn give what net.Conn's do:
// the bytes, os.ErrDeadlineExceeded at a deadline (as a *net.OpError), and
// io.EOF at the peer's close.
func TestSocketReader(t *testing.T) {
	s := New(Options{})
	h := captureHandler{conns: make(chan *Conn, 1)}
	addr, err := s.Listen(Listener{Name: "test", Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := <-h.conns
	if c.raw == nil {
		t.Fatal("a plain TCP connection is not read through its RawConn")
	}
	rd := (*socketReader)(c)
	var buf [8]byte
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = rd.Read(buf[:])
	var op *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(nc, "hi"); err != nil {
		t.Fatal(err)
	}
	if n, err := rd.Read(buf[:]); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	nc.Close()
	if n, err := rd.Read(buf[:]); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v", n, err)
	}
}
