package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/sqlite"
	"github.com/parleychat/parley/wire/native"
)

// party is one chatting client of the crash test.
type party struct {
	hello native.Request
	c     *client

	mu   sync.Mutex
	got  []msg // live messages received before the crash
	sent atomic.Int64
}

func (p *party) received() []msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]msg(nil), p.got...)
}

// lastIn returns the id of the last message of room the party saw.
func lastIn(ms []msg, room string) uint64 {
	var id uint64
	for _, m := range ms {
		if m.Room == room {
			id = m.ID
		}
	}
	return id
}

// TestKill9KeepsEverySeenMessage chats through a real server process, kills
// it with SIGKILL mid-stream, restarts it on the same data directory and
// checks that the history holds every message any client received, with the
// same ids in the same order; that clients resuming from their last id get
// exactly the rest; and that ids keep increasing across restarts.
func TestKill9KeepsEverySeenMessage(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)

	parties := []*party{
		{hello: native.Request{Name: "alice", Rooms: []string{"dev"}}},
		{hello: native.Request{Name: "Bob", Rooms: []string{"dev"}}},
		{hello: native.Request{Name: "carol"}},
	}
	rooms := func(p *party) []string { return append([]string{"lobby"}, p.hello.Rooms...) }
	// Everyone is in before anyone speaks, so each client's stream is a
	// prefix of its rooms' histories.
	for _, p := range parties {
		c, err := dial(srv.addr, p.hello)
		if err != nil {
			t.Fatal(err)
		}
		p.c = c
		ends := 0
		c.readUntil(t, "join replay", func(ev native.Event) bool {
			if ev.Type == "history_end" {
				ends++
			}
			return ends == len(rooms(p))
		})
	}

	var readers, senders sync.WaitGroup
	for _, p := range parties {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				ev, err := p.c.next()
				if err != nil {
					return // the server is gone
				}
				if isMessage(ev.Type) {
					p.mu.Lock()
					p.got = append(p.got, toMsg(ev))
					p.mu.Unlock()
				}
			}
		}()
	}
	for i, p := range parties {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for n := 0; n < 50000; n++ {
				req := native.Request{Type: "say", Room: "lobby", Text: ptr(fmt.Sprintf("%s says %d", p.hello.Name, n))}
				switch {
				case n%5 == 1:
					req = native.Request{Type: "dm", To: parties[(i+1)%len(parties)].hello.Name, Text: ptr(fmt.Sprintf("psst %d", n))}
				case n%3 == 2 && len(p.hello.Rooms) > 0:
					req = native.Request{Type: "me", Room: "dev", Text: ptr(fmt.Sprintf("hacks %d", n))}
				}
				if p.c.send(req) != nil {
					return
				}
				p.sent.Add(1)
			}
		}()
	}
	waitFor(t, "every client to receive 300 messages", func() bool {
		for _, p := range parties {
			if len(p.received()) < 300 {
				return false
			}
		}
		return true
	})
	srv.kill(t)
	readers.Wait()
	senders.Wait()
	for _, p := range parties {
		p.c.close()
		t.Logf("%s sent %d, received %d before the kill", p.hello.Name, p.sent.Load(), len(p.received()))
	}

	srv = startServer(t, dataDir)

	// Each client resumes from the last id it saw in each room.
	replays := map[*party][]msg{}
	for _, p := range parties {
		hello := p.hello
		hello.Since = map[string]uint64{}
		for _, r := range rooms(p) {
			hello.Since[r] = lastIn(p.received(), r)
		}
		c := dialRetry(t, srv.addr, hello)
		defer c.close()
		ends := 0
		more := map[string]bool{}
		replay := c.readUntil(t, "resume replay", func(ev native.Event) bool {
			if ev.Type == "history_end" {
				switch ev.Text {
				case "":
				case "more":
					more[ev.Room] = true
				default:
					t.Errorf("%s: resume of %s ended with %q", p.hello.Name, ev.Room, ev.Text)
				}
				ends++
			}
			return ends == len(rooms(p))
		})
		for _, m := range replay {
			if !m.History {
				t.Fatalf("%s: live message in the resume replay: %v", p.hello.Name, m)
			}
		}
		// A long gap is replayed in part ("more"); the client pages
		// through the rest with history requests.
		for _, r := range rooms(p) {
			rs := filter(replay, r)
			if more[r] {
				rs = append(rs, c.historyAfter(t, r, rs[len(rs)-1].ID)...)
			}
			replays[p] = append(replays[p], rs...)
		}
		p.c = c
	}

	// The history, from a client in every room.
	alice := parties[0]
	stored := map[string][]msg{}
	for _, r := range rooms(alice) {
		stored[r] = alice.c.historyAll(t, r)
	}
	var maxID uint64
	for _, r := range sortedKeys(stored) {
		h := stored[r]
		t.Logf("room %s: %d messages stored", r, len(h))
		if len(h) > 0 {
			maxID = max(maxID, h[len(h)-1].ID)
		}
	}
	// Direct messages are read from a copy of the live database: a new
	// session cannot read the DMs sent to its name before it took it.
	dmStore := storeCopy(t, dataDir)
	for _, p := range parties {
		before := p.received()
		for _, r := range rooms(p) {
			pre := filter(before, r)
			if len(pre) > len(stored[r]) {
				t.Fatalf("%s saw %d messages in %s, only %d stored", p.hello.Name, len(pre), r, len(stored[r]))
			}
			checkSame(t, p.hello.Name+" saw in "+r+" vs history", pre, stored[r][:len(pre)])
			checkSame(t, p.hello.Name+" saw + resumed in "+r+" vs history", append(pre, filter(replays[p], r)...), stored[r])
		}
		dms := storedDMs(t, dmStore, p.hello.Name)
		if got := p.c.historyAll(t, ""); len(got) != 0 {
			t.Fatalf("%s's new session read %d DMs from before it connected", p.hello.Name, len(got))
		}
		pre := filter(before, "")
		if len(pre) > len(dms) {
			t.Fatalf("%s saw %d DMs, only %d stored", p.hello.Name, len(pre), len(dms))
		}
		checkSame(t, p.hello.Name+"'s DMs vs history", pre, dms[:len(pre)])
		for _, m := range dms {
			if m.From != p.hello.Name && m.To != p.hello.Name {
				t.Fatalf("%s was shown someone else's DM: %v", p.hello.Name, m)
			}
		}
		if len(dms) > 0 {
			maxID = max(maxID, dms[len(dms)-1].ID)
		}
	}

	// Ids go on increasing after the restart, and a single message
	// survives another kill.
	say := func(c *client, text string) msg {
		if err := c.send(native.Request{Type: "say", Ref: "x", Room: "lobby", Text: ptr(text)}); err != nil {
			t.Fatal(err)
		}
		got := c.readUntil(t, "own message", func(ev native.Event) bool { return ev.Ref == "x" && ev.Type == "say" })
		return got[len(got)-1]
	}
	first := say(alice.c, "after the first restart")
	if first.ID <= maxID {
		t.Fatalf("first id after restart %d, not above %d", first.ID, maxID)
	}
	srv.kill(t)
	srv = startServer(t, dataDir)
	c := dialRetry(t, srv.addr, native.Request{Name: "dave"})
	defer c.close()
	h := c.historyAll(t, "lobby")
	if last := h[len(h)-1]; !last.same(first) {
		t.Fatalf("after a second kill the last lobby message is %v, want %v", last, first)
	}
	second := say(c, "after the second restart")
	if second.ID <= first.ID {
		t.Fatalf("id after the second restart %d, not above %d", second.ID, first.ID)
	}

	// parley backup copies the live database; a server started on the copy
	// has the same history.
	backupDir := t.TempDir()
	out, err := exec.Command(parleyBinary(t), "backup", "--data-dir", dataDir, filepath.Join(backupDir, "parley.db")).CombinedOutput()
	if err != nil {
		t.Fatalf("parley backup: %v\n%s", err, out)
	}
	srv.stop(t)
	restored := startServer(t, backupDir)
	c = dialRetry(t, restored.addr, native.Request{Name: "erin"})
	defer c.close()
	checkSame(t, "restored backup vs original", c.historyAll(t, "lobby"), append(h, second))
	restored.stop(t)
}

func ptr(s string) *string { return &s }

// storeCopy backs up the live database of a running server (as `parley
// backup` does) and opens the copy.
func storeCopy(t *testing.T, dataDir string) *sqlite.Store {
	t.Helper()
	dir := t.TempDir()
	if err := sqlite.Backup(context.Background(), dataDir, filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storedDMs returns every stored direct message from or to name.
func storedDMs(t *testing.T, st *sqlite.Store, name string) []msg {
	t.Helper()
	ms, err := st.History(context.Background(), chat.HistoryQuery{User: name, Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]msg, len(ms))
	for i, m := range ms {
		out[i] = msg{ID: m.ID, Type: m.Kind.String(), Room: m.Room, From: m.From, To: m.To, Text: m.Text}
	}
	return out
}
