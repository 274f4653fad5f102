package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleychat/parley/chat"
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

// TestWebSocketFrameSizes: events are framed with each of the WebSocket
// length encodings (7-bit, 16-bit, 64-bit) and a batch of them arrives
// whole, each its own message, read by a strict client library.
func TestWebSocketFrameSizes(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{MaxMessageBytes: 100_000}, Server: server.Options{MaxFrameBytes: 200_000}})
	alice := testkit.DialWS(t, n.Addr(node.ListenHTTP), "", "alice")
	alice.ExpectType("welcome")
	bob := testkit.DialWS(t, n.Addr(node.ListenHTTP), "", "bob")
	bob.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 2)
	sizes := []int{1, 40, 125 - 80, 200, 65_000, 65_535, 70_000, 99_000}
	for i, size := range sizes {
		alice.Send(native.Request{Type: "say", Text: text(strings.Repeat(string(rune('a'+i)), size)), Ref: fmt.Sprint(i)})
	}
	for i, size := range sizes {
		got := bob.Expect(fmt.Sprintf("the %d-byte message", size), func(ev native.Event) bool { return ev.Type == "say" })
		if want := strings.Repeat(string(rune('a'+i)), size); got.Text != want {
			t.Fatalf("message %d: %d bytes of %q, want %d", i, len(got.Text), got.Text[:min(len(got.Text), 10)], size)
		}
	}
}

// TestWebSocketStalledReader: a browser tab that stops reading (a frozen
// tab, a dead network) is dropped as a slow consumer once its socket takes
// nothing for the write timeout; the others get every message meanwhile.
func TestWebSocketStalledReader(t *testing.T) {
	n := testkit.StartNode(t, node.Config{
		Hub:    chat.Config{RateLimit: chat.RateLimit{}},
		Server: server.Options{WriteTimeout: 300 * time.Millisecond, SendBuffer: 4096, MaxQueueBytes: 64 << 10},
	})
	httpAddr := n.Addr(node.ListenHTTP)
	stalled := testkit.DialWS(t, httpAddr, "", "stalled")
	stalled.ExpectType("welcome")
	reader := testkit.DialWS(t, httpAddr, "", "reader")
	reader.ExpectType("welcome")
	sender := testkit.DialNative(t, n.Addr(node.ListenFrame), "sender")
	sender.ExpectType("welcome")
	go func() { _, _ = io.Copy(io.Discard, sender.Conn) }() // it reads its echoes
	testkit.WaitMembers(t, n, "lobby", 3)
	big := strings.Repeat("x", 2000)
	const count = 400 // 800 KB: far past the stalled reader's socket buffers
	for i := range count {
		sender.Send(native.Request{Type: "say", Text: text(fmt.Sprint(i, " ", big))})
	}
	for i := range count {
		want := fmt.Sprint(i, " ", big)
		reader.Expect(fmt.Sprint("message ", i), func(ev native.Event) bool { return ev.Type == "say" && ev.From == "sender" && ev.Text == want })
	}
	// Dropped counts slow consumers only. (Its part event is not waited
	// for: a reader that was catching up itself at that moment, on a
	// loaded machine, gets others' parts as one summary notice.)
	testkit.Eventually(t, "the stalled reader dropped as a slow consumer", func() bool { return n.Server.Stats().Dropped == 1 })
}

// TestWebSocketTLS: with a certificate the HTTP port is https:// and the
// WebSocket endpoint wss://, serving the same protocol.
func TestWebSocketTLS(t *testing.T) {
	cert := testkit.SelfSignedCert(t)
	n := testkit.StartNode(t, node.Config{TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile})
	if !n.TLS(node.ListenHTTP) {
		t.Fatal("the HTTP port is not TLS")
	}
	addr := n.Addr(node.ListenHTTP).String()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET https://%s/: %s, CSP %q", addr, resp.Status, resp.Header.Get("Content-Security-Policy"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","name":"secure","version":1}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"type":"welcome"`) {
		t.Fatalf("over wss: %s, %v", b, err)
	}
	// Plain HTTP to the TLS port is told so (net/http's answer), not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %s", resp.Status)
		}
	}
}
