package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
)

// TestIdleConnectionsPark: idle connections of the framed, line and IRC
// protocols wait for input with no goroutine of their own (they park in
// the server's poller), and a parked connection still gets every delivery,
// resumes when its client speaks, when its client hangs up, when an
// operator removes it, when its idle check gives up on it, and when the
// server shuts down; nothing leaks.
func TestIdleConnectionsPark(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n, err := node.Start(node.Config{
		FrameAddr: "127.0.0.1:0", LineAddr: "127.0.0.1:0", IRCAddr: "127.0.0.1:0",
		Session: engine.Options{IdleTimeout: 400 * time.Millisecond, PingTimeout: 400 * time.Millisecond},
		Hub:     chat.Config{Admins: []string{"opsy"}, HashParams: auth.TestParams},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	shut := false
	t.Cleanup(func() {
		if !shut {
			_ = n.Shutdown(context.Background())
		}
	})
	parked := func() int64 { return n.Server.Stats().Parked }
	before := runtime.NumGoroutine()

	const each = 40
	var tut []*testkit.Tutorial
	var lines []*testkit.Line
	for i := range each {
		tut = append(tut, testkit.DialTutorial(t, n.Addr("frame"), fmt.Sprintf("t%d", i)))
		lines = append(lines, testkit.DialLine(t, n.Addr("line"), fmt.Sprintf("l%d", i)))
	}
	testkit.WaitMembers(t, n, "lobby", 2*each)
	testkit.Eventually(t, "every connection parked", func() bool { return parked() == 2*each })
	// Well under a goroutine per connection (the writers and the hub's
	// own come and go).
	testkit.Eventually(t, "no goroutine per connection", func() bool { return runtime.NumGoroutine()-before < each/2 })

	// Clients at the name prompt wait parked too, and still get the
	// handshake deadline (the engine's default, 10 s, is not waited for
	// here: the e2e handshake tests cover it).
	var prompt []net.Conn
	for range 5 {
		prompt = append(prompt, testkit.Dial(t, n.Addr("line")))
	}
	testkit.Eventually(t, "clients at the prompt parked", func() bool { return parked() == 2*each+5 })
	for _, c := range prompt {
		c.Close()
	}
	testkit.Eventually(t, "prompt clients gone", func() bool { return parked() == 2*each })

	// A parked connection resumes when its client speaks, and parks again.
	tut[0].Send("from a parked tutorial client")
	for _, l := range lines {
		l.Expect("from a parked tutorial client")
	}
	for _, c := range tut[1:] {
		c.Expect("t0", "from a parked tutorial client")
	}
	lines[1].Send("from a parked line client")
	for _, c := range tut {
		c.Expect("l1", "from a parked line client")
	}
	testkit.Eventually(t, "parked again", func() bool { return parked() == 2*each })

	// A client that hangs up while parked is gone at once.
	lines[2].Conn.Close()
	testkit.WaitMembers(t, n, "lobby", 2*each-1)
	testkit.Eventually(t, "hung-up connection closed", func() bool { return n.Server.Conns() == 2*each-1 })

	// An operator removes a parked client: it is told and closed.
	root := testkit.DialLine(t, n.Addr("line"), "opsy")
	root.Send("/register rootpass")
	root.Expect("registered")
	root.Send("/kill t5 enough")
	tut[5].ExpectClosed()
	lines[3].Expect("t5")

	// The idle check pings a parked IRC client, reads its answer (it
	// resumes for it), and finishes one that does not answer.
	live := testkit.DialIRC(t, n.Addr("irc"), "alive", true)
	mute := testkit.DialIRC(t, n.Addr("irc"), "mute", true)
	for range 2 {
		live.Expect("PING")
		live.Send("PONG :parley")
	}
	if err := waitClosed(mute, 5*time.Second); err != nil {
		t.Error(err)
	}
	live.Send("PRIVMSG #lobby :still here")
	lines[4].Expect("still here")

	// Shutdown reaches every parked connection: each gets its bye.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	shut = true
	for _, l := range lines[5:] {
		l.Until("shutting down")
	}
}

// waitClosed reads an IRC connection until the server closes it, without
// answering its pings.
func waitClosed(c *testkit.IRC, within time.Duration) error {
	end := time.Now().Add(within)
	var last string
	for time.Now().Before(end) {
		line, err := c.ReadLine()
		if err != nil {
			return nil
		}
		last = line
	}
	return fmt.Errorf("not closed within %s (last line %q)", within, last)
}

// TestParkedHandshakeTimesOut: a client that connects and never gives its
// name waits parked, and the handshake deadline still ends it, with the
// reason told.
func TestParkedHandshakeTimesOut(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{HandshakeTimeout: 300 * time.Millisecond}})
	c := testkit.Dial(t, n.Addr("line"))
	testkit.Eventually(t, "the silent client parked", func() bool { return n.Server.Stats().Parked == 1 })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, all)
	}
	if !strings.Contains(string(all), "no name within the handshake deadline") {
		t.Fatalf("closed without a reason: %q", all)
	}
	testkit.Eventually(t, "the connection closed", func() bool { return n.Server.Conns() == 0 })
}
