package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// TestSlabPool: a slice given back is cleared and comes back empty with
// its room; one larger than the pool keeps is dropped.
func TestSlabPool(t *testing.T) {
	p := &slabPool[*chat.Event]{size: 4, most: 8}
	s := p.get()
	if len(s) != 0 || cap(s) < 4 {
		t.Fatalf("new slab len %d cap %d", len(s), cap(s))
	}
	ev := say("x")
	s = append(s, ev, ev, ev)
	arr := s[:cap(s)]
	p.put(s)
	for i, e := range arr {
		if e != nil {
			t.Fatalf("element %d still points at an event after put", i)
		}
	}
	big := make([]*chat.Event, 0, 64)
	p.put(big) // over most: not kept
	for range 4 {
		if got := p.get(); cap(got) > 8 {
			t.Fatalf("got an oversized slab back (cap %d)", cap(got))
		}
	}
}

// tcpConn returns a Conn over a real loopback TCP connection (the peer is
// the other end), with the server it belongs to.
func tcpConn(t *testing.T, opts Options) (*Conn, net.Conn, *Server) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := New(opts)
	t.Cleanup(s.writers.close)
	c, peer := tcpConnOn(t, s)
	return c, peer, s
}

// tcpConnOn is tcpConn on the server s.
func tcpConnOn(t *testing.T, s *Server) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(nc, s, "test", func(r *Reader, _ *Options) MessageReader { return lineReader{r} })
	c.accepted = at(time.Now())
	t.Cleanup(func() {
		c.Close(engine.ReasonClientClosed)
		peer.Close()
		c.wait()
	})
	return c, peer
}

// rawEncoder writes an event's text as it is.
var rawEncoder = engine.EncoderFunc(func(ev *chat.Event) []byte { return []byte(ev.Text) })

// TestConnWritesEverythingInOrder: whatever mix of sizes is queued, and
// however it is delivered (one at a time, in deferred runs, raw bytes),
// the peer reads exactly the bytes queued, in order: small ones gathered
// into one write, ones past the gather size written as they are, batches
// longer than a writev chunk split.
func TestConnWritesEverythingInOrder(t *testing.T) {
	c, peer, _ := tcpConn(t, Options{MaxQueueBytes: 64 << 20}) // all of it queued at once
	c.SetEncoder(rawEncoder)
	sizes := []int{1, 100, gatherBytes - 1, gatherBytes, gatherBytes + 1, 3, 70 << 10, 5}
	var want bytes.Buffer
	var run []*chat.Event
	n := 0
	for round := range 3 {
		for _, size := range sizes {
			for range maxWritev + 3 {
				n++
				text := strings.Repeat(string(rune('a'+n%26)), size)
				want.WriteString(text)
				ev := say(text)
				switch round {
				case 0:
					c.Deliver(ev)
				case 1:
					run = append(run, ev)
				case 2:
					c.Send([]byte(text))
				}
			}
			if round == 1 {
				if c.DeliverDeferred(run) {
					c.Flush()
				}
				run = run[:0]
			}
		}
	}
	got := make([]byte, want.Len())
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("read %d bytes: %v", want.Len(), err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		i := 0
		for i < len(got) && got[i] == want.Bytes()[i] {
			i++
		}
		t.Fatalf("bytes differ at offset %d of %d", i, want.Len())
	}
}

// TestDeliverDeferredWaitsForFlush: deferred deliveries are written only
// once flushed, Flush is asked for once per batch, and not at all while a
// writer is running.
func TestDeliverDeferredWaitsForFlush(t *testing.T) {
	c, peer, _ := tcpConn(t, Options{})
	c.SetEncoder(textEncoder)
	if !c.DeliverDeferred([]*chat.Event{say("one")}) {
		t.Fatal("the first deferred delivery of a batch did not ask for a flush")
	}
	if c.DeliverDeferred([]*chat.Event{say("two")}) {
		t.Fatal("a second deferred delivery asked for a second flush")
	}
	_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := peer.Read(make([]byte, 64)); err == nil {
		t.Fatalf("read %d bytes before the flush", n)
	}
	c.Flush()
	if got := readLines(t, peer, 2); strings.Join(got, "|") != "say one|say two" {
		t.Fatalf("got %q", got)
	}
}

// TestWriterPool: writers run on pooled workers, which wait a while for
// more work and then exit; closing the pool ends the waiting ones at once.
func TestWriterPool(t *testing.T) {
	c, peer, s := tcpConn(t, Options{})
	c.SetEncoder(textEncoder)
	c.Deliver(say("hello"))
	readLines(t, peer, 1)
	if n := s.writers.workers.Load(); n != 1 {
		t.Fatalf("%d workers after one write, want 1 waiting", n)
	}
	c.Deliver(say("again"))
	readLines(t, peer, 1)
	if n := s.writers.workers.Load(); n != 1 {
		t.Fatalf("%d workers after a second write, want the same one", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.writers.workers.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle worker did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Deliver(say("woken"))
	readLines(t, peer, 1)
	s.writers.close()
	if n := s.writers.workers.Load(); n != 0 {
		t.Fatalf("%d workers after close", n)
	}
}

// TestWriterPoolIsBounded: writes to many connections at once run on at
// most the pool's slots' worth of workers, and every byte still arrives.
func TestWriterPoolIsBounded(t *testing.T) {
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(s.writers.close)
	s.writers.limit = 2
	const n = 40
	conns := make([]*Conn, n)
	peers := make([]net.Conn, n)
	for i := range n {
		conns[i], peers[i] = tcpConnOn(t, s)
		conns[i].SetEncoder(textEncoder)
	}
	for round := range 5 {
		for _, c := range conns {
			c.Deliver(say(fmt.Sprint("round ", round)))
		}
	}
	for i, peer := range peers {
		got := readLines(t, peer, 5)
		for round, line := range got {
			if want := fmt.Sprint("say round ", round); line != want {
				t.Fatalf("connection %d read %q, want %q", i, line, want)
			}
		}
	}
	if peak := s.writers.peak.Load(); peak > 2 {
		t.Fatalf("%d workers at once for 2 slots", peak)
	}
}

// TestWriterBlockedOnClientHoldsNoSlot: a writer waiting on a client that
// does not read gives its slot up, so the only slot serves the others.
func TestWriterBlockedOnClientHoldsNoSlot(t *testing.T) {
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SendBuffer: 4096, MaxQueueBytes: 16 << 20})
	t.Cleanup(s.writers.close)
	s.writers.limit = 1
	stuck, _ := tcpConnOn(t, s) // its peer never reads
	stuck.SetEncoder(rawEncoder)
	chunk := strings.Repeat("x", 64<<10)
	for range 64 {
		stuck.Deliver(&chat.Event{Message: chat.Message{Kind: chat.KindSay, Text: chunk}})
	}
	testkitEventually(t, "the stuck writer to give its slot up", func() bool {
		return s.writers.slots.Load() == 0 && s.writers.workers.Load() == 1
	})
	c, peer := tcpConnOn(t, s)
	c.SetEncoder(textEncoder)
	c.Deliver(say("through"))
	if got := readLines(t, peer, 1); got[0] != "say through" {
		t.Fatalf("read %q", got)
	}
}
