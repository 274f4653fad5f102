package irc_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
)

// TestForeignLabelStaysOut: another user's message that carries the same
// label as this client's pending request is not part of its response.
func TestForeignLabelStaysOut(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "batch", "labeled-response", "message-tags", "echo-message")
	b := testkit.DialIRC(t, addr, "bob", true, "batch", "labeled-response")
	a.Sync()
	b.Sync()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			b.Send(fmt.Sprintf("@label=L PRIVMSG #lobby :bob %d", i))
		}
	}()
	for i := 0; i < 2000; i++ {
		a.Send(fmt.Sprintf("@label=L PRIVMSG #lobby :alice %d", i))
	}
	wg.Wait()
	lines := a.Sync()
	bad := 0
	for _, l := range lines {
		if strings.Contains(l, "bob!") && (strings.Contains(l, "label=") || strings.Contains(l, "batch=")) {
			bad++
			if bad < 4 {
				t.Logf("foreign message in alice's labeled response: %s", l)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of bob's messages were labeled/batched as alice's responses", bad)
	}
}

// TestCatchUpKeepsIRCPromises: an IRC client without echo-message that
// falls behind and catches up from the store does not get its own message
// back, and its PONG comes after everything accepted before its PING.
func TestCatchUpKeepsIRCPromises(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) {
		c.Server = server.Options{MaxQueueBytes: 16 << 10, SendBuffer: 4 << 10, WriteTimeout: 5 * time.Second}
	})
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	b.Sync()
	// alice stops reading; bob floods; alice speaks while behind.
	big := strings.Repeat("x", 400)
	for i := 0; i < 600; i++ {
		b.Send(fmt.Sprintf("PRIVMSG #lobby :%d %s", i, big))
	}
	b.Sync()
	a.Send("PRIVMSG #lobby :mine")
	for i := 0; i < 200; i++ {
		b.Send(fmt.Sprintf("PRIVMSG #lobby :after %d %s", i, big))
	}
	b.Sync()
	lines := a.Sync()
	if last := lines[len(lines)-1]; !testkit.MatchIRC(":bob!u@{*} PRIVMSG #lobby :after 199 {**}", last) {
		t.Fatalf("the PONG came after %d lines, the last %.60q: not after everything sent before the PING", len(lines), last)
	}
	for _, l := range lines {
		if strings.Contains(l, ":alice!u@{*} PRIVMSG #lobby :mine") {
			t.Errorf("alice (no echo-message) got her own message back: %s", l)
		}
	}
}

// TestLinesFitLineLen: a topic of TOPICLEN bytes and a WHOIS of 41
// channels make no line over 512 bytes.
func TestLinesFitLineLen(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	a.Send("TOPIC #lobby :" + strings.Repeat("t", 496))
	for _, l := range a.Sync() {
		if len(l)+2 > 512 {
			t.Errorf("%d-byte line: %.60s...", len(l)+2, l)
		}
	}
	for i := 0; i < 40; i++ {
		a.Send(fmt.Sprintf("JOIN #room-with-a-long-name-%02d", i))
	}
	a.Sync()
	a.Send("WHOIS alice")
	for _, l := range a.Sync() {
		if len(l)+2 > 512 {
			t.Errorf("%d-byte line: %.60s...", len(l)+2, l)
		}
	}
}

// TestAwayNotifySharedJoin: away-notify readers get an AWAY after a shared
// JOIN line without writing into each other's bytes (run with -race).
func TestAwayNotifySharedJoin(t *testing.T) {
	_, addr := start(t, false)
	var cs []*testkit.IRC
	for i := 0; i < 6; i++ {
		c := testkit.DialIRC(t, addr, fmt.Sprintf("w%d", i), true, "away-notify")
		c.Send("JOIN #x")
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.Sync()
	}
	z := testkit.DialIRC(t, addr, "zed", true)
	for i := 0; i < 30; i++ {
		z.Send(fmt.Sprintf("AWAY :gone %d", i))
		z.Send("JOIN #x")
		z.Send("PART #x")
	}
	z.Sync()
	for _, c := range cs {
		c.Sync()
	}
}

// TestCatchUpLabelsOnce: a labeled message sent while catching up is
// answered once.
func TestCatchUpLabelsOnce(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) {
		c.Server = server.Options{MaxQueueBytes: 16 << 10, SendBuffer: 4 << 10, WriteTimeout: 5 * time.Second}
	})
	a := testkit.DialIRC(t, addr, "alice", true, "echo-message", "batch", "labeled-response")
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	b.Sync()
	big := strings.Repeat("x", 400)
	for i := 0; i < 600; i++ {
		b.Send(fmt.Sprintf("PRIVMSG #lobby :%d %s", i, big))
	}
	b.Sync()
	a.Send("@label=Z PRIVMSG #lobby :mine")
	a.Send("PING marker")
	for i := 0; i < 50; i++ {
		b.Send(fmt.Sprintf("PRIVMSG #lobby :after %d %s", i, big))
	}
	b.Sync()
	lines := a.Until("after 49 ")
	n := 0
	for _, l := range lines {
		if strings.Contains(l, "label=Z") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("label Z sent %d times", n)
	}
}

// TestNoticeKeepsOrder: a sender's NOTICE comes after the PRIVMSG it sent
// before it.
func TestNoticeKeepsOrder(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true)
	b := testkit.DialIRC(t, addr, "bob", true)
	a.Sync()
	b.Sync()
	for i := 0; i < 200; i++ {
		a.Send(fmt.Sprintf("PRIVMSG #lobby :p%d", i))
		a.Send(fmt.Sprintf("NOTICE #lobby :n%d", i))
	}
	a.Sync()
	lines := b.Sync()
	last := ""
	bad := 0
	for _, l := range lines {
		i := strings.LastIndex(l, ":")
		tok := l[i+1:]
		if strings.HasPrefix(tok, "n") && last != "p"+tok[1:] {
			bad++
			if bad < 3 {
				t.Logf("%s arrived after %s", tok, last)
			}
		}
		last = tok
	}
	if bad > 0 {
		t.Errorf("%d notices overtook the message sent before them", bad)
	}
}

// TestInviteNotInLabeledResponse: another user's INVITE notice is not part
// of this client's labeled responses.
func TestInviteNotInLabeledResponse(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "batch", "labeled-response", "echo-message")
	b := testkit.DialIRC(t, addr, "bob", true)
	f := testkit.DialIRC(t, addr, "flood", true)
	b.Send("JOIN #x")
	b.Sync()
	a.Sync()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 500; i++ {
			b.Send("INVITE alice #x")
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			f.Send(fmt.Sprintf("PRIVMSG #lobby :f%d", i))
		}
	}()
	for i := 0; i < 500; i++ {
		a.Send(fmt.Sprintf("@label=a%d PRIVMSG #lobby :m%d", i, i))
	}
	wg.Wait()
	n := 0
	for _, l := range a.Sync() {
		if strings.Contains(l, "invites you") && (strings.Contains(l, "label=") || strings.Contains(l, "batch=")) {
			n++
			if n < 3 {
				t.Logf("%s", l)
			}
		}
	}
	if n > 0 {
		t.Errorf("%d invite notices were part of alice's labeled responses", n)
	}
}

// TestDMHistoryPaging: with MaxHistory below a page, CHATHISTORY of one
// conversation pages past the others.
func TestDMHistoryPaging(t *testing.T) {
	_, addr := start(t, false, func(c *node.Config) { c.Hub.MaxHistory = 5 })
	a := testkit.DialIRC(t, addr, "alice", true, "batch", "draft/chathistory", "server-time", "message-tags")
	testkit.DialIRC(t, addr, "bob", true)
	testkit.DialIRC(t, addr, "carol", true)
	for i := 0; i < 3; i++ {
		a.Send(fmt.Sprintf("PRIVMSG bob :b%d", i))
	}
	for i := 0; i < 10; i++ {
		a.Send(fmt.Sprintf("PRIVMSG carol :c%d", i))
	}
	a.Sync()
	a.Send("CHATHISTORY LATEST bob * 10")
	got := a.Sync()
	n := 0
	for _, l := range got {
		if strings.Contains(l, "PRIVMSG bob") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("got %d of 3 DMs with bob:\n%s", n, strings.Join(got, "\n"))
	}
}

// TestLabelNeedsBatch: a client with labeled-response but not batch gets
// no labels and no batches; a message to oneself is shown.
func TestLabelNeedsBatch(t *testing.T) {
	_, addr := start(t, false)
	a := testkit.DialIRC(t, addr, "alice", true, "labeled-response")
	a.Send("@label=x WHOIS alice")
	a.Send("PRIVMSG alice :note to self")
	got := a.Sync()
	for _, l := range got {
		if strings.HasPrefix(l, "@") || strings.Contains(l, "BATCH") {
			t.Fatalf("a client without batch got %q", l)
		}
	}
	if last := got[len(got)-1]; !testkit.MatchIRC(":alice!u@{*} PRIVMSG alice :note to self", last) {
		t.Fatalf("the message to oneself: last line %q", last)
	}
}
