package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/bench"
)

func init() {
	register("bench", "load-test a server: fan-out, latency, idle connections, slow readers", benchCmd)
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley bench", flag.ContinueOnError)
	var cfg bench.Config
	var spawn, jsonOnly, quiet bool
	var serverArgs string
	var clusterNodes int
	fs.Func("addr", "address of the server to load: its framed protocol (default 127.0.0.1:1234), its HTTP port in ws mode (default 127.0.0.1:8080), its IRC port in irc mode (default 127.0.0.1:6667), its line protocol in line mode (default 127.0.0.1:1235), a NATS server in nats mode (default 127.0.0.1:4222); repeatable or comma-separated to spread the clients over several servers (the nodes of a cluster): client i connects to the (i mod k)-th", listFlag(&cfg.Addrs, func(s string) (string, error) { return s, nil }))
	fs.StringVar(&cfg.Mode, "mode", bench.ModeTutorial, "client mode: tutorial or native (framed protocol), ws (the native protocol over the WebSocket endpoint /ws), irc (IRC clients in #lobby), line (the nc line protocol), or nats (a nats-server, for comparison: one nats.go connection per client, all subscribed to "+bench.NatsSubject+", no echo)")
	fs.IntVar(&cfg.Clients, "n", 100, "clients (N), all in the lobby")
	fs.IntVar(&cfg.Senders, "s", 10, "senders (S) among the clients")
	fs.IntVar(&cfg.Messages, "m", 1000, "messages per sender (M)")
	fs.Float64Var(&cfg.Rate, "r", 0, "messages per second per sender (R); 0 = as fast as possible")
	fs.IntVar(&cfg.Size, "size", 64, "message size in bytes (at least 32)")
	fs.IntVar(&cfg.Slow, "slow", 0, "slow readers (K): clients that stop reading; the run is repeated without them for comparison")
	fs.IntVar(&cfg.Lag, "lag", 0, "lagging readers (K): clients that read steadily at -lag-rate of the offered rate (needs -r); the run is repeated without them for comparison")
	fs.Float64Var(&cfg.LagRate, "lag-rate", 0.1, "the lagging readers' speed, as a fraction of the rate offered to each client (S × R)")
	fs.BoolVar(&cfg.Idle, "idle", false, "idle mode: open N connections, hold them, report server memory per connection")
	fs.DurationVar(&cfg.Hold, "hold", 3*time.Second, "how long idle mode holds the connections")
	fs.IntVar(&cfg.IdleRoomSize, "idle-room-size", bench.DefaultIdleRoomSize, "idle mode, irc and line: spread the clients over rooms #idle-0, #idle-1, ... of at most this many (an IRC join is answered with the room's member list, so N in one room cost O(N²)); -1 keeps them all in the lobby. irc mode needs a server started with --irc-no-lobby (-spawn passes it)")
	fs.Func("pid", "server process id, to report its CPU and memory from /proc; repeatable or comma-separated for several processes (a cluster's nodes), whose CPU and memory are summed", listFlag(&cfg.PIDs, strconv.Atoi))
	fs.BoolVar(&spawn, "spawn", false, "start a parley server (this binary: --store memory --msg-rate 0 --max-clients -1) on 127.0.0.1:0 and measure it")
	fs.IntVar(&clusterNodes, "spawn-cluster", 0, "with -spawn (implied): start this many parley nodes instead of one server, each with --nats-embedded, routes to all the others and a temporary --data-dir of its own, spread the clients over them and sum their CPU and memory")
	fs.StringVar(&serverArgs, "server-args", "", "extra flags for the spawned server, space separated")
	fs.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 64, "connection attempts in flight at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 60*time.Second, "bound of the connect phase")
	fs.DurationVar(&cfg.Timeout, "timeout", 120*time.Second, "bound of the traffic phase")
	fs.BoolVar(&jsonOnly, "json", false, "print only the JSON line")
	fs.BoolVar(&quiet, "q", false, "no progress messages")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []string{defaultAddr(cfg.Mode)}
	}
	if clusterNodes < 0 {
		return fmt.Errorf("-spawn-cluster %d: want a number of nodes", clusterNodes)
	}
	spawn = spawn || clusterNodes > 0
	if spawn && cfg.Mode == bench.ModeNats {
		return fmt.Errorf("-spawn starts a parley server, which does not speak NATS: run a nats-server and give -addr (and -pid to measure it)")
	}
	if !quiet {
		cfg.Progress = func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	}
	var argv []string
	if spawn {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		argv = spawnArgv(self, cfg, serverArgs)
	}
	// run runs one bench against the given servers, or against servers
	// spawned for it alone (so that one run's memory does not count in the
	// next's).
	run := func(cfg bench.Config) (*bench.Result, error) {
		if argv == nil {
			return bench.Run(ctx, cfg)
		}
		servers, stop, err := spawnServers(ctx, argv, clusterNodes, stderr)
		if err != nil {
			return nil, err
		}
		defer stop()
		if err := aim(&cfg, servers); err != nil {
			return nil, err
		}
		if cfg.Progress != nil {
			reportSpawned(cfg.Progress, argv, servers)
		}
		return bench.Run(ctx, cfg)
	}
	print := func(label string, r *bench.Result) {
		if !jsonOnly {
			if label != "" {
				fmt.Fprintf(stdout, "== %s\n", label)
			}
			r.WriteTable(stdout)
		}
		fmt.Fprintf(stdout, "%s\n", r.JSON())
	}
	if cfg.Lag > 0 && !cfg.Idle {
		base := cfg
		base.Lag = 0
		rb, err := run(base)
		if err != nil {
			return err
		}
		print("without lagging readers", rb)
		rl, err := run(cfg)
		if err != nil {
			return err
		}
		print(fmt.Sprintf("with %d lagging readers", cfg.Lag), rl)
		if rb.Traffic != nil && rl.Traffic != nil && rl.Traffic.Laggards != nil && rb.Traffic.Expected > 0 && rl.Traffic.Expected > 0 {
			// The others' share of what was offered to them, per second,
			// with and without the laggards (the two runs have different
			// numbers of reading clients).
			perBase := rb.Traffic.DeliveriesPerSec / float64(rb.Traffic.Expected)
			perLag := rl.Traffic.DeliveriesPerSec / float64(rl.Traffic.Expected)
			l := rl.Traffic.Laggards
			fmt.Fprintf(stdout, "lagging readers: the other clients kept %.1f%% of their throughput (p99 %.2f ms vs %.2f ms without); laggards lost %d, duplicated %d, reordered %d, disconnected %d; caught up %.0f ms after the senders ended; server peak RSS %.1f MiB vs %.1f MiB without\n",
				100*perLag/perBase, rl.Traffic.Latency.P99MS, rb.Traffic.Latency.P99MS, l.Lost, l.Duplicated, l.OutOfOrder, l.Disconnected, l.CatchUpMS,
				float64(rl.Server.PeakRSSBytes)/(1<<20), float64(rb.Server.PeakRSSBytes)/(1<<20))
		}
		return nil
	}
	if cfg.Slow > 0 && !cfg.Idle {
		base := cfg
		base.Slow = 0
		rb, err := run(base)
		if err != nil {
			return err
		}
		print("without slow readers", rb)
		rs, err := run(cfg)
		if err != nil {
			return err
		}
		print(fmt.Sprintf("with %d slow readers", cfg.Slow), rs)
		if rb.Traffic != nil && rs.Traffic != nil {
			// Compare per reading client, since the slow run has K fewer.
			fastBase := float64(cfg.Clients)
			fastSlow := float64(cfg.Clients - cfg.Slow)
			perBase := rb.Traffic.DeliveriesPerSec / fastBase
			perSlow := rs.Traffic.DeliveriesPerSec / fastSlow
			fmt.Fprintf(stdout, "slow readers: the other clients kept %.1f%% of their throughput (%.0f vs %.0f deliveries/s per client); %d of %d slow readers disconnected\n",
				100*perSlow/perBase, perSlow, perBase, rs.Traffic.SlowReaders.Disconnected, cfg.Slow)
		}
		return nil
	}
	r, err := run(cfg)
	if err != nil {
		return err
	}
	print("", r)
	return nil
}

// serveHasFlag reports whether `parley serve` declares the named flag.
func serveHasFlag(name string) bool {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs)
	return fs.Lookup(name) != nil
}

// defaultAddr is where a mode's server listens by default.
func defaultAddr(mode string) string {
	switch mode {
	case bench.ModeWS:
		return "127.0.0.1:8080"
	case bench.ModeIRC:
		return "127.0.0.1:6667"
	case bench.ModeLine:
		return "127.0.0.1:1235"
	case bench.ModeNats:
		return "127.0.0.1:4222"
	}
	return "127.0.0.1:1234"
}

// listFlag returns a flag.Func that appends the comma-separated values it
// is given, each parsed by parse, to *dst.
func listFlag[T any](dst *[]T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			x, err := parse(part)
			if err != nil {
				return err
			}
			*dst = append(*dst, x)
		}
		return nil
	}
}

// spawnArgv is the command line of a server spawned for cfg: this binary's
// serve, listening on 127.0.0.1:0 for what cfg.Mode needs, then
// serverArgs.
func spawnArgv(self string, cfg bench.Config, serverArgs string) []string {
	lineListen := ""
	if cfg.Mode == bench.ModeLine {
		lineListen = "127.0.0.1:0"
	}
	argv := []string{self, "serve", "--frame-listen", "127.0.0.1:0", "--line-listen", lineListen, "--log-level", "warn"}
	// Measure the server's capacity, not its policies: no history
	// store, no per-client message rate, no connection cap below the
	// descriptor limit. --server-args come last and override these.
	httpListen, ircListen := "", ""
	if cfg.Mode == bench.ModeWS {
		httpListen = "127.0.0.1:0"
	}
	if cfg.Mode == bench.ModeIRC {
		ircListen = "127.0.0.1:0"
	}
	if cfg.Mode == bench.ModeIRC && cfg.Idle && cfg.IdleRoomSize > 0 && serveHasFlag("irc-no-lobby") {
		argv = append(argv, "--irc-no-lobby") // the clients JOIN their idle rooms
	}
	for _, f := range [][2]string{{"store", "memory"}, {"msg-rate", "0"}, {"max-clients", "-1"}, {"name-dialect-listen", ""}, {"welcome-dialect-listen", ""}, {"http-listen", httpListen}, {"irc-listen", ircListen}, {"irc-line-rate", "0"}, {"raid-joins", "0"}} {
		if serveHasFlag(f[0]) {
			argv = append(argv, "--"+f[0], f[1])
		}
	}
	return append(argv, strings.Fields(serverArgs)...)
}

// spawnServers starts the servers of one run: one server, or a cluster of
// nodes nodes when nodes > 0. stop stops them.
func spawnServers(ctx context.Context, argv []string, nodes int, logw io.Writer) (servers []*bench.Server, stop func(), err error) {
	if nodes == 0 {
		srv, err := bench.Spawn(argv, logw, 10*time.Second)
		if err != nil {
			return nil, nil, err
		}
		return []*bench.Server{srv}, srv.Stop, nil
	}
	// A new cluster elects its JetStream leader and creates its stream
	// and buckets before its nodes listen.
	cl, err := bench.SpawnCluster(ctx, argv, nodes, logw, 90*time.Second)
	if err != nil {
		return nil, nil, err
	}
	return cl.Nodes, cl.Stop, nil
}

// aim points cfg at spawned servers: the address each serves cfg.Mode on,
// and their pids.
func aim(cfg *bench.Config, servers []*bench.Server) error {
	cfg.Addr, cfg.Addrs, cfg.PID, cfg.PIDs = "", nil, 0, nil
	for _, srv := range servers {
		addr, err := modeAddr(srv, cfg.Mode)
		if err != nil {
			return err
		}
		cfg.Addrs = append(cfg.Addrs, addr)
		cfg.PIDs = append(cfg.PIDs, srv.PID)
	}
	return nil
}

// reportSpawned tells progress what was spawned.
func reportSpawned(progress func(string, ...any), argv []string, servers []*bench.Server) {
	if len(servers) == 1 {
		progress("spawned %s (pid %d) on %s", strings.Join(argv[1:], " "), servers[0].PID, servers[0].Addr)
		return
	}
	progress("spawned a cluster of %d nodes of %s --nats-embedded ...", len(servers), strings.Join(argv[1:], " "))
	for i, srv := range servers {
		progress("  node %d: pid %d, framed protocol on %s, HTTP on %s", i, srv.PID, srv.Addr, srv.HTTPAddr)
	}
}

// modeAddr is the address a spawned server serves mode on.
func modeAddr(srv *bench.Server, mode string) (string, error) {
	addr, what := srv.Addr, "framed protocol"
	switch mode {
	case bench.ModeWS:
		addr, what = srv.HTTPAddr, "HTTP port for ws mode"
	case bench.ModeIRC:
		addr, what = srv.IRCAddr, "IRC port for irc mode"
	case bench.ModeLine:
		addr, what = srv.LineAddr, "line protocol for line mode"
	}
	if addr == "" {
		return "", fmt.Errorf("bench: the spawned server serves no %s", what)
	}
	return addr, nil
}
