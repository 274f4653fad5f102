package chat_test

import (
	"context"
	"errors"
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
	ok   bool
	code chat.Code // "" for no error
}

func admitOnce(s *chat.Session) admit {
	ok, err := s.Admit()
	a := admit{ok: ok}
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
	h := newLimitedHub(t, clock, chat.Config{RateLimit: chat.RateLimit{Rate: 2, Burst: 3, Strikes: 2}})
	s, _ := connect(t, h, "alice")
	other, _ := connect(t, h, "bob")

	steps := []struct {
		advance time.Duration
		want    admit
	}{
		{0, admit{ok: true}}, // burst of 3
		{0, admit{ok: true}},
		{0, admit{ok: true}},
		{0, admit{ok: false, code: chat.CodeRateLimited}}, // first refusal: warned
		{0, admit{ok: false}},                             // second: dropped silently
		{500 * time.Millisecond, admit{ok: true}},         // one token back at 2/s: row reset
		{0, admit{ok: false, code: chat.CodeRateLimited}}, // warned again
		{0, admit{ok: false}},
		{0, admit{ok: false, code: "flooding"}}, // third refusal in a row > Strikes
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if got := admitOnce(s); got != st.want {
			t.Fatalf("step %d: Admit = %+v, want %+v", i, got, st.want)
		}
	}
	// The limit is per session: bob is not slowed by alice.
	if got := admitOnce(other); !got.ok {
		t.Fatalf("another session refused: %+v", got)
	}
}

func TestAdmitUnlimited(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{})
	s, _ := connect(t, h, "alice")
	for i := range 10000 {
		if ok, err := s.Admit(); !ok || err != nil {
			t.Fatalf("request %d refused without a limit: %v", i, err)
		}
	}
}

func TestAdmitDefaults(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	h := newLimitedHub(t, clock, chat.Config{RateLimit: chat.RateLimit{Rate: 2.5}})
	s, _ := connect(t, h, "alice")
	// Burst defaults to ceil(Rate) = 3, Strikes to Burst.
	var got []admit
	for range 3 + 1 + 3 {
		got = append(got, admitOnce(s))
	}
	want := []admit{{ok: true}, {ok: true}, {ok: true}, {code: chat.CodeRateLimited}, {}, {}, {code: "flooding"}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("request %d: %+v, want %+v (all: %+v)", i, got[i], want[i], got)
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
