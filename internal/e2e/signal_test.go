package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/wire/frame"
)

// TestServeSIGTERM: a real `parley serve` process told to stop with
// SIGTERM tells its clients, flushes, and exits 0 within its deadline.
func TestServeSIGTERM(t *testing.T) {
	p := startServer(t, t.TempDir(), "--shutdown-timeout", "3s")
	conn, err := net.DialTimeout("tcp", p.addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(frame.AppendStringFrame(nil, "tutorial")); err != nil {
		t.Fatal(err)
	}
	// Make sure the session is up before stopping: ask for the member list.
	if _, err := conn.Write(frame.AppendStringFrame(nil, "/who")); err != nil {
		t.Fatal(err)
	}
	fr := frame.NewReader(bufio.NewReader(conn), 1<<16)
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	readNotice := func(want string) {
		t.Helper()
		for {
			user, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			text, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if string(user) == "*" && strings.Contains(string(text), want) {
				return
			}
		}
	}
	readNotice("members of lobby (1): tutorial")

	start := time.Now()
	p.stop(t)                                             // SIGTERM; fails the test unless the exit status is 0
	if took := time.Since(start); took > 10*time.Second { // generous: the flag says 3 s
		t.Fatalf("shutdown took %v with a 3 s deadline", took)
	}
	readNotice("server shutting down")
	if _, err := fr.ReadFrame(); err == nil {
		t.Fatal("connection still open after shutdown")
	}
}
