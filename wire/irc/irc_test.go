package irc_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// start runs a node; IRC clients join #lobby unless noLobby.
func start(t *testing.T, noLobby bool, mod ...func(*node.Config)) (*node.Node, net.Addr) {
	t.Helper()
	cfg := node.Config{IRC: node.IRCConfig{NoLobby: noLobby}}
	cfg.Hub.ServerName = "irc.test"
	for _, m := range mod {
		m(&cfg)
	}
	n := testkit.StartNode(t, cfg)
	return n, n.Addr(node.ListenIRC)
}

// raw connects without registering.
func raw(t *testing.T, addr net.Addr) *testkit.IRC {
	return testkit.IRCOn(t, testkit.Dial(t, addr))
}

func TestRegistrationBurst(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) { c.Hub.Motd = "be kind\nsecond line" })
	c := testkit.DialIRC(t, addr, "alice", true)
	want := []string{
		":irc.test 002 alice :Your host is irc.test, running version parley",
		":irc.test 003 alice :This server was created {*} {*} {*} {*} at {*} UTC",
		":irc.test 004 alice irc.test parley iw bimnortv bov",
		":irc.test 005 alice AWAYLEN=200 CASEMAPPING=rfc8265 CHANLIMIT=#:100 CHANMODES=b,,,imnrt CHANNELLEN=33 CHANTYPES=# CHATHISTORY=100 CLIENTTAGDENY=* LINELEN=512 MAXTARGETS=4 MODES=1 MSGREFTYPES=msgid,timestamp :are supported by this server",
		":irc.test 005 alice NETWORK=irc.test NICKLEN=32 PREFIX=(ov)@+ SAFELIST TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,PART:,NAMES:,LIST:,WHOIS:1,ISON:,USERHOST:5 TOPICLEN=390 UTF8ONLY :are supported by this server",
		":irc.test 251 alice :There are 1 users and 0 invisible on 1 servers",
		":irc.test 252 alice 0 :operator(s) online",
		":irc.test 254 alice 1 :channels formed",
		":irc.test 255 alice :I have 1 clients and 0 servers",
		":irc.test 265 alice 1 1 :Current local users 1, max 1",
		":irc.test 266 alice 1 1 :Current global users 1, max 1",
		":irc.test 375 alice :- irc.test Message of the day - ",
		":irc.test 372 alice :- be kind",
		":irc.test 372 alice :- second line",
		":irc.test 376 alice :End of /MOTD command.",
		":alice!u@{*} JOIN #lobby",
		":irc.test 353 alice = #lobby :alice",
		":irc.test 366 alice #lobby :End of /NAMES list",
	}
	if len(c.Welcome) != len(want) {
		t.Fatalf("burst:\n%s", strings.Join(c.Welcome, "\n"))
	}
	for i := range want {
		if !testkit.MatchIRC(want[i], c.Welcome[i]) {
			t.Fatalf("line %d:\n got %s\nwant %s", i, c.Welcome[i], want[i])
		}
	}
	c.ExpectLines() // nothing else
}

func TestRegistrationErrors(t *testing.T) {
	n, addr := start(t, false, func(c *node.Config) { c.Hub.Password = "sesame" })
	_ = n
	t.Run("commands before registering", func(t *testing.T) {
		c := raw(t, addr)
		c.Send("JOIN #dev")
		c.Send("NICK")
		c.Send("NICK #chan")
		c.Send("NICK +voice")
		c.Send("USER onlyone")
		c.Send("PING before")
		c.Send("")
		c.Send("CAP BOGUS")
		for _, w := range []string{
			":irc.test 451 * :You have not registered",
			":irc.test 431 * :No nickname given",
			":irc.test 432 * #chan :Erroneous nickname: a nickname may not start with '#'",
			":irc.test 432 * +voice :Erroneous nickname: a nickname may not start with '+'",
			":irc.test 461 * USER :Not enough parameters",
			":irc.test PONG irc.test :before",
			":irc.test 410 * BOGUS :Invalid CAP command",
		} {
			if got, _ := c.ReadLine(); got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		}
		c.Send("QUIT :never mind")
		if got, _ := c.ReadLine(); got != "ERROR :Closing link: quit" {
			t.Fatalf("after QUIT: %q", got)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := raw(t, addr)
		c.Send("PASS nope")
		c.Send("NICK bob")
		c.Send("USER b 0 * :Bob")
		for _, w := range []string{":irc.test 464 * :Password incorrect", "ERROR :Closing link: "} {
			if got, _ := c.ReadLine(); !strings.HasPrefix(got, w) {
				t.Fatalf("got %q, want %q", got, w)
			}
		}
	})
	t.Run("taken and reserved nicks, then one that is free", func(t *testing.T) {
		a := raw(t, addr)
		a.Send("PASS sesame")
		a.Register("cop")
		b := raw(t, addr)
		b.Send("PASS sesame")
		b.Send("NICK COP")
		b.Send("USER b 0 * :B")
		if got := b.Expect(" 433 "); !strings.HasPrefix(got, ":irc.test 433 * COP :Nickname is already in use") {
			t.Fatalf("got %q", got)
		}
		b.Send("NICK сор") // Cyrillic: looks like cop
		if got := b.Expect(" 433 "); !strings.Contains(got, "looks like") {
			t.Fatalf("look-alike: %q", got)
		}
		b.Send("NICK NickServ")
		if got := b.Expect(" 432 "); !strings.Contains(got, "reserved") {
			t.Fatalf("reserved: %q", got)
		}
		b.Send("NICK dave")
		if got := b.Expect(" 001 "); got != ":irc.test 001 dave :Welcome to the irc.test IRC network, dave" {
			t.Fatalf("got %q", got)
		}
		b.Until(" 366 ")
		b.Send("USER again 0 * :x")
		b.Send("PASS sesame")
		b.Send("FROBNICATE now")
		b.ExpectLines(
			":irc.test 462 dave :You may not reregister",
			":irc.test 462 dave :You may not reregister",
			":irc.test 421 dave FROBNICATE :Unknown command",
		)
	})
}

func TestChannels(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	a.ExpectLines(":bob!u@{*} JOIN #lobby")

	a.Send("JOIN #dev,#Ops")
	a.ExpectLines(
		":alice!u@{*} JOIN #dev",
		":irc.test 353 alice = #dev :alice",
		":irc.test 366 alice #dev :End of /NAMES list",
		":alice!u@{*} JOIN #ops",
		":irc.test 353 alice = #ops :alice",
		":irc.test 366 alice #ops :End of /NAMES list",
	)
	a.Send("JOIN #dev") // already there: nothing
	a.Send("JOIN dev")
	a.Send("JOIN")
	a.ExpectLines(
		":irc.test 403 alice dev :No such channel: not a channel name",
		":irc.test 461 alice JOIN :Not enough parameters",
	)
	b.Send("JOIN #dev")
	b.ExpectLines(
		":bob!u@{*} JOIN #dev",
		":irc.test 353 bob = #dev :alice bob",
		":irc.test 366 bob #dev :End of /NAMES list",
	)
	a.ExpectLines(":bob!u@{*} JOIN #dev")

	a.Send("TOPIC #dev :release on friday")
	a.ExpectLines(":alice!u@{*} TOPIC #dev :release on friday")
	b.ExpectLines(":alice!u@{*} TOPIC #dev :release on friday")
	b.Send("TOPIC #dev")
	b.ExpectLines(":irc.test 332 bob #dev :release on friday", ":irc.test 333 bob #dev alice {*}")
	b.Send("TOPIC #ops")
	b.Send("TOPIC #ops :not mine")
	b.Send("TOPIC #nowhere")
	b.ExpectLines(
		":irc.test 331 bob #ops :No topic is set",
		":irc.test 442 bob #ops :You're not on that channel",
		":irc.test 403 bob #nowhere :No such channel",
	)
	b.Send("NAMES #dev")
	b.Send("NAMES")
	b.ExpectLines(
		":irc.test 353 bob = #dev :alice bob",
		":irc.test 366 bob #dev :End of /NAMES list",
		":irc.test 366 bob * :End of /NAMES list",
	)
	b.Send("LIST")
	b.ExpectLines(
		":irc.test 321 bob Channel :Users  Name",
		":irc.test 322 bob #dev 2 :release on friday",
		":irc.test 322 bob #lobby 2 :",
		":irc.test 322 bob #ops 1 :",
		":irc.test 323 bob :End of /LIST",
	)
	b.Send("MODE #dev")
	b.Send("MODE #dev b")
	b.Send("MODE #dev +o bob")
	b.Send("MODE #dev +z")
	b.Send("MODE #nowhere")
	b.Send("KICK #dev alice :bye")
	b.Send("KICK #ops alice")
	b.ExpectLines(
		":irc.test 324 bob #dev +n",
		":irc.test 368 bob #dev :End of channel ban list",
		":irc.test 482 bob #dev :You're not channel operator: only owners of #dev may make ops (you are a member there)",
		":irc.test 472 bob z :is an unknown mode char to me",
		":irc.test 403 bob #nowhere :No such channel",
		":irc.test 482 bob #dev :You're not channel operator: only ops of #dev may kick (you are a member there)",
		":irc.test 442 bob #ops :You're not on that channel",
	)
	b.Send("PART #dev :see you")
	b.Send("PART #ops")
	b.Send("PART #nowhere")
	b.ExpectLines(
		":bob!u@{*} PART #dev :see you",
		":irc.test 442 bob #ops :You're not on that channel",
		":irc.test 403 bob #nowhere :No such channel",
	)
	a.ExpectLines(":bob!u@{*} PART #dev :see you")
	b.Send("INVITE alice #lobby")
	b.Send("INVITE nobody #lobby")
	b.Send("JOIN #dev")
	b.ExpectLines(
		":irc.test 443 bob alice #lobby :is already on channel",
		":irc.test 401 bob nobody :No such nick/channel",
		":bob!u@{*} JOIN #dev",
		":irc.test 332 bob #dev :release on friday",
		":irc.test 333 bob #dev alice {*}",
		":irc.test 353 bob = #dev :alice bob",
		":irc.test 366 bob #dev :End of /NAMES list",
	)
	a.Send("INVITE bob #ops")
	a.ExpectLines(":bob!u@{*} JOIN #dev", ":irc.test 341 alice bob #ops")
	b.ExpectLines(":irc.test NOTICE bob :alice invites you to #ops (/join #ops)")
	a.Send("JOIN 0")
	a.ExpectLines(":alice!u@{*} PART #dev", ":alice!u@{*} PART #lobby", ":alice!u@{*} PART #ops")
}

func TestMessagesAcrossProtocols(t *testing.T) {
	n, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	tut := testkit.DialTutorial(t, n.Addr(node.ListenFrame), "tut")
	nat := testkit.DialNative(t, n.Addr(node.ListenFrame), "王芳")
	nat.ExpectType("welcome")
	ln := testkit.DialLine(t, n.Addr(node.ListenLine), "Chloé🌸")
	testkit.WaitMembers(t, n, "lobby", 5)
	a.Sync()
	b.Sync()

	a.Send("PRIVMSG #lobby :hello, everyone")
	a.ExpectLines() // no echo without echo-message; and now it has been read
	b.ExpectLines(":alice!u@{*} PRIVMSG #lobby :hello, everyone")
	tut.Expect("alice", "hello, everyone")
	nat.Expect("alice's message", func(ev native.Event) bool {
		return ev.Type == "say" && ev.From == "alice" && ev.Text == "hello, everyone"
	})
	ln.Expect("<alice> hello, everyone")

	a.Send("PRIVMSG #lobby :\x01ACTION waves\x01")
	a.Sync()
	b.ExpectLines(":alice!u@{*} PRIVMSG #lobby :\x01ACTION waves\x01")
	ln.Expect("* alice waves")
	tut.Expect("alice", "* alice waves")

	// One after the other, so that their order is known.
	tut.Send("hi from the tutorial")
	ln.Expect("<tut> hi from the tutorial")
	nat.Send(native.Request{Type: "me", Text: ptr("bows")})
	ln.Expect("* 王芳 bows")
	tut.Expect("王芳", "* 王芳 bows")
	ln.Send("hi from nc \x1b[31mred\x1b[0m")
	tut.Expect("Chloé🌸", "hi from nc red")
	three := []string{
		":tut!u@{*} PRIVMSG #lobby :hi from the tutorial",
		":王芳!u@{*} PRIVMSG #lobby :\x01ACTION bows\x01",
		":Chloé🌸!u@{*} PRIVMSG #lobby :hi from nc red",
	}
	b.ExpectLines(three...)
	a.ExpectLines(three...)

	// Direct messages both ways, with a native user.
	a.Send("PRIVMSG 王芳 :你好")
	nat.Expect("the DM", func(ev native.Event) bool { return ev.Type == "dm" && ev.From == "alice" && ev.Text == "你好" })
	nat.Send(native.Request{Type: "dm", To: "alice", Text: ptr("hello back")})
	nat.Expect("its echo", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "hello back" })
	a.ExpectLines(":王芳!u@{*} PRIVMSG alice :hello back")

	// A long and a multi-line message from the native user reach IRC in
	// lines of at most 512 bytes, cut between characters.
	long := strings.Repeat("長い", 400) // 2400 bytes
	nat.Send(native.Request{Type: "say", Text: ptr(long)})
	nat.Expect("its echo", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == long })
	got := b.Sync()
	var joined strings.Builder
	for _, l := range got {
		if len(l)+2 > 512 {
			t.Fatalf("line of %d bytes", len(l)+2)
		}
		_, text, _ := strings.Cut(l, " PRIVMSG #lobby :")
		joined.WriteString(text)
	}
	if joined.String() != long || len(got) < 5 {
		t.Fatalf("long message in %d lines does not join back", len(got))
	}
	nat.Send(native.Request{Type: "say", Text: ptr("one\ntwo")})
	nat.Expect("its echo", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "one\ntwo" })
	b.ExpectLines(":王芳!u@{*} PRIVMSG #lobby :one", ":王芳!u@{*} PRIVMSG #lobby :two")

	// Errors.
	a.Sync() // alice saw the long messages too
	a.Send("PRIVMSG nobody :hi")
	a.Send("PRIVMSG #nowhere :hi")
	a.Send("PRIVMSG #lobby")
	a.Send("PRIVMSG")
	a.Send("PRIVMSG #lobby :")
	a.Send("PRIVMSG a,b,c,d,e :x")
	a.Send("NOTICE nobody :no error for a notice")
	a.Send("PRIVMSG #lobby :" + strings.Repeat("x", 600))
	b.Send("JOIN #dev")
	b.Sync()
	a.Send("PRIVMSG #dev :not a member")
	a.ExpectLines(
		":irc.test 401 alice nobody :No such nick/channel",
		":irc.test 403 alice #nowhere :No such channel",
		":irc.test 412 alice :No text to send",
		":irc.test 411 alice :No recipient given (PRIVMSG)",
		":irc.test 412 alice :No text to send",
		":irc.test 407 alice a,b,c,d,e :Too many targets",
		":irc.test 417 alice :Input line was too long",
		":irc.test 404 alice #dev :Cannot send to channel (join it first)",
	)

	// A NOTICE reaches IRC as a NOTICE and others as a notice, not stored.
	a.Send("NOTICE #lobby :bot says hi")
	a.ExpectLines()
	b.ExpectLines(":alice!u@{*} NOTICE #lobby :bot says hi")
	ln.Expect("-- notice from alice in lobby: bot says hi")

	// CTCP to a user is answered by the server; to a channel, dropped.
	a.Send("PRIVMSG 王芳 :\x01VERSION\x01")
	a.Send("PRIVMSG #lobby :\x01PING 123\x01")
	a.ExpectLines(":王芳!u@{*} NOTICE alice :\x01VERSION parley (native client, answered by the server)\x01")
	b.ExpectLines()
	nat.Send(native.Request{Type: "who"})
	nat.Expect("no CTCP reached the native client", func(ev native.Event) bool {
		if ev.Type == "dm" || ev.Type == "say" {
			t.Fatalf("native client got %+v", ev)
		}
		return ev.Type == "members"
	})
}

func ptr(s string) *string { return &s }

func TestNickAwayQuit(t *testing.T) {
	n, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "away-notify")
	b := testkit.DialIRC(t, addr, "bob", true)
	ln := testkit.DialLine(t, n.Addr(node.ListenLine), "carol")
	a.Send("JOIN #dev")
	b.Send("JOIN #dev")
	testkit.WaitMembers(t, n, "dev", 2)
	a.Sync()
	b.Sync()

	b.Send("NICK robert")
	b.Send("NICK")
	b.Send("NICK carol")
	b.ExpectLines(
		":bob!u@{*} NICK :robert",
		":irc.test 431 robert :No nickname given",
		":irc.test 433 robert carol :Nickname is already in use: the name \"carol\" is taken",
	)
	a.ExpectLines(":bob!u@{*} NICK :robert") // once, though they share two channels
	ln.Expect("bob is now known as robert")

	b.Send("AWAY :lunch")
	b.ExpectLines(":irc.test 306 robert :You have been marked as being away")
	a.ExpectLines(":robert!u@{*} AWAY :lunch")
	a.Send("PRIVMSG robert :are you there?")
	a.Send("WHOIS robert")
	a.Send("USERHOST robert alice nobody")
	a.Send("ISON robert nobody carol")
	a.Send("WHO #dev")
	a.ExpectLines(
		":irc.test 301 alice robert :lunch",
		":irc.test 311 alice robert ~u {*} * :Real bob",
		":irc.test 319 alice robert :#dev #lobby",
		":irc.test 312 alice robert irc.test :parley chat server",
		":irc.test 301 alice robert :lunch",
		":irc.test 317 alice robert 0 {*} :seconds idle, signon time",
		":irc.test 318 alice robert :End of /WHOIS list",
		":irc.test 302 alice :robert=-~u@{*} alice=+~u@{*}",
		":irc.test 303 alice :robert carol",
		":irc.test 352 alice #dev ~u {*} irc.test alice H :0 Real alice",
		":irc.test 352 alice #dev ~u {*} irc.test robert G :0 Real bob",
		":irc.test 315 alice #dev :End of WHO list",
	)
	b.Send("AWAY")
	b.ExpectLines(":alice!u@{*} PRIVMSG robert :are you there?", ":irc.test 305 robert :You are no longer marked as being away")
	a.ExpectLines(":robert!u@{*} AWAY")

	a.Send("WHOIS nobody")
	a.Send("WHOWAS bob")
	a.Send("WHOWAS nobody")
	a.ExpectLines(
		":irc.test 401 alice nobody :No such nick/channel",
		":irc.test 318 alice nobody :End of /WHOIS list",
		":irc.test 314 alice bob ~u {*} * :Real bob",
		":irc.test 312 alice bob irc.test :{*}, {*} {*} {*} {*} UTC",
		":irc.test 369 alice bob :End of WHOWAS",
		":irc.test 406 alice nobody :There was no such nickname",
		":irc.test 369 alice nobody :End of WHOWAS",
	)

	b.Send("QUIT :time to go")
	if got := b.Expect("ERROR"); got != "ERROR :Closing link: quit" {
		t.Fatalf("quit: %q", got)
	}
	a.ExpectLines(":robert!u@{*} QUIT :Quit: time to go") // once for two shared channels
	ln.Expect("robert left lobby (quit: time to go)")
}

func TestUserModesAndInfo(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	_ = testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	a.Send("MODE alice")
	a.Send("MODE alice +i")
	a.Send("MODE alice +i")
	a.Send("MODE alice")
	a.Send("MODE alice +x")
	a.Send("MODE bob +i")
	a.Send("MODE nobody")
	a.Send("VERSION")
	a.Send("TIME")
	a.Send("MOTD")
	a.Send("ADMIN")
	a.Send("OPER op pass")
	got := a.ExpectLines(
		":irc.test 221 alice +",
		":alice!u@{*} MODE alice :+i",
		":irc.test 221 alice +i",
		":irc.test 501 alice :Unknown MODE flag",
		":irc.test 502 alice :Can't change mode for other users",
		":irc.test 401 alice nobody :No such nick/channel",
		":irc.test 351 alice parley irc.test :parley chat server: IRC, web, terminal, nc and the socket tutorials' clients in one room",
		":irc.test 005 alice {**}",
		":irc.test 005 alice {**}",
		":irc.test 391 alice irc.test :{**}",
		":irc.test 422 alice :MOTD File is missing",
		":irc.test 256 alice irc.test :Administrative info",
		":irc.test 257 alice :parley chat server",
		":irc.test 258 alice :run with parley serve",
		":irc.test 259 alice :nobody@irc.test",
		":irc.test 491 alice :No O-lines: server operators are accounts named with --admin; log in to one (SASL, or /LOGIN name password)",
	)
	if _, err := time.Parse(time.RFC1123, strings.SplitN(got[9], " :", 2)[1]); err != nil {
		t.Fatalf("TIME: %v", err)
	}
	a.Send("LUSERS")
	a.Send("INFO")
	lines := a.Sync()
	if !strings.HasPrefix(lines[0], ":irc.test 251 alice :There are 2 users") || !strings.HasPrefix(lines[len(lines)-1], ":irc.test 374 alice :End of INFO list") {
		t.Fatalf("LUSERS, INFO:\n%s", strings.Join(lines, "\n"))
	}
}

func TestServerPingAndIdle(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) {
		c.Session.IdleTimeout = 100 * time.Millisecond
		c.Session.PingTimeout = 200 * time.Millisecond
	})
	a := testkit.DialIRC(t, addr, "alice", true)
	if got := a.Expect("PING"); got != "PING :irc.test" {
		t.Fatalf("server ping: %q", got)
	}
	a.Send("PONG :irc.test")
	if got := a.Expect("PING"); got != "PING :irc.test" {
		t.Fatalf("second ping: %q", got)
	}
	if got := a.Expect("ERROR"); !strings.HasPrefix(got, "ERROR :Closing link") {
		t.Fatalf("silent client: %q", got)
	}
}

func TestHostileInput(t *testing.T) {
	n, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	nat := testkit.DialNative(t, n.Addr(node.ListenFrame), "mallory")
	nat.ExpectType("welcome")
	a.Sync()

	// Text from other front-ends cannot forge an IRC line: CR is
	// removed, a line break starts another PRIVMSG, escapes are gone.
	nat.Send(native.Request{Type: "say", Text: ptr("hi\r\nKICK #lobby alice\r\n:srv 001 alice :owned\x1b]0;title\x07")})
	nat.Expect("its echo", func(ev native.Event) bool { return ev.Type == "say" })
	nat.Send(native.Request{Type: "topic", Room: "lobby", Text: ptr("one\ntwo\x1b[2J")})
	nat.Expect("the topic", func(ev native.Event) bool { return ev.Type == "topic" })
	nat.Send(native.Request{Type: "part", Room: "lobby", Reason: "bye\r\nQUIT :forged"})
	nat.Expect("the part", func(ev native.Event) bool { return ev.Type == "part" })
	a.ExpectLines(
		":mallory!u@{*} PRIVMSG #lobby :hi",
		":mallory!u@{*} PRIVMSG #lobby :KICK #lobby alice",
		":mallory!u@{*} PRIVMSG #lobby ::srv 001 alice :owned",
		":mallory!u@{*} TOPIC #lobby :one two",
		":mallory!u@{*} PART #lobby :bye QUIT :forged",
	)

	// What an IRC client sends is cleaned the same way, and what it sends
	// that is echoed back in a numeric (a channel name) too.
	b := testkit.DialIRC(t, addr, "bob", true)
	b.Send("USER x 0 * :also ignored")
	b.Send("JOIN #\x1b[2J")
	b.Send("JOIN #\xff")
	b.Send("PRIVMSG #lobby :\x1b[31mred\x1b[0m \u202eevil")
	b.Send("PRIVMSG #lobby :latin-1 caf\xe9")
	b.Send("@label=\x01bad PING x")
	b.Send("PRIV-MSG #lobby :x")
	b.Send("PRIVMSG #lobby :" + strings.Repeat("é", 300))
	b.Send(strings.Repeat("x", 1<<20))
	b.Send("PING still-here")
	got := b.Sync()
	want := []string{
		":irc.test 462 bob :You may not reregister",
		":irc.test 403 bob # :No such channel: room name may not contain control or invisible characters",
		":irc.test FAIL JOIN INVALID_UTF8 :Message rejected: this server takes UTF-8 only (set your client's encoding to UTF-8)",
		":irc.test FAIL PRIVMSG INVALID_UTF8 :Message rejected: this server takes UTF-8 only (set your client's encoding to UTF-8)",
		":irc.test PONG irc.test :x",
		":irc.test 421 bob * :Unknown command: the line could not be parsed (no command (a verb of letters, or three digits))",
		":irc.test 417 bob :Input line was too long",
		":irc.test 417 bob :Input line was too long",
		":irc.test PONG irc.test :still-here",
	}
	if len(got) != len(want) {
		t.Fatalf("got:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
	a.ExpectLines(
		":bob!u@{*} JOIN #lobby",
		":bob!u@{*} PRIVMSG #lobby :red evil",
	)
}

// TestBurstPenalty: past the burst, a client's commands are run at the
// line rate (IRC's fake lag); none is dropped, and the other clients are
// not slowed.
func TestBurstPenalty(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) { c.IRC.LineRate, c.IRC.LineBurst = 20, 5 })
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	began := time.Now()
	for i := range 15 {
		a.Send("PRIVMSG bob :burst " + strconv.Itoa(i))
	}
	a.Sync() // the 16th command
	if took := time.Since(began); took < 400*time.Millisecond {
		t.Fatalf("16 commands with a burst of 5 at 20/s took %v; the penalty should make it at least 0.5 s", took)
	}
	got := b.Sync()
	if len(got) != 15 || !testkit.MatchIRC(":alice!u@{*} PRIVMSG bob :burst 14", got[14]) {
		t.Fatalf("bob got:\n%s", strings.Join(got, "\n"))
	}
}

// TestFormattingCodes: IRC formatting (bold, colour) reaches IRC readers as
// sent and every other front-end without it.
func TestFormattingCodes(t *testing.T) {
	n, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	tut := testkit.DialTutorial(t, n.Addr(node.ListenFrame), "tut")
	nat := testkit.DialNative(t, n.Addr(node.ListenFrame), "nat")
	nat.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 4)
	a.Sync()
	b.Sync()
	a.Send("PRIVMSG #lobby :\x02bold\x02 and \x0304,01red\x0f")
	a.Sync() // the message is stored and delivered before the topic is set
	a.Send("TOPIC #lobby :\x1ditalic\x1d topic")
	a.Sync()
	b.ExpectLines(
		":alice!u@{*} PRIVMSG #lobby :\x02bold\x02 and \x0304,01red\x0f",
		":alice!u@{*} TOPIC #lobby :\x1ditalic\x1d topic",
	)
	tut.Expect("alice", "bold and red")
	nat.Expect("the message without formatting", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "bold and red" })
	nat.Expect("the topic without formatting", func(ev native.Event) bool { return ev.Type == "topic" && ev.Text == "italic topic" })
}

// TestTLS: IRC over TLS beside the plain port (--irc-tls-listen), and the
// two ports share rooms.
func TestTLS(t *testing.T) {
	cert := testkit.SelfSignedCert(t)
	n := testkit.StartNode(t, node.Config{TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile, IRCTLSAddr: "127.0.0.1:0"})
	if n.TLS(node.ListenIRC) || !n.TLS(node.ListenIRCTLS) {
		t.Fatalf("plain IRC TLS %v, IRC TLS port TLS %v", n.TLS(node.ListenIRC), n.TLS(node.ListenIRCTLS))
	}
	secure := testkit.IRCOn(t, testkit.DialTLS(t, n.Addr(node.ListenIRCTLS), cert.Pool))
	secure.Register("secure")
	secure.Until(" 366 ")
	plain := testkit.DialIRC(t, n.Addr(node.ListenIRC), "plain", true)
	secure.Send("PRIVMSG #lobby :over TLS")
	secure.Sync()
	plain.ExpectLines(":secure!u@{*} PRIVMSG #lobby :over TLS")
}

// TestAwayOnJoinAndWhoMasks: a user who is away when joining is said to
// be away to away-notify clients; WHO takes wildcard masks.
func TestAwayOnJoinAndWhoMasks(t *testing.T) {
	_, addr := start(t, true)
	a := testkit.DialIRC(t, addr, "alice", false, "away-notify")
	b := testkit.DialIRC(t, addr, "bob", false)
	c := testkit.DialIRC(t, addr, "bobby", false)
	a.Send("JOIN #x")
	a.Sync()
	b.Send("AWAY :gone fishing")
	b.Send("JOIN #x")
	b.Sync()
	a.ExpectLines(":bob!u@{*} JOIN #x", ":bob!u@{*} AWAY :gone fishing")
	c.Send("WHO bob*")
	c.Send("WHO BO?")
	c.Send("WHO nobody*")
	c.ExpectLines(
		":irc.test 352 bobby * ~u {*} irc.test bob G :0 Real bob",
		":irc.test 352 bobby * ~u {*} irc.test bobby H :0 Real bobby",
		":irc.test 315 bobby bob* :End of WHO list",
		":irc.test 352 bobby * ~u {*} irc.test bob G :0 Real bob",
		":irc.test 315 bobby BO? :End of WHO list",
		":irc.test 315 bobby nobody* :End of WHO list",
	)
}

// TestRegistrationDeadline: a client that never finishes registering (no
// USER, or CAP LS without CAP END) is closed at the handshake deadline.
func TestRegistrationDeadline(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) { c.Server.HandshakeTimeout = 300 * time.Millisecond })
	for _, lines := range [][]string{{"NICK half"}, {"CAP LS 302", "NICK capper", "USER u 0 * :U"}, {}} {
		c := raw(t, addr)
		for _, l := range lines {
			c.Send(l)
		}
		if got := c.Expect("ERROR"); got != "ERROR :Closing link: registration timed out" {
			t.Fatalf("after %q: %q", lines, got)
		}
		if _, err := c.ReadLine(); err == nil {
			t.Fatalf("after %q: the connection is still open", lines)
		}
	}
}

// TestLaggingReaderCatchesUp: an IRC client that reads nothing while 800
// messages pass its queue bound is not dropped: it catches up from the
// store, and reads every message once, in order, rendered as live ones.
func TestLaggingReaderCatchesUp(t *testing.T) {
	n, addr := start(t, false, func(c *node.Config) {
		c.Server.MaxQueueBytes = 16 << 10
		c.Server.SendBuffer = 8 << 10
	})
	sender := testkit.DialIRC(t, addr, "sender", true)
	lagger := testkit.DialIRC(t, addr, "lagger", true, "message-tags")
	sender.Sync()
	text := strings.Repeat("y", 400)
	for i := range 800 {
		sender.Send("PRIVMSG #lobby :" + strconv.Itoa(i) + " " + text)
	}
	sender.Sync()
	next := 0
	var seen []string
	for next < 800 {
		line, err := lagger.ReadLine()
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		if !strings.Contains(line, " PRIVMSG #lobby :") {
			continue // the notice that it caught up
		}
		want := ":sender!u@{*} PRIVMSG #lobby :" + strconv.Itoa(next) + " " + text
		seen = append(seen, strings.SplitN(strings.SplitN(line, " :", 3)[2], " ", 2)[0])
		if !testkit.MatchIRC("{**}"+want, line) || !strings.HasPrefix(line, "@msgid=") {
			t.Fatalf("message %d: %.80q\nseen %v", next, line, seen)
		}
		next++
	}
	if st := n.Server.Stats(); st.CatchUps == 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want a catch-up and nobody dropped", st)
	}
}

// TestServerFull: an IRC client over the connection limit is told in IRC.
func TestServerFull(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) { c.Server.MaxConns = 1 })
	_ = testkit.DialIRC(t, addr, "first", true)
	c := raw(t, addr)
	c.Send("NICK second")
	c.Send("USER u 0 * :U")
	lines := c.Until("ERROR")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "ERROR :Closing link: ") || !strings.Contains(strings.Join(lines, "\n"), "full") {
		t.Fatalf("over the limit:\n%s", strings.Join(lines, "\n"))
	}
}
