// Package testkit is the end-to-end test harness: an in-process parley node
// on port 0 and small clients for each wire protocol with send/expect
// helpers that poll with deadlines instead of sleeping.
package testkit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/auth"

	"github.com/coder/websocket"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// Timeout bounds every expectation.
const Timeout = 10 * time.Second

// StartNode starts a node with both front-ends on 127.0.0.1:0 (unless cfg
// sets addresses) and shuts it down when the test ends. Password hashes
// are cheap (auth.TestParams) unless cfg says otherwise.
func StartNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	if cfg.Hub.HashParams == (auth.Params{}) {
		cfg.Hub.HashParams = auth.TestParams
	}
	if cfg.FrameAddr == "" {
		cfg.FrameAddr = "127.0.0.1:0"
	}
	if cfg.LineAddr == "" {
		cfg.LineAddr = "127.0.0.1:0"
	}
	if cfg.NameDialectAddr == "" {
		cfg.NameDialectAddr = "127.0.0.1:0"
	}
	if cfg.WelcomeDialectAddr == "" {
		cfg.WelcomeDialectAddr = "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.IRCAddr == "" {
		cfg.IRCAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// Eventually polls cond until it holds or Timeout passes.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitMembers waits until room has exactly count members.
func WaitMembers(t testing.TB, n *node.Node, room string, count int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d members in %s", count, room), func() bool {
		rooms, _, _ := n.Hub.Rooms("", 0)
		for _, r := range rooms {
			if r.Name == room {
				return r.Members == count
			}
		}
		return count == 0
	})
}

// Dial connects to addr and closes the connection when the test ends.
func Dial(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Tutorial is a client of the tutorial protocol.
type Tutorial struct {
	t    testing.TB
	Conn net.Conn
	r    *frame.Reader
}

// DialTutorial connects and sends name as the first frame.
func DialTutorial(t testing.TB, addr net.Addr, name string) *Tutorial {
	t.Helper()
	c := Dial(t, addr)
	tc := &Tutorial{t: t, Conn: c, r: frame.NewReader(bufio.NewReader(c), 1<<20)}
	tc.Send(name)
	return tc
}

// Send writes one frame the way the tutorial's client does.
func (c *Tutorial) Send(text string) {
	c.t.Helper()
	c.SendRaw(frame.AppendStringFrame(nil, text))
}

// SendRaw writes bytes as they are.
func (c *Tutorial) SendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("tutorial write: %v", err)
	}
}

// Read returns the next (username, text) pair.
func (c *Tutorial) Read() (user, text string, err error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	u, err := c.r.ReadFrame()
	if err != nil {
		return "", "", err
	}
	m, err := c.r.ReadFrame()
	if err != nil {
		return "", "", err
	}
	return string(u), string(m), nil
}

// Expect reads pairs until (user, text) arrives, skipping server notices
// (pairs from "*"). Any other pair fails the test: nothing may come between.
func (c *Tutorial) Expect(user, text string) {
	c.t.Helper()
	for {
		u, m, err := c.Read()
		if err != nil {
			c.t.Fatalf("waiting for (%q, %q): %v", user, text, err)
		}
		if u == user && m == text {
			return
		}
		if u != "*" {
			c.t.Fatalf("got (%q, %q), want (%q, %q)", u, m, user, shorten(text))
		}
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ExpectNotice reads pairs until a server notice containing text arrives.
func (c *Tutorial) ExpectNotice(text string) {
	c.t.Helper()
	for {
		u, m, err := c.Read()
		if err != nil {
			c.t.Fatalf("waiting for notice %q: %v", text, err)
		}
		if u == "*" && strings.Contains(m, text) {
			return
		}
	}
}

// ExpectClosed reads until the server closes the connection.
func (c *Tutorial) ExpectClosed() {
	c.t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	_, err := io.Copy(io.Discard, c.Conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatalf("connection still open")
	}
}

// Native is a client of the native JSON protocol.
type Native struct {
	t    testing.TB
	Conn net.Conn
	r    *frame.Reader
	ref  int
}

// DialNative connects and sends a hello for name with the given extra
// fields merged in. It does not wait for the welcome.
func DialNative(t testing.TB, addr net.Addr, name string) *Native {
	t.Helper()
	return NativeOn(t, Dial(t, addr), name)
}

// NativeOnWith sends the given hello on an open connection and returns
// the client. It does not wait for the welcome.
func NativeOnWith(t testing.TB, c net.Conn, hello native.Request) *Native {
	t.Helper()
	n := &Native{t: t, Conn: c, r: frame.NewReader(bufio.NewReader(c), 1<<20)}
	n.Send(hello)
	return n
}

// NativeOn sends a hello for name on an open connection (a TLS one, say)
// and returns the client. It does not wait for the welcome.
func NativeOn(t testing.TB, c net.Conn, name string) *Native {
	t.Helper()
	n := &Native{t: t, Conn: c, r: frame.NewReader(bufio.NewReader(c), 1<<20)}
	n.Send(native.Request{Type: "hello", Name: name, Version: native.Version})
	return n
}

// Send writes one request.
func (n *Native) Send(req native.Request) {
	n.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		n.t.Fatal(err)
	}
	n.SendRaw(b)
}

// SendRaw writes one frame with payload as is.
func (n *Native) SendRaw(payload []byte) {
	n.t.Helper()
	if _, err := n.Conn.Write(frame.AppendFrame(nil, payload)); err != nil {
		n.t.Fatalf("native write: %v", err)
	}
}

// Ref returns a fresh correlation token.
func (n *Native) Ref() string { n.ref++; return strconv.Itoa(n.ref) }

// Next reads the next event.
func (n *Native) Next() (native.Event, error) {
	_ = n.Conn.SetReadDeadline(time.Now().Add(Timeout))
	p, err := n.r.ReadFrame()
	if err != nil {
		return native.Event{}, err
	}
	return native.DecodeEvent(p)
}

// Expect reads events until one matches, skipping the others.
func (n *Native) Expect(what string, match func(native.Event) bool) native.Event {
	n.t.Helper()
	var seen []string
	for {
		ev, err := n.Next()
		if err != nil {
			n.t.Fatalf("waiting for %s: %v (seen: %s)", what, err, strings.Join(seen, " "))
		}
		if match(ev) {
			return ev
		}
		seen = append(seen, ev.Type)
	}
}

// ExpectType reads until an event of type typ arrives.
func (n *Native) ExpectType(typ string) native.Event {
	n.t.Helper()
	return n.Expect(typ, func(ev native.Event) bool { return ev.Type == typ })
}

// Line is a client of the line protocol (like nc).
type Line struct {
	t        testing.TB
	Conn     net.Conn
	r        *bufio.Reader
	Greeting []string // the lines up to the lobby join (the welcome; the lobby's history follows the join)
}

// DialLine connects, answers the name prompt with name and waits until the
// client is in the lobby.
func DialLine(t testing.TB, addr net.Addr, name string) *Line {
	t.Helper()
	l := &Line{t: t, Conn: Dial(t, addr)}
	l.r = bufio.NewReader(l.Conn)
	l.Send(name)
	l.Greeting = l.Until("-- you joined lobby")
	return l
}

// DialLineLogin connects to the line port as a registered name: it gives
// the name, then the password at the prompt that follows, and waits until
// the client is in the lobby.
func DialLineLogin(t testing.TB, addr net.Addr, name, password string) *Line {
	t.Helper()
	l := &Line{t: t, Conn: Dial(t, addr)}
	l.r = bufio.NewReader(l.Conn)
	l.Send(name)
	l.Send(password)
	l.Greeting = l.Until("-- you joined lobby")
	return l
}

// Send writes one line.
func (l *Line) Send(text string) {
	l.t.Helper()
	if _, err := fmt.Fprintf(l.Conn, "%s\n", text); err != nil {
		l.t.Fatalf("line write: %v", err)
	}
}

// ReadLine returns the next line without its ending.
func (l *Line) ReadLine() (string, error) {
	_ = l.Conn.SetReadDeadline(time.Now().Add(Timeout))
	s, err := l.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

// Expect reads lines until one contains substr and returns it.
func (l *Line) Expect(substr string) string {
	l.t.Helper()
	lines := l.Until(substr)
	return lines[len(lines)-1]
}

// Until reads lines until one contains substr and returns all of them, that
// one last.
func (l *Line) Until(substr string) []string {
	l.t.Helper()
	var seen []string
	for {
		s, err := l.ReadLine()
		if strings.Contains(s, substr) {
			return append(seen, s)
		}
		if err != nil {
			l.t.Fatalf("waiting for line with %q: %v; seen %q", substr, err, seen)
		}
		seen = append(seen, s)
	}
}

// WS is a native-protocol client over a WebSocket (/ws).
type WS struct {
	t    testing.TB
	Conn *websocket.Conn
}

// DialWS opens /ws on the node's HTTP address with the given Origin header
// ("" for the server's own) and sends a hello for name unless name is "".
func DialWS(t testing.TB, addr net.Addr, origin, name string) *WS {
	t.Helper()
	c, err := DialWSRaw(t, addr, origin)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	w := &WS{t: t, Conn: c}
	if name != "" {
		w.Send(native.Request{Type: "hello", Name: name, Version: native.Version})
	}
	return w
}

// DialWSRaw opens /ws and returns the connection or the error.
func DialWSRaw(t testing.TB, addr net.Addr, origin string) (*websocket.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	h := http.Header{}
	if origin == "" {
		origin = "http://" + addr.String()
	}
	h.Set("Origin", origin)
	c, _, err := websocket.Dial(ctx, "ws://"+addr.String()+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, nil
}

// Send writes one request as a text message.
func (w *WS) Send(req native.Request) {
	w.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		w.t.Fatal(err)
	}
	w.SendRaw(websocket.MessageText, b)
}

// SendRaw writes one message as it is.
func (w *WS) SendRaw(typ websocket.MessageType, b []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := w.Conn.Write(ctx, typ, b); err != nil {
		w.t.Fatalf("WebSocket write: %v", err)
	}
}

// Next reads the next event.
func (w *WS) Next() (native.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	typ, b, err := w.Conn.Read(ctx)
	if err != nil {
		return native.Event{}, err
	}
	if typ != websocket.MessageText {
		return native.Event{}, fmt.Errorf("a binary message from the server")
	}
	return native.DecodeEvent(b)
}

// Expect reads events until one matches, skipping the others.
func (w *WS) Expect(what string, match func(native.Event) bool) native.Event {
	w.t.Helper()
	var seen []string
	for {
		ev, err := w.Next()
		if err != nil {
			w.t.Fatalf("waiting for %s: %v (seen: %s)", what, err, strings.Join(seen, " "))
		}
		if match(ev) {
			return ev
		}
		seen = append(seen, ev.Type)
	}
}

// ExpectType reads until an event of type typ arrives.
func (w *WS) ExpectType(typ string) native.Event {
	w.t.Helper()
	return w.Expect(typ, func(ev native.Event) bool { return ev.Type == typ })
}
