package chat_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/auth"
	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// acctHub is a hub with accounts on a fake clock; sleeps (the brute-force
// delays) are recorded, not slept.
type acctHub struct {
	*chat.Hub
	clock  *fakeClock
	mu     sync.Mutex
	sleeps []time.Duration
}

func newAcctHub(t *testing.T, cfg chat.Config) *acctHub {
	t.Helper()
	a := &acctHub{clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
	if cfg.Store == nil {
		cfg.Store = memory.New(0)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Now = a.clock.Now
	cfg.Sleep = func(d time.Duration) {
		a.mu.Lock()
		a.sleeps = append(a.sleeps, d)
		a.mu.Unlock()
	}
	cfg.HashParams = auth.TestParams
	h, err := chat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	a.Hub = h
	return a
}

func (a *acctHub) slept() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.sleeps...)
}

// guest connects a guest from remote ("ip:port").
func guest(t *testing.T, h *chat.Hub, name, remote string) (*chat.Session, *fakeSink) {
	t.Helper()
	sink := &fakeSink{}
	s, err := h.Register(sink, name, chat.ClientInfo{Protocol: "test", Remote: remote})
	if err != nil {
		t.Fatalf("guest %s: %v", name, err)
	}
	if err := s.Begin(chat.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	return s, sink
}

// login connects a session of an account.
func login(h *chat.Hub, name, pw, remote string) (*chat.Session, *fakeSink, error) {
	cred, err := h.Authenticate(name, pw, remote)
	if err != nil {
		return nil, nil, err
	}
	sink := &fakeSink{}
	s, err := h.RegisterAccount(sink, cred, chat.ClientInfo{Protocol: "test", Remote: remote})
	if err != nil {
		return nil, nil, err
	}
	return s, sink, s.Begin(chat.JoinOptions{})
}

func mustLogin(t *testing.T, h *chat.Hub, name, pw, remote string) (*chat.Session, *fakeSink) {
	t.Helper()
	s, sink, err := login(h, name, pw, remote)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return s, sink
}

// account registers name with pw (a guest on the server's machine that
// registers and leaves).
func account(t *testing.T, h *chat.Hub, name, pw string) {
	t.Helper()
	s, _ := guest(t, h, name, "127.0.0.1:1")
	if err := s.Register(pw); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	s.Leave("done")
}

func wantCode(t *testing.T, what string, err error, code chat.Code) {
	t.Helper()
	switch {
	case code == "" && err != nil:
		t.Fatalf("%s: %v, want success", what, err)
	case code != "" && chat.ErrorCode(err) != code:
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func TestRegisteredNameIsReserved(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	account(t, h.Hub, "joe", "correct-horse")
	for _, name := range []string{"alice", "ALICE", "Alice", "ａｌｉｃｅ", "joe", "јое" /* Cyrillic: looks like joe */} {
		_, err := h.Register(&fakeSink{}, name, chat.ClientInfo{Remote: "192.0.2.1:5"})
		wantCode(t, "guest "+name, err, chat.CodeNameRegistered)
	}
	// Mixed-script look-alikes are refused by the name rules already.
	_, err := h.Register(&fakeSink{}, "аlice", chat.ClientInfo{Remote: "192.0.2.1:5"})
	wantCode(t, "guest аlice", err, chat.CodeNameInvalid)
	g, _ := guest(t, h.Hub, "mallory", "192.0.2.1:6")
	wantCode(t, "nick to a registered name", g.Nick("Alice"), chat.CodeNameRegistered)
	wantCode(t, "nick to a look-alike", g.Nick("јое"), chat.CodeNameRegistered)
	_, _, err = login(h.Hub, "alice", "wrong-password", "192.0.2.1:7")
	wantCode(t, "wrong-password", err, chat.CodeAuth)
	_, _, err = login(h.Hub, "nobody", "correct-horse", "192.0.2.1:7")
	wantCode(t, "no such account", err, chat.CodeAuth)
	if !strings.Contains(chat.ErrorMessage(err), "wrong account name or password") {
		t.Fatalf("a missing account is told apart: %v", err)
	}
	s, sink := mustLogin(t, h.Hub, "ALICE", "correct-horse", "192.0.2.9:1")
	if s.Name() != "alice" || s.Account() != "alice" {
		t.Fatalf("logged in as %q (account %q)", s.Name(), s.Account())
	}
	w := sink.wait(t, "welcome", func(ev *chat.Event) bool { return ev.Kind == chat.KindWelcome })
	if w.Welcome.Account != "alice" {
		t.Fatalf("welcome account %q", w.Welcome.Account)
	}
	wantCode(t, "an account's nick change", s.Nick("alice2"), chat.CodeInvalid)
}

func TestSeveralDevicesAreOneUser(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	bob, bobSink := guest(t, h.Hub, "bob", "192.0.2.2:1")
	laptop, laptopSink := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:1")
	phone, phoneSink := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.4:1")
	_, names, _ := bob.Who("")
	if strings.Join(names, ",") != "alice,bob" {
		t.Fatalf("lobby members %v, want alice once", names)
	}
	joins := 0
	for _, ev := range bobSink.snapshot() {
		if ev.Kind == chat.KindJoin && ev.Name == "alice" {
			joins++
		}
	}
	if joins != 1 {
		t.Fatalf("bob saw alice join %d times", joins)
	}
	if err := bob.DM("alice", "to both devices", ""); err != nil {
		t.Fatal(err)
	}
	for _, sink := range []*fakeSink{laptopSink, phoneSink} {
		sink.wait(t, "the DM", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.Text == "to both devices" })
	}
	if err := phone.DM("bob", "from the phone", ""); err != nil {
		t.Fatal(err)
	}
	laptopSink.wait(t, "the phone's DM on the laptop", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.Text == "from the phone" })
	phone.Leave("phone off")
	laptop.Leave("laptop off")
	parts := 0
	bobSink.wait(t, "alice's quit", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindPart && ev.Name == "alice" && ev.Reason == "laptop off"
	})
	for _, ev := range bobSink.snapshot() {
		if ev.Kind == chat.KindPart && ev.Name == "alice" {
			parts++
		}
	}
	if parts != 1 {
		t.Fatalf("bob saw alice leave %d times; the first device leaving is no news", parts)
	}
}

func TestDMsWaitForTheirAccount(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	bob, bobSink := guest(t, h.Hub, "bob", "192.0.2.2:1")
	if err := bob.DM("alice", "while you were out", ""); err != nil {
		t.Fatal(err)
	}
	bobSink.wait(t, "a kept notice", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "kept for them")
	})
	bobSink.wait(t, "bob's own copy", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.To == "alice" })
	wantCode(t, "a DM to a guest who is not online", bob.DM("carol", "hi", ""), chat.CodeNoSuchUser)

	s, sink := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:1")
	dm := sink.wait(t, "the kept DM", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.Text == "while you were out" })
	if !dm.History || dm.From != "bob" {
		t.Fatalf("kept DM %+v", dm)
	}
	evs := sink.snapshot()
	if evs[0].Kind != chat.KindWelcome {
		t.Fatalf("first event %s", evs[0].Kind)
	}
	s.Leave("bye")
	_, sink2 := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:2")
	// The away replay runs within the login (Begin): whatever it sends
	// is in the sink by now.
	for _, ev := range sink2.snapshot() {
		if ev.Kind == chat.KindDM {
			t.Fatalf("a DM already seen is replayed again: %+v", ev)
		}
	}
	// History of an account's DMs spans its sessions.
	msgs, err := s.Hub().Lookup("alice").History(chat.HistoryQuery{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("DM history %v %v", msgs, err)
	}
}

func TestConcurrentLoginsAndImpostors(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := login(h.Hub, "alice", "correct-horse", "192.0.2.3:1")
			errs <- err
		}()
		go func() {
			defer wg.Done()
			name := []string{"alice", "Alice", "ａｌｉｃｅ", "ALICE"}[i%4]
			_, err := h.Register(&fakeSink{}, name, chat.ClientInfo{Remote: "192.0.2.66:1"})
			if err == nil {
				errs <- &chat.Error{Code: "impostor", Message: name + " got in"}
				return
			}
			if chat.ErrorCode(err) != chat.CodeNameRegistered {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.Online(0)); n != 20 {
		t.Fatalf("%d sessions online, want 20 of alice", n)
	}
}

func TestBruteForceIsSlowedThenLocked(t *testing.T) {
	h := newAcctHub(t, chat.Config{
		AccountPolicy: auth.Policy{Window: time.Hour, SlowFrom: 3, MaxDelay: 8 * time.Second, LockFrom: 6, LockFor: 15 * time.Minute},
		AddressPolicy: auth.Policy{Window: time.Hour, SlowFrom: 100, MaxDelay: time.Second, LockFrom: 8, LockFor: 30 * time.Minute},
	})
	account(t, h.Hub, "alice", "correct-horse")
	for i := range 6 {
		_, _, err := login(h.Hub, "alice", "guess"+string(rune('a'+i)), "192.0.2.7:1")
		wantCode(t, "a guess", err, chat.CodeAuth)
	}
	if got := h.slept(); len(got) != 3 || got[0] != time.Second || got[2] != 4*time.Second {
		t.Fatalf("delays %v, want 1s 2s 4s from the 4th guess", got)
	}
	_, _, err := login(h.Hub, "alice", "correct-horse", "192.0.2.8:1")
	wantCode(t, "the right password while locked", err, chat.CodeRateLimited)
	h.clock.Advance(15 * time.Minute)
	mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.8:1")

	// One address trying many accounts is locked out too.
	for i := range 8 {
		_, _, err := login(h.Hub, "user"+string(rune('a'+i)), "x", "198.51.100.1:1")
		wantCode(t, "spraying", err, chat.CodeAuth)
	}
	_, _, err = login(h.Hub, "alice", "correct-horse", "198.51.100.1:2")
	wantCode(t, "the sprayer's address", err, chat.CodeRateLimited)
	mustLogin(t, h.Hub, "alice", "correct-horse", "198.51.100.2:1") // another address is not
}

func TestPasswdAndUnregister(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	s, _ := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:1")
	other, otherSink := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:2")
	wantCode(t, "passwd with a wrong old password", s.Passwd("nope", "battery-staple"), chat.CodeAuth)
	wantCode(t, "a short new password", s.Passwd("correct-horse", "abc"), chat.CodeInvalid)
	wantCode(t, "passwd", s.Passwd("correct-horse", "battery-staple"), "")
	_, _, err := login(h.Hub, "alice", "correct-horse", "192.0.2.3:3")
	wantCode(t, "the old password", err, chat.CodeAuth)
	wantCode(t, "unregister with a wrong password", s.Unregister("correct-horse"), chat.CodeAuth)
	wantCode(t, "unregister", s.Unregister("battery-staple"), "")
	otherSink.wait(t, "the other device's bye", func(ev *chat.Event) bool { return ev.Kind == chat.KindBye })
	if !other.Closed() || s.Closed() || s.Account() != "" || s.Name() != "alice" {
		t.Fatalf("after unregister: other closed %v, s closed %v account %q name %q", other.Closed(), s.Closed(), s.Account(), s.Name())
	}
	s.Leave("bye")
	guest(t, h.Hub, "alice", "192.0.2.9:1") // the name is free
}

func TestRegistrationModes(t *testing.T) {
	for _, tt := range []struct {
		mode             chat.Registration
		guest, adminSelf chat.Code
		adminOther       chat.Code
	}{
		{chat.RegistrationOpen, "", "", ""},
		{chat.RegistrationClosed, chat.CodeForbidden, chat.CodeForbidden, chat.CodeForbidden},
		{chat.RegistrationAdmin, chat.CodeForbidden, "", ""},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			h := newAcctHub(t, chat.Config{Registration: tt.mode, Admins: []string{"root1"}})
			if tt.mode != chat.RegistrationOpen {
				// The admin account is made while registration is open
				// (as `parley serve` would have it from an earlier run).
				st := memory.New(0)
				h = newAcctHub(t, chat.Config{Store: st, Admins: []string{"root1"}})
				account(t, h.Hub, "root1", "admin-password")
				h = newAcctHub(t, chat.Config{Store: st, Registration: tt.mode, Admins: []string{"root1"}})
			}
			g, _ := guest(t, h.Hub, "gus", "192.0.2.1:1")
			wantCode(t, "a guest registering", g.Register("guest-password"), tt.guest)
			if tt.mode == chat.RegistrationOpen {
				return
			}
			admin, _ := mustLogin(t, h.Hub, "root1", "admin-password", "192.0.2.2:1")
			wantCode(t, "an admin registering another name", admin.RegisterName("newbie", "newbie-password"), tt.adminOther)
			wantCode(t, "a guest registering someone else", g.RegisterName("other", "other-password"), chat.CodeForbidden)
		})
	}
}

func TestRequireAccount(t *testing.T) {
	h := newAcctHub(t, chat.Config{RequireAccount: true})
	account(t, h.Hub, "alice", "correct-horse")
	g, gSink := guest(t, h.Hub, "gus", "192.0.2.1:1")
	wantCode(t, "a guest speaking", g.Say("", "hi", ""), chat.CodeAccountRequired)
	wantCode(t, "a guest's DM", g.DM("alice", "hi", ""), chat.CodeAccountRequired)
	a, _ := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.2:1")
	wantCode(t, "an account speaking", a.Say("", "hello", ""), "")
	gSink.wait(t, "alice's message, read by the guest", func(ev *chat.Event) bool { return ev.Kind == chat.KindSay && ev.Text == "hello" })
	wantCode(t, "guest logs in", g.Login("alice", "correct-horse"), "")
	wantCode(t, "then speaks", g.Say("", "now as alice", ""), "")
}

func TestLoginMidSession(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	bob, bobSink := guest(t, h.Hub, "bob", "192.0.2.2:1")
	if err := bob.DM("alice", "kept", ""); err != nil {
		t.Fatal(err)
	}
	g, gSink := guest(t, h.Hub, "guest7", "192.0.2.3:1")
	wantCode(t, "login with a wrong password", g.Login("alice", "nope-nope"), chat.CodeAuth)
	wantCode(t, "login", g.Login("alice", "correct-horse"), "")
	if g.Name() != "alice" {
		t.Fatalf("name %q after login", g.Name())
	}
	bobSink.wait(t, "the nick change", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNick && ev.OldName == "guest7" && ev.Name == "alice"
	})
	gSink.wait(t, "the kept DM", func(ev *chat.Event) bool { return ev.Kind == chat.KindDM && ev.Text == "kept" })
	guest(t, h.Hub, "guest7", "192.0.2.9:1") // the old name is free
}

func TestHostileCredentials(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	huge := strings.Repeat("x", 1<<20)
	_, _, err := login(h.Hub, "alice", huge, "192.0.2.1:1")
	wantCode(t, "a 1 MB password", err, chat.CodeAuth)
	_, _, err = login(h.Hub, strings.Repeat("a", 5000), "x", "192.0.2.1:1")
	wantCode(t, "a 5000-character account name", err, chat.CodeAuth)
	_, _, err = login(h.Hub, "alice\x00", "correct-horse", "192.0.2.1:1")
	wantCode(t, "a NUL in the account name", err, chat.CodeAuth)
	g, _ := guest(t, h.Hub, "gus", "192.0.2.1:2")
	wantCode(t, "registering a 1 MB password", g.Register(huge), chat.CodeInvalid)
	wantCode(t, "registering an empty password", g.Register(""), chat.CodeInvalid)
	wantCode(t, "registering twice", g.Register("gus-secret"), "")
	wantCode(t, "registering again", g.Register("gus-secret2"), chat.CodeInvalid)
	wantCode(t, "logging in while logged in", g.Login("alice", "correct-horse"), chat.CodeInvalid)
	// A name ban covers the name's look-alikes.
	account(t, h.Hub, "owner", "owner-secret")
	o, _ := mustLogin(t, h.Hub, "owner", "owner-secret", "192.0.2.3:1")
	wantCode(t, "owner makes #dev", o.Join("dev", chat.JoinOptions{}), "")
	wantCode(t, "a name ban", o.Exec("/ban name:joe", ""), "")
	lookalike, _ := guest(t, h.Hub, "јое", "203.0.113.1:1") // Cyrillic
	wantCode(t, "a look-alike of a banned name", lookalike.Join("dev", chat.JoinOptions{}), chat.CodeBanned)
}

// TestRegisterThenAnotherDevice: a guest registers while in a room, then
// logs in from a second device into the same room and leaves it: the
// room still has the user, and nobody is told otherwise.
func TestRegisterThenAnotherDevice(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	bob, bobSink := guest(t, h.Hub, "bob", "192.0.2.2:1")
	a, _ := guest(t, h.Hub, "alice", "192.0.2.3:1")
	wantCode(t, "register", a.Register("correct-horse"), "")
	phone, _ := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.4:1")
	phone.Leave("phone off")
	_, names, _ := bob.Who("")
	if strings.Join(names, ",") != "alice,bob" {
		t.Fatalf("members %v", names)
	}
	for _, ev := range bobSink.snapshot() {
		if ev.Name == "alice" && (ev.Kind == chat.KindPart || ev.Kind == chat.KindJoin && ev.Session == phone.ID()) {
			t.Fatalf("bob was told %s of alice's second device", ev.Kind)
		}
	}
}

// TestDMResumeCursor: an account's client that says which direct message
// it has last gets exactly the ones after it, whatever the account's
// other devices saw.
func TestDMResumeCursor(t *testing.T) {
	h := newAcctHub(t, chat.Config{})
	account(t, h.Hub, "alice", "correct-horse")
	laptop, _ := mustLogin(t, h.Hub, "alice", "correct-horse", "192.0.2.3:1") // stays online
	bob, _ := guest(t, h.Hub, "bob", "192.0.2.2:1")
	for _, text := range []string{"one", "two", "three"} {
		if err := bob.DM("alice", text, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.Sync() // stored and delivered
	msgs, err := laptop.History(chat.HistoryQuery{})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("history %v %v", msgs, err)
	}
	cred, err := h.Authenticate("alice", "correct-horse", "192.0.2.4:1")
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	phone, err := h.RegisterAccount(sink, cred, chat.ClientInfo{Protocol: "test", Remote: "192.0.2.4:1", DMsAfter: msgs[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := phone.Begin(chat.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range sink.snapshot() {
		if ev.Kind == chat.KindDM {
			got = append(got, ev.Text)
		}
	}
	if strings.Join(got, ",") != "two,three" {
		t.Fatalf("replayed %v, want two,three", got)
	}
}

func TestRegistrationsPerAddress(t *testing.T) {
	h := newAcctHub(t, chat.Config{RegistrationsPerHour: 3})
	for i := range 3 {
		g, _ := guest(t, h.Hub, "name"+string(rune('a'+i)), "198.51.100.9:1")
		wantCode(t, "a registration", g.Register("some-secret"), "")
	}
	g, _ := guest(t, h.Hub, "named", "198.51.100.9:2")
	wantCode(t, "the 4th from one address within the hour", g.Register("some-secret"), chat.CodeRateLimited)
	other, _ := guest(t, h.Hub, "othernet", "203.0.113.9:1")
	wantCode(t, "another address", other.Register("some-secret"), "")
	local, _ := guest(t, h.Hub, "local", "127.0.0.1:5")
	wantCode(t, "loopback is exempt", local.Register("some-secret"), "")
	h.clock.Advance(time.Hour)
	wantCode(t, "an hour later", g.Register("some-secret"), "")
}

func TestAdminNameRegisteredOnlyLocally(t *testing.T) {
	h := newAcctHub(t, chat.Config{Admins: []string{"ada"}})
	far, _ := guest(t, h.Hub, "ada", "203.0.113.5:1")
	wantCode(t, "an admin name from another machine", far.Register("ada-secret"), chat.CodeForbidden)
	far.Leave("bye")
	near, _ := guest(t, h.Hub, "ada", "127.0.0.1:9")
	wantCode(t, "from the server's machine", near.Register("ada-secret"), "")
	if !near.IsAdmin() {
		t.Fatal("ada is not an admin")
	}
}
