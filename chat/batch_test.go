package chat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// deferringSink is a chat.DeferringSink that records what it was given
// and when it was flushed: the fan-out's side of a connection.
type deferringSink struct {
	mu      sync.Mutex
	queued  []*chat.Event // given, not yet flushed
	flushed []*chat.Event
	due     bool
	runs    int           // DeliverDeferred calls
	work    time.Duration // spent per DeliverDeferred, to make a fan-out long
}

func (d *deferringSink) Deliver(ev *chat.Event) {
	d.mu.Lock()
	d.flushed = append(d.flushed, ev)
	d.mu.Unlock()
}

func (d *deferringSink) DeliverDeferred(evs []*chat.Event) bool {
	if d.work > 0 {
		for end := time.Now().Add(d.work); time.Now().Before(end); {
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs++
	d.queued = append(d.queued, evs...)
	if d.due {
		return false
	}
	d.due = true
	return true
}

func (d *deferringSink) Flush() {
	d.mu.Lock()
	d.flushed = append(d.flushed, d.queued...)
	d.queued, d.due = nil, false
	d.mu.Unlock()
}

// says returns the texts of the say events flushed so far.
func (d *deferringSink) says() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, ev := range d.flushed {
		if ev.Kind == chat.KindSay {
			out = append(out, ev.Text)
		}
	}
	return out
}

func (d *deferringSink) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queued)
}

// TestFanoutDefersAndFlushes: a sink that can defer gets every message of
// its room, in id order, and nothing stays unflushed once the fan-out is
// done, however the messages were batched; each sender's messages come in
// the order sent.
func TestFanoutDefersAndFlushes(t *testing.T) {
	hub, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HistoryOnJoin: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Shutdown(context.Background(), "test over") })
	const members, senders, each = 30, 5, 200
	sinks := make([]*deferringSink, members)
	sessions := make([]*chat.Session, members)
	for i := range sinks {
		sinks[i] = &deferringSink{}
		s, err := hub.Connect(sinks[i], fmt.Sprintf("m%d", i), chat.ClientInfo{Protocol: "test"}, chat.JoinOptions{History: -1})
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := sessions[s].Say("", fmt.Sprintf("%d/%d", s, i), ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	hub.Sync()
	for i, d := range sinks {
		got := d.says()
		if len(got) != senders*each {
			t.Fatalf("member %d got %d messages, want %d (%d unflushed)", i, len(got), senders*each, d.pending())
		}
		next := make([]int, senders)
		for _, text := range got {
			var s, n int
			fmt.Sscanf(text, "%d/%d", &s, &n)
			if n != next[s] {
				t.Fatalf("member %d: sender %d's message %d came when %d was due", i, s, n, next[s])
			}
			next[s]++
		}
		if d.pending() != 0 {
			t.Fatalf("member %d: %d messages given but never flushed", i, d.pending())
		}
	}
	// The ids a member saw are increasing: one order for everyone.
	var last uint64
	for _, ev := range sinks[0].flushed {
		if ev.Kind == chat.KindSay {
			if ev.ID <= last {
				t.Fatalf("id %d after %d", ev.ID, last)
			}
			last = ev.ID
		}
	}
}

// TestLongFanoutIsNotAStall: a fan-out that takes longer than
// CommitTimeout in all (a big room, a burst of messages) is progress, not
// a stalled store: senders waiting for room in a full commit queue are
// not refused while it runs.
func TestLongFanoutIsNotAStall(t *testing.T) {
	hub, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HistoryOnJoin: -1,
		CommitTimeout: 100 * time.Millisecond, CommitQueue: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Shutdown(context.Background(), "test over") })
	// 2000 members at 60 µs each: one run takes 120 ms to fan out,
	// longer than the commit timeout (progress every 256 members is
	// every 15 ms, with room for a loaded machine).
	const members = 2000
	var sender *chat.Session
	for i := range members {
		s, err := hub.Connect(&deferringSink{work: 60 * time.Microsecond}, fmt.Sprintf("m%d", i), chat.ClientInfo{Protocol: "test"}, chat.JoinOptions{History: -1})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			sender = s
		}
	}
	// Enough messages to fill the commit queue and the fan-out's own
	// queue of batches, so that senders wait on the fan-out.
	const count = 200
	var refused atomic.Int64
	for i := range count {
		if err := sender.Say("", fmt.Sprint(i), ""); err != nil {
			refused.Add(1)
		}
	}
	hub.Sync()
	if n := refused.Load(); n > 0 {
		t.Fatalf("%d of %d messages refused during a long fan-out", n, count)
	}
}
