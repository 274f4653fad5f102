package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/native"
)

func text(s string) *string { return &s }

// TestWebSocketNative: /ws speaks the native protocol, one event per text
// message, with the same events as the framed port: echo with id and ref,
// fan-out to other protocols, joins, topics, members, rooms, history,
// ping, DMs and quit.
func TestWebSocketNative(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	http := n.Addr(node.ListenHTTP)
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	testkit.WaitMembers(t, n, "lobby", 1)
	alice := testkit.DialWS(t, http, "", "alice")
	if w := alice.ExpectType("welcome"); w.Name != "alice" || w.Version != native.Version {
		t.Fatalf("welcome %+v", w)
	}
	alice.Expect("own join", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "alice" })
	bob := testkit.DialWS(t, http, "", "bob")
	bob.ExpectType("welcome")

	alice.Send(native.Request{Type: "say", Text: text("hello from a browser"), Ref: "r1"})
	echo := alice.Expect("echo", func(ev native.Event) bool { return ev.Ref == "r1" })
	if echo.Type != "say" || echo.ID == 0 || echo.TS == nil {
		t.Fatalf("echo %+v", echo)
	}
	tut.Expect("alice", "hello from a browser")
	got := bob.Expect("alice's message", func(ev native.Event) bool { return ev.Type == "say" })
	if got.ID != echo.ID || got.Ref != "" {
		t.Fatalf("bob got %+v", got)
	}
	tut.Send("hi browsers")
	bob.Expect("tut's message", func(ev native.Event) bool { return ev.Type == "say" && ev.From == "tut" && ev.Text == "hi browsers" })

	for _, tt := range []struct {
		req  native.Request
		want string
	}{
		{native.Request{Type: "join", Room: "dev"}, "join"},
		{native.Request{Type: "topic", Room: "dev", Text: text("web")}, "topic"},
		{native.Request{Type: "who", Room: "lobby"}, "members"},
		{native.Request{Type: "rooms"}, "rooms"},
		{native.Request{Type: "history", Room: "lobby", Limit: 10}, "history_end"},
		{native.Request{Type: "ping"}, "pong"},
		{native.Request{Type: "dm", To: "bob", Text: text("psst")}, "dm"},
		{native.Request{Type: "command", Text: text("/nope")}, "error"},
	} {
		ref := "q" + tt.req.Type
		tt.req.Ref = ref
		alice.Send(tt.req)
		match := func(ev native.Event) bool { return ev.Ref == ref && (ev.Type == tt.want || ev.Type == "error") }
		if tt.req.Type == "join" || tt.req.Type == "topic" { // told to the whole room: no ref
			match = func(ev native.Event) bool { return ev.Type == tt.want && ev.Room == tt.req.Room }
		}
		if ev := alice.Expect(tt.req.Type+" reply", match); ev.Type != tt.want {
			t.Fatalf("%s: reply %+v, want a %s", tt.req.Type, ev, tt.want)
		}
	}
	bob.Expect("the DM", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "psst" })
	alice.Send(native.Request{Type: "quit", Reason: "done"})
	alice.ExpectType("bye")
	tut.ExpectNotice("alice left lobby (quit: done)")
}

// TestWebSocketResume: a browser that loses its connection resumes from
// the last id it saw and gets exactly what it missed.
func TestWebSocketResume(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	httpAddr := n.Addr(node.ListenHTTP)
	w := testkit.DialWS(t, httpAddr, "", "wes")
	w.ExpectType("welcome")
	watcher := testkit.DialNative(t, n.Addr("frame"), "watcher")
	watcher.ExpectType("welcome")
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	tut.Send("one")
	last := w.Expect("one", func(ev native.Event) bool { return ev.Text == "one" }).ID
	_ = w.Conn.CloseNow()
	testkit.WaitMembers(t, n, "lobby", 2)
	tut.Send("two")
	tut.Send("three")
	watcher.Expect("three delivered, so stored", func(ev native.Event) bool { return ev.Text == "three" })
	again := testkit.DialWS(t, httpAddr, "", "")
	again.Send(native.Request{Type: "hello", Name: "wes", Version: 1, Since: map[string]uint64{"lobby": last}})
	var got []string
	for {
		ev, err := again.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "say" {
			got = append(got, ev.Text)
		}
		if ev.Type == "history_end" {
			break
		}
	}
	if strings.Join(got, ",") != "two,three" {
		t.Fatalf("after the resume: %v, want two,three", got)
	}
}

// TestWebSocketHostile: a binary message, invalid UTF-8 and an oversized
// message each get an error and a close; a JSON bomb gets an error and the
// connection stays; a page from another origin is refused unless allowed;
// the connection limits hold; nothing else is affected.
func TestWebSocketHostile(t *testing.T) {
	n := testkit.StartNode(t, node.Config{HTTPAllowedOrigins: []string{"friend.example"},
		Server: server.Options{MaxFrameBytes: 4096, HandshakeTimeout: 300 * time.Millisecond}})
	httpAddr := n.Addr(node.ListenHTTP)
	watcher := testkit.DialTutorial(t, n.Addr("frame"), "watcher")
	testkit.WaitMembers(t, n, "lobby", 1)

	closedWith := func(w *testkit.WS) (native.Event, error) {
		var errEv native.Event
		for {
			ev, err := w.Next()
			if err != nil {
				return errEv, err
			}
			if ev.Type == "error" {
				errEv = ev
			}
		}
	}
	t.Run("binary", func(t *testing.T) {
		w := testkit.DialWS(t, httpAddr, "", "bin")
		w.ExpectType("welcome")
		w.SendRaw(websocket.MessageBinary, []byte(`{"type":"say","text":"x"}`))
		ev, _ := closedWith(w)
		if !strings.Contains(ev.Message, "binary messages are not accepted") {
			t.Fatalf("error %+v", ev)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		w := testkit.DialWS(t, httpAddr, "", "utf")
		w.ExpectType("welcome")
		w.SendRaw(websocket.MessageText, []byte("{\"type\":\"say\",\"text\":\"\xff\xfe\"}"))
		ev, _ := closedWith(w)
		if !strings.Contains(ev.Message, "not valid UTF-8") {
			t.Fatalf("error %+v", ev)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		w := testkit.DialWS(t, httpAddr, "", "big")
		w.ExpectType("welcome")
		w.SendRaw(websocket.MessageText, []byte(`{"type":"say","text":"`+strings.Repeat("x", 10000)+`"}`))
		_, err := closedWith(w)
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %v, want 1009 (message too big)", err)
		}
	})
	t.Run("JSON bomb", func(t *testing.T) {
		w := testkit.DialWS(t, httpAddr, "", "bomb")
		w.ExpectType("welcome")
		w.SendRaw(websocket.MessageText, []byte(strings.Repeat("[", 2000)+strings.Repeat("]", 2000)))
		w.ExpectType("error")
		w.Send(native.Request{Type: "ping", Ref: "still"})
		w.Expect("a pong", func(ev native.Event) bool { return ev.Ref == "still" })
	})
	t.Run("origin", func(t *testing.T) {
		if _, err := testkit.DialWSRaw(t, httpAddr, "http://evil.example"); err == nil {
			t.Fatal("a page from another origin opened /ws")
		}
		w := testkit.DialWS(t, httpAddr, "https://friend.example", "friend")
		w.ExpectType("welcome")
	})
	t.Run("handshake deadline", func(t *testing.T) {
		w := testkit.DialWS(t, httpAddr, "", "")
		ev, _ := closedWith(w)
		if !strings.Contains(ev.Message, "no hello accepted within the handshake deadline") {
			t.Fatalf("error %+v", ev)
		}
	})
	watcher.Send("/who")
	watcher.ExpectNotice("members of lobby")
}

// TestWebSocketLimits: /ws connections count against the same connection
// limits as every other.
func TestWebSocketLimits(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{MaxConnsPerIP: 2, LimitLoopback: true}})
	httpAddr := n.Addr(node.ListenHTTP)
	a := testkit.DialWS(t, httpAddr, "", "a")
	a.ExpectType("welcome")
	b := testkit.DialWS(t, httpAddr, "", "b")
	b.ExpectType("welcome")
	c := testkit.DialWS(t, httpAddr, "", "c")
	if ev := c.ExpectType("error"); ev.Code != "server_full" {
		t.Fatalf("the third connection from one address got %+v", ev)
	}
}

// TestHealth: /healthz answers while the process is up; /readyz while the
// hub takes messages.
func TestHealth(t *testing.T) {
	n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + n.Addr(node.ListenHTTP).String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + n.Addr(node.ListenHTTP).String() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the HTTP port still answers after shutdown")
	}
}
