package chat_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// gatedStore is a memory store whose Append (with no slow rooms) or whose
// History of the slow rooms blocks while the gate is closed: a slow disk,
// a backup holding a lock.
type gatedStore struct {
	*memory.Store
	slowRooms map[string]bool // History of these rooms is gated; Append is when there are none

	mu      sync.Mutex
	closed  bool
	opened  chan struct{}
	entered chan string // "append" or "history:room" each time a call blocks
}

func newGatedStore(slow ...string) *gatedStore {
	g := &gatedStore{Store: memory.New(0), slowRooms: map[string]bool{}, entered: make(chan string, 100)}
	for _, r := range slow {
		g.slowRooms[r] = true
	}
	return g
}

// close makes the gated calls block until open.
func (g *gatedStore) close() {
	g.mu.Lock()
	g.closed, g.opened = true, make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedStore) open() {
	g.mu.Lock()
	if g.closed {
		g.closed = false
		close(g.opened)
	}
	g.mu.Unlock()
}

func (g *gatedStore) wait(what string) {
	g.mu.Lock()
	closed, opened := g.closed, g.opened
	g.mu.Unlock()
	if closed {
		select {
		case g.entered <- what:
		default:
		}
		<-opened
	}
}

func (g *gatedStore) Append(ctx context.Context, msgs []chat.Message) error {
	if len(g.slowRooms) == 0 {
		g.wait("append")
	}
	return g.Store.Append(ctx, msgs)
}

func (g *gatedStore) History(ctx context.Context, q chat.HistoryQuery) ([]chat.Message, error) {
	if g.slowRooms[q.Room] {
		g.wait("history:" + q.Room)
	}
	return g.Store.History(ctx, q)
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStalledStoreFreezesNothing: with Append blocked and the commit queue
// full, new clients register, /who answers, joins work, and a sender is
// told "unavailable" promptly; when the store resumes every accepted
// message is stored and delivered once, in order, and the stall is logged
// once with its recovery.
func TestStalledStoreFreezesNothing(t *testing.T) {
	st := newGatedStore()
	logs := &lockedBuffer{}
	h, err := chat.New(chat.Config{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		CommitQueue: 8, CommitTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.open(); _ = h.Shutdown(context.Background(), "test over") })
	alice, _ := connect(t, h, "alice")
	_, bobSink := connect(t, h, "bob")

	st.close()
	var accepted []string
	var refused error
	for i := 0; i < 100 && refused == nil; i++ {
		text := fmt.Sprintf("m%d", i)
		if refused = alice.Say("", text, ""); refused == nil {
			accepted = append(accepted, text)
		}
		if i == 0 {
			if got := <-st.entered; got != "append" {
				t.Fatalf("blocked in %s", got)
			}
		}
	}
	if chat.ErrorCode(refused) != chat.CodeUnavailable {
		t.Fatalf("a full queue refused with %v, want unavailable", refused)
	}

	// Nothing else waits for the store.
	carol, _ := connect(t, h, "carol") // registers and joins the lobby
	if _, names, err := carol.Who(""); err != nil || strings.Join(names, ",") != "alice,bob,carol" {
		t.Fatalf("who during the stall: %v %v", names, err)
	}
	if err := carol.Join("dev", chat.JoinOptions{}); err != nil {
		t.Fatalf("join during the stall: %v", err)
	}
	if err := carol.Nick("carola"); err != nil {
		t.Fatalf("nick during the stall: %v", err)
	}
	if n := strings.Count(logs.String(), "store stalled"); n != 1 {
		t.Fatalf("stall logged %d times:\n%s", n, logs)
	}

	st.open()
	bobSink.wait(t, "the last accepted message", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindSay && ev.Text == accepted[len(accepted)-1]
	})
	var got []string
	var last uint64
	for _, ev := range bobSink.snapshot() {
		if ev.Kind == chat.KindSay {
			if ev.ID <= last {
				t.Fatalf("id %d after %d", ev.ID, last)
			}
			last = ev.ID
			got = append(got, ev.Text)
		}
	}
	if strings.Join(got, " ") != strings.Join(accepted, " ") {
		t.Fatalf("bob got %v, want %v", got, accepted)
	}
	stored, err := st.Store.History(context.Background(), chat.HistoryQuery{Room: chat.DefaultRoom, Limit: 1000})
	if err != nil || len(stored) != len(accepted) {
		t.Fatalf("stored %d (%v), accepted %d", len(stored), err, len(accepted))
	}
	waitFor(t, "the recovery log", func() bool { return strings.Contains(logs.String(), "store recovered") })
}

// TestSlowReplayDelaysNoOtherRoom: a join whose history query blocks holds
// up that session only: messages in other rooms are delivered meanwhile,
// and the joiner then gets the history, then what happened during the
// replay, with no gap and no duplicate.
func TestSlowReplayDelaysNoOtherRoom(t *testing.T) {
	st := newGatedStore("slow")
	h, err := chat.New(chat.Config{Store: st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.open(); _ = h.Shutdown(context.Background(), "test over") })
	alice, _ := connect(t, h, "alice")
	bob, bobSink := connect(t, h, "bob")
	carol, carolSink := connect(t, h, "carol")
	for _, s := range []*chat.Session{alice, carol} {
		if err := s.Join("slow", chat.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if err := alice.Say("slow", fmt.Sprintf("old %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	carolSink.wait(t, "the old messages", func(ev *chat.Event) bool { return ev.Text == "old 4" })

	st.close()
	joined := make(chan error)
	go func() { joined <- bob.Join("slow", chat.JoinOptions{}) }()
	if got := <-st.entered; got != "history:slow" {
		t.Fatalf("blocked in %s", got)
	}
	// The replay is stuck in the store. Other rooms, and the slow room's
	// other members, are not.
	if err := alice.Say(chat.DefaultRoom, "lobby is live", ""); err != nil {
		t.Fatal(err)
	}
	carolSink.wait(t, "a lobby message during the replay", func(ev *chat.Event) bool { return ev.Text == "lobby is live" })
	if err := alice.Say("slow", "during the replay", ""); err != nil {
		t.Fatal(err)
	}
	carolSink.wait(t, "a slow-room message during the replay", func(ev *chat.Event) bool { return ev.Text == "during the replay" })
	for _, ev := range bobSink.snapshot() {
		if ev.Room == "slow" && ev.Kind != chat.KindJoin {
			t.Fatalf("bob got %v before his replay", ev.Kind) // his own join comes first, nothing else
		}
	}

	st.open()
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, ev := range bobSink.snapshot() {
		if ev.Room != "slow" {
			continue
		}
		switch ev.Kind {
		case chat.KindSay:
			seq = append(seq, ev.Text)
		case chat.KindHistoryEnd, chat.KindJoin:
			seq = append(seq, ev.Kind.String())
		}
	}
	want := "join,old 0,old 1,old 2,old 3,old 4,history_end,during the replay"
	if strings.Join(seq, ",") != want {
		t.Fatalf("bob's slow room:\n got %s\nwant %s", strings.Join(seq, ","), want)
	}
}

// TestReplayOverflowRefetches: when more happens during a replay than the
// hold keeps, the messages are fetched again from the store, in order,
// none lost, and the session is told what else it missed.
func TestReplayOverflowRefetches(t *testing.T) {
	st := newGatedStore("slow")
	h, err := chat.New(chat.Config{Store: st, Logger: quietLogger(), MaxHeldBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.open(); _ = h.Shutdown(context.Background(), "test over") })
	alice, aliceSink := connect(t, h, "alice")
	bob, bobSink := connect(t, h, "bob")
	if err := alice.Join("slow", chat.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	st.close()
	joined := make(chan error)
	go func() { joined <- bob.Join("slow", chat.JoinOptions{}) }()
	<-st.entered
	const n = 200 // far more than 2000 bytes' worth
	for i := range n {
		if err := alice.Say("slow", fmt.Sprintf("live %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	// Fan-out is in order: once alice has a message, bob's hold has been
	// offered it.
	aliceSink.wait(t, "the messages", func(ev *chat.Event) bool { return ev.Text == fmt.Sprintf("live %d", n-1) })
	dave, err := h.Connect(&fakeSink{}, "dave", chat.ClientInfo{}, chat.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dave.Join("slow", chat.JoinOptions{History: -1}); err != nil { // a join bob cannot be shown
		t.Fatal(err)
	}
	if err := alice.Say("slow", fmt.Sprintf("live %d", n), ""); err != nil {
		t.Fatal(err)
	}
	aliceSink.wait(t, "the last message", func(ev *chat.Event) bool { return ev.Text == fmt.Sprintf("live %d", n) })
	st.open()
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	var got []string
	notice := false
	for _, ev := range bobSink.snapshot() {
		if ev.Kind == chat.KindSay && ev.Room == "slow" {
			got = append(got, ev.Text)
		}
		if ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "while history loaded") {
			notice = true
		}
	}
	if len(got) != n+1 {
		t.Fatalf("bob got %d of %d messages", len(got), n+1)
	}
	for i, text := range got {
		if text != fmt.Sprintf("live %d", i) {
			t.Fatalf("message %d is %q", i, text)
		}
	}
	if !notice {
		t.Fatalf("bob was not told that a join happened out of his sight: %s", kinds(bobSink.snapshot()))
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(discard{}, nil)) }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFreedRoomLosesNothing: a room is freed when its last member leaves;
// a message still on its way to it reaches whoever joins the room anew,
// exactly once (not also in the joiner's replay).
func TestFreedRoomLosesNothing(t *testing.T) {
	st := newGatedStore()
	h, err := chat.New(chat.Config{Store: st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.open(); _ = h.Shutdown(context.Background(), "test over") })
	alice, _ := connect(t, h, "alice")
	bob, bobSink := connect(t, h, "bob")
	if err := alice.Join("tmp", chat.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	st.close()
	if err := alice.Say("tmp", "in flight", ""); err != nil {
		t.Fatal(err)
	}
	<-st.entered
	if err := alice.Part("tmp", ""); err != nil {
		t.Fatal(err)
	}
	if rooms, _, _ := h.Rooms("", 0); len(rooms) != 1 {
		t.Fatalf("the empty room was not freed: %+v", rooms)
	}
	if err := bob.Join("tmp", chat.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	st.open()
	bobSink.wait(t, "the message in flight", func(ev *chat.Event) bool { return ev.Text == "in flight" })
	if err := alice.Say("", "sync", ""); err != nil { // in the lobby: after it, nothing more is on its way
		t.Fatal(err)
	}
	bobSink.wait(t, "the sync message", func(ev *chat.Event) bool { return ev.Text == "sync" })
	n := 0
	for _, ev := range bobSink.snapshot() {
		if ev.Text == "in flight" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("bob got the message %d times", n)
	}
}
