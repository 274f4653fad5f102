package node_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
)

// openFDs counts this process's open file descriptors (Linux).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// baseline records the goroutine and descriptor counts of a quiet server.
type baseline struct{ goroutines, fds int }

func measure(t *testing.T) baseline {
	return baseline{goroutines: runtime.NumGoroutine(), fds: openFDs(t)}
}

// backToBaseline waits until goroutines and descriptors are no more than
// at b: nothing leaked.
func backToBaseline(t *testing.T, b baseline) {
	t.Helper()
	var now baseline
	testkit.Eventually(t, "goroutines and descriptors back to the baseline", func() bool {
		now = measure(t)
		return now.goroutines <= b.goroutines && now.fds <= b.fds
	})
	t.Logf("baseline %+v, after %+v", b, now)
}

// chatting checks that alice's messages still reach bob.
func chatting(t *testing.T, alice, bob *testkit.Tutorial, tag string) {
	t.Helper()
	for i := range 5 {
		msg := fmt.Sprintf("%s %d", tag, i)
		alice.Send(msg)
		bob.Expect("alice", msg)
	}
}

// TestConnectionStorm: thousands of connections opened and closed abruptly
// (at every stage of the handshake, with and without a reset), then a burst
// of connections that go silent half way through a header. Afterwards the
// server holds exactly the goroutines and descriptors it held before, and
// the two users chatting throughout never noticed.
func TestConnectionStorm(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{HandshakeTimeout: time.Second}})
	alice := testkit.DialTutorial(t, n.Addr("frame"), "alice")
	testkit.WaitMembers(t, n, "lobby", 1)
	bob := testkit.DialTutorial(t, n.Addr("frame"), "bob")
	alice.ExpectNotice("bob joined lobby")
	chatting(t, alice, bob, "before")
	base := measure(t)

	const storm, workers = 3000, 16
	abrupt := []func(c net.Conn, i int){
		func(c net.Conn, i int) {},                                                            // connect, close at once
		func(c net.Conn, i int) { c.Write([]byte("12")) },                                     // half a header
		func(c net.Conn, i int) { c.Write([]byte("50        short")) },                        // payload cut short
		func(c net.Conn, i int) { c.Write(frame.AppendStringFrame(nil, fmt.Sprint("s", i))) }, // a full name: a session starts and ends
		func(c net.Conn, i int) { c.Write([]byte(`30        {"type":"hello","name":`)) },      // half a native hello
		func(c net.Conn, i int) { c.(*net.TCPConn).SetLinger(0) },                             // close with a reset
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < storm; i += workers {
				addr := n.Addr("frame")
				if i%7 == 0 {
					addr = n.Addr("line")
				}
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					errs <- err
					return
				}
				abrupt[i%len(abrupt)](c, i)
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial during the storm: %v", err)
	}
	chatting(t, alice, bob, "after the storm")

	// Half-open: connections that start a header and go silent without
	// closing. The handshake deadline closes every one of them.
	const halfOpen = 500
	hanging := make([]net.Conn, 0, halfOpen)
	for i := range halfOpen {
		c, err := net.Dial("tcp", n.Addr("frame").String())
		if err != nil {
			t.Fatalf("half-open %d: %v", i, err)
		}
		defer c.Close()
		c.Write([]byte("1"))
		hanging = append(hanging, c)
	}
	chatting(t, alice, bob, "while they hang")
	for i, c := range hanging {
		c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("half-open %d not closed by the server: %v", i, err)
		}
		c.Close()
	}
	testkit.Eventually(t, "only alice and bob connected", func() bool { return n.Server.Conns() == 2 })
	backToBaseline(t, base)
	chatting(t, alice, bob, "at the end")
}

// TestStalledHandshakes: 2,000 connections on both ports that never finish
// their handshake are all closed at the deadline, while others chat.
func TestStalledHandshakes(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{HandshakeTimeout: 3 * time.Second}})
	alice := testkit.DialTutorial(t, n.Addr("frame"), "alice")
	testkit.WaitMembers(t, n, "lobby", 1)
	bob := testkit.DialTutorial(t, n.Addr("frame"), "bob")
	alice.ExpectNotice("bob joined lobby")
	base := measure(t)

	const stalled = 2000
	conns := make([]net.Conn, 0, stalled)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range stalled {
		addr, stall := n.Addr("frame"), []byte("5         ali") // header, then part of the name
		switch i % 4 {
		case 1:
			stall = nil // nothing at all
		case 2:
			addr, stall = n.Addr("line"), []byte("ali") // a name without its newline
		case 3:
			stall = []byte("9999999") // a header that never ends
		}
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if len(stall) > 0 {
			c.Write(stall)
		}
	}
	chatting(t, alice, bob, "during the stall")
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("stalled connection %d not closed by the server: %v", i, err)
		}
		c.Close()
	}
	testkit.Eventually(t, "only alice and bob connected", func() bool { return n.Server.Conns() == 2 })
	backToBaseline(t, base)
	chatting(t, alice, bob, "after the stall")
}
