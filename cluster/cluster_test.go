package cluster_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

// freePorts returns n free 127.0.0.1 ports (for routes that must be known
// before the nodes start, as an operator would list them).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func logger(t *testing.T, name string) *slog.Logger {
	if os.Getenv("CLUSTER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startCluster starts n nodes routed together, each with an embedded NATS
// server and its own SQLite mirror, all on port 0 but for the routes.
func startCluster(t *testing.T, n int) []*node.Node {
	t.Helper()
	routes := freePorts(t, n)
	dir := t.TempDir()
	nodes := make([]*node.Node, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := node.Config{
				StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: filepath.Join(dir, fmt.Sprint("n", i))},
				Logger:      logger(t, fmt.Sprint("n", i)),
				Cluster: &cluster.Config{
					Embedded:  &cluster.Embedded{ClusterListen: routes[i], Routes: routes, ServerName: fmt.Sprint("n", i)},
					Heartbeat: 200 * time.Millisecond, DeadAfter: 600 * time.Millisecond,
				},
			}
			nodes[i] = testkit.StartNode(t, cfg)
		}()
	}
	wg.Wait()
	for _, nd := range nodes {
		if nd == nil {
			t.FailNow()
		}
	}
	return nodes
}

func TestThreeNodesOneRoom(t *testing.T) {
	nodes := startCluster(t, 3)
	var lines []*testkit.Line
	for i, nd := range nodes {
		l := testkit.DialLine(t, nd.Addr(node.ListenLine), fmt.Sprint("user", i))
		lines = append(lines, l)
	}
	// Everyone sees everyone in the lobby.
	for _, l := range lines {
		testkit.Eventually(t, "three members", func() bool {
			l.Send("/who")
			out := l.Until("user")
			return strings.Contains(strings.Join(out, " "), "user2")
		})
	}
	lines[0].Send("hello from 0")
	for _, l := range lines[1:] {
		l.Expect("hello from 0")
	}
	lines[2].Send("hello from 2")
	for _, l := range lines[:2] {
		l.Expect("hello from 2")
	}
}
