package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/node"
)

func TestMessageRoundTrip(t *testing.T) {
	b := appendMessage(nil, 7, 12345, 987654321, 64)
	if len(b) != 64 {
		t.Fatalf("len %d, want 64", len(b))
	}
	s, q, ts, ok := parseMessage(b)
	if !ok || s != 7 || q != 12345 || ts != 987654321 {
		t.Fatalf("parse = %d %d %d %v", s, q, ts, ok)
	}
	for _, bad := range []string{"", "P", "P1 2", "Px 1 2 ", "hello", "P1 2 3"} {
		if _, _, _, ok := parseMessage([]byte(bad)); ok {
			t.Errorf("parseMessage(%q) ok", bad)
		}
	}
}

func TestNativeText(t *testing.T) {
	live := []byte(`{"type":"say","id":3,"ts":"2026-01-01T00:00:00Z","room":"lobby","from":"a","text":"P1 2 3 xx"}`)
	if txt, ok := nativeText(live); !ok || string(txt) != "P1 2 3 xx" {
		t.Fatalf("nativeText = %q %v", txt, ok)
	}
	hist := []byte(`{"type":"say","id":3,"room":"lobby","from":"a","text":"P1 2 3 xx","history":true}`)
	if _, ok := nativeText(hist); ok {
		t.Fatal("history counted as live")
	}
	if _, ok := nativeText([]byte(`{"type":"join","name":"a"}`)); ok {
		t.Fatal("join counted")
	}
}

func TestTrackerAccounting(t *testing.T) {
	tr := newTracker(2, 100)
	for _, seq := range []int{0, 1, 3, 2, 2, 5} { // 2 late, 2 twice, 4 and 6..99 lost
		tr.add(0, seq)
	}
	tr.add(1, 0)
	tr.add(5, 0)   // not a sender of this run
	tr.add(0, 100) // beyond M
	if got := tr.distinct(0); got != 5 {
		t.Errorf("distinct = %d, want 5", got)
	}
	if tr.dup[0] != 1 || tr.ooo[0] != 1 {
		t.Errorf("dup %d ooo %d, want 1 1", tr.dup[0], tr.ooo[0])
	}
	if tr.foreign != 2 || tr.count.Load() != 7 {
		t.Errorf("foreign %d count %d", tr.foreign, tr.count.Load())
	}
}

func TestFrameReaderSplitAndGrow(t *testing.T) {
	var stream []byte
	stream = appendFrame(stream, []byte("alice"))
	stream = appendFrame(stream, make([]byte, 100)) // larger than the buffer
	stream = appendFrame(stream, []byte(""))
	fr := newFrameReader(&trickle{data: stream}, 16)
	for _, want := range []int{5, 100, 0} {
		p, err := fr.next()
		if err != nil || len(p) != want {
			t.Fatalf("frame of %d bytes, err %v; want %d", len(p), err, want)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("err %v at end, want EOF", err)
	}
}

// trickle returns its data three bytes at a time.
type trickle struct{ data []byte }

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 3)], t.data)
	t.data = t.data[n:]
	return n, nil
}

func TestSteadyRate(t *testing.T) {
	var s []sample
	for i := 0; i <= 100; i++ {
		s = append(s, sample{time.Duration(i) * 10 * time.Millisecond, int64(i) * 1000})
	}
	if r := steadyRate(s, 100000); r < 99000 || r > 101000 {
		t.Fatalf("rate %f, want 100000", r)
	}
}

// TestRunAgainstNode runs short benches against an in-process server.
func TestRunAgainstNode(t *testing.T) {
	n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}()
	for _, mode := range []string{ModeTutorial, ModeNative} {
		t.Run(mode, func(t *testing.T) {
			res, err := Run(context.Background(), Config{Addr: n.Addr("frame").String(), Mode: mode, Clients: 8, Senders: 3, Messages: 50,
				ConnectTimeout: 10 * time.Second, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Traffic
			if !tr.Complete || tr.Lost != 0 || tr.Duplicated != 0 || tr.OutOfOrder != 0 {
				t.Fatalf("run: %s", res.JSON())
			}
			want := int64(3 * 50 * 8)
			if mode == ModeTutorial {
				want = 3 * 50 * 7
			}
			if tr.Delivered != want || tr.Latency.Count != want {
				t.Fatalf("delivered %d, latencies %d, want %d", tr.Delivered, tr.Latency.Count, want)
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		res, err := Run(context.Background(), Config{Addr: n.Addr("frame").String(), Idle: true, Clients: 20, Hold: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Idle == nil || res.Idle.StillOpen != 20 {
			t.Fatalf("idle: %s", res.JSON())
		}
	})
}

func TestLineText(t *testing.T) {
	for in, want := range map[string]string{
		"[12:34] <b1-2> P1 2 3 xx":         "P1 2 3 xx",
		"#idle-1 [12:34] <b1-2> R4 ready?": "R4 ready?",
		"[12:34] <a> b> c":                 "b> c",
	} {
		if got, ok := lineText([]byte(in)); !ok || string(got) != want {
			t.Errorf("lineText(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-- b1-2 joined lobby", "(history) [12:34] <a> P1 2 3 x", "What is your name? -- welcome, a!", "! line too long", "[12:34] <a>"} {
		if got, ok := lineText([]byte(in)); ok {
			t.Errorf("lineText(%q) = %q, want none", in, got)
		}
	}
}

func quietNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// checkComplete fails unless the run delivered want messages, each once and
// in order, with a latency for each.
func checkComplete(t *testing.T, res *Result, want int64) {
	t.Helper()
	tr := res.Traffic
	if tr == nil || !tr.Complete || tr.Lost != 0 || tr.Duplicated != 0 || tr.OutOfOrder != 0 || tr.Disconnected != 0 {
		t.Fatalf("run: %s", res.JSON())
	}
	if tr.Delivered != want || tr.Expected != want || tr.Latency.Count != want {
		t.Fatalf("delivered %d of %d, latencies %d, want %d", tr.Delivered, tr.Expected, tr.Latency.Count, want)
	}
}

// TestRunLine runs the bench's line-protocol clients against an in-process
// server: traffic in the lobby, and idle clients spread over rooms.
func TestRunLine(t *testing.T) {
	n := quietNode(t, node.Config{LineAddr: "127.0.0.1:0"})
	addr := n.Addr("line").String()
	res, err := Run(context.Background(), Config{Addr: addr, Mode: ModeLine, Clients: 8, Senders: 3, Messages: 50,
		ConnectTimeout: 10 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, res, 3*50*7) // no echo
	res, err = Run(context.Background(), Config{Addr: addr, Mode: ModeLine, Idle: true, Clients: 23, IdleRoomSize: 5, Hold: 50 * time.Millisecond,
		ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Idle == nil || res.Idle.StillOpen != 23 || len(res.Errors) != 0 {
		t.Fatalf("idle: %s", res.JSON())
	}
}

// TestRunIRCIdleRooms spreads idle IRC clients over rooms on a server that
// leaves them out of the lobby.
func TestRunIRCIdleRooms(t *testing.T) {
	cfg := node.Config{IRCAddr: "127.0.0.1:0"}
	cfg.IRC.NoLobby = true
	n := quietNode(t, cfg)
	res, err := Run(context.Background(), Config{Addr: n.Addr("irc").String(), Mode: ModeIRC, Idle: true, Clients: 23, IdleRoomSize: 5,
		Hold: 50 * time.Millisecond, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Idle == nil || res.Idle.StillOpen != 23 || len(res.Errors) != 0 {
		t.Fatalf("idle: %s", res.JSON())
	}
}

// TestRunNats runs the bench's NATS clients against an in-process
// nats-server: without echo, every message reaches the N-1 others.
func TestRunNats(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPending: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	addr := ns.Addr().String()
	res, err := Run(context.Background(), Config{Addr: addr, Mode: ModeNats, Clients: 8, Senders: 3, Messages: 200,
		ConnectTimeout: 10 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, res, 3*200*7)
	if res.ReadyMS < res.ConnectMS {
		t.Fatalf("ready %.1f ms before connected %.1f ms", res.ReadyMS, res.ConnectMS)
	}
	res, err = Run(context.Background(), Config{Addr: addr, Mode: ModeNats, Idle: true, Clients: 20, Hold: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Idle == nil || res.Idle.StillOpen != 20 || len(res.Errors) != 0 {
		t.Fatalf("idle: %s", res.JSON())
	}
	if _, err := Run(context.Background(), Config{Addr: addr, Mode: ModeNats, Clients: 8, Slow: 1}); err == nil {
		t.Fatal("slow readers accepted in nats mode")
	}
}

// BenchmarkReceive measures the bench's own receive path (frame reading,
// parsing, loss accounting, latency recording): it must not allocate.
func BenchmarkReceive(b *testing.B) {
	for _, mode := range []string{ModeTutorial, ModeNative} {
		b.Run(mode, func(b *testing.B) {
			r := &runner{cfg: Config{Mode: mode, Senders: 10, Messages: 1 << 20}, epoch: time.Now(), lat: newLatencyShards(4)}
			var stream []byte
			for seq := 0; seq < 256; seq++ {
				text := appendMessage(nil, seq%10, seq, 1, 64)
				if mode == ModeNative {
					stream = appendFrame(stream, []byte(`{"type":"say","id":12345,"ts":"2026-11-22T04:58:08.123456789Z","room":"lobby","from":"b1234-1","text":"`+string(text)+`"}`))
				} else {
					stream = appendFrame(stream, []byte("b1234-1"))
					stream = appendFrame(stream, text)
				}
			}
			c := &client{run: r, tr: newTracker(10, 1<<20), fr: newFrameReader(&loop{data: stream}, 16<<10)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.readOne(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loop yields its data forever, in reads of up to 4 KiB.
type loop struct {
	data []byte
	off  int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), 4096)], l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// TestRunAcrossClusterNodes spreads the clients over the nodes of an
// in-process cluster (embedded NATS servers routed together): every
// message reaches the clients of every node, the cluster's readiness
// check passes, and several pids are summed and broken down.
func TestRunAcrossClusterNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-node JetStream cluster")
	}
	routes, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nodes := make([]*node.Node, len(routes))
	var wg sync.WaitGroup
	for i := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
				StoreConfig: node.StoreConfig{StoreKind: node.StoreMemory, DataDir: filepath.Join(dir, fmt.Sprint(i))},
				Cluster:     &cluster.Config{Embedded: &cluster.Embedded{ClusterListen: routes[i], Routes: routes, ServerName: fmt.Sprint("n", i)}},
				Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Error(err)
			}
			nodes[i] = n
		}()
	}
	wg.Wait()
	t.Cleanup(func() { shutdownAll(nodes) })
	if t.Failed() {
		return
	}
	var addrs []string
	c := &Cluster{}
	for _, n := range nodes {
		addrs = append(addrs, n.Addr("frame").String())
		c.Nodes = append(c.Nodes, &Server{Addr: n.Addr("frame").String(), HTTPAddr: n.Addr("http").String(), PID: os.Getpid()})
	}
	if err := c.awaitReady(context.Background(), time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Addrs: addrs, Clients: 9, Senders: 3, Messages: 50, PIDs: c.PIDs(),
		ConnectTimeout: 10 * time.Second, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, res, 3*50*8) // no echo
	if got := res.Config.Addrs; !slices.Equal(got, addrs) {
		t.Errorf("addrs %v, want %v", got, addrs)
	}
	// Both "processes" are this one: the sum is about twice each.
	if s := res.Server; len(s.Processes) != 2 || s.PeakRSSBytes < s.Processes[0].PeakRSSBytes*3/2 {
		t.Errorf("server %+v: want two processes, summed", s)
	}
}

// shutdownAll shuts the nodes down at once: one after the other, each
// would wait for the peers already gone.
func shutdownAll(nodes []*node.Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = n.Shutdown(ctx)
			}()
		}
	}
	wg.Wait()
}

func TestNodeArgv(t *testing.T) {
	base := []string{"parley", "serve", "--store", "sqlite"}
	ports := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	a0, a2 := nodeArgv(base, 0, ports, "/d"), nodeArgv(base, 2, ports, "/d")
	if !slices.Equal(a0[:4], base) || len(base) != 4 {
		t.Fatalf("argv %v does not start with %v (or changed it)", a0, base)
	}
	flag := func(argv []string, name string) string {
		i := slices.Index(argv, name)
		if i < 0 || i+1 >= len(argv) {
			t.Fatalf("%v: no %s", argv, name)
		}
		return argv[i+1]
	}
	if flag(a2, "--nats-cluster-listen") != "127.0.0.1:3" || flag(a2, "--nats-routes") != "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" {
		t.Errorf("node 2's routes: %v", a2)
	}
	if flag(a0, "--data-dir") == flag(a2, "--data-dir") || flag(a0, "--nats-server-name") == flag(a2, "--nats-server-name") {
		t.Errorf("nodes share a data dir or a name: %v %v", a0, a2)
	}
	if !slices.Contains(a0, "--nats-embedded") || flag(a0, "--http-listen") != "127.0.0.1:0" {
		t.Errorf("argv %v", a0)
	}
}
