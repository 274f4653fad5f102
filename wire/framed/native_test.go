package framed_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

func text(s string) *string { return &s }

// welcomed dials a native client and waits for its welcome and lobby join.
func welcomed(t *testing.T, n *node.Node, name string) *testkit.Native {
	t.Helper()
	c := testkit.DialNative(t, n.Addr("frame"), name)
	w := c.ExpectType("welcome")
	if w.Name != name || w.Version != native.Version || w.Server == "" {
		t.Fatalf("welcome = %+v", w)
	}
	c.Expect("own join", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == name })
	return c
}

func TestNativeSayEchoAndFanOut(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := welcomed(t, n, "alice")
	bob := welcomed(t, n, "bob")
	alice.Expect("bob's join", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "bob" })

	alice.Send(native.Request{Type: "say", Room: "lobby", Text: text("hello 🌸"), Ref: "r1"})
	echo := alice.ExpectType("say")
	if echo.Ref != "r1" || echo.ID == 0 || echo.TS == nil || echo.From != "alice" || echo.Text != "hello 🌸" {
		t.Fatalf("echo = %+v", echo)
	}
	got := bob.ExpectType("say")
	if got.ID != echo.ID || got.Ref != "" || got.Text != "hello 🌸" || got.Room != "lobby" {
		t.Fatalf("bob got %+v (echo %+v)", got, echo)
	}
	// Ids increase.
	alice.Send(native.Request{Type: "me", Text: text("waves")})
	me := bob.ExpectType("me")
	if me.ID <= got.ID || me.Text != "waves" {
		t.Fatalf("me = %+v", me)
	}
}

func TestNativeRequests(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := welcomed(t, n, "alice")
	bob := welcomed(t, n, "bob")

	tests := []struct {
		name  string
		from  *testkit.Native
		req   native.Request
		check func(t *testing.T)
	}{
		{"join", alice, native.Request{Type: "join", Room: "#Dev"}, func(t *testing.T) {
			alice.Expect("join dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" && ev.Name == "alice" })
		}},
		{"topic set", alice, native.Request{Type: "topic", Room: "dev", Text: text("parley internals")}, func(t *testing.T) {
			ev := alice.ExpectType("topic")
			if ev.Text != "parley internals" || ev.From != "alice" {
				t.Fatalf("topic = %+v", ev)
			}
		}},
		{"topic query", alice, native.Request{Type: "topic", Room: "dev", Ref: "q"}, func(t *testing.T) {
			ev := alice.ExpectType("topic")
			if ev.Text != "parley internals" || ev.Ref != "q" {
				t.Fatalf("topic = %+v", ev)
			}
		}},
		{"who", alice, native.Request{Type: "who", Room: "lobby", Ref: "w"}, func(t *testing.T) {
			ev := alice.ExpectType("members")
			if strings.Join(ev.Members, ",") != "alice,bob" || ev.Ref != "w" {
				t.Fatalf("members = %+v", ev)
			}
		}},
		{"rooms", alice, native.Request{Type: "rooms"}, func(t *testing.T) {
			ev := alice.ExpectType("rooms")
			if len(ev.Rooms) != 2 || ev.Rooms[0].Name != "dev" || ev.Rooms[0].Topic != "parley internals" || ev.Rooms[1].Members != 2 {
				t.Fatalf("rooms = %+v", ev.Rooms)
			}
		}},
		{"dm", alice, native.Request{Type: "dm", To: "BOB", Text: text("psst"), Ref: "d"}, func(t *testing.T) {
			ev := bob.ExpectType("dm")
			if ev.From != "alice" || ev.To != "bob" || ev.Text != "psst" || ev.ID == 0 {
				t.Fatalf("dm = %+v", ev)
			}
			if echo := alice.ExpectType("dm"); echo.Ref != "d" {
				t.Fatalf("dm echo = %+v", echo)
			}
		}},
		{"nick", bob, native.Request{Type: "nick", Name: "robert"}, func(t *testing.T) {
			ev := alice.ExpectType("nick")
			if ev.Old != "bob" || ev.Name != "robert" {
				t.Fatalf("nick = %+v", ev)
			}
		}},
		{"nick taken case-insensitively", bob, native.Request{Type: "nick", Name: "ALICE", Ref: "n"}, func(t *testing.T) {
			ev := bob.ExpectType("error")
			if ev.Code != "name_taken" || ev.Ref != "n" {
				t.Fatalf("error = %+v", ev)
			}
		}},
		{"part", alice, native.Request{Type: "part", Room: "dev", Reason: "bye"}, func(t *testing.T) {
			ev := alice.ExpectType("part")
			if ev.Room != "dev" || ev.Reason != "bye" {
				t.Fatalf("part = %+v", ev)
			}
		}},
		{"say to a room not joined", alice, native.Request{Type: "say", Room: "dev", Text: text("x"), Ref: "s"}, func(t *testing.T) {
			if ev := alice.ExpectType("error"); ev.Code != "not_member" || ev.Ref != "s" {
				t.Fatalf("error = %+v", ev)
			}
		}},
		{"command", alice, native.Request{Type: "command", Text: text("/who lobby"), Ref: "c"}, func(t *testing.T) {
			if ev := alice.ExpectType("members"); ev.Ref != "c" || len(ev.Members) != 2 {
				t.Fatalf("members = %+v", ev)
			}
		}},
		{"ping", alice, native.Request{Type: "ping", Ref: "p"}, func(t *testing.T) {
			if ev := alice.ExpectType("pong"); ev.Ref != "p" {
				t.Fatalf("pong = %+v", ev)
			}
		}},
		{"unknown type", alice, native.Request{Type: "frobnicate"}, func(t *testing.T) {
			if ev := alice.ExpectType("error"); ev.Code != "unknown_type" {
				t.Fatalf("error = %+v", ev)
			}
		}},
		{"empty message", alice, native.Request{Type: "say", Text: text(" \x1b ")}, func(t *testing.T) {
			if ev := alice.ExpectType("error"); ev.Code != "empty" {
				t.Fatalf("error = %+v", ev)
			}
		}},
		{"second hello", alice, native.Request{Type: "hello", Name: "x"}, func(t *testing.T) {
			if ev := alice.ExpectType("error"); ev.Code != "invalid" {
				t.Fatalf("error = %+v", ev)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.from.Send(tt.req)
			tt.check(t)
		})
	}
}

func TestNativeBadInput(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := welcomed(t, n, "alice")
	for _, tt := range []struct{ name, payload, code string }{
		{"not json", "{nope", "invalid"},
		{"wrong types", `{"type":"say","text":42}`, "invalid"},
		{"no type", `{"text":"hi"}`, "invalid"},
		{"deeply nested", `{"type":"say","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			alice.SendRaw([]byte(tt.payload))
			if ev := alice.ExpectType("error"); ev.Code != tt.code {
				t.Fatalf("error = %+v", ev)
			}
		})
	}
	// Still works.
	alice.Send(native.Request{Type: "ping", Ref: "alive"})
	alice.ExpectType("pong")
}

func TestNativeHelloRetry(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	welcomed(t, n, "alice")
	c := testkit.DialNative(t, n.Addr("frame"), "Alice")
	if ev := c.ExpectType("error"); ev.Code != "name_taken" {
		t.Fatalf("error = %+v", ev)
	}
	c.Send(native.Request{Type: "hello", Name: "server"})
	if ev := c.ExpectType("error"); ev.Code != "name_reserved" {
		t.Fatalf("error = %+v", ev)
	}
	c.Send(native.Request{Type: "hello", Name: "alice2", Version: 1})
	if ev := c.ExpectType("welcome"); ev.Name != "alice2" {
		t.Fatalf("welcome = %+v", ev)
	}
}

func TestNativeMixedWithTutorial(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	nat := welcomed(t, n, "nat")
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	nat.Expect("tut joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "tut" })
	tut.Send("from tutorial")
	if ev := nat.ExpectType("say"); ev.From != "tut" || ev.Text != "from tutorial" {
		t.Fatalf("say = %+v", ev)
	}
	nat.Send(native.Request{Type: "say", Text: text("from native")})
	tut.Expect("nat", "from native")
}

// TestNativeReplies: the replies of typed requests and of /commands are the
// same events (one command table), stamped by the hub's clock; a join with
// "after" for a room the client is already in replays what is after it; a
// full history page says "more".
func TestNativeReplies(t *testing.T) {
	clock := testkit.NewClock()
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Now: clock.Now}})
	alice := welcomed(t, n, "alice")
	alice.Send(native.Request{Type: "topic", Room: "lobby", Text: text("release friday")})
	alice.ExpectType("topic")

	alice.Send(native.Request{Type: "topic", Room: "lobby", Ref: "typed"})
	typed := alice.Expect("typed reply", func(ev native.Event) bool { return ev.Ref == "typed" })
	alice.Send(native.Request{Type: "command", Text: text("/topic"), Ref: "cmd"})
	cmd := alice.Expect("command reply", func(ev native.Event) bool { return ev.Ref == "cmd" })
	for _, ev := range []native.Event{typed, cmd} {
		if ev.Type != "topic" || ev.Text != "release friday" || ev.From != "alice" || ev.TS == nil || !ev.TS.Equal(clock.Now()) {
			t.Fatalf("topic reply %+v, want a topic event at %v", ev, clock.Now())
		}
	}

	var ids []uint64
	for i := range 3 {
		alice.Send(native.Request{Type: "say", Text: text(fmt.Sprint("m", i)), Ref: fmt.Sprint("s", i)})
		ids = append(ids, alice.Expect("echo", func(ev native.Event) bool { return ev.Type == "say" && ev.Ref == fmt.Sprint("s", i) }).ID)
	}
	alice.Send(native.Request{Type: "join", Room: "lobby", After: ids[0], Ref: "resume"})
	var replayed []uint64
	for {
		ev := alice.Expect("replay", func(ev native.Event) bool { return ev.History })
		if ev.Type == "history_end" {
			break
		}
		replayed = append(replayed, ev.ID)
	}
	if fmt.Sprint(replayed) != fmt.Sprint(ids[1:]) {
		t.Fatalf("join after %d in a joined room replayed %v, want %v", ids[0], replayed, ids[1:])
	}

	alice.Send(native.Request{Type: "history", Room: "lobby", Limit: 2, Ref: "page"})
	end := alice.Expect("page end", func(ev native.Event) bool { return ev.Type == "history_end" && ev.Ref == "page" })
	if end.Text != native.More {
		t.Fatalf("a full page ended with %q, want %q", end.Text, native.More)
	}
	alice.Send(native.Request{Type: "history", Room: "lobby", Limit: 50, Ref: "all"})
	end = alice.Expect("page end", func(ev native.Event) bool { return ev.Type == "history_end" && ev.Ref == "all" })
	if end.Text != "" {
		t.Fatalf("a short page ended with %q", end.Text)
	}
}
