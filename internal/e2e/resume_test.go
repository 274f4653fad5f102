package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// startNode runs an in-process node on 127.0.0.1:0 with the given store.
func startNode(t *testing.T, sc node.StoreConfig) *node.Node {
	t.Helper()
	n, err := node.Start(node.Config{
		FrameAddr:   "127.0.0.1:0",
		StoreConfig: sc,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// TestResumeUnderLoad drops a client mid-stream while three others flood
// the lobby, reconnects it with the last id it saw, and checks that it ends
// with exactly the sequence a client that never left saw: no gap, no
// duplicate. The resume may be cut short ("more"); the client then pages
// through the gap with history requests, as the protocol says.
func TestResumeUnderLoad(t *testing.T) {
	const senders, perSender = 3, 1500
	const total = senders * perSender
	tests := []struct {
		name  string
		store node.StoreConfig
		drops []int // drop the resumer after it has seen this many messages
	}{
		{"sqlite", node.StoreConfig{StoreKind: node.StoreSQLite}, []int{100, 1500, 3000}},
		{"memory", node.StoreConfig{StoreKind: node.StoreMemory}, []int{100, 2000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.store.StoreKind == node.StoreSQLite {
				tt.store.DataDir = t.TempDir()
			}
			n := startNode(t, tt.store)
			addr := n.Addr("frame").String()

			join := func(name string) *client {
				c := dialRetry(t, addr, native.Request{Name: name})
				c.readUntil(t, "join", func(ev native.Event) bool { return ev.Type == "history_end" })
				t.Cleanup(c.close)
				return c
			}
			watcher := join("watcher")
			resumer := join("resumer")
			var flooders []*client
			for i := 0; i < senders; i++ {
				flooders = append(flooders, join(fmt.Sprintf("flood%d", i)))
			}

			// The flooders' own echoes are read and dropped so that the
			// server never sees them as slow consumers.
			var wg sync.WaitGroup
			for i, c := range flooders {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for {
						if _, err := c.next(); err != nil {
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for k := 0; k < perSender; k++ {
						if err := c.send(native.Request{Type: "say", Text: ptr(fmt.Sprintf("flood%d #%d", i, k))}); err != nil {
							t.Errorf("send: %v", err)
							return
						}
					}
				}()
			}

			var want []msg
			wantDone := make(chan struct{})
			go func() {
				defer close(wantDone)
				for len(want) < total {
					ev, err := watcher.next()
					if err != nil {
						t.Errorf("watcher: %v", err)
						return
					}
					if ev.Type == "say" {
						want = append(want, toMsg(ev))
					}
				}
			}()

			var got []msg
			c := resumer
			for _, drop := range tt.drops {
				got = readMessages(t, c, got, drop)
				c.close()
				c = dialRetry(t, addr, native.Request{Name: "resumer", Since: map[string]uint64{"lobby": got[len(got)-1].ID}})
				t.Cleanup(c.close)
				got = resume(t, c, got)
			}
			got = readMessages(t, c, got, total)

			<-wantDone
			for _, f := range flooders {
				f.close()
			}
			wg.Wait()
			checkSame(t, "resumer vs watcher", got, want)
		})
	}
}

// readMessages reads live say events until got holds n messages.
func readMessages(t *testing.T, c *client, got []msg, n int) []msg {
	t.Helper()
	for len(got) < n {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("%s: %v after %d messages", c.name, err, len(got))
		}
		if ev.Type == "say" {
			if ev.History {
				t.Fatalf("%s: unexpected history message %d", c.name, ev.ID)
			}
			got = append(got, toMsg(ev))
		}
	}
	return got
}

// resume reads the resume replay that follows a hello with since, pages
// through the rest of the gap if the replay was cut short, and returns got
// extended with the replay and the live messages read meanwhile.
func resume(t *testing.T, c *client, got []msg) []msg {
	t.Helper()
	var note string
	replay := c.readUntil(t, "resume replay", func(ev native.Event) bool {
		if ev.Type == "history_end" && ev.Room == "lobby" {
			note = ev.Text
			return true
		}
		return false
	})
	for _, m := range replay {
		if !m.History {
			t.Fatalf("live message %d before history_end", m.ID)
		}
	}
	got = append(got, replay...)
	switch note {
	case "":
		return got
	case "more":
	default:
		t.Fatalf("resume ended with %q", note)
	}
	// Live delivery has already begun after the gap: page back through
	// it with history requests (which may overlap the live messages that
	// keep arriving) and merge by id.
	last := got[len(got)-1].ID
	merged := map[uint64]msg{}
	var live []msg
	before := uint64(0)
	for page := 1; ; page++ {
		ref := fmt.Sprint("p", page)
		if err := c.send(native.Request{Type: "history", Ref: ref, Room: "lobby", After: last, Before: before, Limit: 1000}); err != nil {
			t.Fatal(err)
		}
		var paged []msg
		c.readUntil(t, "history page", func(ev native.Event) bool {
			switch {
			case ev.Type == "say" && !ev.History:
				if ev.ID <= last {
					t.Fatalf("live message %d repeats the replay (last %d)", ev.ID, last)
				}
				live = append(live, toMsg(ev))
			case ev.Type == "say" && ev.Ref == ref:
				paged = append(paged, toMsg(ev))
			}
			return ev.Type == "history_end" && ev.Ref == ref
		})
		for _, m := range paged {
			merged[m.ID] = m
		}
		if len(paged) < 1000 {
			break
		}
		before = paged[0].ID
	}
	checkIncreasing(t, "live after resume", live)
	for _, m := range live {
		merged[m.ID] = m
	}
	rest := make([]msg, 0, len(merged))
	for _, m := range merged {
		rest = append(rest, m)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].ID < rest[j].ID })
	return append(got, rest...)
}
