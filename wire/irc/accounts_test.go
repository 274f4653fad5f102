package irc_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

func cheapHashes(c *node.Config) { c.Hub.HashParams = auth.TestParams } // StartNode's default too; said for the reader

// registerOver makes nick an account from an IRC client (REGISTER is
// parley's /register, sent as the raw verb) and disconnects.
func registerOver(t *testing.T, n *node.Node, nick, pw string) {
	t.Helper()
	c := testkit.DialIRC(t, n.Addr(node.ListenIRC), nick, true)
	c.Send("REGISTER " + pw)
	c.Expect("is now registered to you")
	c.Send("QUIT")
	c.Expect("ERROR")
	testkit.Eventually(t, nick+" gone", func() bool { return n.Hub.Lookup(nick) == nil })
}

func plain(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

func TestSASLPlain(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	registerOver(t, n, "alice", "alice-secret")

	c := raw(t, addr)
	c.Send("CAP LS 302")
	if ls := c.Expect(" LS "); !strings.Contains(ls, "sasl=PLAIN") {
		t.Fatalf("LS without sasl: %s", ls)
	}
	c.Send("CAP REQ :sasl")
	c.Expect(" ACK ")
	c.Send("AUTHENTICATE SCRAM-SHA-256")
	c.Expect(" 908 ")
	c.Expect(" 904 ")
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	c.Send("AUTHENTICATE " + plain("alice", "wrong-guess"))
	c.Expect(" 904 ")
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	c.Send("AUTHENTICATE " + plain("alice", "alice-secret"))
	if l := c.Expect(" 900 "); !strings.Contains(l, " alice :You are now logged in as alice") {
		t.Fatalf("900: %s", l)
	}
	c.Expect(" 903 ")
	c.Send("NICK someone_else") // an account's session takes the account's name
	c.Send("USER u 0 * :Alice")
	c.Send("CAP END")
	if w := c.Expect(" 001 "); !strings.Contains(w, " 001 alice ") {
		t.Fatalf("welcome: %s", w)
	}
	c.Send("AUTHENTICATE PLAIN")
	c.Expect(" 907 ")
	c.Send("WHOIS alice")
	if l := c.Expect(" 330 "); !strings.Contains(l, " 330 alice alice alice :is logged in as") {
		t.Fatalf("WHOIS account: %s", l)
	}
	s := n.Hub.Lookup("alice")
	if s == nil || s.Account() != "alice" {
		t.Fatal("alice is not logged in")
	}
}

func TestRegisteredNickNeedsItsPassword(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	registerOver(t, n, "alice", "alice-secret")

	c := raw(t, addr)
	c.Send("NICK alice")
	c.Send("USER u 0 * :Not Alice")
	c.Expect(" 433 * alice :Nickname is registered")
	c.Send("NICK Alice")
	c.Expect(" 433 * Alice :Nickname is registered")
	c.Send("NICK carol")
	c.Expect(" 001 carol ")

	p := raw(t, addr)
	p.Send("PASS alice:alice-secret")
	p.Send("NICK whatever")
	p.Send("USER u 0 * :Alice")
	p.Expect(" 001 alice ")

	q := raw(t, addr)
	q.Send("PASS alice-secret") // PASS with NICK alice: the account's password
	q.Send("NICK alice")
	q.Send("USER u 0 * :Alice")
	q.Expect(" 001 alice ")
	// Two connections of one account are one user in NAMES.
	q.Send("NAMES #lobby")
	names := q.Expect(" 353 ")
	if _, list, _ := strings.Cut(names, " :"); strings.Count(list, "alice") != 1 {
		t.Fatalf("NAMES: %s", names)
	}
}

func TestKickBanAndModesOverIRC(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	registerOver(t, n, "olga", "olga-secret")
	o := raw(t, addr)
	o.Send("PASS olga:olga-secret")
	o.Register("olga")
	b := testkit.DialIRC(t, addr, "bob", true)

	o.Send("JOIN #dev")
	o.Expect("you own #dev now")
	o.Send("NAMES #dev")
	if l := o.Expect(" 353 "); !strings.HasSuffix(l, ":@olga") {
		t.Fatalf("the owner is not shown as an op: %s", l)
	}
	b.Send("JOIN #dev")
	b.Expect(" 366 bob #dev ")
	b.Send("MODE #dev +m")
	b.Expect(" 482 bob #dev :You're not channel operator")
	o.Send("MODE #dev +mt")
	o.Expect(":olga!u@{*} MODE #dev +mt")
	o.Send("MODE #dev")
	o.Expect(" 324 olga #dev +nmt")
	b.Send("PRIVMSG #dev :hello?")
	b.Expect(" 404 bob #dev :Cannot send to channel: #dev is moderated")
	o.Send("MODE #dev +v bob")
	b.Expect(":olga!u@{*} MODE #dev +v bob")
	b.Send("PRIVMSG #dev :thanks")
	o.Expect(":bob!u@{*} PRIVMSG #dev :thanks")
	o.Send("KICK #dev bob :enough")
	b.Expect(":olga!u@{*} KICK #dev bob :enough")
	o.Expect(":olga!u@{*} KICK #dev bob :enough")
	o.Send("MODE #dev +b bob!*@*")
	o.Expect(":olga!u@account/olga MODE #dev +b *!*@guest/{*}") // bob is a guest: his address, shown as his cloak
	o.Send("MODE #dev b")
	l := o.Expect(" 367 ")
	if !testkit.MatchIRC("{**} #dev *!*@guest/{*} olga {*}", l) {
		t.Fatalf("ban list: %s", l)
	}
	mask := strings.Fields(l)[4]
	o.Expect(" 368 ")
	b.Send("JOIN #dev")
	b.Expect(" 474 bob #dev :Cannot join channel (+b)")
	o.Send("MODE #dev -b " + mask)
	o.Expect("MODE #dev -b " + mask)
	b.Send("JOIN #dev")
	b.Expect(":bob!u@{*} JOIN #dev")
	// parley's own commands as IRC verbs.
	o.Send("SLOW 30") // the room is olga's current one: #dev
	o.Expect("olga set slow mode in #dev: one message every 30s per member")
	o.Send("MODLOG")
	o.Expect("moderation log of #dev")
}

func TestSASLHostile(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	registerOver(t, n, "alice", "alice-secret")
	c := raw(t, addr)
	c.Send("AUTHENTICATE PLAIN") // before CAP REQ sasl
	c.Expect(" 904 ")
	c.Send("CAP REQ :sasl")
	c.Expect(" ACK ")
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	chunk := strings.Repeat("A", 400)
	for range 3 {
		c.Send("AUTHENTICATE " + chunk)
	}
	c.Expect(" 905 ") // over 1 KiB of payload
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	c.Send("AUTHENTICATE !!notbase64!!")
	c.Expect(" 904 ")
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	c.Send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00alice-secret")))
	c.Expect(" 904 * :SASL authentication failed: one may only log in as oneself")
	c.Send("AUTHENTICATE PLAIN")
	c.Expect("AUTHENTICATE +")
	c.Send("AUTHENTICATE *")
	c.Expect(" 906 ")
	c.Send("CAP END")
	c.Send("NICK alice")
	c.Send("USER u 0 * :A")
	c.Expect(" 433 * alice :Nickname is registered")
	c.Send("NICK guest1")
	c.Expect(" 001 guest1 ")
}

func TestNickServ(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	c := testkit.DialIRC(t, addr, "carol", true)
	c.Send("PRIVMSG NickServ :REGISTER carol-secret carol@example.org")
	c.Expect("is now registered to you")
	c.Expect(":NickServ!services@irc.test NOTICE carol :done")
	c.Send("QUIT")
	c.Expect("ERROR")
	testkit.Eventually(t, "carol gone", func() bool { return n.Hub.Lookup("carol") == nil })
	d := testkit.DialIRC(t, addr, "guest5", true)
	d.Send("PRIVMSG nickserv :IDENTIFY carol wrong-one")
	d.Expect(":NickServ!services@irc.test NOTICE guest5 :error: wrong account name or password")
	d.Send("PRIVMSG NickServ :IDENTIFY carol carol-secret")
	d.Expect(":guest5!u@{*} NICK :carol")
	d.Expect("NOTICE carol :done")
	d.Send("PRIVMSG NickServ :HELP")
	d.Expect("IDENTIFY [account] password")
}

// TestClientBanMasks: the masks IRC clients build from a user's hostmask
// (irssi's /ban sends "*!*u@HOST") ban that user: a guest by address, an
// account by account; a mask naming nobody is refused.
func TestClientBanMasks(t *testing.T) {
	n, addr := start(t, false, cheapHashes)
	registerOver(t, n, "olga", "olga-secret")
	registerOver(t, n, "carol", "carol-secret")
	o := raw(t, addr)
	o.Send("PASS olga:olga-secret")
	o.Register("olga")
	o.Send("JOIN #dev")
	o.Expect("you own #dev now")
	b := testkit.DialIRC(t, addr, "bob", true)
	b.Send("JOIN #dev")
	join := o.Expect(" JOIN #dev")
	host := join[strings.Index(join, "@")+1 : strings.Index(join, " ")]
	if !strings.HasPrefix(host, "guest/") || strings.Contains(join, "127.0.0.1") {
		t.Fatalf("a guest's hostmask: %s", join)
	}
	c := raw(t, addr)
	c.Send("PASS carol:carol-secret")
	c.Register("carol")
	c.Send("JOIN #dev")
	if l := o.Expect("JOIN #dev"); l != ":carol!u@account/carol JOIN #dev" { // her #dev join, not her lobby one
		t.Fatalf("an account's hostmask: %s", l)
	}

	o.Send("MODE #dev +b *!*u@" + host) // irssi's /ban bob
	if l := o.Expect("NOTICE #dev :olga banned "); !strings.Contains(l, "banned "+host+" from #dev") || strings.Contains(l, "127.0.0.1") {
		t.Fatalf("the room is told %q: the cloak, never the address", l)
	}
	b.Expect(":olga!u@account/olga KICK #dev bob")
	o.Send("MODE #dev +b *!*@account/carol")
	c.Expect(":olga!u@account/olga KICK #dev carol")
	b.Send("JOIN #dev")
	b.Expect(" 474 bob #dev ")
	c.Send("JOIN #dev")
	c.Expect(" 474 carol #dev ")
	o.Send("MODE #dev +b *!*@nowhere.example")
	o.Expect("names nobody here")
}
