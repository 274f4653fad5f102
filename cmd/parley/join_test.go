package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/client/plain"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// plainJoin runs `parley join` in plain mode with stdin from in, in the
// background, returning its output and exit status channel.
func plainJoin(t *testing.T, in io.Reader, args ...string) (*syncBuffer, *syncBuffer, chan int) {
	t.Helper()
	old := joinIO
	joinIO.stdin = in
	joinIO.isTerminal = func() bool { return false }
	joinIO.plainOption = plain.Options{Location: time.UTC}
	t.Cleanup(func() { joinIO = old })
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), append([]string{"join"}, args...), stdout, stderr) }()
	return stdout, stderr, done
}

func waitExit(t *testing.T, done chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(testkit.Timeout):
		t.Fatal("parley join did not exit")
		return -1
	}
}

func TestJoinPlainEndToEnd(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	bob, err := client.Dial(context.Background(), client.Config{Addr: addr, Name: "bob", Rooms: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	var bobMu sync.Mutex
	var bobSaw []string
	go func() {
		for ev := range bob.Events() {
			bobMu.Lock()
			bobSaw = append(bobSaw, ev.Type+" "+ev.Room+" "+ev.From+" "+ev.Text)
			bobMu.Unlock()
		}
	}()
	bobHas := func(s string) bool {
		bobMu.Lock()
		defer bobMu.Unlock()
		for _, x := range bobSaw {
			if x == s {
				return true
			}
		}
		return false
	}

	inR, inW := io.Pipe()
	stdout, stderr, done := plainJoin(t, inR, "alice", "--addr", addr)
	testkit.WaitMembers(t, n, "lobby", 2)
	io.WriteString(inW, "hello from a script\n/me waves\n/join dev\nin dev now\n")
	testkit.Eventually(t, "bob gets alice's lines", func() bool {
		return bobHas("say lobby alice hello from a script") && bobHas("me lobby alice waves") && bobHas("say dev alice in dev now")
	})
	if _, err := bob.Say("dev", "hi alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Say("lobby", "over here too"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.DM("alice", "psst"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "alice prints bob's lines", func() bool {
		return strings.Contains(stdout.String(), "*bob* psst")
	})
	io.WriteString(inW, "/nick alice2\n/msg bob hey\n/nosuch\n")
	inW.Close() // EOF: every line is confirmed, then alice leaves
	if code := waitExit(t, done); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	testkit.Eventually(t, "bob gets the DM sent just before EOF", func() bool { return bobHas("dm  alice2 hey") })
	out := stdout.String()
	for _, want := range []string{
		"-- welcome, alice! connected to parley at " + addr,
		"-- you joined dev",
		"] <bob> hi alice\n",
		"#lobby [", "] <bob> over here too\n",
		"] *bob* psst\n",
		"-- you are now known as alice2\n",
		"] -> *bob* hey\n",
		"! unknown command /nosuch",
		"-- goodbye\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "hello from a script") {
		t.Errorf("own messages are echoed:\n%s", out)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.ContainsAny(l, "\x1b\r") {
			t.Errorf("control characters in %q", l)
		}
	}
}

func TestJoinUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, stderr, done := plainJoin(t, strings.NewReader(""), "alice", "--addr", addr)
	if code := waitExit(t, done); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "cannot reach a parley server at "+addr) {
		t.Fatalf("stderr %q does not name the address", stderr.String())
	}
}

func TestJoinNameTaken(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	addr := n.Addr("frame").String()
	_, _, d1 := plainJoin(t, strings.NewReader(""), "alice", "--addr", addr)
	if code := waitExit(t, d1); code != 0 {
		t.Fatalf("exit %d", code)
	}
	bob, err := client.Dial(context.Background(), client.Config{Addr: addr, Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	_, stderr, done := plainJoin(t, strings.NewReader(""), "BOB", "--addr", addr)
	if code := waitExit(t, done); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), `refused to let you in: the name "BOB" is taken`) {
		t.Fatalf("stderr %q", stderr.String())
	}
}

func TestJoinUsage(t *testing.T) {
	_, stderr, done := plainJoin(t, strings.NewReader(""))
	if code := waitExit(t, done); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "parley join NAME") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// TestJoinTLSHints: a certificate the client does not trust, and --tls to
// a plain port, each fail with a hint of what to do.
func TestJoinTLSHints(t *testing.T) {
	cert := testkit.SelfSignedCert(t)
	secure := testkit.StartNode(t, node.Config{TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile})
	_, stderr, done := plainJoin(t, strings.NewReader(""), "alice", "--tls", "--addr", secure.Addr("frame").String())
	if code := waitExit(t, done); code != 1 || !strings.Contains(stderr.String(), "--insecure") {
		t.Fatalf("exit %d, stderr %q: no --insecure hint", code, stderr.String())
	}
	_, _, done = plainJoin(t, strings.NewReader(""), "alice", "--tls", "--insecure", "--addr", secure.Addr("frame").String())
	if code := waitExit(t, done); code != 0 {
		t.Fatalf("--insecure: exit %d", code)
	}
	plainNode := testkit.StartNode(t, node.Config{})
	_, stderr, done = plainJoin(t, strings.NewReader(""), "bob", "--tls", "--addr", plainNode.Addr("frame").String())
	if code := waitExit(t, done); code != 1 || !strings.Contains(stderr.String(), "does not speak TLS") {
		t.Fatalf("exit %d, stderr %q: no hint that the port is plain", code, stderr.String())
	}
}
