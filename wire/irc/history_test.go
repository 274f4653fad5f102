package irc_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

func nativeSay(text string) native.Request { return native.Request{Type: "say", Text: &text} }

// echo is one sent message as the sender saw it: its msgid and time.
type echo struct{ id, time string }

func TestChatHistory(t *testing.T) {
	for _, kind := range []string{node.StoreMemory, node.StoreSQLite} {
		t.Run(kind, func(t *testing.T) {
			_, addr := start(t, true, func(c *node.Config) {
				c.StoreConfig = node.StoreConfig{StoreKind: kind, DataDir: t.TempDir()}
			})
			caps := []string{"message-tags", "server-time", "echo-message", "batch", "labeled-response", "draft/chathistory"}
			a := testkit.DialIRC(t, addr, "alice", false, caps...)
			b := testkit.DialIRC(t, addr, "bob", false, caps...)
			a.Send("JOIN #hist")
			a.Sync()
			var e []echo
			for i := range 10 {
				a.Send("PRIVMSG #hist :message " + strconv.Itoa(i))
				got := a.ExpectLines("@msgid={*};time={*} :alice!u@{*} PRIVMSG #hist :message " + strconv.Itoa(i))
				tags := strings.Split(strings.TrimPrefix(strings.Fields(got[0])[0], "@"), ";")
				e = append(e, echo{strings.TrimPrefix(tags[0], "msgid="), strings.TrimPrefix(tags[1], "time=")})
				time.Sleep(2 * time.Millisecond) // distinct millisecond times, as a client's typing would have
			}
			check := func(req string, want []int) {
				t.Helper()
				a.Send(req)
				lines := a.Sync()
				target := strings.Fields(req)[2] // the batch names it as the client did
				if len(lines) != len(want)+2 || !testkit.MatchIRC(":irc.test BATCH +{*} chathistory "+target, lines[0]) || !testkit.MatchIRC(":irc.test BATCH -{*}", lines[len(lines)-1]) {
					t.Fatalf("%s:\n%s", req, strings.Join(lines, "\n"))
				}
				for i, w := range want {
					line := "@batch={*};msgid=" + e[w].id + ";time=" + e[w].time + " :alice!u@{*} PRIVMSG #hist :message " + strconv.Itoa(w)
					if !testkit.MatchIRC(line, lines[i+1]) {
						t.Fatalf("%s: line %d\n got %s\nwant %s", req, i, lines[i+1], line)
					}
				}
			}
			span := func(from, to int) []int {
				var s []int
				for i := from; i < to; i++ {
					s = append(s, i)
				}
				return s
			}
			id := func(i int) string { return "msgid=" + e[i].id }
			ts := func(i int) string { return "timestamp=" + e[i].time }
			check("CHATHISTORY LATEST #hist * 20", span(0, 10))
			check("CHATHISTORY LATEST #hist * 5", span(5, 10))
			check("CHATHISTORY LATEST #hist "+id(4)+" 20", span(5, 10))
			check("CHATHISTORY LATEST #hist "+ts(4)+" 20", span(5, 10))
			check("CHATHISTORY BEFORE #hist "+id(6)+" 20", span(0, 6))
			check("CHATHISTORY BEFORE #hist "+ts(6)+" 2", span(4, 6))
			check("CHATHISTORY AFTER #hist "+id(3)+" 20", span(4, 10))
			check("CHATHISTORY AFTER #hist "+ts(3)+" 3", span(4, 7))
			check("CHATHISTORY BETWEEN #hist "+id(0)+" "+id(9)+" 20", span(1, 9))
			check("CHATHISTORY BETWEEN #hist "+id(9)+" "+id(0)+" 3", span(6, 9))
			check("CHATHISTORY BETWEEN #hist "+ts(0)+" "+ts(9)+" 3", span(1, 4))
			check("CHATHISTORY AROUND #hist "+id(7)+" 1", span(7, 8))
			check("CHATHISTORY AROUND #hist "+id(7)+" 3", span(6, 9))
			check("CHATHISTORY LATEST #HIST * 1", span(9, 10))

			// Errors: a channel one is not in, a bad reference, a bad limit.
			b.Send("CHATHISTORY LATEST #hist * 10")
			b.Send("CHATHISTORY LATEST #nowhere * 10")
			b.Send("CHATHISTORY BEFORE #hist * 10")
			b.Send("CHATHISTORY LATEST #hist * none")
			b.Send("CHATHISTORY SIDEWAYS #hist * 10")
			b.ExpectLines(
				":irc.test FAIL CHATHISTORY INVALID_TARGET LATEST #hist :You are not in that channel",
				":irc.test FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere :You are not in that channel",
				":irc.test FAIL CHATHISTORY INVALID_TARGET BEFORE #hist :You are not in that channel",
				":irc.test FAIL CHATHISTORY INVALID_TARGET LATEST #hist :You are not in that channel",
				":irc.test FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS :Unknown subcommand",
			)
			b.Send("JOIN #hist")
			b.Send("CHATHISTORY BEFORE #hist * 10")
			b.Send("CHATHISTORY LATEST #hist * none")
			b.ExpectLines(
				"@time={*} :bob!u@{*} JOIN #hist",
				":irc.test 353 bob = #hist :alice bob",
				":irc.test 366 bob #hist :End of /NAMES list",
				":irc.test FAIL CHATHISTORY INVALID_PARAMS BEFORE #hist :Bad message reference",
				":irc.test FAIL CHATHISTORY INVALID_PARAMS LATEST #hist :Bad limit",
			)

			// Direct messages: per conversation.
			a.Send("PRIVMSG bob :just us")
			a.Sync()
			b.Send("CHATHISTORY LATEST alice * 10")
			lines := b.Sync()
			if len(lines) != 4 || !testkit.MatchIRC("{**}:alice!u@{*} PRIVMSG bob :just us", lines[2]) {
				t.Fatalf("DM history:\n%s", strings.Join(lines, "\n"))
			}

			// TARGETS: the conversations with a message in the window.
			b.Send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
			lines = b.Sync()
			if len(lines) != 4 || !strings.Contains(lines[1], "CHATHISTORY TARGETS #hist timestamp=") || !strings.Contains(lines[2], "CHATHISTORY TARGETS alice timestamp=") {
				t.Fatalf("TARGETS:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}
