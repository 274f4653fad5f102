package framed_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// joined connects tutorial clients one by one and waits until each earlier
// client has seen the later ones join, so every client is in the room.
func joined(t *testing.T, n *node.Node, names ...string) []*testkit.Tutorial {
	t.Helper()
	var cs []*testkit.Tutorial
	for _, name := range names {
		c := testkit.DialTutorial(t, n.Addr("frame"), name)
		for _, prev := range cs {
			prev.ExpectNotice(name + " joined lobby")
		}
		cs = append(cs, c)
		testkit.WaitMembers(t, n, "lobby", len(cs))
	}
	return cs
}

func TestTutorialRelayNoEcho(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]

	alice.Send("hello everyone")
	bob.Expect("alice", "hello everyone")
	carol.Expect("alice", "hello everyone")
	bob.Send("hi alice")
	alice.Expect("bob", "hi alice") // alice got no echo of her own message first
	carol.Expect("bob", "hi alice")
	carol.Send("hey")
	alice.Expect("carol", "hey")
	bob.Expect("carol", "hey")
}

func TestTutorialMultibyteExact(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "王芳", "Chloé🌸")
	msg := "héllo wörld — 你好，世界 🌸👩‍💻 ñ"
	cs[0].Send(msg)
	// Read raw bytes: header must be the byte length, payload byte-exact.
	want := string(frame.AppendStringFrame(frame.AppendStringFrame(nil, "王芳"), msg))
	got := readRawPair(t, cs[1], len(want))
	if got != want {
		t.Fatalf("raw bytes\n got %q\nwant %q", got, want)
	}
}

// readRawPair skips notices and returns the raw bytes of the first pair from
// another user.
func readRawPair(t *testing.T, c *testkit.Tutorial, n int) string {
	t.Helper()
	for {
		u, m, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if u != "*" {
			return string(frame.AppendStringFrame(frame.AppendStringFrame(nil, u), m))
		}
	}
}

func TestTutorialSplitAndCoalescedFrames(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob")
	alice, bob := cs[0], cs[1]

	// One frame split into many writes, header cut in the middle.
	f := frame.AppendStringFrame(nil, "split across segments")
	for _, part := range [][]byte{f[:3], f[3:11], f[11:15], f[15:]} {
		alice.SendRaw(part)
		time.Sleep(2 * time.Millisecond) // separate TCP segments
	}
	bob.Expect("alice", "split across segments")

	// Two frames in one write, with the tutorial client's " 5        " style header.
	two := append([]byte(" 3        one"), frame.AppendStringFrame(nil, "two")...)
	alice.SendRaw(two)
	bob.Expect("alice", "one")
	bob.Expect("alice", "two")
}

func TestTutorialLargeMessage(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob")
	big := strings.Repeat("0123456789", 6000) // 60 KB
	cs[0].Send(big)
	cs[1].Expect("alice", big)
}

func TestTutorialAbruptDisconnect(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob", "carol")
	// carol vanishes mid-frame.
	cs[2].SendRaw([]byte("50        only part of"))
	cs[2].Conn.Close()
	cs[0].ExpectNotice("carol left lobby")
	cs[0].Send("still here?")
	cs[1].Expect("alice", "still here?")
	testkit.Eventually(t, "carol's session to end", func() bool { return n.Hub.Sessions() == 2 })
}

func TestTutorialThousandInOrder(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "sender", "receiver")
	var batch []byte
	for i := range 1000 {
		batch = frame.AppendStringFrame(batch, fmt.Sprintf("message %d", i))
	}
	cs[0].SendRaw(batch)
	for i := range 1000 {
		cs[1].Expect("sender", fmt.Sprintf("message %d", i))
	}
}

func TestTutorialBadHeaders(t *testing.T) {
	for _, tt := range []struct{ name, raw, notice string }{
		{"letters", "abcdefghij", "bad frame header"},
		{"negative", "-5        hello", "bad frame header"},
		{"huge", "999999999 ", "over the limit"},
		{"sign", "+5        hello", "bad frame header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := testkit.StartNode(t, node.Config{})
			cs := joined(t, n, "alice", "bob")
			cs[1].SendRaw([]byte(tt.raw))
			cs[1].ExpectNotice(tt.notice)
			cs[1].ExpectClosed()
			cs[0].ExpectNotice("bob left lobby (protocol violation)")
			// Nobody else is affected.
			c := testkit.DialTutorial(t, n.Addr("frame"), "carol")
			cs[0].ExpectNotice("carol joined lobby")
			c.Send("fine")
			cs[0].Expect("carol", "fine")
		})
	}
}

func TestTutorialBadHeaderAsName(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	c := testkit.Dial(t, n.Addr("frame"))
	if _, err := c.Write([]byte("hello there, server")); err != nil {
		t.Fatal(err)
	}
	tc := &testkit.Tutorial{Conn: c}
	_ = tc
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	k, _ := c.Read(buf)
	if !strings.Contains(string(buf[:k]), "bad frame header") {
		t.Fatalf("got %q, want a bad header notice", buf[:k])
	}
}

func TestTutorialNameRules(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	joined(t, n, "alice")
	for _, tt := range []struct{ name, want string }{
		{"ALICE", "taken"},
		{"Server", "reserved"},
		{"*", "reserved"},
		{"", "empty"},
		{"two words", "spaces"},
		{strings.Repeat("x", 33), "limit is 32"},
		{"bad\x1b[31m", "control"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testkit.DialTutorial(t, n.Addr("frame"), tt.name)
			c.ExpectNotice(tt.want)
			c.ExpectClosed()
		})
	}
}

func TestTutorialCommandsAndNotices(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob")
	alice, bob := cs[0], cs[1]
	bob.Send("/nick robert")
	alice.ExpectNotice("bob is now known as robert")
	alice.Send("/me waves")
	bob.Expect("alice", "* alice waves")
	alice.Send("/msg robert psst")
	bob.Expect("alice", "(private) psst")
	alice.Send("/who")
	alice.ExpectNotice("members of lobby (2): alice, robert")
	alice.Send("/bogus")
	alice.ExpectNotice("unknown command /bogus")
	alice.Send("//not a command")
	bob.Expect("alice", "/not a command")
	bob.Send("/quit")
	bob.ExpectClosed()
	alice.ExpectNotice("robert left lobby (quit)")
}

func TestTutorialEscapesStripped(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	cs := joined(t, n, "alice", "bob")
	// Whole sequences go, not just their ESC: no "[31m" debris is left.
	cs[0].Send("\x1b]0;pwned\x07red \x1b[31mtext\x1b[0m\u009b2J\u202eevil \x1bc!")
	cs[1].Expect("alice", "red textevil !")
	cs[0].Send("bad \xff\xfe utf-8")
	cs[1].Expect("alice", "bad \ufffd\ufffd utf-8")
}

// TestTutorialNoHistoryOnJoin: tutorial clients get no replay on any path
// by which they join a room (their protocol cannot tell history from live
// messages): not at connect, not on /join. With --tutorial-history they do.
func TestTutorialNoHistoryOnJoin(t *testing.T) {
	for _, replay := range []bool{false, true} {
		t.Run(fmt.Sprintf("tutorial-history=%v", replay), func(t *testing.T) {
			n := testkit.StartNode(t, node.Config{TutorialHistory: replay})
			nat := testkit.DialNative(t, n.Addr("frame"), "nat")
			nat.ExpectType("welcome")
			nat.Send(native.Request{Type: "join", Room: "dev"})
			nat.Send(native.Request{Type: "say", Room: "dev", Text: text("old news"), Ref: "old"})
			nat.Expect("echo", func(ev native.Event) bool { return ev.Ref == "old" && ev.Type == "say" })

			tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
			testkit.WaitMembers(t, n, "lobby", 2)
			tut.Send("/join dev")
			testkit.WaitMembers(t, n, "dev", 2)
			nat.Send(native.Request{Type: "say", Room: "dev", Text: text("live news")})
			if replay {
				tut.Expect("nat", "old news")
			}
			tut.Expect("nat", "live news") // fails on any other pair: no old news
		})
	}
}
