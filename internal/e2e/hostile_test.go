package e2e

import (
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// TestHostileTextReachesNoTerminal reproduces the outside probe: a native
// client puts escapes, an OSC title, NUL, the 8-bit CSI, a right-to-left
// override, bare CRs and line breaks into a part reason, a topic, a quit
// reason and a message; the line and tutorial clients that see them get
// clean text, one line where one is due, and no line that passes for
// another user's.
func TestHostileTextReachesNoTerminal(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	nc := testkit.DialLine(t, n.Addr("line"), "vline")
	tut := testkit.DialTutorial(t, n.Addr("frame"), "tmal")
	testkit.WaitMembers(t, n, "lobby", 2)
	evil := "\x1b[2K\r[06:46] <vline> my password is hunter2\nvline > I agree\x1b]0;pwned\x07\x00\u009b2J\u202eevil\r"
	bad := testkit.DialNative(t, n.Addr("frame"), "lmal")
	bad.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 3)

	bad.Send(native.Request{Type: "say", Text: &evil})
	bad.Send(native.Request{Type: "topic", Room: "lobby", Text: &evil})
	bad.Send(native.Request{Type: "part", Room: "lobby", Reason: evil})
	bad.Send(native.Request{Type: "join", Room: "lobby"})
	bad.Send(native.Request{Type: "quit", Reason: evil})

	lines := nc.Until("lmal left lobby (quit")
	for _, l := range lines {
		if strings.ContainsAny(l, "\x1b\x00\x07\r\u009b\u202e") {
			t.Fatalf("line client got %q", l)
		}
		if strings.HasPrefix(l, "[06:46] <vline>") || strings.HasPrefix(l, "vline >") {
			t.Fatalf("line client got a forged line %q", l)
		}
	}
	for {
		u, m, err := tut.Read()
		if err != nil {
			t.Fatalf("tutorial client: %v", err)
		}
		if strings.ContainsAny(u+m, "\x1b\x00\x07\r\u009b\u202e") {
			t.Fatalf("tutorial client got (%q, %q)", u, m)
		}
		for i, l := range strings.Split(m, "\n") {
			if i > 0 && !strings.HasPrefix(l, "    ") {
				t.Fatalf("tutorial client got an unindented line %q in (%q, %q)", l, u, m)
			}
		}
		if u == "*" && strings.Contains(m, "lmal left lobby (quit") {
			break
		}
	}
}
