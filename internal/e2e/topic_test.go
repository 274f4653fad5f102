package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// TestTopicSurvivesRestart: a topic, who set it and when, is stored; after
// a restart on the same data directory a joiner is told it and /topic
// answers with it, on every protocol.
func TestTopicSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *node.Node {
		n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", LineAddr: "127.0.0.1:0",
			StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: dir},
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	stop := func(n *node.Node) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}

	n := start()
	alice := testkit.DialLine(t, n.Addr("line"), "alice")
	alice.Send("/join dev")
	alice.Expect("-- you joined dev")
	alice.Send("/topic release on friday")
	alice.Expect("-- alice set the topic of dev: release on friday")
	stop(n)

	n = start()
	defer stop(n)
	bob := testkit.DialLine(t, n.Addr("line"), "bob")
	bob.Send("/join dev")
	bob.Expect("-- topic of dev: release on friday (set by alice)")
	bob.Send("/topic")
	bob.Expect("-- topic of dev: release on friday (set by alice)")

	nat := testkit.DialNative(t, n.Addr("frame"), "nat")
	nat.ExpectType("welcome")
	nat.Send(native.Request{Type: "rooms", Ref: "r"})
	rooms := nat.Expect("rooms", func(ev native.Event) bool { return ev.Ref == "r" })
	found := false
	for _, r := range rooms.Rooms {
		found = found || r.Name == "dev" && r.Topic == "release on friday"
	}
	if !found {
		t.Fatalf("rooms after the restart: %+v", rooms.Rooms)
	}
	// Topics are public, like the room list: a non-member may ask.
	nat.Send(native.Request{Type: "topic", Room: "dev", Ref: "t"})
	if ev := nat.Expect("the topic", func(ev native.Event) bool { return ev.Ref == "t" }); ev.Type != "topic" || ev.Text != "release on friday" {
		t.Fatalf("a non-member's topic request: %+v", ev)
	}
}
