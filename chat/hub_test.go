package chat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// fakeSink records what a session is sent.
type fakeSink struct {
	mu     sync.Mutex
	events []*chat.Event
}

func (f *fakeSink) Deliver(ev *chat.Event) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
}

func (f *fakeSink) snapshot() []*chat.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*chat.Event(nil), f.events...)
}

// wait polls until some event matches.
func (f *fakeSink) wait(t *testing.T, what string, match func(*chat.Event) bool) *chat.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range f.snapshot() {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %s among %d events", what, len(f.snapshot()))
	return nil
}

func newHub(t *testing.T) *chat.Hub {
	t.Helper()
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	return h
}

func connect(t *testing.T, h *chat.Hub, name string) (*chat.Session, *fakeSink) {
	t.Helper()
	sink := &fakeSink{}
	s, err := h.Connect(sink, name, chat.ClientInfo{Protocol: "test"}, chat.JoinOptions{})
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	return s, sink
}

func TestHubWelcomeThenJoin(t *testing.T) {
	h := newHub(t)
	_, sink := connect(t, h, "alice")
	evs := sink.snapshot()
	if len(evs) < 2 || evs[0].Kind != chat.KindWelcome || evs[0].Welcome.Name != "alice" {
		t.Fatalf("first events: %v", kinds(evs))
	}
	// The join comes first, then the lobby's history.
	if evs[1].Kind != chat.KindJoin || evs[1].Room != chat.DefaultRoom || evs[len(evs)-1].Kind != chat.KindHistoryEnd {
		t.Fatalf("events: %v", kinds(evs))
	}
}

func kinds(evs []*chat.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Kind.String() + " ")
	}
	return b.String()
}

func TestHubNameUniqueness(t *testing.T) {
	h := newHub(t)
	alice, _ := connect(t, h, "Chloé")
	for _, name := range []string{"chloé", "CHLOÉ", "Chloe\u0301"} {
		if _, err := h.Connect(&fakeSink{}, name, chat.ClientInfo{}, chat.JoinOptions{}); chat.ErrorCode(err) != chat.CodeNameTaken {
			t.Errorf("Connect(%q) = %v, want name_taken", name, err)
		}
	}
	alice.Leave("bye")
	if _, err := h.Connect(&fakeSink{}, "CHLOÉ", chat.ClientInfo{}, chat.JoinOptions{}); err != nil {
		t.Fatalf("name not freed after leave: %v", err)
	}
}

// TestHubOrderUnderConcurrency: many senders at once; every member sees
// every message, in id order, and each sender's messages in send order.
func TestHubOrderUnderConcurrency(t *testing.T) {
	h := newHub(t)
	const senders, each = 8, 200
	var sessions []*chat.Session
	var sinks []*fakeSink
	for i := range senders {
		s, sink := connect(t, h, fmt.Sprintf("user%d", i))
		sessions = append(sessions, s)
		sinks = append(sinks, sink)
	}
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := s.Say("", fmt.Sprintf("%d:%d", i, j), ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, sink := range sinks {
		var got []*chat.Event
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < senders*each && time.Now().Before(deadline) {
			got = got[:0]
			for _, ev := range sink.snapshot() {
				if ev.Kind == chat.KindSay {
					got = append(got, ev)
				}
			}
		}
		if len(got) != senders*each {
			t.Fatalf("sink %d got %d messages, want %d", i, len(got), senders*each)
		}
		next := make([]int, senders)
		for k, ev := range got {
			if k > 0 && ev.ID <= got[k-1].ID {
				t.Fatalf("ids out of order: %d after %d", ev.ID, got[k-1].ID)
			}
			var from, seq int
			fmt.Sscanf(ev.Text, "%d:%d", &from, &seq)
			if seq != next[from] {
				t.Fatalf("sender %d: got seq %d, want %d", from, seq, next[from])
			}
			next[from]++
		}
	}
}

func TestHubCommands(t *testing.T) {
	h := newHub(t)
	alice, as := connect(t, h, "alice")
	bob, bs := connect(t, h, "bob")
	exec := func(s *chat.Session, line string) error { return s.Exec(line, "ref") }

	if err := exec(alice, "/join dev"); err != nil {
		t.Fatal(err)
	}
	if alice.Current() != "dev" {
		t.Fatalf("current = %q", alice.Current())
	}
	if err := exec(alice, "hello dev"); err != nil {
		t.Fatal(err)
	}
	as.wait(t, "say in dev", func(ev *chat.Event) bool { return ev.Kind == chat.KindSay && ev.Room == "dev" })
	if err := exec(bob, "/msg ALICE hi"); err != nil {
		t.Fatal(err)
	}
	as.wait(t, "dm", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.From == "bob" && ev.To == "alice" })
	if err := exec(bob, "/msg nobody hi"); chat.ErrorCode(err) != chat.CodeNoSuchUser {
		t.Fatalf("dm to nobody: %v", err)
	}
	if err := exec(bob, "/nick alice"); chat.ErrorCode(err) != chat.CodeNameTaken {
		t.Fatalf("nick taken: %v", err)
	}
	if err := exec(bob, "/nick bobby"); err != nil {
		t.Fatal(err)
	}
	as.wait(t, "nick", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNick && ev.OldName == "bob" && ev.Name == "bobby"
	})
	if err := exec(bob, "/who lobby"); err != nil {
		t.Fatal(err)
	}
	bs.wait(t, "members", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindMembers && strings.Join(ev.Members, ",") == "alice,bobby" && ev.Ref == "ref"
	})
	if err := exec(bob, "/part"); err != nil {
		t.Fatal(err)
	}
	if err := exec(bob, "hello?"); chat.ErrorCode(err) != chat.CodeNotMember {
		t.Fatalf("say with no room: %v", err)
	}
	if err := exec(bob, "/bogus"); chat.ErrorCode(err) != chat.CodeUnknownCommand {
		t.Fatalf("bogus: %v", err)
	}
	if err := exec(bob, "/msg"); chat.ErrorCode(err) != chat.CodeInvalid {
		t.Fatalf("msg without args: %v", err)
	}
	if err := exec(bob, "/help"); err != nil {
		t.Fatal(err)
	}
	bs.wait(t, "help", func(ev *chat.Event) bool { return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "/topic") })
	if err := exec(bob, "/join lobby"); err != nil {
		t.Fatal(err)
	}
	if err := exec(bob, "/quit done"); err != nil {
		t.Fatal(err)
	}
	if !bob.Closed() {
		t.Fatal("bob still open after /quit")
	}
	bs.wait(t, "bye", func(ev *chat.Event) bool { return ev.Kind == chat.KindBye })
	as.wait(t, "part with reason", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindPart && ev.Name == "bobby" && ev.Reason == "quit: done"
	})
}

func TestHubShutdownDrains(t *testing.T) {
	store := memory.New(0)
	h, err := chat.New(chat.Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s, sink := connect(t, h, "alice")
	for i := range 500 {
		if err := s.Say("", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Shutdown(context.Background(), "maintenance"); err != nil {
		t.Fatal(err)
	}
	evs := sink.snapshot()
	says := 0
	for _, ev := range evs {
		if ev.Kind == chat.KindSay {
			says++
		}
	}
	if says != 500 || evs[len(evs)-1].Kind != chat.KindBye || evs[len(evs)-1].Reason != "maintenance" {
		t.Fatalf("after shutdown: %d says, last %v", says, evs[len(evs)-1].Kind)
	}
	if err := s.Say("", "late", ""); chat.ErrorCode(err) != chat.CodeShutdown {
		t.Fatalf("say after shutdown: %v", err)
	}
	if _, err := h.Connect(&fakeSink{}, "bob", chat.ClientInfo{}, chat.JoinOptions{}); chat.ErrorCode(err) != chat.CodeShutdown {
		t.Fatalf("connect after shutdown: %v", err)
	}
	msgs, _ := store.History(context.Background(), chat.HistoryQuery{Room: chat.DefaultRoom, Limit: 1000})
	if len(msgs) != 500 {
		t.Fatalf("stored %d, want 500", len(msgs))
	}
}

func TestHubHistoryOnJoin(t *testing.T) {
	h := newHub(t)
	alice, _ := connect(t, h, "alice")
	for i := range 60 {
		_ = alice.Say("", fmt.Sprint("m", i), "")
	}
	_, sink := connect(t, h, "bob")
	sink.wait(t, "history end", func(ev *chat.Event) bool { return ev.Kind == chat.KindHistoryEnd })
	var hist []*chat.Event
	for _, ev := range sink.snapshot() {
		if ev.History && ev.Kind == chat.KindSay {
			hist = append(hist, ev)
		}
	}
	// The 60 messages may still be in flight when bob joins: whatever was
	// not replayed arrives live, with no gap and no duplicate.
	sink.wait(t, "last message", func(ev *chat.Event) bool { return ev.Kind == chat.KindSay && ev.Text == "m59" })
	var all []string
	for _, ev := range sink.snapshot() {
		if ev.Kind == chat.KindSay {
			all = append(all, ev.Text)
		}
	}
	if len(hist) > chat.DefaultHistoryOnJoin {
		t.Fatalf("replayed %d", len(hist))
	}
	for i := 1; i < len(all); i++ {
		var a, b int
		fmt.Sscanf(all[i-1], "m%d", &a)
		fmt.Sscanf(all[i], "m%d", &b)
		if b != a+1 {
			t.Fatalf("gap or duplicate: %v", all)
		}
	}
}

func TestHubAnnounceLimit(t *testing.T) {
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AnnounceLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	count := func(sink *fakeSink, kind chat.Kind, name string) int {
		n := 0
		for _, ev := range sink.snapshot() {
			if ev.Kind == kind && ev.Name == name {
				n++
			}
		}
		return n
	}
	a, sa := connect(t, h, "a")
	_, sb := connect(t, h, "b")
	c, sc := connect(t, h, "c")
	// Up to the limit (3 members), joins are announced to everyone.
	if count(sa, chat.KindJoin, "c") != 1 || count(sb, chat.KindJoin, "c") != 1 {
		t.Fatalf("join of c (3 members) not announced: a %s, b %s", kinds(sa.snapshot()), kinds(sb.snapshot()))
	}
	// The fourth member is over the limit: only it sees its join.
	d, sd := connect(t, h, "d")
	if count(sd, chat.KindJoin, "d") != 1 {
		t.Fatalf("d did not see its own join: %s", kinds(sd.snapshot()))
	}
	for name, sink := range map[string]*fakeSink{"a": sa, "b": sb, "c": sc} {
		if count(sink, chat.KindJoin, "d") != 0 {
			t.Errorf("join of d (4 members) announced to %s", name)
		}
	}
	// The member list is complete.
	if _, names, err := a.Who(""); err != nil || strings.Join(names, ",") != "a,b,c,d" {
		t.Fatalf("who: %v %v", names, err)
	}
	// A part from a room over the limit is told to the one leaving only.
	if err := d.Part("", "bye"); err != nil {
		t.Fatal(err)
	}
	if count(sd, chat.KindPart, "d") != 1 || count(sa, chat.KindPart, "d") != 0 {
		t.Fatalf("part of d: d %s, a %s", kinds(sd.snapshot()), kinds(sa.snapshot()))
	}
	d.Leave("gone")
	_, se := connect(t, h, "e") // a, b, c, e: over the limit again
	if count(sa, chat.KindJoin, "e") != 0 || count(se, chat.KindJoin, "e") != 1 {
		t.Fatalf("join of e: a %s, e %s", kinds(sa.snapshot()), kinds(se.snapshot()))
	}
	a.Leave("gone") // the room had 4 members counting a: not announced
	if count(sb, chat.KindPart, "a") != 0 {
		t.Fatalf("quit of a (4 members) announced to b: %s", kinds(sb.snapshot()))
	}
	c.Leave("gone") // b, c, e: at the limit, announced
	if count(sb, chat.KindPart, "c") != 1 || count(se, chat.KindPart, "c") != 1 {
		t.Fatalf("quit of c (3 members) not announced: b %s, e %s", kinds(sb.snapshot()), kinds(se.snapshot()))
	}
}

func TestHubAnnounceAlways(t *testing.T) {
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AnnounceLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	_, first := connect(t, h, "u0")
	for i := 1; i <= chat.DefaultAnnounceLimit+1; i++ {
		connect(t, h, fmt.Sprintf("u%d", i))
	}
	n := 0
	for _, ev := range first.snapshot() {
		if ev.Kind == chat.KindJoin {
			n++
		}
	}
	if want := chat.DefaultAnnounceLimit + 2; n != want {
		t.Fatalf("u0 saw %d joins, want %d (every join, with the limit off)", n, want)
	}
}

// TestDMHistoryNotInherited: a name is not an account; whoever takes a
// name after its holder left cannot read the holder's direct messages.
func TestDMHistoryNotInherited(t *testing.T) {
	h := newHub(t)
	alice, as := connect(t, h, "alice")
	bob, _ := connect(t, h, "bob")
	if err := bob.DM("alice", "for alice only", ""); err != nil {
		t.Fatal(err)
	}
	as.wait(t, "dm", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM })
	if msgs, err := alice.History(chat.HistoryQuery{}); err != nil || len(msgs) != 1 {
		t.Fatalf("alice's own DM history = %v, %v", msgs, err)
	}
	alice.Leave("bye")
	mallory, _ := connect(t, h, "ALICE")
	if msgs, err := mallory.History(chat.HistoryQuery{}); err != nil || len(msgs) != 0 {
		t.Fatalf("the next holder of the name read %d DMs (%v)", len(msgs), err)
	}
	// Renaming into a freed name does not open it either.
	carol, _ := connect(t, h, "carol")
	if err := bob.DM("carol", "for carol", ""); err != nil {
		t.Fatal(err)
	}
	carol.Leave("bye")
	if err := bob.Nick("carol"); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := bob.History(chat.HistoryQuery{}); len(msgs) != 0 {
		t.Fatalf("renamed into carol and read %d DMs", len(msgs))
	}
}

// TestResumeCutShort: a resume longer than MaxResume replays the oldest
// MaxResume messages and says "more"; paging with History gets the rest.
func TestResumeCutShort(t *testing.T) {
	h, err := chat.New(chat.Config{Store: memory.New(0), MaxResume: 5, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	alice, as := connect(t, h, "alice")
	for i := range 20 {
		_ = alice.Say("", fmt.Sprint("m", i), "")
	}
	as.wait(t, "last", func(ev *chat.Event) bool { return ev.Text == "m19" })
	var first uint64
	for _, ev := range as.snapshot() {
		if ev.Text == "m0" {
			first = ev.ID
		}
	}
	sink := &fakeSink{}
	bob, err := h.Connect(sink, "bob", chat.ClientInfo{}, chat.JoinOptions{After: first})
	if err != nil {
		t.Fatal(err)
	}
	end := sink.wait(t, "history end", func(ev *chat.Event) bool { return ev.Kind == chat.KindHistoryEnd })
	var got []string
	var last uint64
	for _, ev := range sink.snapshot() {
		if ev.Kind == chat.KindSay {
			got = append(got, ev.Text)
			last = ev.ID
		}
	}
	if end.Text != "more" || strings.Join(got, ",") != "m1,m2,m3,m4,m5" {
		t.Fatalf("resume gave %v then %q", got, end.Text)
	}
	rest, err := bob.History(chat.HistoryQuery{Room: "lobby", After: last, FromOldest: true})
	if err != nil || len(rest) != 14 || rest[0].Text != "m6" || rest[13].Text != "m19" {
		t.Fatalf("paging after the resume: %d messages, %v", len(rest), err)
	}
}

func TestSessionManyRooms(t *testing.T) {
	h := newHub(t)
	s, _ := connect(t, h, "roamer")
	var want []string
	for i := 0; i < 40; i++ {
		room := fmt.Sprintf("r%02d", i)
		if err := s.Join(room, chat.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, room)
	}
	want = append(want, chat.DefaultRoom)
	if got := strings.Join(s.Joined(), ","); got != strings.Join(slices.Sorted(slices.Values(want)), ",") {
		t.Fatalf("joined %s", got)
	}
	for i := 0; i < 40; i += 2 { // leave every other room, crossing back under the index threshold
		if err := s.Part(fmt.Sprintf("r%02d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		err := s.Say(fmt.Sprintf("r%02d", i), "hi", "")
		if (i%2 == 0) != (err != nil) {
			t.Fatalf("say in r%02d: %v", i, err)
		}
	}
	if n := len(s.Joined()); n != 21 {
		t.Fatalf("in %d rooms, want 21", n)
	}
}

// TestLookAlikeNamesAreOneName: a name whose confusable skeleton matches a
// name in use is refused, at registration and on /nick, and a direct
// message to a look-alike reaches the one holder.
func TestLookAlikeNamesAreOneName(t *testing.T) {
	h := newHub(t)
	_, aceSink := connect(t, h, "ace")
	cyrillic := "\u0430\u0441\u0435" // асе: all Cyrillic, so not mixed, but it looks like "ace"
	if _, err := h.Register(&fakeSink{}, cyrillic, chat.ClientInfo{}); chat.ErrorCode(err) != chat.CodeNameTaken {
		t.Fatalf("registering %q beside ace: %v", cyrillic, err)
	}
	bob, _ := connect(t, h, "bob")
	if err := bob.Nick("ACE"); chat.ErrorCode(err) != chat.CodeNameTaken {
		t.Fatalf("nick ACE: %v", err)
	}
	if err := bob.Nick("rnodern"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Register(&fakeSink{}, "modern", chat.ClientInfo{}); chat.ErrorCode(err) != chat.CodeNameTaken {
		t.Fatalf("modern beside rnodern: %v", err)
	}
	if err := bob.DM(cyrillic, "psst", ""); err != nil {
		t.Fatal(err)
	}
	aceSink.wait(t, "the DM", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.Text == "psst" && ev.To == "ace" })
	// The name is free again once its holder has gone.
	bob.Leave("bye")
	if _, err := h.Register(&fakeSink{}, "modern", chat.ClientInfo{}); err != nil {
		t.Fatalf("modern after rnodern left: %v", err)
	}
}
