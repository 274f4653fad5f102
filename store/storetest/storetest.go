// Package storetest is the contract every chat.Store implementation must
// meet. Each implementation's tests call Run with a function that opens an
// empty store.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
)

// Opener opens an empty store for one test. retain > 0 asks for count
// retention of about that many messages per room; 0 keeps everything. The
// opener registers any cleanup with t.
type Opener func(t *testing.T, retain int) chat.Store

// Options tell the contract what kind of log a store is.
type Options struct {
	// Gapless: the store's ids come from a shared log that numbers every
	// message itself (a JetStream stream): an explicit id must be the
	// next one, and ids above it are refused rather than leaving a gap.
	Gapless bool
}

// Run runs the store contract tests against stores made by open.
func Run(t *testing.T, open Opener) { RunWith(t, open, Options{}) }

// RunWith runs the store contract tests against stores made by open, for
// the kind of log opt describes.
func RunWith(t *testing.T, open Opener, opt Options) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, open(t, 0)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t, 0), opt) })
	t.Run("Queries", func(t *testing.T) { testQueries(t, open(t, 0)) })
	t.Run("DirectMessages", func(t *testing.T) { testDMs(t, open(t, 0)) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open(t, 10)) })
	t.Run("ConcurrentReads", func(t *testing.T) { testConcurrent(t, open(t, 50)) })
	t.Run("Topics", func(t *testing.T) { testTopics(t, open(t, 0)) })
	t.Run("AssignsIDs", func(t *testing.T) { testAssignsIDs(t, open(t, 0), opt) })
	t.Run("Directory", func(t *testing.T) {
		d, ok := open(t, 0).(chat.Directory)
		if !ok {
			t.Fatal("the store is not a chat.Directory: accounts and moderation would be unavailable")
		}
		testDirectory(t, d)
	})
}

// testDirectory checks accounts, room settings, sanctions and the audit
// log round-trip, each write replacing or adding as documented.
func testDirectory(t *testing.T, d chat.Directory) {
	if a, err := d.Accounts(ctx); err != nil || len(a) != 0 {
		t.Fatalf("accounts of an empty store: %v %v", a, err)
	}
	alice := chat.Account{Name: "Chloé", Key: chat.NameKey("Chloé"), Hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", Created: epoch, Since: 7, Seen: 9}
	for _, a := range []chat.Account{alice, {Name: "bob", Key: "bob", Hash: "h", Created: epoch}} {
		if err := d.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	alice.Seen, alice.Hash = 42, "$argon2id$new"
	if err := d.PutAccount(ctx, alice); err != nil { // replaces
		t.Fatal(err)
	}
	got, err := d.Accounts(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("accounts: %+v %v", got, err)
	}
	var a chat.Account
	for _, g := range got {
		if g.Key == alice.Key {
			a = g
		}
	}
	if a.Name != alice.Name || a.Hash != alice.Hash || a.Seen != 42 || a.Since != 7 || !a.Created.Equal(epoch) {
		t.Fatalf("account read back %+v, want %+v", a, alice)
	}
	if err := d.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Accounts(ctx); len(got) != 1 {
		t.Fatalf("after delete: %+v", got)
	}

	rs := chat.RoomSettings{Room: "dev", Owner: alice.Key, Roles: map[string]chat.Role{"bob": chat.RoleOp, "gus": chat.RoleVoice},
		TopicLock: true, Moderated: true, Accounts: true, Until: epoch.Add(time.Hour), Slow: 30 * time.Second}
	if err := d.PutRoomSettings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	rs.InviteOnly = true
	if err := d.PutRoomSettings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	settings, err := d.RoomSettings(ctx)
	if err != nil || len(settings) != 1 {
		t.Fatalf("room settings: %+v %v", settings, err)
	}
	r := settings[0]
	if r.Room != "dev" || r.Owner != alice.Key || r.Roles["bob"] != chat.RoleOp || r.Roles["gus"] != chat.RoleVoice || !r.TopicLock || !r.Moderated ||
		!r.InviteOnly || !r.Accounts || !r.Until.Equal(rs.Until) || r.Slow != rs.Slow {
		t.Fatalf("room settings read back %+v, want %+v", r, rs)
	}

	ban := &chat.Sanction{Kind: chat.SanctionBan, Room: "dev", Target: chat.TargetAccount, Value: "bob", Label: "bob", By: "Chloé", Reason: "spam", At: epoch}
	mute := &chat.Sanction{Kind: chat.SanctionMute, Room: "", Target: chat.TargetAddress, Value: "192.0.2.0/24", Label: "192.0.2.0/24", Until: time.Now().Add(time.Hour), By: "Chloé", At: epoch}
	for _, sc := range []*chat.Sanction{ban, mute} {
		if err := d.PutSanction(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	if ban.ID == 0 || mute.ID == 0 || ban.ID == mute.ID {
		t.Fatalf("sanction ids %d %d", ban.ID, mute.ID)
	}
	list, err := d.Sanctions(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("sanctions: %+v %v", list, err)
	}
	for _, sc := range list {
		want := ban
		if sc.ID == mute.ID {
			want = mute
		}
		if sc.Kind != want.Kind || sc.Room != want.Room || sc.Target != want.Target || sc.Value != want.Value || sc.Reason != want.Reason ||
			!sc.Until.Equal(want.Until) || !sc.At.Equal(want.At) || sc.By != want.By {
			t.Fatalf("sanction read back %+v, want %+v", sc, *want)
		}
	}
	if err := d.DeleteSanction(ctx, ban.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := d.Sanctions(ctx); len(list) != 1 || list[0].ID != mute.ID {
		t.Fatalf("after delete: %+v", list)
	}

	for i, room := range []string{"dev", "lobby", "dev", ""} {
		e := &chat.ModEntry{At: epoch.Add(time.Duration(i) * time.Second), Room: room, Actor: "Chloé", Action: fmt.Sprintf("kick %d", i), Target: "bob"}
		if err := d.AppendModlog(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.ID == 0 {
			t.Fatal("no modlog id")
		}
	}
	dev, err := d.Modlog(ctx, "dev", 0, 10)
	if err != nil || len(dev) != 2 || dev[0].Action != "kick 2" || dev[1].Action != "kick 0" {
		t.Fatalf("modlog of dev (newest first): %+v %v", dev, err)
	}
	older, _ := d.Modlog(ctx, "dev", dev[0].ID, 10)
	if len(older) != 1 || older[0].Action != "kick 0" {
		t.Fatalf("modlog before an id: %+v", older)
	}
	all, _ := d.Modlog(ctx, chat.AllRooms, 0, 3)
	if len(all) != 3 || all[0].Action != "kick 3" {
		t.Fatalf("modlog of everything: %+v", all)
	}
	server, _ := d.Modlog(ctx, "", 0, 10)
	if len(server) != 1 || server[0].Action != "kick 3" {
		t.Fatalf("server-wide modlog: %+v", server)
	}
}

func testTopics(t *testing.T, s chat.Store) {
	if got, err := s.Topics(ctx); err != nil || len(got) != 0 {
		t.Fatalf("topics of an empty store: %v, %v", got, err)
	}
	set := func(room, text, by string, at time.Time) {
		t.Helper()
		if err := s.SetTopic(ctx, chat.Topic{Room: room, Text: text, By: by, At: at}); err != nil {
			t.Fatalf("set topic: %v", err)
		}
	}
	set("lobby", "first", "alice", epoch)
	set("dev", "release on friday 🌸", "Chloé", epoch.Add(time.Second))
	set("lobby", "second", "bob", epoch.Add(time.Hour))
	got, err := s.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.Topic{{Room: "dev", Text: "release on friday 🌸", By: "Chloé", At: epoch.Add(time.Second)}, {Room: "lobby", Text: "second", By: "bob", At: epoch.Add(time.Hour)}}
	if len(got) != len(want) {
		t.Fatalf("topics %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Room != want[i].Room || got[i].Text != want[i].Text || got[i].By != want[i].By || !got[i].At.Equal(want[i].At) {
			t.Errorf("topic %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// testAssignsIDs: messages without an id get the next ones, in order,
// written back; an explicit id must be above the last one.
func testAssignsIDs(t *testing.T, s chat.Store, opt Options) {
	appendAll(t, s, Msg(0, "lobby"), Msg(0, "dev"), Msg(0, "lobby"))
	msgs := []chat.Message{Msg(0, "lobby"), Msg(0, "lobby")}
	if err := s.Append(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	last, err := s.LastID(ctx)
	if err != nil || msgs[0].ID == 0 || msgs[1].ID != msgs[0].ID+1 || last != msgs[1].ID {
		t.Fatalf("assigned %d, %d; LastID %d, %v", msgs[0].ID, msgs[1].ID, last, err)
	}
	if err := s.Append(ctx, []chat.Message{Msg(last, "lobby")}); err == nil {
		t.Fatal("an explicit id that is not above the last was accepted")
	}
	if opt.Gapless {
		if err := s.Append(ctx, []chat.Message{Msg(last+10, "lobby")}); err == nil {
			t.Fatal("a gapless log accepted an id that leaves a gap")
		}
		if err := s.Append(ctx, []chat.Message{Msg(last+1, "lobby"), Msg(0, "lobby")}); err != nil {
			t.Fatalf("the next id, explicitly: %v", err)
		}
		if got, _ := s.LastID(ctx); got != last+2 {
			t.Fatalf("LastID %d after the next id and one more, want %d", got, last+2)
		}
		return
	}
	if err := s.Append(ctx, []chat.Message{Msg(last+10, "lobby"), Msg(0, "lobby")}); err != nil {
		t.Fatalf("an explicit id above the last: %v", err)
	}
	if got, _ := s.LastID(ctx); got != last+11 {
		t.Fatalf("LastID %d after an explicit id and the next, want %d", got, last+11)
	}
}

var ctx = context.Background()

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// Msg returns a room message with the given id, at epoch + id seconds.
func Msg(id uint64, room string) chat.Message {
	return chat.Message{ID: id, Time: epoch.Add(time.Duration(id) * time.Second), Kind: chat.KindSay,
		Room: room, From: "alice", Text: fmt.Sprintf("%s #%d", room, id)}
}

// DM returns a direct message with the given id.
func DM(id uint64, from, to string) chat.Message {
	return chat.Message{ID: id, Time: epoch.Add(time.Duration(id) * time.Second), Kind: chat.KindDM,
		From: from, To: to, Text: fmt.Sprintf("dm #%d %s->%s", id, from, to)}
}

func appendAll(t *testing.T, s chat.Store, msgs ...chat.Message) {
	t.Helper()
	if err := s.Append(ctx, msgs); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func history(t *testing.T, s chat.Store, q chat.HistoryQuery) []chat.Message {
	t.Helper()
	msgs, err := s.History(ctx, q)
	if err != nil {
		t.Fatalf("history %+v: %v", q, err)
	}
	return msgs
}

func ids(msgs []chat.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func span(lo, hi uint64) []uint64 {
	var out []uint64
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testEmpty(t *testing.T, s chat.Store) {
	if id, err := s.LastID(ctx); err != nil || id != 0 {
		t.Errorf("LastID = %d, %v; want 0", id, err)
	}
	if p, err := s.PrunedThrough(ctx, "lobby"); err != nil || p != 0 {
		t.Errorf("PrunedThrough = %d, %v; want 0", p, err)
	}
	if got := history(t, s, chat.HistoryQuery{Room: "lobby", Limit: 10}); len(got) != 0 {
		t.Errorf("history of an empty store: %v", got)
	}
	if got := history(t, s, chat.HistoryQuery{User: "alice", Limit: 10}); len(got) != 0 {
		t.Errorf("DMs of an empty store: %v", got)
	}
	if err := s.Append(ctx, nil); err != nil {
		t.Errorf("empty append: %v", err)
	}
}

func testRoundTrip(t *testing.T, s chat.Store, opt Options) {
	first := uint64(7) // an empty store may start anywhere
	if opt.Gapless {
		first = 1
	}
	in := []chat.Message{
		{ID: first, Time: epoch, Kind: chat.KindSay, Room: "lobby", From: "Chloé🌸", Text: "héllo, 王芳 👋"},
		{ID: first + 1, Time: epoch.Add(time.Nanosecond), Kind: chat.KindMe, Room: "lobby", From: "bob", Text: "waves"},
		{ID: first + 2, Time: epoch.Add(time.Hour), Kind: chat.KindDM, From: "bob", To: "Chloé🌸", Text: "psst\nsecond line"},
		{ID: first + 3, Time: epoch.Add(2 * time.Hour), Kind: chat.KindSay, Room: "lobby", From: "bob", Text: ""},
	}
	appendAll(t, s, in...)
	if id, err := s.LastID(ctx); err != nil || id != first+3 {
		t.Fatalf("LastID = %d, %v; want %d", id, err, first+3)
	}
	got := append(history(t, s, chat.HistoryQuery{Room: "lobby", Limit: 10}), history(t, s, chat.HistoryQuery{User: "chloé🌸", Limit: 10})...)
	want := []chat.Message{in[0], in[1], in[3], in[2]}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || !g.Time.Equal(w.Time) || g.Kind != w.Kind || g.Room != w.Room || g.From != w.From || g.To != w.To || g.Text != w.Text {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func testQueries(t *testing.T, s chat.Store) {
	// Ids 1..40: odd ones in "a", even ones in "b", appended in batches.
	var batch []chat.Message
	for id := uint64(1); id <= 40; id++ {
		room := "a"
		if id%2 == 0 {
			room = "b"
		}
		batch = append(batch, Msg(id, room))
		if len(batch) == 7 || id == 40 {
			appendAll(t, s, batch...)
			batch = nil
		}
	}
	odd := func(lo, hi uint64) []uint64 {
		var out []uint64
		for i := lo; i <= hi; i++ {
			if i%2 == 1 {
				out = append(out, i)
			}
		}
		return out
	}
	tests := []struct {
		name string
		q    chat.HistoryQuery
		want []uint64
	}{
		{"newest", chat.HistoryQuery{Room: "a", Limit: 3}, []uint64{35, 37, 39}},
		{"all", chat.HistoryQuery{Room: "a", Limit: 100}, odd(1, 39)},
		{"oldest", chat.HistoryQuery{Room: "a", Limit: 3, FromOldest: true}, []uint64{1, 3, 5}},
		{"after", chat.HistoryQuery{Room: "a", After: 30, Limit: 100}, odd(31, 39)},
		{"after exact id", chat.HistoryQuery{Room: "a", After: 31, Limit: 100}, odd(33, 39)},
		{"after oldest", chat.HistoryQuery{Room: "a", After: 10, Limit: 2, FromOldest: true}, []uint64{11, 13}},
		{"after newest", chat.HistoryQuery{Room: "a", After: 10, Limit: 2}, []uint64{37, 39}},
		{"before", chat.HistoryQuery{Room: "a", Before: 9, Limit: 100}, odd(1, 7)},
		{"before exact id", chat.HistoryQuery{Room: "a", Before: 7, Limit: 2}, []uint64{3, 5}},
		{"window", chat.HistoryQuery{Room: "b", After: 10, Before: 20, Limit: 100}, []uint64{12, 14, 16, 18}},
		{"window oldest", chat.HistoryQuery{Room: "b", After: 10, Before: 20, Limit: 2, FromOldest: true}, []uint64{12, 14}},
		{"window newest", chat.HistoryQuery{Room: "b", After: 10, Before: 20, Limit: 2}, []uint64{16, 18}},
		{"empty window", chat.HistoryQuery{Room: "b", After: 20, Before: 20, Limit: 10}, nil},
		{"inverted window", chat.HistoryQuery{Room: "b", After: 30, Before: 10, Limit: 10}, nil},
		{"after everything", chat.HistoryQuery{Room: "b", After: 40, Limit: 10}, nil},
		{"zero limit", chat.HistoryQuery{Room: "a"}, nil},
		{"unknown room", chat.HistoryQuery{Room: "c", Limit: 10}, nil},
		{"no DMs", chat.HistoryQuery{User: "alice", Limit: 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(history(t, s, tt.q))
			if !equalIDs(got, tt.want) {
				t.Errorf("History(%+v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func testDMs(t *testing.T, s chat.Store) {
	appendAll(t, s,
		DM(1, "alice", "bob"),
		Msg(2, "lobby"),
		DM(3, "Bob", "carol"),
		DM(4, "carol", "ALICE"),
		DM(5, "dave", "dave"), // a note to self
		DM(6, "ａｌｉｃｅ", "carol"),
	)
	tests := []struct {
		user string
		q    chat.HistoryQuery
		want []uint64
	}{
		{"alice", chat.HistoryQuery{Limit: 10}, []uint64{1, 4, 6}},
		{"Alice", chat.HistoryQuery{Limit: 10}, []uint64{1, 4, 6}},
		{"bob", chat.HistoryQuery{Limit: 10}, []uint64{1, 3}},
		{"carol", chat.HistoryQuery{Limit: 10}, []uint64{3, 4, 6}},
		{"dave", chat.HistoryQuery{Limit: 10}, []uint64{5}},
		{"erin", chat.HistoryQuery{Limit: 10}, nil},
		{"alice", chat.HistoryQuery{Limit: 2}, []uint64{4, 6}},
		{"alice", chat.HistoryQuery{Limit: 2, FromOldest: true}, []uint64{1, 4}},
		{"alice", chat.HistoryQuery{After: 1, Before: 6, Limit: 10}, []uint64{4}},
	}
	for _, tt := range tests {
		tt.q.User = tt.user
		got := ids(history(t, s, tt.q))
		if !equalIDs(got, tt.want) {
			t.Errorf("History(%+v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := ids(history(t, s, chat.HistoryQuery{Room: "lobby", Limit: 10})); !equalIDs(got, []uint64{2}) {
		t.Errorf("DMs leaked into the lobby: %v", got)
	}
}

// checkRetained checks that room keeps a contiguous tail of want ids, no
// shorter than keep and not much longer, and that PrunedThrough marks its
// start.
func checkRetained(t *testing.T, s chat.Store, room string, want []uint64, keep int) {
	t.Helper()
	got := ids(history(t, s, chat.HistoryQuery{Room: room, Limit: len(want) + 10}))
	p, err := s.PrunedThrough(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < keep || len(got) > keep+keep/4+1 {
		t.Errorf("room %s keeps %d messages; want %d to %d", room, len(got), keep, keep+keep/4+1)
	}
	if tail := want[len(want)-len(got):]; !equalIDs(got, tail) {
		t.Errorf("room %s keeps %v, want the newest: %v", room, got, tail)
	}
	if len(got) < len(want) {
		if first := got[0]; p >= first || p < want[len(want)-len(got)-1] {
			t.Errorf("room %s: PrunedThrough = %d, kept from %d", room, p, first)
		}
	} else if p != 0 {
		t.Errorf("room %s lost nothing but PrunedThrough = %d", room, p)
	}
}

func testRetention(t *testing.T, s chat.Store) {
	var a, b []uint64
	id := uint64(0)
	for round := 0; round < 20; round++ {
		var batch []chat.Message
		for i := 0; i < 5; i++ {
			id++
			batch = append(batch, Msg(id, "a"))
			a = append(a, id)
		}
		if round%5 == 0 {
			id++
			batch = append(batch, Msg(id, "b"))
			b = append(b, id)
		}
		appendAll(t, s, batch...)
		if len(a) > 10 {
			checkRetained(t, s, "a", a, 10)
		}
	}
	checkRetained(t, s, "b", b, len(b))
	if last, err := s.LastID(ctx); err != nil || last != id {
		t.Errorf("LastID = %d, %v; want %d", last, err, id)
	}
	// Resuming from before the pruned point must be detectable.
	p, _ := s.PrunedThrough(ctx, "a")
	if p == 0 {
		t.Fatal("room a was never pruned")
	}
	got := history(t, s, chat.HistoryQuery{Room: "a", After: 1, Limit: 1, FromOldest: true})
	if len(got) != 1 || got[0].ID <= p {
		t.Errorf("oldest after 1 = %v, want the first kept message after %d", ids(got), p)
	}
}

func testConcurrent(t *testing.T, s chat.Store) {
	const total = 600
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				msgs, err := s.History(ctx, chat.HistoryQuery{Room: "lobby", Limit: 20})
				if err != nil {
					errs <- err
					return
				}
				for i := 1; i < len(msgs); i++ {
					if msgs[i].ID != msgs[i-1].ID+1 {
						errs <- fmt.Errorf("a reader saw a gap: %v", ids(msgs))
						return
					}
				}
			}
		}()
	}
	for id := uint64(1); id <= total; id += 3 {
		appendAll(t, s, Msg(id, "lobby"), Msg(id+1, "lobby"), Msg(id+2, "lobby"))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := ids(history(t, s, chat.HistoryQuery{Room: "lobby", Limit: 50}))
	if !equalIDs(got, span(total-49, total)) {
		t.Errorf("final history %v", got)
	}
}
