package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/wire/native"
)

// clusterTimeout bounds the waits of the cluster test: a JetStream leader
// election after a server is lost takes a few seconds, more on a loaded
// machine. A healthy run never nears it.
const clusterTimeout = 45 * time.Second

// clusterNode is one `parley serve --nats-embedded` process of a cluster.
type clusterNode struct {
	i          int
	dir        string
	route      string // its --nats-cluster-listen address
	natsListen string // its --nats-listen address (for the test's own NATS client)
	routes     []string
	logPath    string // its stderr, kept across restarts
	p          *serverProc
}

// spawn starts the node's process; waitListening tells when it is up.
func (n *clusterNode) spawn(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n.p = spawnServer(t, f, n.dir,
		"--nats-embedded", "--nats-server-name", n.name(),
		"--nats-cluster-listen", n.route, "--nats-routes", strings.Join(n.routes, ","),
		"--nats-listen", n.natsListen, "--nats-token", clusterTestToken, "--nats-cluster-secret", "kill9-test-secret",
		"--log-level", "debug")
	p := n.p
	t.Cleanup(func() {
		p.kill(t)
		f.Close()
	})
}

func (n *clusterNode) name() string { return fmt.Sprint("n", n.i) }

// freePorts returns n distinct free 127.0.0.1 addresses (held open
// together, so none is handed out twice).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// member is one chatting client of the cluster test, across its sessions.
type member struct {
	name string
	node int // the node it is connected to

	mu      sync.Mutex
	got     []msg          // lobby messages in the order received: live, and after a reconnect the resume and live again
	acked   []msg          // its own messages the server confirmed (its copy with its ref)
	refused int            // its messages refused with unavailable (not acknowledged)
	parts   []native.Event // lobby parts it was shown
	errs    []native.Event // errors other than refused messages
	s       *msession      // the current session
	seq     atomic.Int64   // its messages' numbers, across sessions
	lastAt  time.Time      // when its last message arrived
	maxGap  time.Duration  // the longest wait between two messages since resetGap
}

// resetGap starts measuring the longest wait between messages anew.
func (m *member) resetGap() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastAt, m.maxGap = time.Now(), 0
}

// msession is one connection of a member, with its reader and sender.
type msession struct {
	c      *client
	window chan struct{} // messages sent and not yet answered (an ack or a refusal)
	dead   chan struct{} // closed when the reader stops
	err    error         // why it stopped, once dead
	wg     sync.WaitGroup
}

func (m *member) snapshot() (got, acked []msg, parts, errs []native.Event, refused int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got), slices.Clone(m.acked), slices.Clone(m.parts), slices.Clone(m.errs), m.refused
}

// run starts the session's reader, and its sender until stop is closed.
func (m *member) run(s *msession, stop <-chan struct{}) {
	m.mu.Lock()
	m.s = s
	m.mu.Unlock()
	release := func() {
		select {
		case <-s.window:
		default:
		}
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for {
			ev, err := s.c.next()
			if err != nil {
				s.err = err
				close(s.dead)
				return
			}
			m.mu.Lock()
			switch ev.Type {
			case "say":
				mm := toMsg(ev)
				m.got = append(m.got, mm)
				if now := time.Now(); !m.lastAt.IsZero() {
					m.maxGap = max(m.maxGap, now.Sub(m.lastAt))
					m.lastAt = now
				}
				if ev.Ref != "" && ev.From == m.name {
					m.acked = append(m.acked, mm)
					release()
				}
			case "part":
				if ev.Room == "lobby" {
					m.parts = append(m.parts, ev)
				}
			case "error":
				if ev.Code == "unavailable" && ev.Ref != "" {
					m.refused++ // a refused message may be sent again; this client sends the next one
					release()
				} else {
					m.errs = append(m.errs, ev)
				}
			}
			m.mu.Unlock()
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-s.dead:
				return
			case s.window <- struct{}{}:
			}
			n := m.seq.Add(1)
			req := native.Request{Type: "say", Ref: fmt.Sprint("r", n), Room: "lobby", Text: ptr(fmt.Sprintf("%s says %d", m.name, n))}
			if s.c.send(req) != nil {
				return
			}
		}
	}()
}

func newSession(c *client) *msession {
	return &msession{c: c, window: make(chan struct{}, 4), dead: make(chan struct{})}
}

// dialCluster dials until the hello is welcomed: a name is held a moment
// longer by a node that died, and a name claim during a leader election
// may be refused as unavailable.
func dialCluster(t *testing.T, addr string, hello native.Request) *client {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		c, err := dial(addr, hello)
		if err == nil {
			return c
		}
		retry := errors.Is(err, errNameTaken) || strings.Contains(err.Error(), " unavailable ")
		if !retry || time.Now().After(deadline) {
			t.Fatalf("dial %s as %s: %v", addr, hello.Name, err)
		}
		t.Logf("dial %s as %s: %v; again", addr, hello.Name, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLong polls cond until it holds or clusterTimeout passes.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", clusterTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// who returns the lobby's members as c's node sees them.
func who(t *testing.T, c *client, ref string) []string {
	t.Helper()
	if err := c.send(native.Request{Type: "who", Room: "lobby", Ref: ref}); err != nil {
		t.Fatal(err)
	}
	var members []string
	c.readUntil(t, "members", func(ev native.Event) bool {
		if ev.Type == "members" && ev.Ref == ref {
			members = ev.Members
			return true
		}
		return false
	})
	return members
}

// streamLeader asks the cluster, through a node's NATS port, which server
// leads a stream.
func streamLeader(t *testing.T, natsAddr, stream string) string {
	t.Helper()
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token(clusterTestToken), nats.Timeout(5*time.Second), nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", natsAddr, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	waitLong(t, "a leader of stream "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		if ci := st.CachedInfo().Cluster; ci != nil {
			leader = ci.Leader
		}
		return leader != ""
	})
	return leader
}

// clusterTestToken is what the nodes' embedded NATS servers want from
// their clients (the test's own, which asks who leads the stream).
const clusterTestToken = "kill9-test-token"

// dumpLogs prints each node's log and copies the logs where they outlive
// the test.
func dumpLogs(t *testing.T, nodes []*clusterNode) {
	keep, err := os.MkdirTemp("", "parley-cluster-kill9-")
	if err != nil {
		t.Log(err)
	}
	for _, n := range nodes {
		b, err := os.ReadFile(n.logPath)
		if err != nil {
			t.Log(err)
			continue
		}
		if keep != "" {
			_ = os.WriteFile(filepath.Join(keep, filepath.Base(n.logPath)), b, 0o600)
		}
		t.Logf("---- node %s's log ----\n%s", n.name(), b)
	}
	if keep != "" {
		t.Logf("the nodes' logs are kept in %s", keep)
	}
}

// TestClusterNodeKill9 runs three `parley serve --nats-embedded` processes
// routed together as one chat server, with clients on every node chatting
// in the lobby, and kills the node that leads the room log's stream with
// SIGKILL mid-stream (issue 17: a node's failure). It checks that no
// acknowledged message is lost; that the killed node's clients reconnect to
// another node and resume exactly (no gap, no duplicate); that the clients
// of the other nodes keep their connections and their stream and see the
// departed users part, and nothing else; that every node's history is the
// same sequence of ids and texts; and that the killed node, started again
// on its data, catches up to the same history.
func TestClusterNodeKill9(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // last: after every process and client is gone
	began := time.Now()

	const count = 3
	ports := freePorts(t, 2*count)
	routes := ports[:count]
	logDir := t.TempDir()
	nodes := make([]*clusterNode, count)
	for i := range nodes {
		nodes[i] = &clusterNode{i: i, dir: t.TempDir(), route: routes[i], natsListen: ports[count+i], routes: routes,
			logPath: filepath.Join(logDir, fmt.Sprintf("n%d.log", i))}
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("PARLEY_KEEP_CLUSTER_LOGS") != "" {
			dumpLogs(t, nodes) // after the processes are killed (cleanups run last first)
		}
	})
	// A node's start waits for the cluster's JetStream, which needs a
	// majority of the nodes: start them all, then wait.
	for _, n := range nodes {
		n.spawn(t)
	}
	for _, n := range nodes {
		n.p.waitListening(t)
	}
	t.Logf("three nodes up after %v", time.Since(began).Round(time.Millisecond))

	// Two clients on every node, all in the lobby before anyone speaks,
	// so that each one's stream is the lobby's whole history.
	var members []*member
	var names []string
	for i := range nodes {
		for _, suffix := range []string{"a", "b"} {
			m := &member{name: fmt.Sprintf("u%d%s", i, suffix), node: i}
			members = append(members, m)
			names = append(names, m.name)
		}
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	defer func() {
		stopOnce.Do(func() { close(stop) })
		for _, m := range members {
			m.mu.Lock()
			s := m.s
			m.mu.Unlock()
			if s != nil {
				s.c.close()
				s.wg.Wait()
			}
		}
	}()
	conns := map[*member]*client{}
	for _, m := range members {
		c := dialCluster(t, nodes[m.node].p.addr, native.Request{Name: m.name})
		conns[m] = c
		m.s = newSession(c) // not running yet; set so that the deferred close finds it
		if replay := c.readUntil(t, "lobby join", func(ev native.Event) bool { return ev.Type == "history_end" }); len(replay) > 0 {
			t.Fatalf("%s: the lobby of a new cluster has history: %v", m.name, replay)
		}
	}
	// Every node knows every member (presence crosses the cluster).
	for _, m := range members {
		c := conns[m]
		for try := 0; ; try++ {
			got := who(t, c, fmt.Sprint("w", try))
			if slices.Equal(got, names) {
				break
			}
			if time.Duration(try)*20*time.Millisecond > clusterTimeout {
				t.Fatalf("%s on %s sees lobby members %v, want %v", m.name, nodes[m.node].name(), got, names)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("six clients in, every node sees them all, after %v", time.Since(began).Round(time.Millisecond))

	for _, m := range members {
		m.run(m.s, stop)
	}
	acks := func(m *member) int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.acked)
	}
	waitLong(t, "every client to have 100 messages acknowledged", func() bool {
		for _, m := range members {
			if acks(m) < 100 {
				return false
			}
		}
		return true
	})

	// Kill the node leading the room log (a follower's death would
	// elect no new leader).
	leaderName := streamLeader(t, nodes[0].natsListen, cluster.DefaultStream)
	victim := -1
	for _, n := range nodes {
		if n.name() == leaderName {
			victim = n.i
		}
	}
	if victim < 0 {
		t.Fatalf("the stream %s is led by %q, not one of the nodes", cluster.DefaultStream, leaderName)
	}
	var survivors []int
	for _, n := range nodes {
		if n.i != victim {
			survivors = append(survivors, n.i)
		}
	}
	var departed, stayed []*member
	var departedNames []string
	for _, m := range members {
		if m.node == victim {
			departed = append(departed, m)
			departedNames = append(departedNames, m.name)
		} else {
			stayed = append(stayed, m)
		}
	}
	acksAtKill := map[*member]int{}
	gotAtKill := map[*member]int{}
	for _, m := range members {
		got, acked, _, _, _ := m.snapshot()
		acksAtKill[m], gotAtKill[m] = len(acked), len(got)
	}
	for _, m := range stayed {
		m.resetGap()
	}
	killedAt := time.Now()
	nodes[victim].p.kill(t)
	t.Logf("killed %s (the stream leader) after %v; %d messages in the lobby so far", nodes[victim].name(), killedAt.Sub(began).Round(time.Millisecond), gotAtKill[stayed[0]])

	// Its clients see their connection drop, and resume on another node
	// from the last id they saw.
	for j, m := range departed {
		s := m.s
		select {
		case <-s.dead:
		case <-time.After(clusterTimeout):
			t.Fatalf("%s's connection to the killed node is still open", m.name)
		}
		s.wg.Wait()
		got, acked, _, _, _ := m.snapshot()
		t.Logf("%s: connection to %s gone (%v) after %d messages, %d of its own acknowledged", m.name, nodes[victim].name(), s.err, len(got), len(acked))
		m.node = survivors[j%len(survivors)]
		last := got[len(got)-1].ID
		c := dialCluster(t, nodes[m.node].p.addr, native.Request{Name: m.name, Since: map[string]uint64{"lobby": last}})
		resumed := resume(t, c, got)
		checkIncreasing(t, m.name+" before the kill and resumed", resumed)
		m.mu.Lock()
		m.got = resumed
		m.mu.Unlock()
		m.run(newSession(c), stop)
		t.Logf("%s: resumed on %s from id %d after %v: %d messages replayed", m.name, nodes[m.node].name(), last, time.Since(killedAt).Round(time.Millisecond), len(resumed)-len(got))
	}

	// Chat goes on: every client, on every node left, gets messages
	// acknowledged again, and the others are told the departed users
	// left.
	waitLong(t, "every client to have 100 more messages acknowledged after the kill", func() bool {
		for _, m := range members {
			if acks(m) < acksAtKill[m]+100 {
				return false
			}
		}
		return true
	})
	t.Logf("every client has 100 more messages acknowledged %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	waitLong(t, "the clients of the other nodes to see the departed users part", func() bool {
		for _, m := range stayed {
			_, _, parts, _, _ := m.snapshot()
			for _, name := range departedNames {
				if !slices.ContainsFunc(parts, func(ev native.Event) bool { return ev.Name == name }) {
					return false
				}
			}
		}
		return true
	})
	t.Logf("the departed users' parts are seen %v after the kill", time.Since(killedAt).Round(time.Millisecond))

	// Stop sending; once every message is answered, a last one marks the
	// end of the lobby's history.
	stopOnce.Do(func() { close(stop) })
	for _, m := range members {
		m.mu.Lock()
		s := m.s
		m.mu.Unlock()
		waitLong(t, m.name+"'s messages to be answered", func() bool {
			select {
			case <-s.dead:
				t.Fatalf("%s's connection dropped: %v", m.name, s.err)
			default:
			}
			return len(s.window) == 0
		})
	}
	marker := stayed[0]
	if err := marker.s.c.send(native.Request{Type: "say", Ref: "marker", Room: "lobby", Text: ptr("the end")}); err != nil {
		t.Fatal(err)
	}
	var end uint64
	waitLong(t, "the last message to be acknowledged", func() bool {
		_, acked, _, errs, _ := marker.snapshot()
		if len(errs) > 0 {
			t.Fatalf("%s: %v", marker.name, errs)
		}
		if len(acked) > 0 && acked[len(acked)-1].Text == "the end" {
			end = acked[len(acked)-1].ID
			return true
		}
		return false
	})
	waitLong(t, "every client to receive the last message", func() bool {
		for _, m := range members {
			got, _, _, _, _ := m.snapshot()
			if !slices.ContainsFunc(got, func(g msg) bool { return g.ID == end }) {
				return false
			}
		}
		return true
	})

	// What each client saw and was told, before anyone else comes or goes.
	type view struct {
		got, acked  []msg
		parts, errs []native.Event
		refused     int
	}
	views := map[*member]view{}
	for _, m := range members {
		var v view
		v.got, v.acked, v.parts, v.errs, v.refused = m.snapshot()
		views[m] = v
		select {
		case <-m.s.dead:
			t.Fatalf("%s's connection to %s dropped: %v", m.name, nodes[m.node].name(), m.s.err)
		default:
		}
	}
	upTo := func(ms []msg) []msg {
		i := slices.IndexFunc(ms, func(g msg) bool { return g.ID > end })
		if i < 0 {
			return ms
		}
		return ms[:i]
	}

	// Every node left knows every user, the resumed ones on their new
	// nodes included, as in the lobby.
	for _, i := range survivors {
		probe := fmt.Sprint("probe", i)
		c := dialCluster(t, nodes[i].p.addr, native.Request{Name: probe})
		want := slices.Sorted(slices.Values(append([]string{probe}, names...)))
		var got []string
		deadline := time.Now().Add(clusterTimeout)
		for try := 0; ; try++ {
			if got = who(t, c, fmt.Sprint("w", try)); slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's lobby members are %v, want %v", nodes[i].name(), got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.close()
	}

	// Every node's history, through a client of its own.
	history := func(n *clusterNode, who string) []msg {
		c := dialCluster(t, n.p.addr, native.Request{Name: who})
		defer c.close()
		return upTo(c.historyAll(t, "lobby"))
	}
	var want []msg
	for _, i := range survivors {
		h := history(nodes[i], fmt.Sprint("audit", i))
		if len(h) == 0 || h[len(h)-1].ID != end {
			t.Fatalf("%s's history ends at %v, want the last message, id %d", nodes[i].name(), h[max(0, len(h)-1):], end)
		}
		if want == nil {
			want = h
			t.Logf("%s's history: %d messages, ids %d to %d", nodes[i].name(), len(h), h[0].ID, end)
			continue
		}
		checkSame(t, nodes[i].name()+"'s history vs "+nodes[survivors[0]].name()+"'s", h, want)
	}
	byID := map[uint64]msg{}
	for _, h := range want {
		byID[h.ID] = h
	}

	for _, m := range members {
		v := views[m]
		for _, a := range v.acked {
			if h, ok := byID[a.ID]; !ok || !h.same(a) {
				t.Fatalf("%s: acknowledged message %v is not in the history (there: %v)", m.name, a, h)
			}
		}
		got := upTo(v.got)
		checkIncreasing(t, m.name+"'s messages", got)
		checkSame(t, m.name+"'s messages (live, resumed) vs the history", got, want)
		if len(v.errs) > 0 {
			t.Errorf("%s was sent errors: %v", m.name, v.errs)
		}
		var parted []string
		for _, p := range v.parts {
			parted = append(parted, p.Name)
			if !slices.Contains(departedNames, p.Name) {
				t.Errorf("%s saw %s part (%q), who never left", m.name, p.Name, p.Reason)
			}
		}
		m.mu.Lock()
		gap := ""
		if !m.lastAt.IsZero() {
			gap = fmt.Sprintf("; longest wait for a message after the kill %v", m.maxGap.Round(time.Millisecond))
		}
		m.mu.Unlock()
		t.Logf("%s: %d messages, %d after the kill, %d of its own acknowledged (%d after the kill), %d refused; saw parts of %v%s",
			m.name, len(got), len(got)-gotAtKill[m], len(v.acked), len(v.acked)-acksAtKill[m], v.refused, parted, gap)
	}

	// The killed node, started again on its data, catches up.
	restarted := nodes[victim]
	restarted.spawn(t)
	restarted.p.waitListening(t)
	var h []msg
	for try := 0; ; try++ {
		h = history(restarted, fmt.Sprint("late", try))
		if len(h) > 0 && h[len(h)-1].ID == end {
			break
		}
		if time.Since(killedAt) > 2*clusterTimeout {
			t.Fatalf("the restarted %s's history ends at %v, want id %d", restarted.name(), h[max(0, len(h)-1):], end)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkSame(t, "the restarted "+restarted.name()+"'s history", h, want)
	t.Logf("the restarted %s has the same history; %v in all", restarted.name(), time.Since(began).Round(time.Millisecond))
}
