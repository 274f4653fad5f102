package irc_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

func TestCapNegotiation(t *testing.T) {
	_, addr := start(t, false)
	c := raw(t, addr)
	c.Send("CAP LS 302")
	c.Send("NICK alice")
	c.Send("USER u 0 * :A")
	if got, _ := c.ReadLine(); got != ":irc.test CAP * LS :away-notify batch cap-notify draft/chathistory echo-message labeled-response message-tags multi-prefix sasl=PLAIN server-time userhost-in-names" {
		t.Fatalf("LS: %q", got)
	}
	c.Send("CAP REQ :server-time bogus")
	if got, _ := c.ReadLine(); got != ":irc.test CAP * NAK :server-time bogus" {
		t.Fatalf("NAK: %q", got)
	}
	c.Send("CAP REQ echo-message")
	c.Send("CAP REQ :server-time message-tags -echo-message")
	c.Send("CAP LIST")
	for _, w := range []string{
		":irc.test CAP * ACK echo-message",
		":irc.test CAP * ACK :server-time message-tags -echo-message",
		":irc.test CAP * LIST :cap-notify message-tags server-time",
	} {
		if got, _ := c.ReadLine(); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
	c.Send("CAP END")
	c.Expect(" 001 alice ")
	c.Until(" 366 ")
	c.Send("CAP REQ :echo-message") // after registration too
	c.ExpectLines(":irc.test CAP alice ACK echo-message")
}

func TestTagsEchoAndLabels(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "message-tags", "server-time", "echo-message", "batch", "labeled-response")
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()

	a.Send("PRIVMSG #lobby :tagged")
	got := a.ExpectLines("@msgid={*};time={*} :alice!u@{*} PRIVMSG #lobby :tagged")
	b.ExpectLines(":alice!u@{*} PRIVMSG #lobby :tagged") // no caps: no tags
	id := strings.TrimPrefix(strings.SplitN(got[0], ";", 2)[0], "@msgid=")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		t.Fatalf("msgid %q", id)
	}

	a.Send("@label=one PRIVMSG #lobby :labeled")
	a.Send("@label=two PRIVMSG bob,#lobby :to both")
	a.Send("@label=three PING x")
	a.Send("@label=four PONG x")
	a.Send("@label=five NONEXISTENT")
	a.Send("@label=six JOIN #dev")
	a.ExpectLines(
		"@label=one;msgid={*};time={*} :alice!u@{*} PRIVMSG #lobby :labeled",
		"@label=two :irc.test BATCH +{*} labeled-response",
		"@batch={*};msgid={*};time={*} :alice!u@{*} PRIVMSG bob :to both",
		"@batch={*};msgid={*};time={*} :alice!u@{*} PRIVMSG #lobby :to both",
		":irc.test BATCH -{*}",
		"@label=three :irc.test PONG irc.test :x",
		"@label=four :irc.test ACK",
		"@label=five :irc.test 421 alice NONEXISTENT :Unknown command",
		"@label=six :irc.test BATCH +{*} labeled-response",
		"@batch={*};time={*} :alice!u@{*} JOIN #dev",
		"@batch={*} :irc.test 353 alice = #dev :alice",
		"@batch={*} :irc.test 366 alice #dev :End of /NAMES list",
		":irc.test BATCH -{*}",
	)
	b.ExpectLines(
		":alice!u@{*} PRIVMSG #lobby :labeled",
		":alice!u@{*} PRIVMSG bob :to both",
		":alice!u@{*} PRIVMSG #lobby :to both",
	)

	// Without echo-message a labeled message is acknowledged.
	b.Send("CAP REQ :batch labeled-response")
	b.Send("@label=x PRIVMSG alice :hi")
	b.ExpectLines(":irc.test CAP bob ACK :batch labeled-response", "@label=x :irc.test ACK")
}

func TestJoinPlayback(t *testing.T) {
	n, addr := start(t, false)
	nat := testkit.DialNative(t, n.Addr(node.ListenFrame), "writer")
	nat.ExpectType("welcome")
	for i := range 3 {
		nat.Send(nativeSay("m" + strconv.Itoa(i)))
	}
	testkit.Eventually(t, "three stored", func() bool { return n.Hub.Stats().Accepted["say"] == 3 })

	// A client with batch and server-time gets a chathistory batch with
	// the original times.
	a := testkit.DialIRC(t, addr, "alice", true, "batch", "server-time", "message-tags")
	want := []string{
		"@time={*} :alice!u@{*} JOIN #lobby",
		":irc.test BATCH +{*} chathistory #lobby",
		"@batch={*};msgid=1;time={*} :writer!u@{*} PRIVMSG #lobby :m0",
		"@batch={*};msgid=2;time={*} :writer!u@{*} PRIVMSG #lobby :m1",
		"@batch={*};msgid=3;time={*} :writer!u@{*} PRIVMSG #lobby :m2",
		":irc.test BATCH -{*}",
		":irc.test 353 alice = #lobby :alice writer",
		":irc.test 366 alice #lobby :End of /NAMES list",
	}
	checkTail(t, a.Welcome, want)

	// A plain client gets the lines with their time in front.
	b := testkit.DialIRC(t, addr, "bob", true)
	checkTail(t, b.Welcome, []string{
		":bob!u@{*} JOIN #lobby",
		":writer!u@{*} PRIVMSG #lobby :[{*}] m0",
		":writer!u@{*} PRIVMSG #lobby :[{*}] m1",
		":writer!u@{*} PRIVMSG #lobby :[{*}] m2",
		":irc.test 353 bob = #lobby :alice bob writer",
		":irc.test 366 bob #lobby :End of /NAMES list",
	})

	// A client that fetches history itself gets none on join.
	c := testkit.DialIRC(t, addr, "carol", true, "draft/chathistory", "batch", "server-time", "message-tags")
	checkTail(t, c.Welcome, []string{
		"@time={*} :carol!u@{*} JOIN #lobby",
		":irc.test 353 carol = #lobby :alice bob carol writer",
		":irc.test 366 carol #lobby :End of /NAMES list",
	})
}

// checkTail checks the last lines of a burst.
func checkTail(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("burst too short:\n%s", strings.Join(got, "\n"))
	}
	tail := got[len(got)-len(want):]
	for i := range want {
		if !testkit.MatchIRC(want[i], tail[i]) {
			t.Fatalf("line %d:\n got %s\nwant %s\nall:\n%s", i, tail[i], want[i], strings.Join(tail, "\n"))
		}
	}
}

// TestCapChangeAfterRegistration: a capability taken back after
// registration applies from its ACK on.
func TestCapChangeAfterRegistration(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "server-time")
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	b.Send("PRIVMSG #lobby :with a time")
	b.Sync()
	a.ExpectLines("@time={*} :bob!u@{*} PRIVMSG #lobby :with a time")
	a.Send("CAP REQ :-server-time")
	a.ExpectLines(":irc.test CAP alice ACK -server-time")
	b.Send("PRIVMSG #lobby :without")
	b.Sync()
	a.ExpectLines(":bob!u@{*} PRIVMSG #lobby :without")
}
