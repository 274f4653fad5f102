package cluster_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
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
	return startClusterIn(t, t.TempDir(), n)
}

// startClusterIn is startCluster with the nodes' data in dir/n0, dir/n1...
func startClusterIn(t *testing.T, dir string, n int) []*node.Node {
	t.Helper()
	routes := freePorts(t, n)
	nodes := make([]*node.Node, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := node.Config{
				StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: filepath.Join(dir, fmt.Sprint("n", i))},
				Logger:      logger(t, fmt.Sprint("n", i)),
				Hub:         chat.Config{Admins: []string{"boss"}},
				Cluster: &cluster.Config{
					Embedded: &cluster.Embedded{ClusterListen: routes[i], Routes: routes, ServerName: fmt.Sprint("n", i)},
					// Silent for 1.5 s is dead: short, for the tests' sake,
					// but not so short that a node of a loaded -race run
					// is taken for dead while alive.
					Heartbeat: 200 * time.Millisecond, DeadAfter: 1500 * time.Millisecond,
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
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
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

// msg is a message as a client saw it.
type msg struct {
	ID         uint64
	From, Text string
}

// collect reads say events of room until n have arrived.
func collect(t *testing.T, c *testkit.Native, room string, n int) []msg {
	t.Helper()
	var got []msg
	for len(got) < n {
		ev, err := c.Next()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), n, err)
		}
		if ev.Type == "say" && ev.Room == room && !ev.History {
			got = append(got, msg{ev.ID, ev.From, ev.Text})
		}
	}
	return got
}

// history reads a room's history through c.
func history(t *testing.T, c *testkit.Native, room string, limit int) []msg {
	t.Helper()
	c.Send(native.Request{Type: "history", Room: room, Limit: limit})
	var got []msg
	for {
		ev, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Type == "say" && ev.History && ev.Room == room:
			got = append(got, msg{ev.ID, ev.From, ev.Text})
		case ev.Type == "history_end" && ev.Room == room:
			return got
		}
	}
}

// joinDev connects a native client called name to nd, in room dev (with
// the hello's other fields from extra), and waits until it is in.
func joinDev(t *testing.T, nd *node.Node, name string, extra native.Request) *testkit.Native {
	t.Helper()
	return joinWith(t, nd, name, "dev", extra)
}

// waitMembers waits until every node lists want members of room.
func waitMembers(t *testing.T, c *testkit.Native, room string, want int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d members of %s", want, room), func() bool {
		c.Send(native.Request{Type: "who", Room: room})
		ev := c.ExpectType("members")
		return len(ev.Members) == want
	})
}

// TestOneSequenceOnEveryNode: clients on three nodes speak at once in one
// room; every client sees the same messages in the same order, ids rising,
// and every node's history gives the same answer.
func TestOneSequenceOnEveryNode(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 3)
	const perSender = 60
	var clients []*testkit.Native
	for i, nd := range nodes {
		for j := range 2 {
			clients = append(clients, joinDev(t, nd, fmt.Sprintf("u%d%d", i, j), native.Request{}))
		}
	}
	waitMembers(t, clients[0], "dev", len(clients))
	waitMembers(t, clients[len(clients)-1], "dev", len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perSender {
				text := fmt.Sprintf("m%d-%d", i, k)
				b, _ := json.Marshal(native.Request{Type: "say", Room: "dev", Text: &text})
				if _, err := c.Conn.Write(frame.AppendFrame(nil, b)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	total := perSender * len(clients)
	seqs := make([][]msg, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i] = collect(t, c, "dev", total)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range seqs {
		if !slices.Equal(seqs[i], seqs[0]) {
			t.Fatalf("client %d saw another sequence than client 0:\n%v\n%v", i, seqs[i][:10], seqs[0][:10])
		}
	}
	for i := 1; i < len(seqs[0]); i++ {
		if seqs[0][i].ID <= seqs[0][i-1].ID {
			t.Fatalf("ids not rising at %d: %v", i, seqs[0][i-1:i+1])
		}
	}
	// Each sender's messages arrive in the order sent.
	next := map[string]int{}
	for _, m := range seqs[0] {
		var i, k int
		fmt.Sscanf(m.Text, "m%d-%d", &i, &k)
		if k != next[m.From] {
			t.Fatalf("%s's message %d arrived when %d was due", m.From, k, next[m.From])
		}
		next[m.From]++
	}
	for i := 0; i < len(clients); i += 2 {
		if h := history(t, clients[i], "dev", total); !slices.Equal(h, seqs[0]) {
			t.Fatalf("node %d's history differs from what was delivered (%d vs %d messages)", i/2, len(h), len(seqs[0]))
		}
	}
}

// TestNameUniqueAcrossNodes: one name asked for on three nodes at once is
// given once; when its holder leaves, another node may give it.
func TestNameUniqueAcrossNodes(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 3)
	for round := range 5 {
		name := fmt.Sprint("dup", round)
		type result struct {
			c  *testkit.Native
			ok bool
		}
		results := make([]result, len(nodes))
		var wg sync.WaitGroup
		for i, nd := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := testkit.DialNative(t, nd.Addr(node.ListenFrame), name)
				ev := c.Expect("welcome or error", func(ev native.Event) bool { return ev.Type == "welcome" || ev.Type == "error" })
				results[i] = result{c, ev.Type == "welcome"}
				if ev.Type == "error" && ev.Code != "name_taken" {
					t.Errorf("node %d: %s %s", i, ev.Code, ev.Message)
				}
			}()
		}
		wg.Wait()
		winners := 0
		for _, r := range results {
			if r.ok {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d sessions got the name %s", round, winners, name)
		}
		for _, r := range results {
			r.c.Conn.Close()
		}
	}
	// Freed: another node may give it now.
	testkit.Eventually(t, "the name free again", func() bool {
		c := testkit.DialNative(t, nodes[2].Addr(node.ListenFrame), "dup0")
		defer c.Conn.Close()
		ev := c.Expect("welcome or error", func(ev native.Event) bool { return ev.Type == "welcome" || ev.Type == "error" })
		return ev.Type == "welcome"
	})
}

// TestResumeOnAnotherNode: a client that read up to some id on one node
// and comes back on another gets exactly the messages after it.
func TestResumeOnAnotherNode(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 3)
	speaker := joinDev(t, nodes[0], "speaker", native.Request{})
	reader := joinDev(t, nodes[1], "reader", native.Request{})
	waitMembers(t, speaker, "dev", 2)
	say := func(text string) {
		speaker.Send(native.Request{Type: "say", Room: "dev", Text: &text, Ref: speaker.Ref()})
	}
	for k := range 10 {
		say(fmt.Sprint("before ", k))
	}
	seen := collect(t, reader, "dev", 10)
	reader.Conn.Close()
	for k := range 15 {
		say(fmt.Sprint("after ", k))
	}
	collect(t, speaker, "dev", 25) // own copies: all stored
	back := joinDev(t, nodes[2], "reader", native.Request{Since: map[string]uint64{"dev": seen[len(seen)-1].ID}})
	var got []msg
	for {
		ev := back.Expect("replay", func(ev native.Event) bool {
			return ev.Room == "dev" && (ev.Type == "say" || ev.Type == "history_end")
		})
		if ev.Type == "history_end" {
			break
		}
		got = append(got, msg{ev.ID, ev.From, ev.Text})
	}
	// The replay gives what this node's mirror holds when the join is
	// served; a mirror a moment behind the stream delivers the rest live,
	// as it ingests them. Either way: every message once, in order.
	if len(got) < 15 {
		got = append(got, collect(t, back, "dev", 15-len(got))...)
	}
	if len(got) != 15 {
		t.Fatalf("resumed on another node: %v", got)
	}
	for k, m := range got {
		if m.Text != fmt.Sprint("after ", k) || (k > 0 && m.ID <= got[k-1].ID) {
			t.Fatalf("resumed on another node, message %d: %v", k, got)
		}
	}
	if got[0].ID <= seen[len(seen)-1].ID {
		t.Fatalf("ids: resumed %d after %d", got[0].ID, seen[len(seen)-1].ID)
	}
}

// TestPresenceAcrossNodes: joins, parts, nick changes, away messages,
// topics, direct messages and member lists cross nodes.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 2)
	alice := joinDev(t, nodes[0], "alice", native.Request{})
	bob := joinDev(t, nodes[1], "bob", native.Request{})
	alice.Expect("bob joins dev", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "dev" && ev.Name == "bob" })
	waitMembers(t, alice, "dev", 2)

	bob.Send(native.Request{Type: "command", Text: ptr("/nick robert")})
	alice.Expect("nick", func(ev native.Event) bool { return ev.Type == "nick" && ev.Old == "bob" && ev.Name == "robert" })
	// IRC's AWAY, seen by an IRC client on the other node (away-notify).
	dave := testkit.DialIRC(t, nodes[0].Addr(node.ListenIRC), "dave", true, "away-notify")
	erin := testkit.DialIRC(t, nodes[1].Addr(node.ListenIRC), "erin", true)
	dave.Expect("JOIN")
	erin.Send("AWAY :lunch")
	dave.Expect(":erin!")
	dave.Sync()
	erin.Send("AWAY :lunch break")
	if line := dave.Expect("AWAY"); !strings.Contains(line, "lunch break") {
		t.Fatalf("away-notify across nodes: %q", line)
	}
	dave.Send("ISON erin nobody dave")
	if line := dave.Expect(" 303 "); !strings.HasSuffix(line, ":erin dave") {
		t.Fatalf("ISON across nodes: %q", line)
	}
	// One QUIT per user who leaves another node, however many there are.
	frank := testkit.DialIRC(t, nodes[1].Addr(node.ListenIRC), "frank", true)
	dave.Expect(":frank!")
	erin.Send("QUIT :erin goes")
	dave.Expect("QUIT :Quit: erin goes")
	frank.Send("QUIT :frank goes")
	dave.Expect("QUIT :Quit: frank goes")
	alice.Send(native.Request{Type: "topic", Room: "dev", Text: ptr("release day")})
	bob.Expect("topic", func(ev native.Event) bool {
		return ev.Type == "topic" && ev.Text == "release day" && ev.From == "alice"
	})
	alice.Send(native.Request{Type: "dm", To: "robert", Text: ptr("psst")})
	bob.Expect("dm", func(ev native.Event) bool { return ev.Type == "dm" && ev.From == "alice" && ev.Text == "psst" })
	alice.Expect("own dm", func(ev native.Event) bool { return ev.Type == "dm" && ev.To == "robert" })
	alice.Send(native.Request{Type: "dm", To: "nobody", Text: ptr("hello?")})
	alice.Expect("no such user", func(ev native.Event) bool { return ev.Type == "error" && ev.Code == "no_such_user" })
	bob.Send(native.Request{Type: "join", Room: "elsewhere"})
	bob.ExpectType("join")
	testkit.Eventually(t, "a room with members on another node listed", func() bool {
		alice.Send(native.Request{Type: "rooms"})
		for _, r := range alice.ExpectType("rooms").Rooms {
			if r.Name == "elsewhere" && r.Members == 1 {
				return true
			}
		}
		return false
	})
	bob.Send(native.Request{Type: "part", Room: "dev", Reason: "bye now"})
	alice.Expect("part", func(ev native.Event) bool { return ev.Type == "part" && ev.Name == "robert" && ev.Reason == "bye now" })
	waitMembers(t, alice, "dev", 1)
	bob.Conn.Close()
	alice.Expect("quit", func(ev native.Event) bool { return ev.Type == "part" && ev.Room == "lobby" && ev.Name == "robert" })

	// A node started later learns the topic.
	carol := joinDev(t, nodes[1], "carol", native.Request{})
	carol.Send(native.Request{Type: "topic", Room: "dev"})
	carol.Expect("topic", func(ev native.Event) bool { return ev.Type == "topic" && ev.Text == "release day" })
}

func ptr(s string) *string { return &s }

// natsCluster starts n NATS servers with JetStream, routed together, as an
// existing deployment would be; restart brings server i back on its port
// and store.
type natsCluster struct {
	t       *testing.T
	opts    []*server.Options
	servers []*server.Server
}

func startNATS(t *testing.T, n int) *natsCluster {
	t.Helper()
	clients, routes := freePorts(t, n), freePorts(t, n)
	dir := t.TempDir()
	nc := &natsCluster{t: t}
	for i := range n {
		_, cport, _ := net.SplitHostPort(clients[i])
		_, rport, _ := net.SplitHostPort(routes[i])
		o := &server.Options{ServerName: fmt.Sprint("s", i), Host: "127.0.0.1", Port: atoi(cport), JetStream: true,
			StoreDir: filepath.Join(dir, fmt.Sprint("s", i)), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: atoi(rport)}}
		for _, r := range routes {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: r})
		}
		nc.opts = append(nc.opts, o)
		nc.servers = append(nc.servers, nil)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); nc.restart(i) }()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range nc.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	return nc
}

func (nc *natsCluster) url(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", nc.opts[i].Port)
}

func (nc *natsCluster) restart(i int) {
	s, err := server.NewServer(nc.opts[i])
	if err != nil {
		nc.t.Error(err)
		return
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		nc.t.Error("NATS server did not start")
	}
	nc.servers[i] = s
}

func (nc *natsCluster) stop(i int) {
	nc.servers[i].Shutdown()
	nc.servers[i].WaitForShutdown()
	nc.servers[i] = nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestNodeCutOffFromNATS: nodes joined to an existing NATS deployment; the
// NATS server one node uses goes away. That node refuses messages with
// unavailable instead of diverging, the other sees its users part; when
// the server is back, the node recovers by itself.
func TestNodeCutOffFromNATS(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nats := startNATS(t, 3)
	var nodes []*node.Node
	for i := range 2 {
		cfg := node.Config{
			StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: filepath.Join(t.TempDir(), fmt.Sprint("n", i))},
			Logger:      logger(t, fmt.Sprint("n", i)),
			Cluster:     &cluster.Config{URLs: []string{nats.url(i)}, OnlyGivenURLs: true, Heartbeat: 200 * time.Millisecond, DeadAfter: 1500 * time.Millisecond},
		}
		nodes = append(nodes, testkit.StartNode(t, cfg))
	}
	alice := joinDev(t, nodes[0], "alice", native.Request{})
	bob := joinDev(t, nodes[1], "bob", native.Request{})
	waitMembers(t, bob, "dev", 2)
	alice.Send(native.Request{Type: "say", Room: "dev", Text: ptr("before")})
	bob.Expect("before", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "before" })

	nats.stop(0)
	testkit.Eventually(t, "node 0 not ready", func() bool { return nodes[0].Hub.Ready() != nil })
	alice.Send(native.Request{Type: "say", Room: "dev", Text: ptr("while cut off"), Ref: "r1"})
	alice.Expect("unavailable", func(ev native.Event) bool { return ev.Type == "error" && ev.Code == "unavailable" && ev.Ref == "r1" })
	bob.Expect("alice parts", func(ev native.Event) bool { return ev.Type == "part" && ev.Name == "alice" && ev.Room == "dev" })
	c := testkit.DialNative(t, nodes[0].Addr(node.ListenFrame), "carol")
	if ev := c.Expect("welcome or error", func(ev native.Event) bool { return ev.Type == "welcome" || ev.Type == "error" }); ev.Code != "unavailable" {
		t.Fatalf("a login on a node cut off: %+v", ev)
	}

	nats.restart(0)
	testkit.Eventually(t, "node 0 ready again", func() bool { return nodes[0].Hub.Ready() == nil })
	bob.Expect("alice back", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "alice" && ev.Room == "dev" })
	// The first messages after the cut may wait for the log (a replica
	// catching up) or be refused: try again until one is accepted.
	for attempt, deadline := 0, time.Now().Add(40*time.Second); ; attempt++ {
		ref := fmt.Sprint("back-", attempt)
		alice.Send(native.Request{Type: "say", Room: "dev", Text: ptr("back"), Ref: ref})
		if ev := alice.Expect("own copy or error", func(ev native.Event) bool { return ev.Ref == ref }); ev.Type == "say" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("messages still refused after the node is back: %s %s", ev.Code, ev.Message)
		}
	}
	bob.Expect("back", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "back" })
	waitMembers(t, bob, "dev", 2)
	// The node back sees the others' changes and messages again.
	bob.Send(native.Request{Type: "join", Room: "ops"})
	alice.Send(native.Request{Type: "join", Room: "ops"})
	waitMembers(t, alice, "ops", 2) // bob's join, seen by the node that was cut off
	bob.Send(native.Request{Type: "say", Room: "dev", Text: ptr("from bob")})
	alice.Expect("from bob", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "from bob" })
}

// TestHostileClusterInput: whatever else writes to the stream or the
// buckets (a NATS account shared with a buggy or hostile program), a node
// delivers nothing that is not a well-formed message or presence change,
// and its clients chat on.
func TestHostileClusterInput(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 2)
	alice := joinDev(t, nodes[0], "alice", native.Request{})
	bob := joinDev(t, nodes[1], "bob", native.Request{})
	waitMembers(t, alice, "dev", 2)

	js := natsOf(t, nodes[0])
	ctx := context.Background()
	devSubject := "parley.msg.r." + hex.EncodeToString([]byte("dev"))
	for _, payload := range []string{
		`not json`,
		`{"t":1,"k":4,"r":"dev","f":"mallory","x":"a join as a message"}`,
		`{"t":1,"k":1,"r":"dev","f":"mallory","x":"\u001b]0;owned\u0007title"}`,
		`{"t":1,"k":1,"r":"Dev Room","f":"mallory","x":"bad room"}`,
		`{"t":1,"k":1,"r":"dev","f":"mal lory","x":"bad name"}`,
	} {
		if _, err := js.Publish(ctx, devSubject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.KeyValue(ctx, "parley-presence")
	if err != nil {
		t.Fatal(err)
	}
	for key, val := range map[string]string{
		"s.evilnode.1": `{"n":"mal lory\u001b[2J"}`,
		"s.evilnode.2": `not json`,
		"m." + hex.EncodeToString([]byte("Dev Room")) + ".evilnode.1": `{}`,
		"m.zz.evilnode.1":                        `{}`,
		"t." + hex.EncodeToString([]byte("dev")): `{"x":"topic\u001b[31m","b":"mallory","at":1,"node":"evilnode"}`,
		"x.y.z":                                  `{}`,
		"s":                                      `{}`,
	} {
		if _, err := kv.Put(ctx, key, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	alice.Send(native.Request{Type: "say", Room: "dev", Text: ptr("still here")})
	if ev := bob.ExpectType("say"); ev.From != "alice" || ev.Text != "still here" {
		t.Fatalf("bob got %+v before alice's message", ev)
	}
	bob.Send(native.Request{Type: "who", Room: "dev"})
	if ev := bob.ExpectType("members"); len(ev.Members) != 2 {
		t.Fatalf("members after hostile presence entries: %v", ev.Members)
	}
	bob.Send(native.Request{Type: "topic", Room: "dev"})
	if ev := bob.ExpectType("topic"); ev.Text != "" {
		t.Fatalf("a hostile topic was taken: %q", ev.Text)
	}
	if h := history(t, bob, "dev", 100); len(h) != 1 || h[0].Text != "still here" {
		t.Fatalf("history holds %v", h)
	}
}

// TestAccountsAndModerationAcrossNodes: an account registered on one node
// logs in on another and keeps its name there; a room's modes, roles and
// bans set on one node hold on the others (a ban removes the member
// there); changes made on two nodes at once both land; the audit log is
// one; an account deleted on one node ends its sessions on the others.
func TestAccountsAndModerationAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	dan := registerOn(t, nodes[0], "dan", "lobby2")
	dan.Conn.Close()
	testkit.Eventually(t, "dan gone", func() bool { _, ok := nodes[1].Hub.RemoteUser("dan"); return !ok && nodes[0].Hub.Lookup("dan") == nil })

	// A guest may not take the account's name on the other node.
	guest := testkit.NativeOnWith(t, testkit.Dial(t, nodes[1].Addr(node.ListenFrame)), native.Request{Type: "hello", Name: "dan", Version: native.Version})
	if ev := guest.ExpectType("error"); ev.Code != "name_registered" {
		t.Fatalf("a guest called dan on node 1: %s %s", ev.Code, ev.Message)
	}
	// The account logs in there, and makes a room it owns.
	dan1 := joinWith(t, nodes[1], "dan", "mod", native.Request{Account: "dan", Password: pw})
	dan1.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #mod") })
	eve := joinRoom(t, nodes[0], "eve", "mod")
	waitMembers(t, dan1, "mod", 2)

	// +m on node 1 silences a guest on node 0.
	dan1.Send(native.Request{Type: "mode", Room: "mod", Mode: "+m"})
	testkit.Eventually(t, "+m on node 0", func() bool { m, _ := nodes[0].Hub.RoomModes("mod"); return m == "m" })
	eve.Send(native.Request{Type: "say", Room: "mod", Text: ptr("can I speak?")})
	if ev := eve.ExpectType("error"); ev.Code != "forbidden" || !strings.Contains(ev.Message, "moderated") {
		t.Fatalf("a guest in a +m room on another node: %s %s", ev.Code, ev.Message)
	}
	// Voice given on node 1 lets her speak on node 0.
	dan1.Send(native.Request{Type: "voice", Room: "mod", Name: "eve"})
	testkit.Eventually(t, "voice on node 0", func() bool { return nodes[0].Hub.Roles("mod", []string{"eve"})["eve"] == chat.RoleVoice })
	eve.Send(native.Request{Type: "say", Room: "mod", Text: ptr("thank you")})
	dan1.Expect("eve's message", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "thank you" })

	// Two sessions of the account, one on each node, change the room at
	// once: both changes land, on both nodes.
	dan0 := joinWith(t, nodes[0], "dan", "mod", native.Request{Account: "dan", Password: pw})
	var wg sync.WaitGroup
	for i, c := range []*testkit.Native{dan0, dan1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Send(native.Request{Type: "mode", Room: "mod", Mode: []string{"+t", "+i"}[i]})
		}()
	}
	wg.Wait()
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("+imt on node ", i), func() bool { m, _ := nd.Hub.RoomModes("mod"); return m == "imt" })
	}

	// A ban set on node 1 removes eve on node 0 and keeps her out there.
	dan1.Send(native.Request{Type: "ban", Room: "mod", Name: "eve", Reason: "spam"})
	eve.Expect("eve banned", func(ev native.Event) bool {
		return ev.Type == "part" && ev.Room == "mod" && ev.Name == "eve" && strings.Contains(ev.Reason, "banned")
	})
	dan0.Send(native.Request{Type: "mode", Room: "mod", Mode: "-i"})
	testkit.Eventually(t, "-i on node 0", func() bool { m, _ := nodes[0].Hub.RoomModes("mod"); return m == "mt" })
	eve.Send(native.Request{Type: "join", Room: "mod"})
	if ev := eve.ExpectType("error"); ev.Code != "banned" {
		t.Fatalf("a banned guest rejoining on another node: %s %s", ev.Code, ev.Message)
	}

	// One audit log, read on either node.
	dan0.Send(native.Request{Type: "modlog", Room: "mod"})
	log := dan0.Expect("modlog", func(ev native.Event) bool {
		return ev.Type == "notice" && strings.Contains(ev.Text, "moderation log of #mod")
	})
	for _, want := range []string{"ban eve (guest/", "(spam)", "mode +m", "claim dan", "voice eve"} {
		if !strings.Contains(log.Text, want) {
			t.Errorf("the moderation log read on node 0 lacks %q:\n%s", want, log.Text)
		}
	}

	// Deleting the account on node 1 ends its session on node 0.
	dan1.Send(native.Request{Type: "unregister", Password: pw})
	dan1.Expect("deleted", func(ev native.Event) bool {
		return ev.Type == "notice" && strings.Contains(ev.Text, "account is deleted")
	})
	dan0.Expect("bye", func(ev native.Event) bool { return ev.Type == "bye" && strings.Contains(ev.Reason, "deleted") })
	testkit.Eventually(t, "no account dan on node 0", func() bool { return !nodes[0].Hub.IsRegistered("dan") })
}

// TestAccountDMsAcrossNodes: a direct message to an account online on
// another node reaches it there (the sender is not told it is away); one
// to an account online nowhere is kept, and replayed when it logs in on
// any node.
func TestAccountDMsAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	gil := registerOn(t, nodes[0], "gil", "dms")
	// The account logs in on the other node while the session that
	// registered it stays: one user on two devices.
	testkit.Eventually(t, "gil shown as an account on node 1", func() bool { return nodes[1].Hub.Cloak("gil") == "account/gil" })
	gil1 := joinWith(t, nodes[1], "gil", "dms", native.Request{Account: "gil", Password: pw})
	gil1.Conn.Close()
	ann := joinRoom(t, nodes[1], "ann", "dms")
	waitMembers(t, ann, "dms", 2)

	ann.Send(native.Request{Type: "dm", To: "gil", Text: ptr("are you there?")})
	gil.Expect("the DM", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "are you there?" })
	ann.Expect("own copy", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "are you there?" })
	ann.Send(native.Request{Type: "ping", Ref: "p1"})
	ann.Expect("no away notice", func(ev native.Event) bool {
		if ev.Type == "notice" && strings.Contains(ev.Text, "not online") {
			t.Fatalf("told an account online on another node is away: %s", ev.Text)
		}
		return ev.Type == "pong"
	})

	gil.Conn.Close()
	testkit.Eventually(t, "gil gone", func() bool { _, ok := nodes[1].Hub.RemoteUser("gil"); return !ok })
	ann.Send(native.Request{Type: "dm", To: "gil", Text: ptr("while you were out")})
	ann.Expect("kept notice", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "not online") })
	// Logged in on node 0 (the DM was sent on node 1): replayed.
	hello := native.Request{Type: "hello", Name: "gil", Version: native.Version, Account: "gil", Password: pw}
	c := testkit.NativeOnWith(t, testkit.Dial(t, nodes[0].Addr(node.ListenFrame)), hello)
	dm := c.Expect("replay on node 0", func(ev native.Event) bool { return ev.Type == "dm" && ev.Text == "while you were out" && ev.History })
	c.Conn.Close()
	testkit.Eventually(t, "node 1 knows gil has seen it", func() bool {
		accts, _ := nodes[1].Cluster.Directory().Accounts(context.Background())
		return len(accts) == 1 && accts[0].Seen >= dm.ID
	})
	// Seen there, it is not replayed again on node 1.
	c = testkit.NativeOnWith(t, testkit.Dial(t, nodes[1].Addr(node.ListenFrame)), hello)
	c.ExpectType("welcome")
	c.Send(native.Request{Type: "ping", Ref: "p2"})
	c.Expect("pong", func(ev native.Event) bool {
		if ev.Type == "dm" {
			t.Fatalf("a direct message seen on node 0 replayed again on node 1: %q", ev.Text)
		}
		return ev.Type == "pong"
	})
}

// TestSingleNodeAccountsComeAlong: the first node of a new cluster started
// on a single node's data brings its accounts, room settings and bans into
// the cluster's directory.
func TestSingleNodeAccountsComeAlong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	single := testkit.StartNode(t, node.Config{StoreConfig: node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: filepath.Join(dir, "n0")}, Logger: logger(t, "single")})
	hal := registerOn(t, single, "hal", "lobby2")
	hal.Send(native.Request{Type: "join", Room: "old"})
	hal.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #old") })
	hal.Send(native.Request{Type: "mode", Room: "old", Mode: "+m"})
	hal.Expect("+m", func(ev native.Event) bool { return ev.Type == "notice" && ev.Mode == "+m" })
	hal.Send(native.Request{Type: "ban", Room: "old", Name: "troll"})
	hal.Expect("ban", func(ev native.Event) bool { return ev.Type == "notice" && strings.HasPrefix(ev.Mode, "+b") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := single.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	nodes := startClusterIn(t, dir, 2)
	hal1 := joinWith(t, nodes[1], "hal", "old", native.Request{Account: "hal", Password: pw})
	for i, nd := range nodes {
		if m, _ := nd.Hub.RoomModes("old"); m != "m" {
			t.Errorf("node %d: #old's modes %q, want m", i, m)
		}
		if bans := nd.Hub.Bans("old"); len(bans) != 1 || !strings.HasPrefix(bans[0].Mask, "troll!") {
			t.Errorf("node %d: #old's bans %v", i, bans)
		}
	}
	hal1.Send(native.Request{Type: "mode", Room: "old", Mode: "-m"}) // still its owner
	testkit.Eventually(t, "-m on node 0", func() bool { m, _ := nodes[0].Hub.RoomModes("old"); return m == "" })
}

// TestIRCAcrossNodes: an IRC user's notices (to a user, to a channel),
// CTCP and WHO reach users on another node.
func TestIRCAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	ivy := testkit.DialIRC(t, nodes[0].Addr(node.ListenIRC), "ivy", true)
	jon := testkit.DialIRC(t, nodes[1].Addr(node.ListenIRC), "jon", true)
	testkit.Eventually(t, "jon seen on node 0", func() bool { _, ok := nodes[0].Hub.RemoteUser("jon"); return ok })
	testkit.Eventually(t, "ivy seen on node 1", func() bool { _, ok := nodes[1].Hub.RemoteUser("ivy"); return ok })

	ivy.Send("NOTICE jon :a notice for you")
	if line := jon.Expect("a notice for you"); !strings.HasPrefix(line, ":ivy!") || !strings.Contains(line, "NOTICE jon ") {
		t.Fatalf("a user notice across nodes: %q", line)
	}
	ivy.Send("NOTICE #lobby :a notice for the room")
	if line := jon.Expect("a notice for the room"); !strings.HasPrefix(line, ":ivy!") || !strings.Contains(line, "NOTICE #lobby ") {
		t.Fatalf("a channel notice across nodes: %q", line)
	}
	ivy.Send("PRIVMSG jon :\x01VERSION\x01")
	if line := ivy.Expect("VERSION"); !strings.HasPrefix(line, ":jon!") || !strings.Contains(line, "another node") {
		t.Fatalf("CTCP VERSION to a user on another node: %q", line)
	}
	ivy.Send("WHO #lobby")
	lines := ivy.Until(" 315 ")
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, " 352 ") && strings.Contains(l, " jon H ")
	}
	if !found {
		t.Fatalf("WHO #lobby on node 0 lacks jon of node 1: %q", lines)
	}
	ivy.Send("PRIVMSG nobody :hello?")
	ivy.Expect(" 401 ")
	ivy.Send("JOIN #tea")
	ivy.Expect(" 366 ivy #tea ")
	ivy.Send("INVITE jon #tea")
	ivy.Expect(" 341 ivy jon #tea")
	jon.Expect("ivy invites you to #tea")
}

// TestDevicesAcrossNodes: an account's second device, on another node,
// joining and leaving a room the account is in is no news to anyone; an
// account joining a room that has members elsewhere does not become its
// owner.
func TestDevicesAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	lee := joinRoom(t, nodes[1], "lee", "devs") // makes the room, on node 1
	kim := registerOn(t, nodes[0], "kim", "lobby2")
	testkit.Eventually(t, "lee known on node 0", func() bool { return len(nodes[0].Cluster.Members("devs")) == 1 })
	kim.Send(native.Request{Type: "join", Room: "devs"})
	kim.Expect("join", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "devs" && ev.Name == "kim" })
	kim.Send(native.Request{Type: "mode", Room: "devs", Mode: "+m"})
	if ev := kim.ExpectType("error"); ev.Code != "forbidden" {
		t.Fatalf("an account joining a room with a member on another node owns it: %s %s", ev.Code, ev.Message)
	}
	lee.Expect("kim joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "kim" })
	moe := joinRoom(t, nodes[0], "moe", "devs")
	lee.Expect("moe joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "moe" })

	// kim's second device, on node 1, comes and goes.
	kim1 := joinWith(t, nodes[1], "kim", "devs", native.Request{Account: "kim", Password: pw})
	testkit.Eventually(t, "the second device known on node 0", func() bool { return len(nodes[0].Cluster.Members("devs")) == 2 })
	kim1.Conn.Close()
	testkit.Eventually(t, "the second device gone", func() bool { return len(nodes[0].Cluster.Members("devs")) == 1 })
	// A later change on node 1 reaches both after the device's coming
	// and going did (each node's presence is in order).
	nat := joinRoom(t, nodes[1], "nat", "devs")
	_ = nat
	for who, c := range map[string]*testkit.Native{"lee (node 1)": lee, "moe (node 0)": moe} {
		c.Expect("nat joins", func(ev native.Event) bool {
			if (ev.Type == "join" || ev.Type == "part") && ev.Name == "kim" {
				t.Fatalf("%s was told kim's other device's %s", who, ev.Type)
			}
			return ev.Type == "join" && ev.Name == "nat"
		})
	}
}

// TestModerationActionsAcrossNodes: an invitation, a kick, a server
// operator's kill and the rooms' moderation notices reach users on other
// nodes.
func TestModerationActionsAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	root := registerOn(t, nodes[1], "boss", "lobby2")
	root.Send(native.Request{Type: "join", Room: "act"})
	root.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #act") })
	eve := joinRoom(t, nodes[0], "eve", "act")
	waitMembers(t, root, "act", 2)

	// The room's notices reach its members on the other node.
	root.Send(native.Request{Type: "mode", Room: "act", Mode: "+i"})
	eve.Expect("+i notice", func(ev native.Event) bool { return ev.Type == "notice" && ev.Mode == "+i" && ev.Room == "act" })
	testkit.Eventually(t, "+i on node 0", func() bool { m, _ := nodes[0].Hub.RoomModes("act"); return m == "i" })

	// An invitation made on node 1 lets a guest of node 0 into the +i room.
	fay := joinRoom(t, nodes[0], "fay", "lobby2")
	fay.Send(native.Request{Type: "join", Room: "act"})
	if ev := fay.ExpectType("error"); ev.Code != "invite_only" {
		t.Fatalf("an uninvited guest joining a +i room: %s %s", ev.Code, ev.Message)
	}
	root.Send(native.Request{Type: "invite", Room: "act", Name: "fay"})
	fay.Expect("invited", func(ev native.Event) bool {
		return ev.Type == "notice" && strings.Contains(ev.Text, "boss invites you to #act")
	})
	fay.Send(native.Request{Type: "join", Room: "act"})
	fay.Expect("joined", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "act" && ev.Name == "fay" })

	// A kick on node 1 removes her on node 0, and her room sees why.
	waitMembers(t, root, "act", 3)
	root.Send(native.Request{Type: "kick", Room: "act", Name: "fay", Reason: "testing"})
	fay.Expect("kicked", func(ev native.Event) bool {
		return ev.Type == "part" && ev.Room == "act" && ev.Name == "fay" && strings.Contains(ev.Reason, "kicked by boss: testing")
	})
	eve.Expect("kick notice", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "boss kicked fay") })

	// A guest on another node shows with one cloak on every node, and a
	// ban of them there names their address: another guest from it is
	// kept out too, and the ban's mask is the same everywhere.
	c0, c1 := nodes[0].Hub.Cloak("eve"), nodes[1].Hub.Cloak("eve")
	if !strings.HasPrefix(c0, "guest/") || c0 != c1 {
		t.Fatalf("eve's cloak: %q on her node, %q on the other", c0, c1)
	}
	root.Send(native.Request{Type: "ban", Room: "act", Name: "eve"})
	eve.Expect("eve banned", func(ev native.Event) bool { return ev.Type == "part" && ev.Room == "act" && ev.Name == "eve" })
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("the ban on node ", i), func() bool {
			bans := nd.Hub.Bans("act")
			return len(bans) == 1 && bans[0].Mask == "*!*@"+c0
		})
	}
	gus := joinRoom(t, nodes[0], "gus", "lobby2")
	gus.Send(native.Request{Type: "join", Room: "act"})
	if ev := gus.ExpectType("error"); ev.Code != "banned" {
		t.Fatalf("another guest from a banned guest's address: %s %s", ev.Code, ev.Message)
	}
	if target, ok := nodes[1].Hub.CloakTarget(c0); !ok || !strings.HasPrefix(target, "ip:") {
		t.Fatalf("the cloak of a guest on another node names %q, %v", target, ok)
	}

	// A server operator on node 1 kills a user on node 0.
	root.Send(native.Request{Type: "kill", Name: "eve", Reason: "bye now"})
	eve.Expect("killed", func(ev native.Event) bool { return ev.Type == "bye" && strings.Contains(ev.Reason, "killed by boss") })
	testkit.Eventually(t, "eve gone", func() bool { _, ok := nodes[1].Hub.RemoteUser("eve"); return !ok })
	root.Send(native.Request{Type: "kill", Name: "nobody"})
	if ev := root.ExpectType("error"); ev.Code != "no_such_user" {
		t.Fatalf("killing no one: %s %s", ev.Code, ev.Message)
	}
}

// TestDeadNodesLeftoversGo: sessions a dead node left in the presence
// bucket (its clean-up did not get through) are swept out by the live
// nodes, and the sessions of a node whose heartbeat is deleted go with it;
// a node started later does not show them.
func TestDeadNodesLeftoversGo(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	ann := joinRoom(t, nodes[0], "ann", "left")
	js := natsOf(t, nodes[0])
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "parley-presence")
	if err != nil {
		t.Fatal(err)
	}
	room := hex.EncodeToString([]byte("left"))
	put := func(key, val string) {
		t.Helper()
		if _, err := kv.Put(ctx, key, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	// A dead node's leftovers, heartbeat and all: swept out.
	put("n.deadbeef0001", `{"at":1}`)
	put("s.deadbeef0001.7", `{"n":"ghost"}`)
	put("m."+room+".deadbeef0001.7", `{}`)
	ann.Expect("the ghost joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "ghost" })
	ann.Expect("and is swept out", func(ev native.Event) bool {
		return ev.Type == "part" && ev.Name == "ghost" && strings.Contains(ev.Reason, "lost contact")
	})
	// A node's sessions left behind when its heartbeat goes: they go too.
	put("n.deadbeef0002", `{"at":1}`)
	put("s.deadbeef0002.8", `{"n":"wraith"}`)
	put("m."+room+".deadbeef0002.8", `{}`)
	ann.Expect("the wraith joins", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "wraith" })
	if err := kv.Delete(ctx, "n.deadbeef0002"); err != nil {
		t.Fatal(err)
	}
	ann.Expect("and goes with its node", func(ev native.Event) bool { return ev.Type == "part" && ev.Name == "wraith" })
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("no ghosts on node ", i), func() bool {
			_, g := nd.Hub.RemoteUser("ghost")
			_, w := nd.Hub.RemoteUser("wraith")
			return !g && !w
		})
	}
}

// TestNodeTakenForDeadComesBack: a node whose entries another removed (it
// was taken for dead while silent through a leader election) describes
// its sessions again, and the others see its users back.
func TestNodeTakenForDeadComesBack(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	ann := joinRoom(t, nodes[0], "ann", "back")
	ben := joinRoom(t, nodes[1], "ben", "back")
	waitMembers(t, ben, "back", 2)

	js := natsOf(t, nodes[0])
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "parley-presence")
	if err != nil {
		t.Fatal(err)
	}
	id := nodes[0].Cluster.ID()
	lister, err := kv.ListKeysFiltered(ctx, "s."+id+".*", "m.*."+id+".*")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if len(keys) < 3 {
		t.Fatalf("node 0's entries: %v", keys)
	}
	// What a sweeper that took node 0 for dead does: its entries, then its
	// heartbeat.
	for _, k := range append(keys, "n."+id) {
		if err := kv.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ben.Expect("ann parts", func(ev native.Event) bool { return ev.Type == "part" && ev.Name == "ann" })
	ben.Expect("ann back", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "ann" && ev.Room == "back" })
	waitMembers(t, ben, "back", 2)
	ann.Send(native.Request{Type: "say", Room: "back", Text: ptr("still here")})
	ben.Expect("ann's message", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "still here" })
}

// registerOn is joinRoom, then the name registered as an account with
// password pw (the tests' one password).
func registerOn(t *testing.T, nd *node.Node, name, room string) *testkit.Native {
	t.Helper()
	c := joinRoom(t, nd, name, room)
	c.Send(native.Request{Type: "register", Password: pw})
	c.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
	return c
}

// pw is the password of the tests' accounts.
const pw = "correct-horse-battery-staple"

// joinRoom connects a native client called name to nd and joins room.
func joinRoom(t *testing.T, nd *node.Node, name, room string) *testkit.Native {
	t.Helper()
	return joinWith(t, nd, name, room, native.Request{})
}

// joinWith connects a native client called name to nd with hello (its
// name, version and rooms filled in: the lobby and room), and waits until
// it is in room.
func joinWith(t *testing.T, nd *node.Node, name, room string, hello native.Request) *testkit.Native {
	t.Helper()
	hello.Type, hello.Name, hello.Version = "hello", name, native.Version
	hello.Rooms = []string{room}
	c := testkit.NativeOnWith(t, testkit.Dial(t, nd.Addr(node.ListenFrame)), hello)
	c.Expect("welcome", func(ev native.Event) bool { return ev.Type == "welcome" })
	c.Expect("join "+room, func(ev native.Event) bool { return ev.Type == "join" && ev.Room == room && ev.Name == name })
	return c
}

// natsOf connects the test, as another NATS client, to nd's embedded
// server (until the test ends).
func natsOf(t *testing.T, nd *node.Node) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(nd.Cluster.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
