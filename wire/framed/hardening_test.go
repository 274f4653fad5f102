package framed_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// readAll reads frames from c until the server closes it and returns their
// payloads; a timeout fails the test.
func readAll(t *testing.T, c net.Conn) []string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	fr := frame.NewReader(bufio.NewReader(c), 1<<20)
	var out []string
	for {
		p, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %q", out)
			}
			return out
		}
		out = append(out, string(p))
	}
}

func containsAny(frames []string, substr string) bool {
	for _, f := range frames {
		if strings.Contains(f, substr) {
			return true
		}
	}
	return false
}

// TestHandshakeDeadline: a connection that does not finish its handshake in
// time is told so and closed, whatever step it is stuck at.
func TestHandshakeDeadline(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{HandshakeTimeout: 200 * time.Millisecond}})
	for _, tt := range []struct{ name, raw, want string }{
		{"silence", "", "no name within"},
		{"header then silence", "5         ", "no name within"},
		{"half a header", "5  ", "no name within"},
		{"payload shorter than declared", "100       only ten b", "no name within"},
		{"native hello refused then silence", string(frame.AppendStringFrame(nil, `{"type":"hello","name":"Server","version":1,"ref":"x"}`)), "no hello accepted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.Dial(t, n.Addr("frame"))
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, c); !containsAny(got, tt.want) {
				t.Fatalf("got %q, want a frame with %q", got, tt.want)
			}
		})
	}
	testkit.Eventually(t, "no connection left", func() bool { return n.Server.Conns() == 0 })
}

// TestShortPayloadThenClose: a frame cut short by a close ends only that
// client; nothing of it is relayed.
func TestShortPayloadThenClose(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob")
	cs[1].SendRaw([]byte("100       only ten b"))
	cs[1].Conn.Close()
	cs[0].ExpectNotice("bob left lobby (connection closed)")
	c := testkit.DialTutorial(t, n.Addr("frame"), "carol")
	cs[0].ExpectNotice("carol joined lobby")
	c.Send("still here")
	cs[0].Expect("carol", "still here")
}

// TestTutorialPassword: the tutorial client gives "name:password" as its
// username.
func TestTutorialPassword(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "open sesame"}})
	for _, tt := range []struct{ name, first, want string }{
		{"missing", "alice", "needs a password"},
		{"wrong", "alice:guess", "wrong password"},
		{"empty", "alice:", "needs a password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.DialTutorial(t, n.Addr("frame"), tt.first)
			c.ExpectNotice(tt.want)
			c.ExpectClosed()
		})
	}
	alice := testkit.DialTutorial(t, n.Addr("frame"), "alice:open sesame")
	testkit.WaitMembers(t, n, "lobby", 1)
	bob := testkit.DialTutorial(t, n.Addr("frame"), "bob:open sesame")
	alice.ExpectNotice("bob joined lobby")
	bob.Send("in")
	alice.Expect("bob", "in")
}

// TestNativePassword: the hello's password field; a wrong one is final.
func TestNativePassword(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "open sesame"}})
	for _, pw := range []string{"", "guess"} {
		c := testkit.Dial(t, n.Addr("frame"))
		nc := nativeOn(t, c)
		nc.send(native.Request{Type: "hello", Name: "alice", Version: 1, Password: pw, Ref: "h"})
		got := readAll(t, c)
		if len(got) != 1 || !strings.Contains(got[0], `"code":"auth_failed"`) {
			t.Fatalf("password %q: got %q, want one auth_failed error", pw, got)
		}
	}
	c := testkit.Dial(t, n.Addr("frame"))
	nc := nativeOn(t, c)
	nc.send(native.Request{Type: "hello", Name: "alice", Version: 1, Password: "open sesame"})
	nc.expect("welcome")
}

// TestTutorialFlood: a client sending as fast as it can gets its burst
// through, is told to slow down and slowed (nothing it sent is lost), then
// disconnected for keeping it up; the others chat on. The hub's clock is
// fake, so the slowing costs no real time.
func TestTutorialFlood(t *testing.T) {
	clock := testkit.NewClock()
	limit := chat.RateLimit{Rate: 1, Burst: 5, FloodAfter: 10 * time.Second}
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Now: clock.Now, Sleep: clock.Sleep, RateLimit: limit}})
	cs := joined(t, n, "alice", "bob", "flood")
	alice, bob, flood := cs[0], cs[1], cs[2]
	go func() {
		var b []byte
		for i := range 10000 {
			b = frame.AppendStringFrame(b, fmt.Sprint("spam ", i))
		}
		_, _ = flood.Conn.Write(b) // fails once the server has closed it
	}()
	// The part is announced at once; accepted messages once stored, so
	// the two may arrive in either order. alice speaks after the part: her
	// message comes after everything the flood got accepted.
	var spam []string
	for {
		u, m, err := bob.Read()
		if err != nil {
			t.Fatalf("bob after %d messages: %v", len(spam), err)
		}
		if u == "alice" && m == "calm again" {
			break
		}
		if u == "*" && m == "flood left lobby (flooding)" {
			alice.Send("calm again")
		}
		if u == "flood" {
			spam = append(spam, m)
		}
	}
	for i, m := range spam {
		if want := fmt.Sprint("spam ", i); m != want {
			t.Fatalf("message %d is %q, want %q: lost or reordered", i, m, want)
		}
	}
	// Burst, then one a second until 10 s of slowing: about 15 accepted.
	if len(spam) < limit.Burst+5 || len(spam) > limit.Burst+12 {
		t.Fatalf("%d messages of the flood accepted, want about %d", len(spam), limit.Burst+10)
	}
	flood.ExpectNotice("slow down")
	flood.ExpectNotice("disconnecting")
	flood.ExpectClosed()
}

// TestNativeFlood: the same for a native client; the warning carries the
// ref of the first slowed request, and the disconnect is a rate_limited
// error.
func TestNativeFlood(t *testing.T) {
	clock := testkit.NewClock()
	limit := chat.RateLimit{Rate: 1, Burst: 3, FloodAfter: 5 * time.Second}
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Now: clock.Now, Sleep: clock.Sleep, RateLimit: limit}})
	bob := welcomed(t, n, "bob")
	flood := welcomed(t, n, "flood")
	bob.Expect("flood joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "flood" })
	for i := range 100 {
		flood.Send(native.Request{Type: "say", Text: text(fmt.Sprint("spam ", i)), Ref: fmt.Sprint("r", i)})
	}
	var codes []string
	echoed := 0
	for {
		ev, err := flood.Next()
		if err != nil {
			break
		}
		switch ev.Type {
		case "error":
			codes = append(codes, ev.Code+"/"+ev.Ref)
		case "say":
			if want := fmt.Sprint("r", echoed); ev.Ref != want {
				t.Fatalf("echo %d has ref %q, want %q", echoed, ev.Ref, want)
			}
			echoed++
		}
	}
	if len(codes) != 2 || codes[0] != "rate_limited/r3" || !strings.HasPrefix(codes[1], "rate_limited/") {
		t.Fatalf("errors %q, want a slow-down for r3 then the disconnect", codes)
	}
	// The part is announced at once, the messages once stored: either
	// order. bob speaks after the part, so his own echo comes after every
	// message the flood got accepted (the flood may not have seen the
	// echoes of its last ones: it was gone).
	says := 0
	for {
		ev, err := bob.Next()
		if err != nil {
			t.Fatalf("bob after %d of the flood's messages: %v", says, err)
		}
		if ev.Type == "part" && ev.Name == "flood" && ev.Reason == "flooding" {
			bob.Send(native.Request{Type: "say", Text: text("calm"), Ref: "calm"})
		}
		if ev.Type != "say" {
			continue
		}
		if ev.Ref == "calm" {
			break
		}
		if want := fmt.Sprint("spam ", says); ev.From != "flood" || ev.Text != want {
			t.Fatalf("bob got %+v, want %q", ev, want)
		}
		says++
	}
	if says < echoed || says < limit.Burst+3 {
		t.Fatalf("bob got %d of the flood's messages; it saw %d echoed", says, echoed)
	}
}

// TestNativeIdlePing: a silent native client is pinged; one that answers
// stays, one that does not is closed as idle. (Tutorial and line clients
// have no idle deadline: the watching tutorial client stays.)
func TestNativeIdlePing(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Session: engine.Options{IdleTimeout: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}})
	watch := joined(t, n, "watch")[0]

	alive := welcomed(t, n, "alive")
	for range 3 {
		alive.ExpectType("ping")
		alive.Send(native.Request{Type: "pong"})
	}
	alive.Send(native.Request{Type: "quit"})
	watch.ExpectNotice("alive left lobby (quit)")

	dead := welcomed(t, n, "dead")
	dead.ExpectType("ping")
	if ev := dead.ExpectType("error"); !strings.Contains(ev.Message, "idle") {
		t.Fatalf("error = %+v", ev)
	}
	if _, err := dead.Next(); err == nil {
		t.Fatal("still open after the ping went unanswered")
	}
	watch.ExpectNotice("dead left lobby (idle timeout)")
}

// TestNativeUnknownType: unknown event types and wrong field types are
// errors, not disconnects.
func TestNativeUnknownType(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := welcomed(t, n, "alice")
	for _, tt := range []struct{ payload, code string }{
		{`{"type":"explode","ref":"1"}`, "unknown_type"},
		{`{"type":"say","room":["lobby"],"ref":"2"}`, "invalid"},
		{`{"type":"join","room":7}`, "invalid"},
		{`{"type":"history","limit":"all"}`, "invalid"},
		{`{"type":"say","text":"a","text":"b","ref":"dup"}`, ""}, // last wins, as encoding/json does
		{`[1,2,3]`, "invalid"},
		{`"type"`, "invalid"},
		{`null`, "invalid"},
	} {
		alice.SendRaw([]byte(tt.payload))
		ev := alice.Expect("reply", func(ev native.Event) bool { return ev.Type == "error" || ev.Type == "say" })
		if ev.Code != tt.code {
			t.Fatalf("%s: got %+v, want code %q", tt.payload, ev, tt.code)
		}
	}
}

// TestConnectionLimits: past the limits a client is refused in its own
// protocol, not left hanging; closing one makes room again.
func TestConnectionLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		n := testkit.StartNode(t, node.Config{Server: server.Options{MaxConns: 2}})
		a := testkit.DialTutorial(t, n.Addr("frame"), "a")
		testkit.DialLine(t, n.Addr("line"), "b")
		// Tutorial, native and line clients are each refused their way.
		tut := testkit.DialTutorial(t, n.Addr("frame"), "c")
		tut.ExpectNotice("server is full")
		tut.ExpectClosed()
		c := testkit.Dial(t, n.Addr("frame"))
		nativeOn(t, c).send(native.Request{Type: "hello", Name: "d", Version: 1})
		if got := readAll(t, c); len(got) != 1 || !strings.Contains(got[0], `"code":"server_full"`) {
			t.Fatalf("native refusal %q", got)
		}
		l := testkit.Dial(t, n.Addr("line"))
		b, _ := io.ReadAll(l)
		if !strings.Contains(string(b), "! the server is full") {
			t.Fatalf("line refusal %q", b)
		}
		a.Conn.Close()
		testkit.Eventually(t, "a's slot freed", func() bool { return n.Server.Admitted() == 1 })
		testkit.DialLine(t, n.Addr("line"), "e")
	})
	t.Run("per IP", func(t *testing.T) {
		n := testkit.StartNode(t, node.Config{Server: server.Options{MaxConnsPerIP: 2, LimitLoopback: true}})
		testkit.DialTutorial(t, n.Addr("frame"), "a")
		testkit.DialTutorial(t, n.Addr("frame"), "b")
		c := testkit.DialTutorial(t, n.Addr("frame"), "c")
		c.ExpectNotice("too many connections from your address")
		c.ExpectClosed()
	})
	t.Run("loopback exempt", func(t *testing.T) {
		n := testkit.StartNode(t, node.Config{Server: server.Options{MaxConnsPerIP: 1}})
		testkit.DialTutorial(t, n.Addr("frame"), "a")
		testkit.DialLine(t, n.Addr("line"), "b")
	})
}

// nativeConn is a bare native client over any net.Conn (TLS included).
type nativeConnT struct {
	t  *testing.T
	c  net.Conn
	fr *frame.Reader
}

func nativeOn(t *testing.T, c net.Conn) *nativeConnT {
	return &nativeConnT{t: t, c: c, fr: frame.NewReader(bufio.NewReader(c), 1<<20)}
}

func (n *nativeConnT) send(req native.Request) {
	n.t.Helper()
	b, _ := json.Marshal(req)
	if _, err := n.c.Write(frame.AppendFrame(nil, b)); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nativeConnT) expect(typ string) native.Event {
	n.t.Helper()
	_ = n.c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	for {
		p, err := n.fr.ReadFrame()
		if err != nil {
			n.t.Fatalf("waiting for %s: %v", typ, err)
		}
		ev, err := native.DecodeEvent(p)
		if err != nil {
			n.t.Fatal(err)
		}
		if ev.Type == typ {
			return ev
		}
	}
}

// TestTLS: with a certificate every front-end speaks TLS 1.2+; plain TCP,
// and TLS older than 1.2, get nowhere.
func TestTLS(t *testing.T) {
	cert := testkit.SelfSignedCert(t)
	n := testkit.StartNode(t, node.Config{TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile,
		Server: server.Options{HandshakeTimeout: 2 * time.Second}})

	nat := nativeOn(t, testkit.DialTLS(t, n.Addr("frame"), cert.Pool))
	nat.send(native.Request{Type: "hello", Name: "nat", Version: 1})
	nat.expect("welcome")

	tut := testkit.DialTLS(t, n.Addr("frame"), cert.Pool)
	if _, err := tut.Write(frame.AppendStringFrame(nil, "tut")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitMembers(t, n, "lobby", 2)
	if _, err := tut.Write(frame.AppendStringFrame(nil, "over tls")); err != nil {
		t.Fatal(err)
	}
	if ev := nat.expect("say"); ev.Text != "over tls" || ev.From != "tut" {
		t.Fatalf("say = %+v", ev)
	}

	line := testkit.DialTLS(t, n.Addr("line"), cert.Pool)
	lr := bufio.NewReader(line)
	_ = line.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.WriteString(line, "nc\r\n"); err != nil {
		t.Fatal(err)
	}
	for {
		s, err := lr.ReadString('\n')
		if err != nil {
			t.Fatalf("line over TLS: %v", err)
		}
		if strings.Contains(s, "welcome, nc") {
			break
		}
	}

	// The client library with a TLS config (what parley join -tls uses).
	cl, err := client.Dial(t.Context(), client.Config{Addr: n.Addr("frame").String(), Name: "lib", TLS: &tls.Config{RootCAs: cert.Pool}})
	if err != nil {
		t.Fatalf("client over TLS: %v", err)
	}
	cl.Close()

	// Plain text to a TLS port: the handshake fails, the connection closes.
	plain := testkit.DialTutorial(t, n.Addr("frame"), "plain")
	plain.ExpectClosed()

	// TLS 1.1 is refused.
	old, err := tls.Dial("tcp", n.Addr("frame").String(), &tls.Config{RootCAs: cert.Pool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// TestRoomTableExhaustion: one client cannot stop everyone creating rooms.
// A hello may join at most 50 rooms (each join charged to the rate limit),
// a session may be in at most MaxSessionRooms, and rooms are freed when
// they empty, so once the attacker has gone new rooms work again.
func TestRoomTableExhaustion(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{MaxRooms: 40, MaxSessionRooms: 30}})
	var rooms []string
	for i := range 6500 {
		rooms = append(rooms, fmt.Sprintf("a%d", i))
	}
	attacker := nativeOn(t, testkit.Dial(t, n.Addr("frame")))
	attacker.send(native.Request{Type: "hello", Name: "attacker", Version: 1, Rooms: rooms, Ref: "h"})
	attacker.expect("welcome")
	if ev := attacker.expect("error"); !strings.Contains(ev.Message, "at most 50 rooms") {
		t.Fatalf("error %+v", ev)
	}
	other := testkit.DialNative(t, n.Addr("frame"), "other")
	other.ExpectType("welcome")
	attacker.expect("error") // the 30th room would be one too many
	r, _, _ := n.Hub.Rooms("", 0)
	if len(r) != 30 { // the lobby and 29 more: 30 rooms for one session
		t.Fatalf("%d rooms; the session cap of 30 did not hold", len(r))
	}
	other.Send(native.Request{Type: "join", Room: "legit", Ref: "j"})
	if ev := other.Expect("a room of its own", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "legit" || ev.Type == "error" }); ev.Type == "error" {
		t.Fatalf("joining a new room: %+v", ev)
	}

	attacker.c.Close()
	testkit.WaitMembers(t, n, "a0", 0)
	testkit.Eventually(t, "the attacker's rooms to be freed", func() bool { r, _, _ := n.Hub.Rooms("", 0); return len(r) == 2 })
	for i := range 20 { // more than the 40 - 30 the attacker left room for
		other.Send(native.Request{Type: "join", Room: fmt.Sprintf("after%d", i)})
	}
	other.Expect("the last new room", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "after19" })
}

// TestListRepliesArePaged: a rooms or members reply holds at most a page
// (500 names, about 32 KiB); a cut one says "more", and the next page
// starts after the cursor. No reply outgrows a frame.
func TestListRepliesArePaged(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{MaxSessionRooms: 2000}})
	c := testkit.DialNative(t, n.Addr("frame"), "lister")
	c.ExpectType("welcome")
	for i := range 1200 {
		c.Send(native.Request{Type: "join", Room: fmt.Sprintf("r%04d", i)})
	}
	c.Expect("the last join", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "r1199" })
	var all []string
	cursor := ""
	for page := 0; ; page++ {
		ref := fmt.Sprint("p", page)
		c.Send(native.Request{Type: "rooms", Cursor: cursor, Ref: ref})
		ev := c.Expect("a page", func(ev native.Event) bool { return ev.Ref == ref })
		if len(ev.Rooms) > chat.MaxListEntries {
			t.Fatalf("a page of %d rooms", len(ev.Rooms))
		}
		for _, r := range ev.Rooms {
			all = append(all, r.Name)
		}
		if ev.Text != native.More {
			break
		}
		cursor = ev.Rooms[len(ev.Rooms)-1].Name
	}
	if len(all) != 1201 || all[0] != "lobby" && all[0] != "r0000" {
		t.Fatalf("paged through %d rooms", len(all))
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r] {
			t.Fatalf("%s listed twice", r)
		}
		seen[r] = true
	}
}

// TestSlowlorisFrames: a started frame must be finished within
// MessageTimeout (the client is told and closed). (That a frame's buffer
// grows with the bytes that arrive is wire/frame's TestReaderGrowsBuffer.)
func TestSlowlorisFrames(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Server: server.Options{MessageTimeout: 300 * time.Millisecond}})
	t.Run("a started frame times out", func(t *testing.T) {
		c := testkit.DialTutorial(t, n.Addr("frame"), "slow")
		testkit.WaitMembers(t, n, "lobby", 1)
		c.SendRaw([]byte("100       only ten b"))
		c.ExpectNotice("a message was started but not finished within 300ms")
		c.ExpectClosed()
	})
}
