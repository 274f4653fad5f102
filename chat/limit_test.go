package chat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newLimitedHub(t *testing.T, clock *fakeClock, cfg chat.Config) *chat.Hub {
	t.Helper()
	cfg.Store = memory.New(0)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Now = clock.Now
	h, err := chat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	return h
}

type admit struct {
	wait time.Duration
	code chat.Code // "" for no error, "flooding" for ErrFlooding
}

func admitOnce(s *chat.Session) admit {
	wait, err := s.Admit()
	a := admit{wait: wait}
	if err != nil {
		a.code = chat.ErrorCode(err)
	}
	if errors.Is(err, chat.ErrFlooding) {
		a.code = "flooding"
	}
	return a
}

func TestAdmitTokenBucket(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{RateLimit: chat.RateLimit{Rate: 2, Burst: 3, FloodAfter: 2 * time.Second}})
	s, _ := connect(t, h, "alice")
	other, _ := connect(t, h, "bob")

	const tick = 500 * time.Millisecond // one token at 2/s
	steps := []struct {
		advance time.Duration // before the request
		want    admit
	}{
		{0, admit{}}, // burst of 3
		{0, admit{}},
		{0, admit{}},
		{0, admit{wait: tick, code: chat.CodeRateLimited}}, // slowed, and told once
		{tick, admit{wait: tick}},                          // held for the previous one; slowed again, silently
		{tick, admit{wait: tick}},
		{2 * tick, admit{}},                                // it paused: within the limit again, the run ends
		{0, admit{wait: tick, code: chat.CodeRateLimited}}, // a new run is told again
		{tick, admit{wait: tick}},
		{tick, admit{wait: tick}},
		{tick, admit{wait: tick}},
		{tick, admit{code: "flooding"}}, // 2 s over the limit without a pause
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if got := admitOnce(s); got != st.want {
			t.Fatalf("step %d: Admit = %+v, want %+v", i, got, st.want)
		}
	}
	// The limit is per session: bob is not slowed by alice.
	if got := admitOnce(other); got != (admit{}) {
		t.Fatalf("another session slowed: %+v", got)
	}
}

func TestAdmitUnlimited(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{})
	s, _ := connect(t, h, "alice")
	for i := range 10000 {
		if wait, err := s.Admit(); wait != 0 || err != nil {
			t.Fatalf("request %d slowed without a limit: %v %v", i, wait, err)
		}
	}
}

func TestAdmitDefaults(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{RateLimit: chat.RateLimit{Rate: 2.5}})
	s, _ := connect(t, h, "alice")
	// Burst defaults to ceil(Rate) = 3, FloodAfter to 10 s.
	for i := range 3 {
		if got := admitOnce(s); got != (admit{}) {
			t.Fatalf("request %d: %+v", i, got)
		}
	}
	if got := admitOnce(s); got.wait != 400*time.Millisecond || got.code != chat.CodeRateLimited {
		t.Fatalf("fourth request: %+v", got)
	}
	for i := 0; ; i++ {
		clock.Advance(400 * time.Millisecond)
		got := admitOnce(s)
		if got.code == "flooding" {
			if i != 24 { // 25 × 0.4 s = 10 s
				t.Fatalf("flooding after %d slowed requests, want 25", i+1)
			}
			break
		}
		if got.wait != 400*time.Millisecond || i > 30 {
			t.Fatalf("slowed request %d: %+v", i, got)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	clock := &fakeClock{}
	open := newLimitedHub(t, clock, chat.Config{})
	if open.NeedsPassword() || open.CheckPassword("anything") != nil {
		t.Fatal("a hub without a password refused one")
	}
	h := newLimitedHub(t, clock, chat.Config{Password: "s3cret"})
	tests := []struct {
		given string
		ok    bool
	}{
		{"s3cret", true},
		{"", false},
		{"s3cre", false},
		{"s3cret ", false},
		{"S3CRET", false},
	}
	for _, tt := range tests {
		err := h.CheckPassword(tt.given)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tt.given, err, tt.ok)
		}
		if err != nil && chat.ErrorCode(err) != chat.CodeAuth {
			t.Errorf("CheckPassword(%q) code %s, want %s", tt.given, chat.ErrorCode(err), chat.CodeAuth)
		}
	}
	if !h.NeedsPassword() {
		t.Fatal("NeedsPassword false with a password set")
	}
}

// TestReplaysAreCharged: a replay costs one more token per ReplayCost
// messages replayed, so replaying a big room in a loop is slowed like a
// flood; a session with nothing to replay is not.
func TestReplaysAreCharged(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{RateLimit: chat.RateLimit{Rate: 10, Burst: 50, FloodAfter: time.Hour}, HistoryOnJoin: 1000})
	writer, writerSink := connect(t, h, "writer")
	for i := range 2000 {
		if err := writer.Say("", fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	writerSink.wait(t, "every message stored", func(ev *chat.Event) bool { return ev.Text == "m1999" })
	reader, sink := connect(t, h, "reader") // its lobby join replays 1000: 10 tokens
	sink.wait(t, "the replay", func(ev *chat.Event) bool { return ev.Kind == chat.KindHistoryEnd })
	for range 4 {
		if err := reader.Part("", ""); err != nil {
			t.Fatal(err)
		}
		if err := reader.Join(chat.DefaultRoom, chat.JoinOptions{}); err != nil { // 10 more each
			t.Fatal(err)
		}
	}
	if wait, _ := reader.Admit(); wait == 0 {
		t.Fatal("five 1000-message replays cost nothing against a burst of 50")
	}
	if wait, _ := writer.Admit(); wait != 0 {
		t.Fatalf("a session that replayed little waits %v", wait)
	}
}
