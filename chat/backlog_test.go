package chat_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// TestBacklog: what a lagging session reads from the store is what it was
// meant to get: the messages of its rooms since it joined each, of a room
// it left up to when it left, its direct messages, its own marked as own;
// and, where retention deleted some it had not been sent, a history_gone
// note first, once.
func TestBacklog(t *testing.T) {
	h, err := chat.New(chat.Config{Store: memory.New(20), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	lagger, sink := connect(t, h, "lagger")
	writer, writerSink := connect(t, h, "writer")
	say := func(s *chat.Session, room, text string) {
		t.Helper()
		if err := s.Say(room, text, ""); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(text string) uint64 {
		t.Helper()
		say(writer, chat.DefaultRoom, text)
		return writerSink.wait(t, text, func(ev *chat.Event) bool { return ev.Text == text }).ID
	}
	say(writer, "", "before")
	cursor := sync("cursor") // the lagger is assumed to have been written up to here
	for _, r := range []string{"old", "new"} {
		for _, s := range []*chat.Session{writer} {
			if err := s.Join(r, chat.JoinOptions{History: -1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := lagger.Join("old", chat.JoinOptions{History: -1}); err != nil {
		t.Fatal(err)
	}
	say(writer, "old", "in old while there")
	say(writer, "lobby", "in the lobby")
	if err := writer.DM("lagger", "a dm", ""); err != nil {
		t.Fatal(err)
	}
	say(lagger, "old", "lagger's own")
	sync("settle")
	if err := lagger.Part("old", ""); err != nil {
		t.Fatal(err)
	}
	say(writer, "old", "in old after leaving")
	if err := lagger.Join("new", chat.JoinOptions{History: -1}); err != nil {
		t.Fatal(err)
	}
	say(writer, "new", "in new")
	sync("end")
	_ = sink

	evs, err := lagger.Backlog(cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		s := ev.Text
		if ev.Session == lagger.ID() {
			s += " (own)"
		}
		got = append(got, s)
	}
	want := "in old while there, in the lobby, a dm, lagger's own (own), settle, in new, end"
	if strings.Join(got, ", ") != want {
		t.Fatalf("backlog:\n got %s\nwant %s", strings.Join(got, ", "), want)
	}

	// Retention deletes what the lagger has not been sent: it is told once.
	for i := range 30 {
		say(writer, chat.DefaultRoom, fmt.Sprint("flood ", i))
	}
	sync("after the flood")
	evs, err = lagger.Backlog(cursor, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Kind != chat.KindHistoryEnd || evs[0].Room != chat.DefaultRoom || evs[0].Text != string(chat.CodeHistoryGone) {
		t.Fatalf("first event %+v, want a history_gone note for the lobby", evs[0])
	}
	evs, _ = lagger.Backlog(cursor, 5)
	for _, ev := range evs {
		if ev.Kind == chat.KindHistoryEnd && ev.Room == chat.DefaultRoom {
			t.Fatal("the same loss was told twice")
		}
	}
}
