package line_test

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
)

// readToEOF reads everything until the server closes the connection.
func readToEOF(t *testing.T, l *testkit.Line) string {
	t.Helper()
	var b strings.Builder
	for {
		s, err := l.ReadLine()
		b.WriteString(s + "\n")
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatalf("after %q: %v", b.String(), err)
		}
	}
}

func TestLinePassword(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "open sesame"}})
	for _, tt := range []struct{ pw, want string }{
		{"guess", "! wrong password; goodbye"},
		{"", "! this server needs a password; goodbye"},
	} {
		l := &testkit.Line{Conn: testkit.Dial(t, n.Addr("line"))}
		c := lineConn{r: bufio.NewReader(l.Conn)}
		if _, err := io.WriteString(l.Conn, tt.pw+"\r\n"); err != nil {
			t.Fatal(err)
		}
		c.expect(t, tt.want)
		if _, err := c.r.ReadString('\n'); err != io.EOF {
			t.Fatalf("password %q: connection not closed: %v", tt.pw, err)
		}
	}
	c := testkit.Dial(t, n.Addr("line"))
	lc := lineConn{r: bufio.NewReader(c)}
	io.WriteString(c, "open sesame\r\nalice\r\n")
	lc.expect(t, "-- welcome, alice!")
}

func TestLineHandshakeDeadline(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "pw"}, Server: server.Options{HandshakeTimeout: 200 * time.Millisecond}})
	for _, tt := range []struct{ name, send, want string }{
		{"silent at the password", "", "no password within the handshake deadline"},
		{"half a line", "p", "no password within the handshake deadline"},
		{"silent at the name", "pw\r\n", "no name within the handshake deadline"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.Dial(t, n.Addr("line"))
			io.WriteString(c, tt.send)
			_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
			b, err := io.ReadAll(c)
			if err != nil || !strings.Contains(string(b), tt.want) {
				t.Fatalf("got %q, %v; want %q then close", b, err, tt.want)
			}
		})
	}
}

func TestLineFlood(t *testing.T) {
	clock := testkit.NewClock()
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Now: clock.Now, Sleep: clock.Sleep,
		RateLimit: chat.RateLimit{Rate: 1, Burst: 3, FloodAfter: 10 * time.Second}}})
	alice := testkit.DialLine(t, n.Addr("line"), "alice")
	flood := testkit.DialLine(t, n.Addr("line"), "flood")
	alice.Expect("flood joined")
	go func() {
		_, _ = io.WriteString(flood.Conn, strings.Repeat("spam\n", 10000))
	}()
	flood.Expect("! slow down")
	out := readToEOF(t, flood)
	if !strings.Contains(out, "disconnecting") {
		t.Fatalf("flood got %q, want the disconnect reason", out)
	}
	alice.Expect("-- flood left lobby (flooding)")
	bob := testkit.DialLine(t, n.Addr("line"), "bob")
	bob.Send("calm")
	alice.Expect("<bob> calm")
}

// TestLineSlowloris: a started line must end within MessageTimeout; the
// client is told, and closed.
func TestLineSlowloris(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{MessageTimeout: 300 * time.Millisecond}})
	c := testkit.DialLine(t, n.Addr("line"), "slow")
	_, _ = io.WriteString(c.Conn, strings.Repeat("x", 8100))
	c.Expect("a message was started but not finished within 300ms")
	out := readToEOF(t, c)
	_ = out
}

// TestLongNameLine: a 20 KB name is refused as a line too long (not as a
// 33-character name), and the prompt comes again.
func TestLongNameLine(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	c := testkit.Dial(t, n.Addr("line"))
	_, _ = io.WriteString(c, strings.Repeat("x", 20000)+"\r\n")
	buf := make([]byte, 4096)
	var got string
	testkit.Eventually(t, "the refusal and the prompt again", func() bool {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, _ := c.Read(buf)
		got += string(buf[:k])
		return strings.Contains(got, "! line too long; the limit is 8192 bytes\r\nWhat is your name? ")
	})
	if strings.Contains(got, "characters long") {
		t.Fatalf("refused as a name: %q", got)
	}
	_, _ = io.WriteString(c, "alice\r\n")
	testkit.Eventually(t, "the welcome", func() bool {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, _ := c.Read(buf)
		got += string(buf[:k])
		return strings.Contains(got, "welcome, alice")
	})
}
