package e2e

import (
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// TestEveryActionOnLineAndNative runs every account and moderation action
// through a real server twice: typed on the line protocol, and as the
// native protocol's typed request. olga owns #dev, mia is an account in
// it, gus a guest in it, ada a server operator.
func TestEveryActionOnLineAndNative(t *testing.T) {
	tests := []struct {
		name   string
		actor  string
		setup  string         // typed first, by the actor
		line   string         // the action typed on the line protocol
		req    native.Request // the same as a native request
		want   string         // in the reply (a notice, or an error's message)
		code   string         // the native error code, when refused
		target string         // who must see want too ("" for nobody else)
	}{
		{name: "op", actor: "olga", line: "/op mia", req: native.Request{Type: "op", Room: "dev", Name: "mia"}, want: "olga gave op to mia in #dev", target: "mia"},
		{name: "deop", actor: "olga", setup: "/op mia", line: "/deop mia", req: native.Request{Type: "deop", Room: "dev", Name: "mia"}, want: "olga took op from mia in #dev", target: "mia"},
		{name: "voice", actor: "olga", line: "/voice gus", req: native.Request{Type: "voice", Room: "dev", Name: "gus"}, want: "olga gave voice to gus in #dev", target: "gus"},
		{name: "devoice", actor: "olga", setup: "/voice gus", line: "/devoice gus", req: native.Request{Type: "devoice", Room: "dev", Name: "gus"}, want: "olga took voice from gus in #dev", target: "gus"},
		{name: "kick", actor: "olga", line: "/kick gus bye now", req: native.Request{Type: "kick", Room: "dev", Name: "gus", Reason: "bye now"}, want: "olga kicked gus from #dev: bye now", target: "gus"},
		{name: "ban", actor: "olga", line: "/ban mia 1h spam", req: native.Request{Type: "ban", Room: "dev", Name: "mia", Duration: "1h", Reason: "spam"}, want: "olga banned mia from #dev for 1h0m0s: spam", target: "mia"},
		{name: "unban", actor: "olga", setup: "/ban mia", line: "/unban mia", req: native.Request{Type: "unban", Room: "dev", Name: "mia"}, want: "olga unbanned mia in #dev"},
		{name: "bans", actor: "olga", setup: "/ban mia 2h", line: "/bans", req: native.Request{Type: "bans", Room: "dev"}, want: "ban mia (account) by olga until"},
		{name: "mute", actor: "olga", line: "/mute mia 10m", req: native.Request{Type: "mute", Room: "dev", Name: "mia", Duration: "10m"}, want: "olga muted mia in #dev for 10m0s", target: "mia"},
		{name: "unmute", actor: "olga", setup: "/mute mia", line: "/unmute mia", req: native.Request{Type: "unmute", Room: "dev", Name: "mia"}, want: "olga unmuted mia in #dev", target: "mia"},
		{name: "mode", actor: "olga", line: "/mode +mt", req: native.Request{Type: "mode", Room: "dev", Mode: "+mt"}, want: "olga set mode +mt on #dev (now +mt)", target: "gus"},
		{name: "mode query", actor: "mia", setup: "", line: "/mode", req: native.Request{Type: "mode", Room: "dev"}, want: "#dev modes: (no modes)"},
		{name: "invite", actor: "olga", setup: "/mode +i", line: "/invite mia", req: native.Request{Type: "invite", Room: "dev", Name: "mia"}, want: "invited mia to #dev", target: "mia"},
		{name: "slow", actor: "olga", line: "/slow 30", req: native.Request{Type: "slow", Room: "dev", Duration: "30s"}, want: "olga set slow mode in #dev: one message every 30s per member", target: "gus"},
		{name: "modlog", actor: "olga", setup: "/kick gus", line: "/modlog", req: native.Request{Type: "modlog", Room: "dev"}, want: "olga: kick gus"},
		{name: "claim refused", actor: "mia", line: "/claim #dev", req: native.Request{Type: "claim", Room: "dev"}, want: "#dev has an owner already", code: "forbidden"},
		{name: "kick refused", actor: "mia", line: "/kick gus", req: native.Request{Type: "kick", Room: "dev", Name: "gus"}, want: "only ops of #dev may kick", code: "forbidden"},
		{name: "kill", actor: "ada", line: "/kill gus enough", req: native.Request{Type: "kill", Name: "gus", Reason: "enough"}, want: "killed gus (1 session)", target: "gus"},
		{name: "server ban", actor: "ada", line: "/gban mia 1d", req: native.Request{Type: "ban", Name: "mia", Duration: "1d", Server: true}, want: "ada banned mia from the server for 24h0m0s", target: "mia"},
		{name: "server unban", actor: "ada", setup: "/gban gus", line: "/ungban gus", req: native.Request{Type: "unban", Name: "gus", Server: true}, want: "ada unbanned gus (guest/"},
		{name: "server ban refused", actor: "olga", line: "/gban mia", req: native.Request{Type: "ban", Name: "mia", Server: true}, want: "only server operators ban server-wide", code: "forbidden"},
		{name: "passwd", actor: "mia", line: "/passwd mia-secret mia-secret-2", req: native.Request{Type: "passwd", Password: "mia-secret", NewPassword: "mia-secret-2"}, want: "your password has been changed"},
		{name: "register taken", actor: "mia", line: "/register another-pw", req: native.Request{Type: "register", Password: "another-pw"}, want: "you are already logged in as mia", code: "invalid"},
	}
	for _, proto := range []string{"line", "native"} {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				n := testkit.StartNode(t, node.Config{Hub: chat.Config{Admins: []string{"ada"}}})
				frame, line := n.Addr(node.ListenFrame), n.Addr(node.ListenLine)
				for _, acct := range []string{"olga", "mia", "ada"} {
					c := testkit.DialNative(t, frame, acct)
					c.ExpectType("welcome")
					c.Send(native.Request{Type: "register", Password: acct + "-secret"})
					c.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
					if acct == "olga" {
						c.Send(native.Request{Type: "join", Room: "dev"})
						c.Expect("the room", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #dev") })
					}
					c.Send(native.Request{Type: "quit"})
					c.ExpectType("bye")
				}
				testkit.WaitMembers(t, n, "lobby", 0)
				// The bystanders, on the native protocol, in #dev.
				watch := map[string]*testkit.Native{}
				for _, who := range []string{"mia", "gus"} {
					if who == tt.actor {
						continue
					}
					hello := native.Request{Type: "hello", Version: native.Version, Name: who, Rooms: []string{"dev"}}
					if who == "mia" {
						hello.Account, hello.Password = "mia", "mia-secret"
					}
					c := testkit.NativeOnWith(t, testkit.Dial(t, frame), hello)
					c.Expect(who+" in #dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" && ev.Name == who })
					watch[who] = c
				}
				var got func(want string) string
				switch proto {
				case "line":
					l := testkit.DialLineLogin(t, line, tt.actor, tt.actor+"-secret")
					l.Send("/join #dev")
					l.Expect("you joined dev")
					if tt.setup != "" {
						l.Send(tt.setup)
					}
					l.Send(tt.line)
					got = func(want string) string { return l.Expect(want) }
				case "native":
					c := testkit.NativeOnWith(t, testkit.Dial(t, frame), native.Request{Type: "hello", Version: native.Version, Account: tt.actor, Password: tt.actor + "-secret", Rooms: []string{"dev"}})
					c.Expect("in #dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" && ev.Name == tt.actor })
					if tt.setup != "" {
						c.Send(native.Request{Type: "command", Text: text(tt.setup)})
					}
					req := tt.req
					req.Ref = "act"
					c.Send(req)
					got = func(want string) string {
						ev := c.Expect(want, func(ev native.Event) bool {
							return ev.Type == "notice" && strings.Contains(ev.Text, want) || ev.Type == "error" && ev.Ref == "act"
						})
						if ev.Type == "error" {
							if tt.code == "" || ev.Code != tt.code || !strings.Contains(ev.Message, want) {
								t.Fatalf("error %s: %s; want %q (code %q)", ev.Code, ev.Message, want, tt.code)
							}
							return ev.Message
						}
						if tt.code != "" {
							t.Fatalf("%q succeeded; want a %s error", tt.name, tt.code)
						}
						return ev.Text
					}
				}
				got(tt.want)
				if w := watch[tt.target]; w != nil && tt.target != "" {
					w.Expect(tt.target+" told", func(ev native.Event) bool {
						return strings.Contains(ev.Text, strings.TrimPrefix(tt.want, "invited mia to #dev")) && ev.Type == "notice" ||
							ev.Type == "part" && ev.By != "" || ev.Type == "bye" || ev.Type == "notice" && strings.Contains(ev.Text, "invites you to #dev")
					})
				}
			})
		}
	}
}
