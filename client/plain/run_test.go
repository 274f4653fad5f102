package plain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/client/plain"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// lockedBuffer is an output Run may write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startOn(t *testing.T, addr, dir string) *node.Node {
	t.Helper()
	var n *node.Node
	testkit.Eventually(t, "the port to be free again", func() bool {
		var err error
		n, err = node.Start(node.Config{FrameAddr: addr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: dir}})
		return err == nil
	})
	return n
}

func stop(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
}

// TestPlainQueuesWhileDisconnected: lines typed while the server is down
// are sent after the reconnect, in order, once, and Run then ends cleanly
// (a line whose echo was lost with the connection is confirmed by the
// resume replay).
func TestPlainQueuesWhileDisconnected(t *testing.T) {
	dir := t.TempDir()
	n := startOn(t, "127.0.0.1:0", dir)
	addr := n.Addr("frame").String()
	c, err := client.Dial(context.Background(), client.Config{Addr: addr, Name: "bot", MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, feed := io.Pipe()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- plain.Run(context.Background(), c, in, out, plain.Options{Drain: 10 * time.Second}) }()

	first := testkit.DialNative(t, n.Addr("frame"), "first")
	first.ExpectType("welcome")
	fmt.Fprintln(feed, "before the restart")
	first.Expect("the first line", func(ev native.Event) bool { return ev.Text == "before the restart" })
	stop(n)
	testkit.Eventually(t, "the client to notice", func() bool { return strings.Contains(out.String(), "disconnected") })
	for i := range 50 {
		fmt.Fprintf(feed, "queued %d\n", i)
	}
	n = startOn(t, addr, dir)
	defer stop(n)
	watcher := testkit.DialNative(t, n.Addr("frame"), "watcher")
	watcher.ExpectType("welcome")
	for i := range 50 {
		want := fmt.Sprintf("queued %d", i)
		ev := watcher.Expect(want, func(ev native.Event) bool { return ev.Type == "say" && ev.From == "bot" && !ev.History })
		if ev.Text != want {
			t.Fatalf("got %q, want %q (in order, once)", ev.Text, want)
		}
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
}

// TestPlainReportsUnsent: when the server does not come back before the
// drain time ends, Run says how many lines were not sent and returns a
// *NotSentError (parley join then exits non-zero).
func TestPlainReportsUnsent(t *testing.T) {
	n := startOn(t, "127.0.0.1:0", t.TempDir())
	c, err := client.Dial(context.Background(), client.Config{Addr: n.Addr("frame").String(), Name: "bot", MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop(n)
	testkit.Eventually(t, "the client to notice", func() bool { _, err := c.Ping(); return errors.Is(err, client.ErrNotConnected) })
	out := &lockedBuffer{}
	err = plain.Run(context.Background(), c, strings.NewReader("one\ntwo\nthree\n"), out, plain.Options{Drain: 300 * time.Millisecond})
	var ns *plain.NotSentError
	if !errors.As(err, &ns) || ns.Lines != 3 {
		t.Fatalf("Run = %v, want 3 lines not sent\n%s", err, out)
	}
	if !strings.Contains(out.String(), "3 line(s) typed while disconnected were not sent") {
		t.Fatalf("output does not say so:\n%s", out)
	}
}
