package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestThreeProtocolsOneRoom is the README scenario: a tutorial client, a
// native client and an nc user chat in the lobby.
func TestThreeProtocolsOneRoom(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	testkit.WaitMembers(t, n, "lobby", 1)
	nat := testkit.DialNative(t, n.Addr("frame"), "nat")
	nat.ExpectType("welcome")
	tut.ExpectNotice("nat joined lobby")
	nc := testkit.DialLine(t, n.Addr("line"), "nc")
	tut.ExpectNotice("nc joined lobby")
	nat.Expect("nc joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "nc" })

	tut.Send("hi from the tutorial")
	nc.Expect("<tut> hi from the tutorial")
	if ev := nat.ExpectType("say"); ev.From != "tut" || ev.Text != "hi from the tutorial" {
		t.Fatalf("native got %+v", ev)
	}
	msg := "hi from native"
	nat.Send(native.Request{Type: "say", Text: &msg})
	tut.Expect("nat", "hi from native")
	nc.Expect("<nat> hi from native")
	nc.Send("hi from nc")
	tut.Expect("nc", "hi from nc")
	nat.Expect("nc's message", func(ev native.Event) bool { return ev.Type == "say" && ev.From == "nc" })
}

// TestSlowConsumer: a client that never reads is dropped as a slow consumer
// while a reading client in the same room gets every message.
func TestSlowConsumer(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{MaxQueueBytes: 1 << 20, WriteTimeout: 300 * time.Millisecond}})
	sender := testkit.DialTutorial(t, n.Addr("frame"), "sender")
	testkit.WaitMembers(t, n, "lobby", 1)
	fast := testkit.DialTutorial(t, n.Addr("frame"), "fast")
	testkit.WaitMembers(t, n, "lobby", 2)
	slow := testkit.DialTutorial(t, n.Addr("frame"), "slow") // never reads
	testkit.WaitMembers(t, n, "lobby", 3)
	_ = slow

	const count = 3000
	body := strings.Repeat("x", 8000)
	done := make(chan struct{})
	progress := make(chan int, count)
	go func() {
		defer close(done)
		var batch []byte
		received := 0
		for i := range count {
			// Stay at most 64 messages (512 KB) ahead of the fast reader:
			// it is fast, not infinitely fast.
			for i-received > 64 {
				received = <-progress
			}
			batch = frame.AppendStringFrame(batch[:0], fmt.Sprintf("%d %s", i, body))
			if _, err := sender.Conn.Write(batch); err != nil {
				return
			}
		}
	}()
	sawSlowLeave := false
	for i := 0; i < count; {
		u, m, err := fast.Read()
		if err != nil {
			t.Fatalf("fast reader after %d messages: %v", i, err)
		}
		if u == "*" {
			if strings.Contains(m, "slow left lobby (slow consumer)") {
				sawSlowLeave = true
			}
			continue
		}
		if want := fmt.Sprintf("%d %s", i, body); u != "sender" || m != want {
			t.Fatalf("message %d: got (%q, %.20q)", i, u, m)
		}
		i++
		progress <- i
	}
	<-done
	if !sawSlowLeave {
		// Not told yet, or told as part of a summary (a fast reader that
		// fell behind on a loaded machine): the server's count says.
		testkit.Eventually(t, "the slow client dropped as a slow consumer", func() bool { return n.Server.Stats().Dropped == 1 })
	}
}

// TestShutdownTellsClients: every client hears the server is going away,
// messages accepted before are delivered, and all goroutines stop.
func TestShutdownTellsClients(t *testing.T) {
	n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", LineAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	testkit.WaitMembers(t, n, "lobby", 1)
	nat := testkit.DialNative(t, n.Addr("frame"), "nat")
	nat.ExpectType("welcome")
	nc := testkit.DialLine(t, n.Addr("line"), "nc")
	testkit.WaitMembers(t, n, "lobby", 3)
	half := testkit.Dial(t, n.Addr("line")) // never sends a name
	_ = half

	for i := range 100 {
		tut.Send(fmt.Sprint("last words ", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	tut.ExpectNotice("server shutting down")
	tut.ExpectClosed()
	nc.Expect("-- server shutting down")
	if ev := nat.ExpectType("bye"); ev.Reason != "server shutting down" {
		t.Fatalf("bye = %+v", ev)
	}
	if n.Server.Conns() != 0 {
		t.Fatalf("%d connections left", n.Server.Conns())
	}
}

// TestTakenAddresses: an optional (default) address that is taken leaves
// that listener off and the rest serving; an explicit one is an error
// naming the listener; when nothing can listen, Start fails.
func TestTakenAddresses(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", LineAddr: addr, Optional: []string{node.ListenLine}, Logger: quiet()})
	if err != nil {
		t.Fatalf("a taken optional address stopped the server: %v", err)
	}
	if n.Addr(node.ListenLine) != nil || n.Addr(node.ListenFrame) == nil || len(n.Skipped) != 1 || n.Skipped[0].Listener != node.ListenLine {
		t.Fatalf("listening on %v and %v, skipped %v", n.Addr(node.ListenFrame), n.Addr(node.ListenLine), n.Skipped)
	}
	c := testkit.DialTutorial(t, n.Addr(node.ListenFrame), "still-works")
	c.Send("/who")
	c.ExpectNotice("members of lobby")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)

	_, err = node.Start(node.Config{FrameAddr: "127.0.0.1:0", LineAddr: addr, Logger: quiet()})
	var le *node.ListenError
	if !errors.As(err, &le) || le.Listener != node.ListenLine || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("an explicit taken address: %v", err)
	}
	if _, err = node.Start(node.Config{LineAddr: addr, Optional: []string{node.ListenLine}, Logger: quiet()}); err == nil {
		t.Fatal("a server with no listener at all started")
	}
}
