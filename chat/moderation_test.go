package chat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// cast is a room #dev with one of each role: olga owns it, oscar is an op,
// vera is voiced, mia is a member with an account, gus a guest (from his
// own address), ada a server operator.
type cast struct {
	h     *acctHub
	by    map[string]*chat.Session
	sinks map[string]*fakeSink
}

func newCast(t *testing.T, cfg chat.Config) *cast {
	t.Helper()
	cfg.Admins = []string{"ada"}
	h := newAcctHub(t, cfg)
	c := &cast{h: h, by: map[string]*chat.Session{}, sinks: map[string]*fakeSink{}}
	for i, n := range []string{"olga", "oscar", "vera", "mia", "ada"} {
		account(t, h.Hub, n, n+"-password")
		s, sink := mustLogin(t, h.Hub, n, n+"-password", "192.0.2."+string(rune('1'+i))+":1")
		c.by[n], c.sinks[n] = s, sink
	}
	c.by["gus"], c.sinks["gus"] = guest(t, h.Hub, "gus", "198.51.100.7:1")
	for _, n := range []string{"olga", "oscar", "vera", "mia", "ada", "gus"} {
		if err := c.by[n].Join("dev", chat.JoinOptions{}); err != nil {
			t.Fatalf("%s joins: %v", n, err)
		}
	}
	c.run(t, "olga", "/op oscar", "")
	c.run(t, "oscar", "/voice vera", "")
	return c
}

func (c *cast) run(t *testing.T, who, line string, want chat.Code) {
	t.Helper()
	wantCode(t, who+": "+line, c.by[who].Exec(line, ""), want)
}

func TestRoomOwnerIsTheAccountThatMadeIt(t *testing.T) {
	c := newCast(t, chat.Config{})
	if r := c.by["olga"].Role("dev"); r != chat.RoleOwner {
		t.Fatalf("olga is %s of #dev", r)
	}
	for who, want := range map[string]chat.Role{"oscar": chat.RoleOp, "vera": chat.RoleVoice, "mia": chat.RoleNone, "gus": chat.RoleNone, "ada": chat.RoleAdmin} {
		if r := c.by[who].Role("dev"); r != want {
			t.Errorf("%s is %s of #dev, want %s", who, r, want)
		}
	}
	// A guest making a room owns nothing; an account may then claim it.
	c.run(t, "gus", "/join #guestroom", "")
	c.run(t, "gus", "/claim", chat.CodeAccountRequired)
	c.run(t, "mia", "/join #guestroom", "")
	c.run(t, "mia", "/claim #guestroom", "")
	c.run(t, "oscar", "/claim #guestroom", chat.CodeForbidden)
	c.run(t, "mia", "/claim #lobby", chat.CodeForbidden)
}

func TestModerationPermissions(t *testing.T) {
	tests := []struct {
		who, line string
		want      chat.Code
	}{
		{"gus", "/kick mia", chat.CodeForbidden},
		{"mia", "/kick gus", chat.CodeForbidden},
		{"vera", "/kick gus", chat.CodeForbidden},
		{"oscar", "/kick gus being rude", ""},
		{"oscar", "/kick olga", chat.CodeForbidden},
		{"oscar", "/kick ada", chat.CodeForbidden},
		{"oscar", "/kick nobody", chat.CodeNoSuchUser},
		{"olga", "/kick oscar", ""},
		{"ada", "/kick olga", ""},
		{"mia", "/ban gus", chat.CodeForbidden},
		{"oscar", "/ban gus 1h spam", ""},
		{"oscar", "/ban oscar", chat.CodeForbidden},
		{"oscar", "/ban ada", chat.CodeForbidden},
		{"oscar", "/ban 203.0.113.0/24", ""},
		{"oscar", "/ban not-an-ip/99", chat.CodeNameInvalid},
		{"mia", "/mute gus", chat.CodeForbidden},
		{"oscar", "/mute gus 10m", ""},
		{"oscar", "/unmute gus", chat.CodeInvalid},
		{"mia", "/op mia", chat.CodeForbidden},
		{"oscar", "/op mia", chat.CodeForbidden},
		{"olga", "/op mia", ""},
		{"olga", "/op gus", chat.CodeAccountRequired},
		{"olga", "/deop oscar", ""},
		{"mia", "/voice gus", chat.CodeForbidden},
		{"oscar", "/voice gus", ""},
		{"mia", "/mode +m", chat.CodeForbidden},
		{"mia", "/mode", ""},
		{"oscar", "/mode +mt", ""},
		{"oscar", "/mode +x", chat.CodeInvalid},
		{"mia", "/slow 30", chat.CodeForbidden},
		{"oscar", "/slow 30", ""},
		{"oscar", "/slow soon", chat.CodeInvalid},
		{"mia", "/modlog", chat.CodeForbidden},
		{"oscar", "/modlog", ""},
		{"oscar", "/modlog *", chat.CodeForbidden},
		{"ada", "/modlog *", ""},
		{"oscar", "/kill gus", chat.CodeForbidden},
		{"ada", "/kill gus", ""},
		{"ada", "/kill olga spamming", ""},
		{"oscar", "/gban gus", chat.CodeForbidden},
		{"ada", "/gban gus 1d", ""},
		{"mia", "/bans", chat.CodeForbidden},
		{"oscar", "/bans", ""},
		{"gus", "/invite mia", ""},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.line, func(t *testing.T) {
			c := newCast(t, chat.Config{})
			c.run(t, tt.who, tt.line, tt.want)
		})
	}
}

func TestKickTellsEveryoneAndTheKicked(t *testing.T) {
	c := newCast(t, chat.Config{})
	c.run(t, "oscar", "/kick gus being rude", "")
	part := c.sinks["gus"].wait(t, "gus's kick", func(ev *chat.Event) bool { return ev.Kind == chat.KindPart && ev.Name == "gus" && ev.Room == "dev" })
	if part.By != "oscar" || !strings.Contains(part.Reason, "being rude") {
		t.Fatalf("kick event %+v", part)
	}
	c.sinks["mia"].wait(t, "the notice", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.Room == "dev" && strings.Contains(ev.Text, "oscar kicked gus") && strings.Contains(ev.Text, "being rude")
	})
	c.sinks["mia"].wait(t, "gus's part", func(ev *chat.Event) bool { return ev.Kind == chat.KindPart && ev.Name == "gus" && ev.By == "oscar" })
	if c.by["gus"].Closed() {
		t.Fatal("a kick disconnected gus")
	}
	c.run(t, "gus", "/join #dev", "") // a kick is not a ban
}

func TestBanFollowsTheUser(t *testing.T) {
	c := newCast(t, chat.Config{})
	h := c.h.Hub
	// An account's ban holds across reconnects and every device.
	c.run(t, "oscar", "/ban mia trolling", "")
	c.sinks["mia"].wait(t, "mia removed", func(ev *chat.Event) bool { return ev.Kind == chat.KindPart && ev.Name == "mia" && ev.Room == "dev" })
	c.run(t, "mia", "/join #dev", chat.CodeBanned)
	c.by["mia"].Leave("reconnecting")
	again, _ := mustLogin(t, h, "mia", "mia-password", "203.0.113.50:1")
	wantCode(t, "mia from elsewhere", again.Join("dev", chat.JoinOptions{}), chat.CodeBanned)
	// A guest's ban is by address: another name from it is out too, and an
	// account from the same address is not.
	c.run(t, "oscar", "/ban gus", "")
	c.run(t, "gus", "/join #dev", chat.CodeBanned)
	c.by["gus"].Leave("reconnecting")
	other, _ := guest(t, h, "gus2", "198.51.100.7:2")
	wantCode(t, "gus as gus2", other.Join("dev", chat.JoinOptions{}), chat.CodeBanned)
	wantCode(t, "gus changes name", other.Nick("newname"), "")
	wantCode(t, "and tries again", other.Join("dev", chat.JoinOptions{}), chat.CodeBanned)
	c.run(t, "oscar", "/unban gus", "")
	wantCode(t, "after the unban", other.Join("dev", chat.JoinOptions{}), "")
	// A timed ban ends.
	c.run(t, "oscar", "/ban vera 10m", "")
	c.run(t, "vera", "/join #dev", chat.CodeBanned)
	c.h.clock.Advance(11 * time.Minute)
	c.run(t, "vera", "/join #dev", "")
}

func TestMuteModerationSlowAndTopicLock(t *testing.T) {
	c := newCast(t, chat.Config{})
	c.run(t, "oscar", "/mute gus 10m", "")
	wantCode(t, "a muted guest", c.by["gus"].Say("dev", "hello?", ""), chat.CodeMuted)
	c.run(t, "oscar", "/unmute gus", "")
	wantCode(t, "after unmute", c.by["gus"].Say("dev", "hello!", ""), "")

	c.run(t, "oscar", "/mode +m", "")
	wantCode(t, "a member in +m", c.by["mia"].Say("dev", "hi", ""), chat.CodeForbidden)
	wantCode(t, "voiced vera in +m", c.by["vera"].Say("dev", "hi", ""), "")
	wantCode(t, "op oscar in +m", c.by["oscar"].Say("dev", "hi", ""), "")
	c.run(t, "oscar", "/mode -m", "")

	c.run(t, "oscar", "/slow 30", "")
	wantCode(t, "first message", c.by["mia"].Say("dev", "one", ""), "")
	wantCode(t, "second at once", c.by["mia"].Say("dev", "two", ""), chat.CodeSlowMode)
	wantCode(t, "another member", c.by["gus"].Say("dev", "mine", ""), "")
	wantCode(t, "ops are not slowed", c.by["oscar"].Say("dev", "a", ""), "")
	wantCode(t, "ops are not slowed", c.by["oscar"].Say("dev", "b", ""), "")
	c.h.clock.Advance(31 * time.Second)
	wantCode(t, "after the interval", c.by["mia"].Say("dev", "two", ""), "")
	c.run(t, "oscar", "/slow 0", "")
	wantCode(t, "slow mode off", c.by["mia"].Say("dev", "three", ""), "")

	wantCode(t, "topic unlocked", c.by["mia"].SetTopic("dev", "anyone"), "")
	c.run(t, "oscar", "/mode +t", "")
	wantCode(t, "topic locked", c.by["mia"].SetTopic("dev", "mine"), chat.CodeForbidden)
	wantCode(t, "op sets it", c.by["oscar"].SetTopic("dev", "ours"), "")
}

func TestInviteOnly(t *testing.T) {
	c := newCast(t, chat.Config{})
	c.by["mia"].Part("dev", "")
	c.run(t, "oscar", "/mode +i", "")
	c.run(t, "mia", "/join #dev", chat.CodeInviteOnly)
	c.run(t, "gus", "/invite mia", chat.CodeForbidden)
	c.run(t, "oscar", "/invite mia", "")
	c.sinks["mia"].wait(t, "the invitation", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "invites you to #dev")
	})
	c.run(t, "mia", "/join #dev", "")
	c.by["mia"].Part("dev", "")
	c.run(t, "mia", "/join #dev", chat.CodeInviteOnly) // an invitation is used up
}

func TestServerOperators(t *testing.T) {
	c := newCast(t, chat.Config{})
	h := c.h.Hub
	c.run(t, "ada", "/kill gus go away", "")
	c.sinks["gus"].wait(t, "gus's bye", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindBye && strings.Contains(ev.Reason, "killed by ada")
	})
	if !c.by["gus"].Closed() {
		t.Fatal("gus is still on")
	}
	c.run(t, "ada", "/gban mia 1d", "")
	c.sinks["mia"].wait(t, "mia's bye", func(ev *chat.Event) bool { return ev.Kind == chat.KindBye })
	_, _, err := login(h, "mia", "mia-password", "203.0.113.9:1")
	wantCode(t, "a server-banned account", err, chat.CodeBanned)
	c.run(t, "ada", "/ungban mia", "")
	mustLogin(t, h, "mia", "mia-password", "203.0.113.9:1")
	c.run(t, "ada", "/gban 198.51.100.0/24", "")
	_, err = h.Register(&fakeSink{}, "newguest", chat.ClientInfo{Remote: "198.51.100.99:4"})
	wantCode(t, "a guest from a banned prefix", err, chat.CodeBanned)
	// Admins moderate rooms they do not own.
	c.run(t, "ada", "/mode #dev +m", "")
	c.run(t, "ada", "/claim #lobby", "")
}

func TestRaidProtection(t *testing.T) {
	c := newCast(t, chat.Config{Raid: chat.RaidPolicy{Joins: 5, Window: time.Minute, For: 10 * time.Minute}})
	h := c.h.Hub
	c.h.clock.Advance(time.Minute) // gus's join is out of the window
	var guests []*chat.Session
	for i := range 6 {
		g, _ := guest(t, h, "raider"+string(rune('a'+i)), "203.0.113."+string(rune('1'+i))+":1")
		guests = append(guests, g)
	}
	for _, g := range guests[:5] {
		wantCode(t, "raider join", g.Join("dev", chat.JoinOptions{}), "")
		c.h.clock.Advance(time.Second)
	}
	wantCode(t, "the 6th guest within a minute", guests[5].Join("dev", chat.JoinOptions{}), chat.CodeAccountRequired)
	c.sinks["oscar"].wait(t, "the ops told", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNotice && ev.Room == "dev" && strings.Contains(ev.Text, "raid protection") && ev.Mode == "+r"
	})
	late, _ := guest(t, h, "lateguest", "203.0.113.77:1")
	wantCode(t, "a guest during the switch", late.Join("dev", chat.JoinOptions{}), chat.CodeAccountRequired)
	c.by["mia"].Part("dev", "")
	wantCode(t, "an account during the switch", c.by["mia"].Join("dev", chat.JoinOptions{}), "")
	c.h.clock.Advance(10 * time.Minute)
	wantCode(t, "a guest after it", late.Join("dev", chat.JoinOptions{}), "")
	// Slow arrivals never trip it.
	for i := range 10 {
		g, _ := guest(t, h, "visitor"+string(rune('a'+i)), "203.0.113.100:"+string(rune('1'+i)))
		wantCode(t, "a visitor", g.Join("dev", chat.JoinOptions{}), "")
		c.h.clock.Advance(15 * time.Second)
	}
	// The lobby is never switched: a class arrives at once.
	for i := range 10 {
		guest(t, h, "student"+string(rune('a'+i)), "203.0.113.200:1")
	}
	entries, err := h.Config().Directory.Modlog(context.Background(), "dev", 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Action == "mode +r" && e.Actor == chat.ServerName)
	}
	if !found {
		t.Fatalf("no raid entry in the modlog: %+v", entries)
	}
}

func TestModlogRecordsEveryAction(t *testing.T) {
	c := newCast(t, chat.Config{})
	c.run(t, "oscar", "/kick gus spam", "")
	c.run(t, "oscar", "/ban gus 1h spam", "")
	c.run(t, "oscar", "/mute mia 5m noise", "")
	c.run(t, "oscar", "/mode +t", "")
	c.run(t, "oscar", "/slow 10", "")
	entries, err := c.h.Config().Directory.Modlog(context.Background(), "dev", 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Actor+" "+e.Action)
		if e.At.IsZero() {
			t.Fatalf("entry without a time: %+v", e)
		}
	}
	got := strings.Join(actions, ", ")
	want := "oscar slow 10s, oscar mode +t, oscar mute, oscar ban, oscar kick, oscar +voice, olga +op, olga claim"
	if got != want {
		t.Fatalf("modlog (newest first):\n got %s\nwant %s", got, want)
	}
	c.run(t, "oscar", "/modlog", "")
	c.sinks["oscar"].wait(t, "the modlog listing", func(ev *chat.Event) bool {
		return ev.Kind == chat.KindNotice && strings.Contains(ev.Text, "moderation log of #dev") && strings.Contains(ev.Text, "oscar: kick gus (spam)")
	})
}

func TestModerationSurvivesARestart(t *testing.T) {
	st := memory.New(0)
	c := newCast(t, chat.Config{Store: st})
	c.run(t, "oscar", "/ban mia", "")
	c.run(t, "oscar", "/mode +m", "")
	h2 := newAcctHub(t, chat.Config{Store: st, Admins: []string{"ada"}})
	mia, _ := mustLogin(t, h2.Hub, "mia", "mia-password", "192.0.2.50:1")
	wantCode(t, "mia after the restart", mia.Join("dev", chat.JoinOptions{}), chat.CodeBanned)
	oscar, _ := mustLogin(t, h2.Hub, "oscar", "oscar-password", "192.0.2.51:1")
	if r := oscar.Role("dev"); r != chat.RoleOp {
		t.Fatalf("oscar is %s after the restart", r)
	}
	if modes, _ := h2.RoomModes("dev"); modes != "m" {
		t.Fatalf("modes %q after the restart", modes)
	}
}

// TestDeletedAccountLeavesNoRoles: whoever registers a deleted account's
// name afterwards owns nothing and is op of nothing.
func TestDeletedAccountLeavesNoRoles(t *testing.T) {
	c := newCast(t, chat.Config{})
	c.run(t, "olga", "/op mia", "")
	wantCode(t, "olga deletes her account", c.by["olga"].Unregister("olga-password"), "")
	wantCode(t, "mia deletes hers", c.by["mia"].Unregister("mia-password"), "")
	c.by["olga"].Leave("bye")
	c.by["mia"].Leave("bye")
	for _, name := range []string{"olga", "mia"} {
		account(t, c.h.Hub, name, "new-"+name+"-password")
		s, _ := mustLogin(t, c.h.Hub, name, "new-"+name+"-password", "203.0.113.40:1")
		if r := s.Role("dev"); r != chat.RoleNone {
			t.Fatalf("the new %s is %s of #dev", name, r)
		}
	}
	c.run(t, "oscar", "/claim #dev", "") // #dev has no owner now
}
