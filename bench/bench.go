// Package bench is parley's load generator, behind `parley bench`. It opens
// N clients of the framed protocol (tutorial or native mode), of the
// WebSocket endpoint (the native protocol over /ws), of IRC, of the line
// protocol, or of a NATS server (for comparison) against one address, or
// spread over several (the nodes of a cluster), all in one room; S of them
// send M messages each at a given rate and size; every message carries its
// sender, a sequence number and its send time, so the bench reports
// throughput, end-to-end latency (HDR histogram) and, per sender, lost,
// duplicated and reordered deliveries. Given the server's pid (or the pids
// of a cluster's nodes) it also reports the server's CPU time and memory
// from /proc, summed over the processes.
//
// Every phase is bounded in time. The bench only connects to the addresses
// it is given.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Client modes.
const (
	ModeTutorial = "tutorial" // framed: username frame, then text frames; (user, text) pairs back
	ModeNative   = "native"   // framed: JSON hello, then JSON events
	ModeWS       = "ws"       // WebSocket /ws: the native protocol, one JSON event per text message
	ModeIRC      = "irc"      // IRC: NICK and USER, then PRIVMSG #lobby; PRIVMSG lines back (no echo)
	ModeLine     = "line"     // line protocol (nc): a name line, then text lines; "[hh:mm] <name> text" lines back (no echo)
	ModeNats     = "nats"     // a NATS server (nats.go): every client subscribes to NatsSubject, senders publish to it (no echo)
)

// noEcho reports whether a sender in mode does not receive its own messages.
func noEcho(mode string) bool {
	return mode == ModeTutorial || mode == ModeIRC || mode == ModeLine || mode == ModeNats
}

// DefaultIdleRoomSize is how many idle-mode IRC and line clients share a
// room by default.
const DefaultIdleRoomSize = 100

// Config describes one bench run. Zero values take the defaults noted.
type Config struct {
	Addr string // server address: host:port of the framed protocol, of the HTTP port in ModeWS, of the IRC port in ModeIRC, of the line protocol in ModeLine, of the NATS server in ModeNats; required unless Addrs is given
	// Addrs spreads the clients over several servers of the same kind as
	// Addr (the nodes of a cluster): client i connects to
	// Addrs[i % len(Addrs)], so client 0, the readiness prober, is on
	// the first. Empty means Addr alone; given, it replaces Addr.
	Addrs    []string
	Mode     string  // ModeTutorial (default), ModeNative, ModeWS, ModeIRC, ModeLine or ModeNats
	Clients  int     // N connections, all in the lobby; default 100
	Senders  int     // S of the N that send; default 10
	Messages int     // M messages per sender; default 1000
	Rate     float64 // messages per second per sender; 0 = as fast as possible
	Size     int     // message text size in bytes; default 64 (minimum 32)
	Slow     int     // K clients (never senders) that stop reading once ready
	Lag      int     // clients (never senders) that read, but at LagRate of the offered rate
	LagRate  float64 // the laggards' reading speed as a fraction of what is offered to each client (Senders × Rate); default 0.1
	Idle     bool    // idle mode: connect N, hold them for Hold, measure memory
	Hold     time.Duration
	// IdleRoomSize spreads idle-mode IRC and line clients over rooms
	// idle-0, idle-1, ... of at most this many members, so that joining
	// costs what it does in rooms of ordinary size (an IRC join is answered
	// with the room's member list: N clients in one room cost O(N²)).
	// 0 means DefaultIdleRoomSize; negative keeps them all in the lobby.
	// IRC clients JOIN their room: the server must not also put them in
	// #lobby (parley serve --irc-no-lobby).
	IdleRoomSize int
	PID          int // server process to measure from /proc; 0 for none
	// PIDs are several server processes (a cluster's nodes) to measure:
	// their CPU times and resident sizes are summed. PID, if set, is
	// counted too.
	PIDs []int

	ConnectConcurrency int           // dials in flight at once; default 64
	ConnectTimeout     time.Duration // bound of the connect + readiness phase; default 60 s
	Timeout            time.Duration // bound of the traffic phase; default 120 s
	Quiet              time.Duration // end the traffic phase after this long without a delivery once sending is done; default 3 s
	ReadBuffer         int           // per-client read buffer; default 16 KiB (4 KiB in idle mode)
	Progress           func(format string, args ...any)
}

func (c *Config) setDefaults() error {
	if len(c.Addrs) == 0 && c.Addr != "" {
		c.Addrs = []string{c.Addr}
	}
	if len(c.Addrs) == 0 || slices.Contains(c.Addrs, "") {
		return errors.New("bench: no address")
	}
	c.Addr = c.Addrs[0]
	if c.PID > 0 && !slices.Contains(c.PIDs, c.PID) {
		c.PIDs = append([]int{c.PID}, c.PIDs...)
	}
	if len(c.PIDs) > 0 {
		c.PID = c.PIDs[0]
	}
	if c.Mode == "" {
		c.Mode = ModeTutorial
	}
	switch c.Mode {
	case ModeTutorial, ModeNative, ModeWS, ModeIRC, ModeLine, ModeNats:
	default:
		return fmt.Errorf("bench: unknown mode %q (want tutorial, native, ws, irc, line or nats)", c.Mode)
	}
	if c.Mode == ModeNats && (c.Slow > 0 || c.Lag > 0) && !c.Idle {
		// nats.go reads its socket whatever its handler does: a reader
		// that stops would stop only in the bench, never at the server.
		return errors.New("bench: nats mode has no slow or lagging readers")
	}
	if !c.Idle || (c.Mode != ModeIRC && c.Mode != ModeLine) {
		c.IdleRoomSize = 0
	} else if c.IdleRoomSize == 0 {
		c.IdleRoomSize = DefaultIdleRoomSize
	} else if c.IdleRoomSize < 0 {
		c.IdleRoomSize = 0
	}
	if c.Clients <= 0 {
		c.Clients = 100
	}
	if c.Idle {
		c.Senders, c.Slow, c.Lag = 0, 0, 0
	} else {
		if c.Senders <= 0 {
			c.Senders = 10
		}
		if c.Senders > c.Clients {
			return fmt.Errorf("bench: %d senders but only %d clients", c.Senders, c.Clients)
		}
		if c.Slow < 0 || c.Slow > c.Clients-c.Senders {
			return fmt.Errorf("bench: %d slow readers do not fit beside %d senders in %d clients", c.Slow, c.Senders, c.Clients)
		}
		if c.Lag < 0 || c.Lag > c.Clients-c.Senders-c.Slow {
			return fmt.Errorf("bench: %d lagging readers do not fit beside %d senders and %d slow readers in %d clients", c.Lag, c.Senders, c.Slow, c.Clients)
		}
		if c.Lag > 0 && c.Rate <= 0 {
			return errors.New("bench: lagging readers read at a fraction of the offered rate: give a rate (-r)")
		}
		if c.LagRate <= 0 || c.LagRate >= 1 {
			c.LagRate = 0.1
		}
		if noEcho(c.Mode) && c.Clients < 2 {
			return fmt.Errorf("bench: %s mode needs at least 2 clients (no echo)", c.Mode)
		}
	}
	if c.Messages <= 0 {
		c.Messages = 1000
	}
	if c.Size <= 0 {
		c.Size = 64
	}
	c.Size = max(c.Size, 32)
	if c.Hold <= 0 {
		c.Hold = 3 * time.Second
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = 64
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 60 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 120 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 3 * time.Second
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = 16 << 10
		if c.Idle {
			c.ReadBuffer = 4 << 10
		}
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
	return nil
}

// measured reports whether the run measures server processes.
func (c *Config) measured() bool { return len(c.PIDs) > 0 }

// runner holds one run's state.
type runner struct {
	cfg        Config
	epoch      time.Time
	clients    []*client
	lat        *latencyShards
	readyCount atomic.Int64
	stopping   atomic.Bool
	started    atomic.Int64 // run-epoch nanoseconds when traffic began; 0 before
}

// now returns nanoseconds since the run's epoch on the monotonic clock.
func (r *runner) now() int64 { return int64(time.Since(r.epoch)) }

// Run performs one bench run and returns its result. It returns an error
// only when the run could not take place (bad config, the server cannot be
// reached); trouble during the run (losses, disconnects, timeouts) is in the
// Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	limit := raiseFileLimit()
	if need := uint64(cfg.Clients + 64); limit > 0 && limit < need {
		return nil, fmt.Errorf("bench: %d clients need about %d descriptors; the limit is %d", cfg.Clients, need, limit)
	}
	r := &runner{cfg: cfg, epoch: time.Now(), lat: newLatencyShards(4 * runtime.GOMAXPROCS(0))}
	res := &Result{Config: summary(cfg), Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU()}
	defer r.closeAll()

	if cfg.measured() {
		res.Server.RSSBeforeBytes, _ = procsMem(cfg.PIDs)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	cpu0 := sum(procsCPU(cfg.PIDs))
	t0 := time.Now()
	if err := r.connect(cctx); err != nil {
		return nil, err
	}
	res.ConnectMS = ms(time.Since(t0))
	if err := r.awaitReady(cctx); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.ReadyMS = ms(time.Since(t0))
	if cfg.measured() {
		res.Server.ConnectCPUSec = (sum(procsCPU(cfg.PIDs)) - cpu0).Seconds()
	}
	cfg.Progress("%d clients connected in %.0f ms, ready in %.0f ms", cfg.Clients, res.ConnectMS, res.ReadyMS)

	if cfg.Idle {
		r.idle(ctx, res)
		return res, nil
	}
	r.traffic(ctx, res)
	return res, nil
}

// connect opens every client, ConnectConcurrency at a time, and starts its
// reader.
func (r *runner) connect(ctx context.Context) error {
	cfg := &r.cfg
	tag := fmt.Sprintf("b%04x", rand.IntN(0x10000))
	r.clients = make([]*client, cfg.Clients)
	sem := make(chan struct{}, cfg.ConnectConcurrency)
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	var d net.Dialer
	for i := range r.clients {
		c := &client{idx: i, name: fmt.Sprintf("%s-%d", tag, i), run: r, nativeTx: cfg.Mode == ModeNative || cfg.Mode == ModeWS,
			irc: cfg.Mode == ModeIRC, line: cfg.Mode == ModeLine, room: "lobby", natsSubject: NatsSubject}
		join := ""
		if cfg.IdleRoomSize > 0 {
			c.room = fmt.Sprintf("idle-%d", i/cfg.IdleRoomSize)
			c.probeTag = []byte(" " + c.room + " ")
			join = c.room
		}
		c.sayPrefix = []byte("PRIVMSG #" + c.room + " :")
		c.slow = i >= cfg.Clients-cfg.Slow
		c.lag = !c.slow && i >= cfg.Clients-cfg.Slow-cfg.Lag
		if c.lag {
			c.lagEvery = time.Duration(float64(time.Second) / (cfg.LagRate * cfg.Rate * float64(cfg.Senders)))
		}
		if !cfg.Idle {
			c.tr = newTracker(cfg.Senders, cfg.Messages)
		}
		r.clients[i] = c
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("bench: connect phase timed out after %d of %d clients", i, cfg.Clients)
		}
		errMu.Lock()
		failed := firstErr
		errMu.Unlock()
		if failed != nil {
			break
		}
		wg.Add(1)
		addr := cfg.Addrs[i%len(cfg.Addrs)]
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if cfg.Mode == ModeWS {
				if err := c.dialWS(ctx, addr); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: client %d: %w", c.idx, err)
					}
					errMu.Unlock()
					return
				}
				go c.readLoop()
				return
			}
			if cfg.Mode == ModeNats {
				if err := c.dialNats(ctx, &d, addr); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: client %d: %w", c.idx, err)
					}
					errMu.Unlock()
				}
				return // nats.go reads; the subscription's handler accounts
			}
			conn, err := dial(ctx, &d, addr)
			if err == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(cfg.ConnectTimeout + cfg.Timeout))
				_, err = conn.Write(handshake(cfg.Mode, c.name, join))
			}
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("bench: client %d: %w", c.idx, err)
				}
				errMu.Unlock()
				if conn != nil {
					conn.Close()
				}
				return
			}
			c.conn = conn
			c.fr = newFrameReader(conn, cfg.ReadBuffer)
			go c.readLoop()
		}()
	}
	wg.Wait()
	return firstErr
}

// awaitReady sends readiness probes from client 0 until every client has
// seen one, which proves that each is registered in the room. With idle
// rooms, the first client of each room probes it.
func (r *runner) awaitReady(ctx context.Context) error {
	probers := r.clients[:1]
	if size := r.cfg.IdleRoomSize; size > 0 {
		probers = nil
		for i := 0; i < len(r.clients); i += size {
			probers = append(probers, r.clients[i])
		}
	}
	want := int64(len(r.clients))
	if noEcho(r.cfg.Mode) {
		for _, p := range probers {
			p.ready.Store(true) // no echo: the prober cannot see its own probe
			r.readyCount.Add(1)
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for k := 0; ; k++ {
		if r.readyCount.Load() >= want {
			return nil
		}
		if k%4 == 0 { // a probe every 200 ms; check readiness more often
			for _, p := range probers {
				if !r.roomReady(p) {
					if err := p.write(p.appendSend(nil, []byte("R"+fmt.Sprint(k)+" "+p.room+" ready?"))); err != nil {
						return fmt.Errorf("bench: readiness probe: %w", err)
					}
				}
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: only %d of %d clients ready before the connect timeout", r.readyCount.Load(), want)
		}
	}
}

// roomReady reports whether every client in prober p's room is ready.
func (r *runner) roomReady(p *client) bool {
	size := r.cfg.IdleRoomSize
	if size <= 0 {
		return false // one room: readyCount tells
	}
	for _, c := range r.clients[p.idx:min(p.idx+size, len(r.clients))] {
		if !c.ready.Load() {
			return false
		}
	}
	return true
}

func (r *runner) closeAll() {
	r.stopping.Store(true)
	for _, c := range r.clients {
		if c != nil {
			c.close()
		}
	}
}

// idle holds every connection for cfg.Hold and measures the server.
func (r *runner) idle(ctx context.Context, res *Result) {
	cfg := &r.cfg
	select {
	case <-time.After(cfg.Hold):
	case <-ctx.Done():
	}
	open := 0
	for _, c := range r.clients {
		if !c.stopped.Load() {
			open++
		}
	}
	res.Idle = &IdleResult{Connections: cfg.Clients, StillOpen: open, HeldMS: ms(cfg.Hold)}
	if cfg.measured() {
		rss, peak := procsMem(cfg.PIDs)
		res.Server.RSSBytes, res.Server.PeakRSSBytes = rss, peak
		res.Idle.RSSPerConnBytes = float64(rss-res.Server.RSSBeforeBytes) / float64(cfg.Clients)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dial connects to addr, retrying refused connections for a while: a server
// with a short accept backlog refuses bursts of connections.
func dial(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil || attempt >= 40 || !errors.Is(err, syscall.ECONNREFUSED) {
			return conn, err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}
