package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/store/sqlite"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// recv waits for the next event matching ok, failing after testkit.Timeout.
func recv(t *testing.T, c *client.Client, what string, ok func(client.Event) bool) client.Event {
	t.Helper()
	timer := time.NewTimer(testkit.Timeout)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-c.Events():
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func dial(t *testing.T, addr, name string, mod ...func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Addr: addr, Name: name, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDialUnreachable(t *testing.T) {
	addr := freeAddr(t)
	_, err := client.Dial(context.Background(), client.Config{Addr: addr, Name: "alice"})
	var de *client.DialError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want a DialError naming %s", err, addr)
	}
}

func TestDialNameTaken(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	dial(t, addr, "alice")
	_, err := client.Dial(context.Background(), client.Config{Addr: addr, Name: "ALICE"})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != "name_taken" {
		t.Fatalf("err = %v, want name_taken", err)
	}
}

func TestSayEchoAndSanitize(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	a := dial(t, addr, "alice")
	b := dial(t, addr, "bob")
	if ev := recv(t, a, "welcome", func(e client.Event) bool { return e.Type == "welcome" }); ev.Name != "alice" {
		t.Fatalf("welcome name %q", ev.Name)
	}
	testkit.WaitMembers(t, n, "lobby", 2)
	ref, err := a.Say("lobby", "hi\tthere") // the server keeps tabs; the client makes them spaces
	if err != nil {
		t.Fatal(err)
	}
	echo := recv(t, a, "own echo", func(e client.Event) bool { return e.Type == "say" && e.Ref == ref })
	if echo.ID == 0 || echo.TS == nil {
		t.Fatalf("echo without id or ts: %+v", echo)
	}
	got := recv(t, b, "message", func(e client.Event) bool { return e.Type == "say" })
	if got.Text != "hi there" || got.From != "alice" || got.ID != echo.ID {
		t.Fatalf("bob got %+v", got.Event)
	}
	if a.LastSeen("lobby") != echo.ID {
		t.Fatalf("LastSeen = %d, want %d", a.LastSeen("lobby"), echo.ID)
	}
	if _, err := a.Ping(); err != nil {
		t.Fatal(err)
	}
	recv(t, a, "pong", func(e client.Event) bool { return e.Type == "pong" })
	if err := a.Quit("bye"); err != nil {
		t.Fatal(err)
	}
	recv(t, a, "bye", func(e client.Event) bool { return e.Type == "bye" })
	for range a.Events() { // drains, then ends: the client stopped by itself
	}
	if _, err := a.Say("lobby", "late"); !errors.Is(err, client.ErrNotConnected) && !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after quit: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, time.Second
	for _, tt := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 50 * time.Millisecond}, {1, 0.999999, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond}, {3, 0.5, 300 * time.Millisecond},
		{4, 0, 400 * time.Millisecond}, {5, 0, 500 * time.Millisecond}, {50, 0.5, 750 * time.Millisecond},
	} {
		if got := client.Backoff(tt.n, min, max, tt.jitter); got.Round(time.Millisecond) != tt.want {
			t.Errorf("Backoff(%d, jitter %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}

// TestReconnectResume stops the server while alice is in two rooms, sends
// messages on the restarted server (same sqlite data directory, same
// address) and checks that alice ends with every message exactly once, in
// order, without seeing the old ones again.
func TestReconnectResume(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(addr string) *node.Node {
		st, err := sqlite.Open(dir, sqlite.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.Start(node.Config{FrameAddr: addr, Hub: chat.Config{Store: st}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	stop := func(n *node.Node) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n1 := start("127.0.0.1:0")
	addr := n1.Addr("frame").String()
	alice := dial(t, addr, "alice", func(c *client.Config) { c.Rooms = []string{"dev"} })
	bob := dial(t, addr, "bob", func(c *client.Config) { c.NoReconnect = true })
	if _, err := bob.Join("dev"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitMembers(t, n1, "dev", 2)

	var want []string
	say := func(c *client.Client, room, text string) {
		t.Helper()
		ref, err := c.Say(room, text)
		if err != nil {
			t.Fatal(err)
		}
		recv(t, c, "echo of "+text, func(e client.Event) bool { return e.Ref == ref && e.Type == "say" })
		want = append(want, room+":"+text)
	}
	say(bob, "lobby", "one")
	say(bob, "dev", "two")

	// alice's view: every message once, in order
	var got []string
	var states []client.State
	collect := func(until string) {
		t.Helper()
		recv(t, alice, until, func(e client.Event) bool {
			if e.Type == client.TypeState {
				states = append(states, e.State)
			}
			if e.Type == "say" {
				got = append(got, e.Room+":"+e.Text)
				return e.Room+":"+e.Text == until
			}
			return false
		})
	}
	collect("dev:two")

	stop(n1)
	recv(t, bob, "bob closed", func(e client.Event) bool { return e.Type == client.TypeState && e.State == client.StateClosed })
	n2 := start(addr)
	defer stop(n2)
	carol := dial(t, addr, "carol", func(c *client.Config) { c.Rooms = []string{"dev"} })
	say(carol, "dev", "three")
	say(carol, "lobby", "four")
	say(carol, "dev", "five")
	collect("dev:five")
	// order is per room: a resume replays room after room
	for _, room := range []string{"lobby", "dev"} {
		if g, w := only(got, room), only(want, room); g != w {
			t.Fatalf("alice saw in %s\n  %v\nwant\n  %v", room, g, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("alice saw %v, want %v", got, want)
	}
	if len(states) < 2 || states[0] != client.StateDisconnected || states[len(states)-1] != client.StateConnected {
		t.Fatalf("states %v", states)
	}
	// and alice is back in both rooms, able to talk
	testkit.WaitMembers(t, n2, "dev", 2)
	ref, err := alice.Say("dev", "six")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, alice, "echo", func(e client.Event) bool { return e.Ref == ref })
}

func only(msgs []string, room string) string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m, room+":") {
			out = append(out, m)
		}
	}
	return strings.Join(out, " ")
}

// TestDedupe uses a scripted fake server: a replayed message the client has
// already seen is dropped; a live message with an old id (a server that
// lost its history and counts anew) is delivered.
func TestDedupe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pong := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fr := frame.NewReader(bufio.NewReader(c), 1<<16)
		if _, err := fr.ReadFrame(); err != nil { // hello
			return
		}
		defer func() { // the client answers the server's ping with a pong
			p, err := fr.ReadFrame()
			pong <- string(p) + fmt.Sprint(err)
		}()
		var out []byte
		for _, js := range []string{
			`{"type":"welcome","name":"alice","server":"fake","version":1}`,
			`{"type":"ping"}`,
			`{"type":"say","id":5,"room":"lobby","from":"bob","text":"five"}`,
			`{"type":"say","id":4,"room":"lobby","from":"bob","text":"four again","history":true}`,
			`{"type":"say","id":5,"room":"lobby","from":"bob","text":"five again","history":true}`,
			`{"type":"say","id":2,"room":"lobby","from":"bob","text":"two after a reset"}`,
			`{"type":"say","id":3,"room":"lobby","from":"bob","text":"three"}`,
		} {
			out = frame.AppendFrame(out, []byte(js))
		}
		c.Write(out)
	}()
	a := dial(t, l.Addr().String(), "alice", func(c *client.Config) { c.NoReconnect = true })
	var texts []string
	recv(t, a, "three", func(e client.Event) bool {
		if e.Type == "say" {
			texts = append(texts, e.Text)
		}
		return e.Text == "three"
	})
	if got := strings.Join(texts, ","); got != "five,two after a reset,three" {
		t.Fatalf("delivered %s", got)
	}
	if p := <-pong; !strings.HasPrefix(p, `{"type":"pong"`) {
		t.Fatalf("answer to the server's ping: %s", p)
	}
}

// TestHistoryPageNotDeduplicated: a page of older history asked for
// explicitly is delivered even though its ids are old.
func TestHistoryPageNotDeduplicated(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	a := dial(t, addr, "alice")
	ref, _ := a.Say("lobby", "x")
	echo := recv(t, a, "echo", func(e client.Event) bool { return e.Ref == ref })
	// joining lobby again replays nothing new; ask for history explicitly
	hr, err := a.Send(native.Request{Type: "history", Room: "lobby", Before: echo.ID + 1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	ev := recv(t, a, "history page", func(e client.Event) bool { return e.Ref == hr })
	if ev.Type != "say" || ev.ID != echo.ID || !ev.History {
		t.Fatalf("history page event %+v", ev.Event)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	a := dial(t, addr, "alice", func(c *client.Config) { c.PingInterval = time.Millisecond })
	recv(t, a, "pong", func(e client.Event) bool { return e.Type == "pong" })
	a.Close()
	a.Close()
	for range a.Events() {
	}
	if _, err := a.Say("lobby", "x"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// TestOtherAddresses: a client given the nodes of a cluster dials past
// one that is not there, and when its node goes, reconnects to another.
func TestOtherAddresses(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() *node.Node {
		n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n1, n2 := start(), start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n2.Shutdown(ctx)
	}()
	down := freeAddr(t)
	c := dial(t, down, "alice", func(cfg *client.Config) {
		cfg.Others = []string{n1.Addr("frame").String(), n2.Addr("frame").String()}
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	})
	if c.Addr() != n1.Addr("frame").String() {
		t.Fatalf("connected to %s, want the first node that is there", c.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, c, "reconnected", func(e client.Event) bool { return e.Type == client.TypeState && e.State == client.StateConnected })
	if c.Addr() != n2.Addr("frame").String() {
		t.Fatalf("reconnected to %s, want the other node", c.Addr())
	}
}
