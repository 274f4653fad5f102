package e2e

import (
	"net"
	"strings"
	"testing"

	"github.com/parleychat/parley/node"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/wire/native"
)

func tcpAddr(t *testing.T, s string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// roomOwner registers name (password name+"-secret") on the line
// protocol and makes room, which the account then owns.
func roomOwner(t *testing.T, line net.Addr, name, room string) *testkit.Line {
	t.Helper()
	l := testkit.DialLine(t, line, name)
	l.Send("/register " + name + "-secret")
	l.Expect("the name " + name + " is now registered to you")
	l.Send("/join #" + room)
	l.Expect("you own #" + room + " now")
	return l
}

// nativeLogin logs in to an account with a native hello.
func nativeLogin(t *testing.T, addr net.Addr, account, pw string, rooms ...string) *testkit.Native {
	t.Helper()
	n := testkit.NativeOnWith(t, testkit.Dial(t, addr), native.Request{Type: "hello", Version: native.Version, Account: account, Password: pw, Rooms: rooms})
	w := n.ExpectType("welcome")
	if w.Account != account {
		t.Fatalf("welcome for account %q, want %q", w.Account, account)
	}
	return n
}

// TestAccountsAndBansSurviveKill9 runs accounts and moderation end to end
// through a real `parley serve`: a room owner on the line protocol, a
// troll on the native protocol, a ban, a DM to an account that is away,
// then SIGKILL and a restart on the same data directory.
func TestAccountsAndBansSurviveKill9(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "--line-listen", "127.0.0.1:0")
	frame, line := tcpAddr(t, srv.addr), tcpAddr(t, srv.line)

	olga := roomOwner(t, line, "olga", "dev")

	// troll registers on the native protocol and joins #dev.
	troll := testkit.DialNative(t, frame, "troll")
	troll.ExpectType("welcome")
	troll.Send(native.Request{Type: "register", Password: "troll-secret", Ref: "r1"})
	troll.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
	troll.Send(native.Request{Type: "join", Room: "dev"})
	troll.Expect("joined #dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" && ev.Name == "troll" })

	// olga bans him; he is removed, told who did it and why.
	olga.Send("/ban troll spamming links")
	olga.Expect("olga banned troll from #dev: spamming links")
	part := troll.Expect("the ban", func(ev native.Event) bool { return ev.Type == "part" && ev.Room == "dev" && ev.Name == "troll" })
	if !strings.Contains(part.Reason, "banned by olga: spamming links") {
		t.Fatalf("ban reason %q", part.Reason)
	}
	troll.Send(native.Request{Type: "join", Room: "dev", Ref: "j2"})
	if ev := troll.ExpectType("error"); ev.Code != "banned" {
		t.Fatalf("rejoin: %+v", ev)
	}

	// A guest named like olga is refused while she is away, and a DM to
	// her is kept.
	olga.Send("/quit")
	olga.Expect("goodbye")
	bob := testkit.DialLine(t, line, "bob")
	bob.Send("/msg olga are you there?")
	bob.Expect("are you there?")                  // its own copy: stored
	bob.Expect("kept for them until they log in") // then told it waits
	impostor := testkit.NativeOnWith(t, testkit.Dial(t, frame), native.Request{Type: "hello", Version: native.Version, Name: "OLGA"})
	if ev := impostor.ExpectType("error"); ev.Code != "name_registered" {
		t.Fatalf("impostor: %+v", ev)
	}

	srv.kill(t)
	srv = startServer(t, dataDir, "--line-listen", "127.0.0.1:0")
	frame, line = tcpAddr(t, srv.addr), tcpAddr(t, srv.line)

	// After the restart: the name is still hers on every protocol ...
	tut := testkit.DialTutorial(t, frame, "olga")
	tut.ExpectNotice("registered name")
	tut.ExpectClosed()
	impostor = testkit.NativeOnWith(t, testkit.Dial(t, frame), native.Request{Type: "hello", Version: native.Version, Name: "Olga"})
	if ev := impostor.ExpectType("error"); ev.Code != "name_registered" {
		t.Fatalf("impostor after restart: %+v", ev)
	}
	// ... the DM waited for her ...
	o := nativeLogin(t, frame, "olga", "olga-secret")
	dm := o.Expect("the kept DM", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "are you there?" })
	if dm.From != "bob" || !dm.History {
		t.Fatalf("kept DM %+v", dm)
	}
	// ... she still owns #dev, and the troll is still out, under any name.
	o.Send(native.Request{Type: "join", Room: "dev"})
	o.Expect("joined", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" })
	tr := nativeLogin(t, frame, "troll", "troll-secret")
	tr.Send(native.Request{Type: "join", Room: "dev", Ref: "j3"})
	if ev := tr.ExpectType("error"); ev.Code != "banned" {
		t.Fatalf("troll after restart: %+v", ev)
	}
	tr.Send(native.Request{Type: "nick", Name: "innocent", Ref: "n1"})
	if ev := tr.ExpectType("error"); ev.Code != "invalid" {
		t.Fatalf("an account renaming itself: %+v", ev)
	}
	// The troll logs in on the line protocol too: still banned.
	tl := testkit.DialLineLogin(t, line, "troll", "troll-secret")
	if !strings.Contains(strings.Join(tl.Greeting, "\n"), "troll is a registered name") {
		t.Fatalf("no password prompt: %q", tl.Greeting)
	}
	tl.Send("/join #dev")
	tl.Expect("you are banned from #dev")
	// The audit log kept the ban.
	o.Send(native.Request{Type: "modlog", Room: "dev", Ref: "m1"})
	log := o.Expect("the modlog", func(ev native.Event) bool {
		return ev.Type == "notice" && strings.Contains(ev.Text, "moderation log of #dev")
	})
	if !strings.Contains(log.Text, "olga: ban troll (spamming links)") || !strings.Contains(log.Text, "olga: claim olga") {
		t.Fatalf("modlog:\n%s", log.Text)
	}
	// A wrong password is refused, and the tutorial client's name:password works.
	bad := testkit.DialTutorial(t, frame, "olga:wrong-one")
	bad.ExpectNotice("wrong account name or password")
	good := testkit.DialTutorial(t, frame, "olga:olga-secret")
	good.Send("/who")
	good.ExpectNotice("olga")
}

// TestGuestBanFollowsTheAddress bans a guest: their address is banned, so
// another name from it stays out, until the ban is lifted.
func TestGuestBanFollowsTheAddress(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--line-listen", "127.0.0.1:0")
	frame, line := tcpAddr(t, srv.addr), tcpAddr(t, srv.line)
	olga := roomOwner(t, line, "olga", "dev")
	olga.Send("/mode +m")
	olga.Expect("set mode +m")

	g := testkit.DialNative(t, frame, "gus")
	g.ExpectType("welcome")
	g.Send(native.Request{Type: "join", Room: "dev"})
	g.Expect("joined", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "gus" })
	g.Send(native.Request{Type: "say", Room: "dev", Text: ptr("hello?"), Ref: "s1"})
	if ev := g.ExpectType("error"); ev.Code != "forbidden" {
		t.Fatalf("a member speaking in +m: %+v", ev)
	}
	olga.Send("/voice gus")
	olga.Expect("olga gave voice to gus")
	g.Send(native.Request{Type: "say", Room: "dev", Text: ptr("thanks"), Ref: "s2"})
	olga.Expect("<gus> thanks")
	olga.Send("/mute gus 10m")
	g.Expect("muted", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "olga muted gus") })
	g.Send(native.Request{Type: "say", Room: "dev", Text: ptr("what?"), Ref: "s3"})
	if ev := g.ExpectType("error"); ev.Code != "muted" {
		t.Fatalf("a muted guest speaking: %+v", ev)
	}
	g.Send(native.Request{Type: "ban", Room: "dev", Name: "olga", Ref: "b1"})
	if ev := g.ExpectType("error"); ev.Code != "forbidden" {
		t.Fatalf("a guest banning: %+v", ev)
	}
	olga.Send("/kick gus out")
	g.Expect("kicked", func(ev native.Event) bool {
		return ev.Type == "part" && ev.Name == "gus" && strings.Contains(ev.Reason, "kicked by olga")
	})
	olga.Send("/ban gus")
	olga.Expect("olga banned gus (guest/") // his address, shown as his cloak
	g2 := testkit.DialLine(t, line, "gus-again")
	g2.Send("/join #dev")
	g2.Expect("you are banned from #dev")
	g2.Send("/nick third-name")
	g2.Send("/join #dev")
	g2.Expect("you are banned from #dev")
	olga.Send("/unban gus")
	olga.Expect("olga unbanned gus")
	g2.Send("/join #dev")
	g2.Expect("-- you joined dev")
}

// TestTutorialClientsLogIn: the thread-tutorials' own clients, unchanged,
// log in to an account: the NAME dialect's with "name:password" as its
// name (a bare registered name is refused with the reason), the welcome
// dialect's (which gets a guest name) with /login.
func TestTutorialClientsLogIn(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	reg := testkit.DialNative(t, n.Addr(node.ListenFrame), "alice")
	reg.ExpectType("welcome")
	reg.Send(native.Request{Type: "register", Password: "alice-secret"})
	reg.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
	reg.Send(native.Request{Type: "quit"})
	reg.ExpectType("bye")
	testkit.WaitMembers(t, n, "lobby", 0)

	port := portOf(n.Addr(node.ListenName))
	refused := startPy(t, "name_dialect_client.py", port)
	refused.send("alice")
	refused.expect("registered name")

	in := startPy(t, "name_dialect_client.py", port)
	in.send("alice:alice-secret")
	in.expect("Welcome, alice!")
	in.send("/who")
	in.expect("members of lobby (1): alice")
	// The client puts its "name" before every message: the password in
	// it reaches nobody.
	watcher := testkit.DialNative(t, n.Addr(node.ListenFrame), "watcher")
	watcher.ExpectType("welcome")
	in.expect("watcher is Connected")
	in.send("hello all")
	if ev := watcher.ExpectType("say"); ev.From != "alice" || ev.Text != "hello all" {
		t.Fatalf("relayed %+v", ev)
	}
	watcher.Send(native.Request{Type: "quit"})
	watcher.ExpectType("bye")
	testkit.WaitMembers(t, n, "lobby", 1)

	w := startPy(t, "welcome_dialect_client.py", portOf(n.Addr(node.ListenWelcome)))
	w.expect("Welcome to this chatroom!")
	w.send("/login alice alice-secret")
	w.expect("you are logged in as alice")
	in.send("/who")
	in.expect("members of lobby (1): alice") // two devices, one user
}
