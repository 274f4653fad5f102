package e2e

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/native"
)

// pyClient runs one of the tutorials' own client programs (examples/),
// unchanged, with piped stdin, and collects what it prints.
type pyClient struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
	out   strings.Builder
}

func startPy(t *testing.T, script string, args ...string) *pyClient {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "examples", script)
	cmd := exec.Command(py, append([]string{"-u", path}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &pyClient{t: t, stdin: stdin, lines: make(chan string, 1000)}
	go func() {
		r := bufio.NewReader(stdout)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				p.lines <- strings.TrimRight(s, "\n")
			}
			if err != nil {
				close(p.lines)
				return
			}
		}
	}()
	return p
}

func (p *pyClient) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("write to the client: %v", err)
	}
}

// expect waits until the client prints a line containing want.
func (p *pyClient) expect(want string) string {
	p.t.Helper()
	deadline := time.After(testkit.Timeout)
	for {
		select {
		case s, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the client exited before printing %q; it printed:\n%s", want, p.out.String())
			}
			p.out.WriteString(s + "\n")
			if strings.Contains(s, want) {
				return s
			}
		case <-deadline:
			p.t.Fatalf("the client never printed %q; it printed:\n%s", want, p.out.String())
		}
	}
}

func portOf(a net.Addr) string {
	_, port, _ := strings.Cut(a.String(), ":")
	return port
}

// TestNameDialectClients: the NAME-dialect tutorial's own client, unchanged,
// chats with another of its kind (which sees "alice: hi", as the tutorial's
// server relays it), with a 10-byte-header tutorial client, a line client
// and a native client (which see alice's message without its "alice: ");
// and sees its own messages come back, as its server echoes them.
func TestNameDialectClients(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	port := portOf(n.Addr(node.ListenName))
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	lc := testkit.DialLine(t, n.Addr("line"), "nc")
	nat := testkit.DialNative(t, n.Addr("frame"), "nat")
	nat.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 3)

	alice := startPy(t, "name_dialect_client.py", port)
	alice.send("alice")
	alice.expect("Welcome, alice!")
	testkit.WaitMembers(t, n, "lobby", 4)
	bob := startPy(t, "name_dialect_client.py", port)
	bob.send("bob")
	bob.expect("Welcome, bob!")
	alice.expect("bob is Connected to the server!")

	alice.send("hi everyone")
	alice.expect("alice: hi everyone") // the echo
	bob.expect("alice: hi everyone")
	tut.Expect("alice", "hi everyone")
	lc.Expect("<alice> hi everyone")
	if ev := nat.Expect("alice's message", func(ev native.Event) bool { return ev.Type == "say" }); ev.From != "alice" || ev.Text != "hi everyone" {
		t.Fatalf("native client got %+v", ev)
	}

	tut.Send("hello from the tutorial")
	alice.expect("tut: hello from the tutorial")
	lc.Send("and from nc")
	bob.expect("nc: and from nc")
	bob.send("/who")
	bob.expect("members of lobby (5): alice, bob, nat, nc, tut")
}

// TestWelcomeDialectClient: the welcome dialect's client gets the greeting
// and a guest name, is relayed to the others as <name> text with no echo,
// and can choose a name.
func TestWelcomeDialectClient(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	testkit.WaitMembers(t, n, "lobby", 1)
	w := startPy(t, "welcome_dialect_client.py", portOf(n.Addr(node.ListenWelcome)))
	w.expect("Welcome to this chatroom!")
	guest := w.expect("You are guest")
	name := strings.Fields(strings.TrimPrefix(guest, "You are "))[0]
	tut.ExpectNotice(name + " joined lobby")

	w.send("hello there")
	tut.Expect(name, "hello there")
	tut.Send("hi guest")
	w.expect("<tut> hi guest")
	w.send("/nick wendy")
	tut.ExpectNotice(name + " is now known as wendy")
	w.send("named now")
	tut.Expect("wendy", "named now")
	for _, l := range strings.Split(w.out.String(), "\n") {
		if strings.Contains(l, "hello there") || strings.Contains(l, "named now") {
			t.Fatalf("the welcome dialect echoed a message to its sender: %q", l)
		}
	}
}

// TestNameDialectHostile: a taken name gets the reason and a close; a
// client that never answers NAME is closed at the handshake deadline while
// the room goes on; a 1 MB chunk with no line break is refused without
// being buffered whole, and the connection goes on.
func TestNameDialectHostile(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{HandshakeTimeout: 300 * time.Millisecond}})
	addr := n.Addr(node.ListenName)
	readAll := func(c net.Conn) string {
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	tut := testkit.DialTutorial(t, n.Addr("frame"), "taken")
	testkit.WaitMembers(t, n, "lobby", 1)

	c := testkit.Dial(t, addr)
	first := make([]byte, 1024)
	k, _ := c.Read(first)
	if string(first[:k]) != "NAME" {
		t.Fatalf("first bytes %q, want exactly NAME", first[:k])
	}
	_, _ = c.Write([]byte("taken"))
	if out := readAll(c); !strings.Contains(out, `the name "taken" is taken; reconnect with another name`) {
		t.Fatalf("a taken name got %q", out)
	}

	silent := testkit.Dial(t, addr)
	tut.Send("/who") // the room goes on meanwhile
	tut.ExpectNotice("members of lobby (1)")
	if out := readAll(silent); !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "no name within the handshake deadline") {
		t.Fatalf("a client silent at NAME got %q", out)
	}

	big := testkit.Dial(t, addr)
	if k, _ = big.Read(first); string(first[:k]) != "NAME" {
		t.Fatalf("first bytes %q", first[:k])
	}
	_, _ = big.Write([]byte("mallory"))
	testkit.WaitMembers(t, n, "lobby", 2)
	if _, err := big.Write([]byte(strings.Repeat("A", 1<<20))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	got := ""
	testkit.Eventually(t, "the refusal", func() bool {
		_ = big.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, _ := big.Read(buf)
		got += string(buf[:k])
		return strings.Contains(got, "message too long")
	})
	time.Sleep(300 * time.Millisecond) // a pause ends the oversized message: what comes next is a new one
	_, _ = big.Write([]byte("mallory: still here"))
	tut.Expect("mallory", "still here")
	if strings.Contains(got, "AAAA") {
		t.Fatal("part of the 1 MB chunk was relayed")
	}
}

// TestNameDialectLinesInOneRead: a client whose name and first messages
// arrive in one segment has every one of them run, though nothing more
// arrives after: the raw framing keeps the extra lines itself, and the
// connection does not park (wait for more input) while it holds them.
func TestNameDialectLinesInOneRead(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	tut := testkit.DialTutorial(t, n.Addr("frame"), "reader")
	testkit.WaitMembers(t, n, "lobby", 1)
	c := testkit.Dial(t, n.Addr(node.ListenName))
	first := make([]byte, 64)
	if k, _ := c.Read(first); string(first[:k]) != "NAME" {
		t.Fatalf("first bytes %q", first[:k])
	}
	if _, err := c.Write([]byte("alice\nalice: one\nalice: two\n")); err != nil {
		t.Fatal(err)
	}
	tut.Expect("alice", "one")
	tut.Expect("alice", "two")
}
