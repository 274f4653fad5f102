package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a server process the bench started itself.
type Server struct {
	Addr     string // the framed protocol's address
	HTTPAddr string // the HTTP port's (WebSocket) address, if it serves one
	IRCAddr  string // the IRC port's address, if it serves one
	LineAddr string // the line protocol's address, if it serves one
	PID      int
	cmd      *exec.Cmd
	done     chan struct{}
}

// Spawn starts argv (a `parley serve` command line listening on 127.0.0.1
// port 0) and waits, at most timeout, for the line announcing the framed
// protocol's address (and, when the command line serves HTTP, that of the
// web app, which comes first). The server's log goes to logw.
func Spawn(argv []string, logw io.Writer, timeout time.Duration) (*Server, error) {
	if len(argv) == 0 {
		return nil, errors.New("bench: empty server command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logw
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	found := make(chan [2]string, 1)
	var ircAddr, lineAddr string // written before found is sent to
	go func() {
		sc := bufio.NewScanner(out)
		var framed string
		for sc.Scan() {
			line := sc.Text()
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.HasPrefix(line, "parley: IRC ") && ircAddr == "" {
				ircAddr = strings.TrimSpace(line[i+4:])
			}
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.HasPrefix(line, "parley: line protocol") && !strings.Contains(line, " over TLS ") && lineAddr == "" {
				lineAddr = strings.TrimSpace(line[i+4:])
			}
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.Contains(line, "framed protocol") && framed == "" {
				framed = strings.TrimSpace(line[i+4:])
			}
			if rest, ok := strings.CutPrefix(line, "parley: web app on http://"); ok {
				http, _, _ := strings.Cut(rest, "/")
				select {
				case found <- [2]string{framed, http}:
				default:
				}
			}
			if strings.HasPrefix(line, "parley: version") && framed != "" { // the last start-up line
				select {
				case found <- [2]string{framed, ""}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case a := <-found:
		s.Addr, s.HTTPAddr, s.IRCAddr, s.LineAddr = a[0], a[1], ircAddr, lineAddr
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("bench: server %q exited before listening", strings.Join(argv, " "))
	case <-time.After(timeout):
		s.Stop()
		return nil, fmt.Errorf("bench: server %q did not announce its address within %s", strings.Join(argv, " "), timeout)
	}
}

// Stop asks the server to shut down (SIGTERM) and kills it if it has not
// exited within 15 seconds.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Cluster is a cluster of parley nodes the bench started itself: `parley
// serve --nats-embedded` processes routed to each other.
type Cluster struct {
	Nodes []*Server // in start order; each serves HTTP (HTTPAddr) for /readyz
	dir   string    // the nodes' data directories are in it
}

// SpawnCluster starts n nodes of argv (a `parley serve` command line
// listening on 127.0.0.1 port 0, as for Spawn) at once, each with an
// embedded NATS server whose routes are every node's cluster address (free
// 127.0.0.1 ports), a data directory of its own in a new temporary
// directory, and its HTTP port on 127.0.0.1:0; these flags come after
// argv's and override them. It waits, at most timeout in all, until every
// node has announced its addresses and answers /readyz with 200, then
// until a message sent on the first node arrives on the last. The nodes'
// logs go to logw.
func SpawnCluster(ctx context.Context, argv []string, n int, logw io.Writer, timeout time.Duration) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: a cluster of %d nodes", n)
	}
	deadline := time.Now().Add(timeout)
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-bench-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Nodes: make([]*Server, n), dir: dir}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A node announces its addresses once the cluster has
			// formed: the nodes must start together.
			c.Nodes[i], errs[i] = Spawn(nodeArgv(argv, i, ports, dir), logw, timeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.awaitReady(ctx, deadline); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// nodeArgv is node i's command line: argv, then the cluster's flags.
func nodeArgv(argv []string, i int, ports []string, dir string) []string {
	out := slices.Clip(argv)
	return append(out,
		"--nats-embedded",
		"--nats-cluster-listen", ports[i],
		"--nats-routes", strings.Join(ports, ","),
		"--nats-server-name", fmt.Sprintf("bench-node-%d", i),
		"--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", i)),
		"--http-listen", "127.0.0.1:0")
}

// freePorts returns n distinct free 127.0.0.1 addresses (held open
// together while they are picked, then released for the nodes to take).
func freePorts(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// awaitReady waits until every node answers /readyz with 200, then until a
// message sent on the first node reaches a client of the last (which
// proves that the routes, the stream and its consumers work end to end).
func (c *Cluster) awaitReady(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for i, s := range c.Nodes {
		if err := awaitReadyz(ctx, s.HTTPAddr); err != nil {
			return fmt.Errorf("bench: cluster node %d (pid %d): %w", i, s.PID, err)
		}
	}
	first, last := c.Nodes[0], c.Nodes[len(c.Nodes)-1]
	for {
		err := crossNode(ctx, first.Addr, last.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: cluster: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// awaitReadyz polls http://addr/readyz until it answers 200 or ctx ends.
func awaitReadyz(ctx context.Context, addr string) error {
	if addr == "" {
		return errors.New("no HTTP port announced")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("/readyz not 200 in time (%s)", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// crossNode sends one message from a tutorial client on the framed
// address from to one on to, and reports whether it arrived.
func crossNode(ctx context.Context, from, to string) error {
	res, err := Run(ctx, Config{Addrs: []string{from, to}, Clients: 2, Senders: 1, Messages: 1,
		ConnectTimeout: 5 * time.Second, Timeout: 5 * time.Second, Quiet: time.Second})
	if err != nil {
		return err
	}
	if res.Traffic == nil || !res.Traffic.Complete {
		return fmt.Errorf("a message sent on %s did not arrive on %s (%s)", from, to, strings.Join(res.Errors, "; "))
	}
	return nil
}

// PIDs returns the nodes' process ids.
func (c *Cluster) PIDs() []int {
	out := make([]int, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.PID
	}
	return out
}

// Stop stops every node at once (as Server.Stop does one) and removes
// their data directories.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, s := range c.Nodes {
		if s != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.Stop() }()
		}
	}
	wg.Wait()
	_ = os.RemoveAll(c.dir)
}
