package e2e

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// bigText returns a distinct message of about 32 KiB.
func bigText(i int) string {
	return fmt.Sprintf("m%03d ", i) + strings.Repeat("x", 32<<10-5)
}

// TestLaggingReaderCatchesUp is the outside report's case: one tutorial
// client sends 400 messages of 32 KiB as fast as it can. A reader slower
// than the sender gets all 400, complete, in order, once (it falls behind
// and catches up from the store); a client that stops reading is
// disconnected as a slow consumer about --write-timeout later; a fast
// reader gets everything; and the sender, whose own messages are never
// sent back to it, is not dropped.
func TestLaggingReaderCatchesUp(t *testing.T) {
	n := testkit.StartNode(t, node.Config{
		StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: t.TempDir()},
		Server:      server.Options{WriteTimeout: 2 * time.Second, SendBuffer: 64 << 10},
	})
	const count = 400
	slow := testkit.DialTutorial(t, n.Addr("frame"), "slow")
	fast := testkit.DialTutorial(t, n.Addr("frame"), "fast")
	stopper := testkit.DialTutorial(t, n.Addr("frame"), "stopper")
	sender := testkit.DialTutorial(t, n.Addr("frame"), "sender")
	testkit.WaitMembers(t, n, "lobby", 4)
	_ = stopper

	sent := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(sender.Conn, 1<<20)
		for i := range count {
			if _, err := w.Write(frame.AppendStringFrame(nil, bigText(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- w.Flush()
	}()

	// The slow reader reads a message, then waits as long as sending about
	// ten would take on loopback: it falls far behind.
	slowDone := make(chan error, 1)
	go func() {
		fr := frame.NewReader(bufio.NewReader(slow.Conn), 1<<20)
		next := 0
		for next < count {
			_ = slow.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			user, err := fr.ReadFrame()
			if err != nil {
				slowDone <- fmt.Errorf("after %d messages: %w", next, err)
				return
			}
			text, err := fr.ReadFrame()
			if err != nil {
				slowDone <- err
				return
			}
			if string(user) == chat.ServerName {
				continue // a notice (joins, the stopper leaving)
			}
			if want := bigText(next); string(user) != "sender" || string(text) != want {
				slowDone <- fmt.Errorf("message %d: got (%q, %.10q...), want (sender, %.10q...)", next, user, text, want)
				return
			}
			next++
			time.Sleep(2 * time.Millisecond)
		}
		slowDone <- nil
	}()

	next := 0
	for next < count {
		user, text, err := fast.Read()
		if err != nil {
			t.Fatalf("fast reader after %d: %v", next, err)
		}
		if user == chat.ServerName {
			continue // notices: joins, the stopper leaving
		}
		if text != bigText(next) {
			t.Fatalf("fast reader: message %d is %.10q...", next, text)
		}
		next++
	}
	if err := <-sent; err != nil {
		t.Fatalf("sender: %v", err)
	}
	// The stopper is dropped. Its departure is told to the fast reader
	// unless that reader was itself catching up at that moment (a loaded
	// machine): a catching-up client gets others' joins and parts as one
	// summary notice, so the notice alone is no proof either way.
	testkit.Eventually(t, "the stopper dropped as a slow consumer", func() bool { return n.Server.Stats().Dropped == 1 })
	if err := <-slowDone; err != nil {
		t.Fatalf("slow reader: %v", err)
	}
	if st := n.Server.Stats(); st.CatchUps == 0 || st.Dropped != 1 {
		t.Fatalf("stats %+v: want catch-ups and one client dropped (the stopper)", st)
	}
	// The sender is still here.
	sender.Send("/who")
	sender.ExpectNotice("members of lobby (3): fast, sender, slow")
}

// TestCatchUpAcrossRoomsAndDMs: while a native reader is behind, a direct
// message comes in the middle of the backlog and the reader moves to
// another room; it gets everything it was meant to, in id order, once, with
// the own message's echo still carrying its ref; a resume after a
// reconnect in the middle of a catch-up is exact.
func TestCatchUpAcrossRoomsAndDMs(t *testing.T) {
	n := testkit.StartNode(t, node.Config{
		StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: t.TempDir()},
		Server:      server.Options{MaxQueueBytes: 64 << 10, SendBuffer: 16 << 10},
	})
	reader := testkit.DialNative(t, n.Addr("frame"), "reader")
	reader.ExpectType("welcome")
	reader.Send(native.Request{Type: "join", Room: "dev"})
	reader.Expect("in dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" })
	writer := testkit.DialNative(t, n.Addr("frame"), "writer")
	writer.ExpectType("welcome")
	writer.Send(native.Request{Type: "join", Room: "dev"})
	writer.Expect("in dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" })

	// The reader does not read while the writer floods two rooms and DMs it.
	big := strings.Repeat("y", 4000)
	var want []string
	for i := range 300 {
		room := "lobby"
		if i%3 == 0 {
			room = "dev"
		}
		text := fmt.Sprintf("%s %d %s", room, i, big)
		writer.Send(native.Request{Type: "say", Room: room, Text: &text})
		want = append(want, text)
		if i == 150 {
			dm := "a dm in the middle"
			writer.Send(native.Request{Type: "dm", To: "reader", Text: &dm})
			want = append(want, dm)
		}
	}
	last := "the last one"
	writer.Send(native.Request{Type: "say", Room: "dev", Text: &last, Ref: "last"})
	want = append(want, last)
	writer.Expect("its last echo", func(ev native.Event) bool { return ev.Ref == "last" })
	own := "the reader's own"
	reader.Send(native.Request{Type: "say", Room: "dev", Text: &own, Ref: "mine"})
	want = append(want, own)
	testkit.Eventually(t, "the reader to fall behind", func() bool { return n.Server.Stats().CatchUps > 0 })

	var got []string
	var lastID uint64
	ownRef := ""
	for len(got) < len(want) {
		ev, err := reader.Next()
		if err != nil {
			t.Fatalf("after %d of %d: %v", len(got), len(want), err)
		}
		if !ev.IsMessage() || ev.History {
			continue
		}
		if ev.ID <= lastID {
			t.Fatalf("id %d after %d", ev.ID, lastID)
		}
		lastID = ev.ID
		got = append(got, ev.Text)
		if ev.Text == own {
			ownRef = ev.Ref
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d: got %.20q, want %.20q", i, got[i], want[i])
		}
	}
	if ownRef != "mine" {
		t.Fatalf("the reader's own message came back with ref %q, want its own", ownRef)
	}
}

// TestResumeDuringCatchUp: a native client that drops its connection while
// it is being caught up resumes from the last ids it saw, and gets the
// rest exactly: no gap, no duplicate.
func TestResumeDuringCatchUp(t *testing.T) {
	n := testkit.StartNode(t, node.Config{
		StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: t.TempDir()},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Server:      server.Options{MaxQueueBytes: 32 << 10, SendBuffer: 16 << 10},
	})
	reader := testkit.DialNative(t, n.Addr("frame"), "reader")
	reader.ExpectType("welcome")
	writer := testkit.DialNative(t, n.Addr("frame"), "writer")
	writer.ExpectType("welcome")
	big := strings.Repeat("z", 2000)
	const count = 400
	for i := range count {
		text := fmt.Sprintf("%d %s", i, big)
		writer.Send(native.Request{Type: "say", Text: &text, Ref: fmt.Sprint(i)})
	}
	writer.Expect("the last echo", func(ev native.Event) bool { return ev.Ref == fmt.Sprint(count-1) })
	testkit.Eventually(t, "the reader to fall behind", func() bool { return n.Server.Stats().CatchUps > 0 })

	seen := map[string]bool{}
	var lastID uint64
	for len(seen) < count/3 {
		ev, err := reader.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "say" && !ev.History {
			seen[strings.Fields(ev.Text)[0]] = true
			lastID = ev.ID
		}
	}
	reader.Conn.Close() // in the middle of the catch-up

	again := testkit.Dial(t, n.Addr("frame"))
	r2 := testkit.NativeOnWith(t, again, native.Request{Type: "hello", Name: "reader", Version: 1, Since: map[string]uint64{"lobby": lastID}})
	for {
		ev, err := r2.Next()
		if err != nil {
			t.Fatalf("after the resume, %d of %d: %v", len(seen), count, err)
		}
		if ev.Type == "error" && ev.Code == "name_taken" {
			// the old session has not left yet: try again
			time.Sleep(10 * time.Millisecond)
			again = testkit.Dial(t, n.Addr("frame"))
			r2 = testkit.NativeOnWith(t, again, native.Request{Type: "hello", Name: "reader", Version: 1, Since: map[string]uint64{"lobby": lastID}})
			continue
		}
		if ev.Type != "say" {
			continue
		}
		k := strings.Fields(ev.Text)[0]
		if seen[k] {
			t.Fatalf("message %s came twice", k)
		}
		seen[k] = true
		if len(seen) == count {
			break
		}
	}
}
