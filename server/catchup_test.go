package server

import (
	"bufio"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// fakeBacklog is a store of every message delivered, as the hub's store is.
type fakeBacklog struct {
	mu   sync.Mutex
	msgs []*chat.Event
	id   uint64
}

func (f *fakeBacklog) ID() uint64 { return 1 }

func (f *fakeBacklog) add(text string) *chat.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id++
	ev := &chat.Event{Message: chat.Message{ID: f.id, Kind: chat.KindSay, Text: text}, Session: 2}
	f.msgs = append(f.msgs, ev)
	return ev
}

func (f *fakeBacklog) Backlog(after uint64, limit int) ([]*chat.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*chat.Event
	for _, ev := range f.msgs {
		if ev.ID > after && len(out) < limit {
			out = append(out, &chat.Event{Message: ev.Message, Session: ev.Session})
		}
	}
	return out, nil
}

// TestCatchUp: a client that reads, but slower than messages come, is not
// dropped when its queue passes the bound: it is sent everything from the
// backlog, in order, once, then goes live again; what the store cannot
// give back (its own replies) is kept, and others' joins are summarised.
func TestCatchUp(t *testing.T) {
	c, client := pipeConn(t, Options{MaxQueueBytes: 4000, WriteTimeout: 5 * time.Second})
	c.SetEncoder(textEncoder)
	bl := &fakeBacklog{}
	c.SetBacklog(bl)
	const n = 500
	for i := range n {
		c.Deliver(bl.add(fmt.Sprint("m", i)))
		if i == 100 {
			c.Deliver(&chat.Event{Message: chat.Message{Kind: chat.KindJoin, Text: "someone"}, Session: 3})
			c.Deliver(&chat.Event{Message: chat.Message{Kind: chat.KindNotice, Text: "your reply"}})
		}
	}
	if st := c.server.Stats(); st.CatchUps != 1 || st.Lagging != 1 {
		t.Fatalf("stats %+v: no catch-up started", st)
	}
	br := bufio.NewReader(client)
	next, sawReply, sawSummary := 0, false, false
	for next < n {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after m%d: %v", next-1, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "notice your reply":
			sawReply = true
		case strings.HasPrefix(line, "say "):
			if want := fmt.Sprint("say m", next); line != want {
				t.Fatalf("got %q, want %q (in order, once)", line, want)
			}
			next++
		case strings.HasPrefix(line, "join "):
			t.Fatalf("an others' join was written while catching up: %q", line)
		}
		if next%50 == 0 {
			time.Sleep(time.Millisecond) // a slow reader
		}
	}
	// Live again: the summary, then a new message is written straight away.
	c.Deliver(bl.add("live"))
	for !sawSummary || next == n {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(line, "were not shown"):
			sawSummary = true
		case line == "say live\n":
			next++
		}
	}
	if !sawReply {
		t.Fatal("the session's own reply was dropped while catching up")
	}
	testkitEventually(t, "lagging back to 0", func() bool { return c.server.Stats().Lagging == 0 })
}

// TestCatchUpNoProgress: a client that reads nothing at all is dropped, as
// a slow consumer, once a write makes no progress for WriteTimeout.
func TestCatchUpNoProgress(t *testing.T) {
	c, _ := pipeConn(t, Options{MaxQueueBytes: 2000, WriteTimeout: 50 * time.Millisecond})
	c.SetEncoder(textEncoder)
	bl := &fakeBacklog{}
	c.SetBacklog(bl)
	for i := range 200 {
		c.Deliver(bl.add(fmt.Sprint("m", i)))
	}
	waitReason(t, c, engine.ReasonSlowConsumer)
	if st := c.server.Stats(); st.Dropped != 1 || st.Lagging != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func testkitEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCatchUpAheadOfFanOut: a catch-up reads what is stored, which can be
// ahead of what the fan-out has delivered (a loaded machine). When the
// messages it already wrote then arrive live, they are not written again.
func TestCatchUpAheadOfFanOut(t *testing.T) {
	c, client := pipeConn(t, Options{MaxQueueBytes: 2000, WriteTimeout: 5 * time.Second})
	c.SetEncoder(textEncoder)
	bl := &fakeBacklog{}
	c.SetBacklog(bl)
	var delivered []*chat.Event
	for i := range 110 {
		delivered = append(delivered, bl.add(fmt.Sprint("m", i)))
	}
	// The first 100 are delivered live (the queue overflows: catch-up);
	// the other 10 are stored, and arrive live only after the catch-up
	// has read them from the store (fewer than the queue bound, so they
	// would be queued and written again).
	for _, ev := range delivered[:100] {
		c.Deliver(ev)
	}
	br := bufio.NewReader(client)
	read := func(want int) {
		t.Helper()
		for i := 0; i < want; i++ {
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d: %v", i, err)
			}
			if w := fmt.Sprint("say m", i); strings.TrimSuffix(line, "\n") != w {
				t.Fatalf("got %q, want %q", line, w)
			}
		}
	}
	read(110)
	testkitEventually(t, "live again", func() bool { return c.server.Stats().Lagging == 0 })
	for _, ev := range delivered[100:] {
		c.Deliver(ev) // late: already written from the store
	}
	c.Deliver(bl.add("m110"))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || line != "say m110\n" {
		t.Fatalf("after the late deliveries: %q, %v (want the next message, no repeat)", line, err)
	}
}

// TestCatchUpWhenOwnReplyOverflows: the event that passes the queue's
// bound is a reply of the session's own (which only the queue has), while
// the queue holds live messages (which the store has): the client is slow,
// not stuck, so it catches up; it is not dropped.
func TestCatchUpWhenOwnReplyOverflows(t *testing.T) {
	c, client := pipeConn(t, Options{MaxQueueBytes: 4000, WriteTimeout: 5 * time.Second})
	c.SetEncoder(textEncoder)
	bl := &fakeBacklog{}
	c.SetBacklog(bl)
	// m0 is taken by the writer, which then waits on the pipe (the client
	// does not read yet): what follows stays queued.
	c.Deliver(bl.add("m0"))
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		taken := len(c.queue) == 0 && c.writing
		c.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never took m0")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 50; i++ { // about 3,300 bytes: under the bound
		c.Deliver(bl.add(fmt.Sprint("m", i)))
	}
	c.Deliver(&chat.Event{Message: chat.Message{Kind: chat.KindNotice, Text: strings.Repeat("r", 1000)}})
	if st := c.server.Stats(); st.Dropped != 0 || st.CatchUps != 1 {
		t.Fatalf("stats %+v: want a catch-up, not a drop", st)
	}
	br := bufio.NewReader(client)
	next, sawReply := 0, false
	for next < 50 || !sawReply {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after m%d: %v", next-1, err)
		}
		switch line = strings.TrimSuffix(line, "\n"); {
		case strings.HasPrefix(line, "notice rrr"):
			sawReply = true
		case line == fmt.Sprint("say m", next):
			next++
		default:
			t.Fatalf("got %q, want say m%d (in order, once) or the reply", line, next)
		}
	}
}
