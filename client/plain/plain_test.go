package plain

import (
	"testing"
	"time"

	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/wire/native"
)

func TestFormat(t *testing.T) {
	ts := time.Date(2026, 3, 14, 12, 1, 0, 0, time.UTC)
	ev := func(e native.Event) *client.Event {
		if e.Type == "say" || e.Type == "me" || e.Type == "dm" {
			e.TS = &ts
		}
		return &client.Event{Event: e}
	}
	for _, tt := range []struct {
		ev   *client.Event
		want string
	}{
		{ev(native.Event{Type: "say", Room: "lobby", From: "bob", Text: "hi"}), "[12:01] <bob> hi"},
		{ev(native.Event{Type: "say", Room: "dev", From: "bob", Text: "hi"}), "#dev [12:01] <bob> hi"},
		{ev(native.Event{Type: "say", Room: "lobby", From: "alice", Text: "mine"}), ""},
		{ev(native.Event{Type: "say", Room: "lobby", From: "bob", Text: "old", History: true}), "(history) [12:01] <bob> old"},
		{ev(native.Event{Type: "me", Room: "lobby", From: "bob", Text: "waves"}), "[12:01] * bob waves"},
		{ev(native.Event{Type: "dm", From: "bob", To: "alice", Text: "psst"}), "[12:01] *bob* psst"},
		{ev(native.Event{Type: "dm", From: "alice", To: "bob", Text: "hey"}), "[12:01] -> *bob* hey"},
		{ev(native.Event{Type: "say", Room: "lobby", From: "m\x1b[31mallory", Text: "a\nb\x1b]0;t\x07c\u202e"}), "[12:01] <mallory> a bc"},
		{ev(native.Event{Type: "join", Room: "lobby", Name: "bob"}), "-- bob joined lobby"},
		{ev(native.Event{Type: "join", Room: "dev", Name: "alice"}), "-- you joined dev"},
		{ev(native.Event{Type: "nick", Old: "bob", Name: "robert"}), "-- bob is now known as robert"},
		{ev(native.Event{Type: "error", Code: "name_taken", Message: "the name \"x\" is taken"}), "! the name \"x\" is taken"},
		{ev(native.Event{Type: "history_end", Room: "lobby", Text: "history_gone"}), "-- older messages of lobby are no longer kept; some were missed"},
		{ev(native.Event{Type: "pong"}), ""},
		{&client.Event{Event: native.Event{Type: client.TypeState}, State: client.StateDisconnected, RetryIn: 1500 * time.Millisecond}, "-- disconnected from 127.0.0.1:1234; retrying in 1.5s"},
	} {
		if got := Format(tt.ev, "alice", "lobby", time.UTC, "127.0.0.1:1234"); got != tt.want {
			t.Errorf("Format(%s %q) = %q, want %q", tt.ev.Type, tt.ev.Text, got, tt.want)
		}
	}
}
