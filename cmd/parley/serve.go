package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/store/sqlite"
)

func init() {
	register("serve", "run a chat server (framed protocol on :1234, line on :1235, the raw-text tutorials on :5550 and :8000, IRC on :6667, the web app on :8080)", serve)
}

// serveFlags declares the serve flags on fs and returns the config they fill.
func serveFlags(fs *flag.FlagSet) (*node.Config, *serveOptions) {
	cfg := &node.Config{}
	o := &serveOptions{}
	fs.StringVar(&cfg.FrameAddr, "frame-listen", "127.0.0.1:1234", "address of the framed protocol (tutorial and native clients); empty or off to disable")
	fs.StringVar(&cfg.LineAddr, "line-listen", "127.0.0.1:1235", "address of the line protocol (nc, telnet); empty or off to disable")
	fs.StringVar(&cfg.NameDialectAddr, "name-dialect-listen", "127.0.0.1:5550", "address of the thread-per-client tutorial's NAME dialect (raw text; its client asks for NAME); empty or off to disable")
	fs.StringVar(&cfg.WelcomeDialectAddr, "welcome-dialect-listen", "127.0.0.1:8000", "address of the thread-per-client tutorial's welcome dialect (raw text, no name asked); empty or off to disable")
	fs.StringVar(&cfg.IRCAddr, "irc-listen", "127.0.0.1:6667", "address of the IRC front-end (weechat, irssi, HexChat, bots); empty or off to disable")
	fs.StringVar(&cfg.IRCTLSAddr, "irc-tls-listen", "", "address of IRC over TLS, beside the plain one (needs -tls-cert; conventionally 127.0.0.1:6697)")
	fs.BoolVar(&cfg.IRC.NoLobby, "irc-no-lobby", false, "do not put IRC clients in #lobby on connect: they join the channels they ask for, as on other IRC servers")
	fs.Float64Var(&cfg.IRC.LineRate, "irc-line-rate", 2, "IRC's burst penalty (fake lag): past -irc-line-burst commands at once, an IRC client's commands run at most this many a second, the rest waiting unread; nothing is dropped (0: off)")
	fs.IntVar(&cfg.IRC.LineBurst, "irc-line-burst", 10, "IRC commands a client may send at once before -irc-line-rate applies")
	fs.StringVar(&cfg.IRC.Description, "irc-description", "", "the server's one-line description in IRC WHOIS and ADMIN replies (default: parley VERSION chat server)")
	fs.StringVar(&cfg.HTTPAddr, "http-listen", "127.0.0.1:8080", "address of the HTTP port: the web app, the WebSocket endpoint /ws, /healthz, /readyz, /metrics; empty or off to disable")
	fs.Func("http-allowed-origins", "other origins whose pages may open /ws, comma-separated host patterns (e.g. chat.example.org,*.example.org); the server's own origin always may", func(v string) error {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.HTTPAllowedOrigins = append(cfg.HTTPAllowedOrigins, o)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.MetricsAddr, "metrics-listen", "", "serve /metrics on this address of its own (plain HTTP; keep it private) instead of on the HTTP port")
	fs.StringVar(&cfg.FrameTLSAddr, "frame-tls-listen", "", "address of the framed protocol over TLS, beside the plain one (needs -tls-cert; e.g. 127.0.0.1:1244)")
	fs.StringVar(&cfg.LineTLSAddr, "line-tls-listen", "", "address of the line protocol over TLS, beside the plain one (needs -tls-cert; e.g. 127.0.0.1:1245)")
	fs.StringVar(&cfg.Hub.ServerName, "name", "parley", "server name shown to clients")
	fs.StringVar(&cfg.Hub.Motd, "motd", "", "message of the day shown on connect")
	fs.IntVar(&cfg.Hub.HistoryOnJoin, "history", chat.DefaultHistoryOnJoin, "messages replayed when joining a room (0 for none)")
	fs.StringVar(&cfg.StoreKind, "store", node.StoreSQLite, "where history is kept: sqlite (durable, in -data-dir) or memory (forgotten on exit)")
	fs.StringVar(&cfg.DataDir, "data-dir", node.DefaultDataDir, "directory of the sqlite store, created on first start")
	fs.IntVar(&cfg.RetainMessages, "retain-messages", 0, "messages kept per room (0: sqlite keeps all, memory keeps 10000)")
	fs.DurationVar(&cfg.RetainAge, "retain-age", 0, "delete messages older than this, e.g. 720h (sqlite; 0 keeps them)")
	fs.StringVar(&cfg.StoreSync, "sqlite-sync", "normal", "sqlite durability: normal (survives a killed server) or full (also power loss; slower)")
	fs.IntVar(&o.announceLimit, "announce-limit", chat.DefaultAnnounceLimit, "rooms with more members than this do not announce joins, parts and quits to everyone (0: always announce)")
	fs.BoolVar(&cfg.TutorialHistory, "tutorial-history", false, "replay history to tutorial-protocol clients too")
	fs.BoolVar(&cfg.ReleaseIdleMemory, "release-idle-memory", true, "once the server is idle for 2 s after its heap grew (a crowd connected), return the free heap to the system")
	fs.IntVar(&cfg.Hub.MaxRooms, "max-rooms", chat.DefaultMaxRooms, "most rooms with members at once (empty rooms are freed)")
	fs.IntVar(&cfg.Hub.MaxSessionRooms, "max-rooms-per-session", chat.DefaultMaxSessionRooms, "most rooms one client may be in at once")
	fs.IntVar(&cfg.Hub.MaxMessageBytes, "max-message-bytes", chat.DefaultMaxMessageBytes, "longest message text in bytes")
	fs.IntVar(&cfg.Server.MaxFrameBytes, "max-frame-bytes", 64*1024, "largest frame payload in bytes")
	fs.IntVar(&cfg.Server.MaxLineBytes, "max-line-bytes", 8*1024, "longest line on the line protocol in bytes")
	fs.IntVar(&cfg.Server.MaxQueueBytes, "max-queue-bytes", 4<<20, "outbound bytes queued per client before it is dropped as a slow consumer")
	fs.IntVar(&cfg.Server.SendBuffer, "send-buffer", 64<<10, "kernel send buffer per client in bytes (SO_SNDBUF): bounds the kernel memory a client that stops reading holds, so it is dropped as a slow consumer about -write-timeout after it stopped; 0 leaves the kernel's autotuning (up to 4 MiB per client)")
	fs.DurationVar(&cfg.Server.WriteTimeout, "write-timeout", 10*time.Second, "a client write blocked longer than this drops the client as a slow consumer")
	fs.DurationVar(&cfg.Server.MessageTimeout, "message-timeout", server.DefaultMessageTimeout, "a frame or line whose first byte has arrived must be complete within this, or the client is disconnected (negative: no bound)")
	fs.DurationVar(&cfg.Server.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time a new connection has to send a valid name")
	fs.IntVar(&cfg.Server.MaxConns, "max-clients", 0, fmt.Sprintf("most connections at once in total; more are refused with a 'server full' error (0: the process's descriptor limit less %d, here %d; -1: no limit)", server.FDReserve, server.DefaultMaxConns()))
	fs.IntVar(&cfg.Server.MaxConnsPerIP, "max-clients-per-ip", server.DefaultMaxConnsPerIP, "most connections at once from one IP address (-1: no limit); loopback is exempt unless -limit-loopback")
	fs.BoolVar(&cfg.Server.LimitLoopback, "limit-loopback", false, "apply -max-clients-per-ip to loopback (127.0.0.1, ::1) connections too")
	fs.Float64Var(&cfg.Hub.RateLimit.Rate, "msg-rate", 100, "messages (and commands) per second one client may send, sustained; faster clients are slowed down, not dropped (0: no limit)")
	fs.IntVar(&cfg.Hub.RateLimit.Burst, "msg-burst", 1000, "messages one client may send at once before -msg-rate applies")
	fs.DurationVar(&cfg.Hub.RateLimit.FloodAfter, "flood-after", 10*time.Second, "a client kept over -msg-rate this long without a pause is disconnected as a flooder")
	fs.DurationVar(&cfg.Server.KeepAlive, "tcp-keepalive", server.DefaultKeepAlive, "TCP keepalive idle time on every connection (negative disables)")
	fs.DurationVar(&cfg.Session.IdleTimeout, "idle-timeout", engine.DefaultIdleTimeout, "a native or IRC client silent this long is sent a ping (negative disables)")
	fs.DurationVar(&cfg.Session.PingTimeout, "ping-timeout", engine.DefaultPingTimeout, "a pinged native or IRC client that sends nothing within this is disconnected")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate file (needs -tls-key): serve every listener over TLS 1.2+, or, with -frame-tls-listen, -line-tls-listen or -irc-tls-listen, add TLS listeners beside the plain ones")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key file of -tls-cert")
	fs.StringVar(&cfg.Hub.Password, "password", "", "server password every client must give (prefer PARLEY_PASSWORD: arguments are visible to other local users)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.registration, "registration", "open", "who may create accounts: open (anyone, for the name they hold), closed (nobody), admin (only -admin accounts, with /register NAME PASSWORD)")
	fs.IntVar(&cfg.Hub.RegistrationsPerHour, "registrations-per-ip", chat.DefaultRegistrationsPerHour, "accounts one address (loopback aside) may register in an hour; past it, none from there for an hour (-1: no limit)")
	fs.BoolVar(&cfg.Hub.RequireAccount, "require-account", false, "only logged-in accounts may send messages; guests may join and read")
	fs.Func("admin", "an account name that is a server operator (repeatable): moderates every room, /kill, /gban", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Hub.Admins = append(cfg.Hub.Admins, a)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.Hub.Raid.Joins, "raid-joins", 20, "raid protection: more new guests than this joining one room (not the lobby) within -raid-window make it accounts-only for -raid-for (0: off)")
	fs.DurationVar(&cfg.Hub.Raid.Window, "raid-window", chat.DefaultRaidWindow, "raid protection's window")
	fs.DurationVar(&cfg.Hub.Raid.For, "raid-for", chat.DefaultRaidFor, "how long raid protection keeps a room accounts-only")
	fs.Func("nats", "join a cluster through these NATS servers (comma-separated nats:// URLs, JetStream enabled): the room log, names and presence are shared with every parley node on them", func(v string) error {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				o.nats.URLs = append(o.nats.URLs, u)
			}
		}
		return nil
	})
	fs.BoolVar(&o.natsEmbedded, "nats-embedded", false, "run a NATS server with JetStream inside this process (its data in -data-dir/nats); route several with -nats-cluster-listen and -nats-routes")
	fs.StringVar(&o.embedded.Listen, "nats-listen", "", "-nats-embedded: address NATS clients (the nats CLI, other programs) may connect to (default: none)")
	fs.StringVar(&o.embedded.ClusterListen, "nats-cluster-listen", "", "-nats-embedded: address the other nodes' routes connect to, e.g. 0.0.0.0:6222")
	fs.Func("nats-routes", "-nats-embedded: the cluster addresses of every node (comma-separated host:port; this node's own may be listed too), e.g. 10.0.0.1:6222,10.0.0.2:6222,10.0.0.3:6222", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				o.embedded.Routes = append(o.embedded.Routes, r)
			}
		}
		return nil
	})
	fs.StringVar(&o.embedded.ClusterName, "nats-cluster-name", "parley", "-nats-embedded: the NATS cluster's name (the same on every node)")
	fs.StringVar(&o.embedded.ServerName, "nats-server-name", "", "-nats-embedded: this node's unique NATS server name (default: from the host name and -nats-cluster-listen)")
	fs.StringVar(&o.nats.CredsFile, "nats-creds", "", "-nats: a NATS credentials file (JWT and seed)")
	fs.StringVar(&o.nats.NKeyFile, "nats-nkey", "", "-nats: an NKey seed file")
	fs.StringVar(&o.nats.User, "nats-user", "", "-nats: user name")
	fs.StringVar(&o.nats.Password, "nats-password", "", "-nats: password (prefer PARLEY_NATS_PASSWORD)")
	fs.StringVar(&o.nats.Token, "nats-token", "", "-nats: authentication token; -nats-embedded: the token the embedded server's clients must give (default: a random one, so that no other program can connect); prefer PARLEY_NATS_TOKEN")
	fs.StringVar(&o.embedded.ClusterSecret, "nats-cluster-secret", "", "-nats-embedded: a password every route must give, the same on every node (without it anyone who reaches -nats-cluster-listen can join the NATS cluster); prefer PARLEY_NATS_CLUSTER_SECRET")
	fs.StringVar(&o.nats.CAFile, "nats-ca", "", "-nats: CA certificate (PEM) to verify the NATS servers with")
	fs.StringVar(&o.nats.CertFile, "nats-cert", "", "-nats: client certificate (PEM) for TLS to NATS")
	fs.StringVar(&o.nats.KeyFile, "nats-key", "", "-nats: the client certificate's key")
	fs.BoolVar(&o.nats.OnlyGivenURLs, "nats-only-given", false, "-nats: connect to the given servers only, not to those they advertise (servers behind NAT or a proxy)")
	fs.IntVar(&o.nats.Replicas, "nats-replicas", 0, "replicas of the room log and buckets when this node creates them (0: min(3, the cluster's servers))")
	fs.StringVar(&o.config, "config", "", "read flags from this file: one 'flag value' per line, # for comments (flags on the command line and PARLEY_* variables win)")
	return cfg, o
}

// listenFlags maps each listener to the flag that sets its address.
var listenFlags = map[string]string{
	node.ListenFrame: "frame-listen", node.ListenLine: "line-listen",
	node.ListenFrameTLS: "frame-tls-listen", node.ListenLineTLS: "line-tls-listen",
	node.ListenName: "name-dialect-listen", node.ListenWelcome: "welcome-dialect-listen",
	node.ListenIRC: "irc-listen", node.ListenIRCTLS: "irc-tls-listen",
	node.ListenHTTP:    "http-listen",
	node.ListenMetrics: "metrics-listen",
}

type serveOptions struct {
	nats            cluster.Config
	natsEmbedded    bool
	embedded        cluster.Embedded
	announceLimit   int
	registration    string
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	config          string
}

// envName is the environment variable of a flag: PARLEY_FRAME_LISTEN for
// -frame-listen.
func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then PARLEY_* environment variables for flags not
// given (PARLEY_FRAME_LISTEN for -frame-listen, and so on), then the -config
// file if the flag set has that flag. A variable set to the empty string
// sets its flag empty (PARLEY_LINE_LISTEN= turns the line port off), which
// the flag library alone would skip.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	opts := []ff.Option{ff.WithEnvVarPrefix("PARLEY")}
	if fs.Lookup("config") != nil {
		opts = append(opts, ff.WithConfigFileFlag("config"), ff.WithConfigFileParser(ff.PlainParser))
	}
	if err := ff.Parse(fs, args, opts...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	onCommandLine := flagsIn(args)
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && v == "" && !onCommandLine[f.Name] {
			_ = fs.Set(f.Name, "") // a flag that cannot be empty keeps its value
		}
	})
	return nil
}

// flagsIn returns the names of the flags given in args.
func flagsIn(args []string) map[string]bool {
	set := map[string]bool{}
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		set[name] = true
	}
	return set
}

// disabled reports whether a listen address turns its listener off.
func disabled(addr string) bool {
	switch strings.ToLower(strings.TrimSpace(addr)) {
	case "", "off", "none", "-":
		return true
	}
	return false
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad -log-format %q: want text or json", format)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	cfg, o := serveFlags(fs)
	prof := profileFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley serve [flags]")
		fmt.Fprintln(stderr, "\nEvery flag can also be set with a PARLEY_* environment variable (PARLEY_FRAME_LISTEN for")
		fmt.Fprintln(stderr, "-frame-listen; an empty value sets it empty) or in a -config file; the command line wins,")
		fmt.Fprintln(stderr, "then the environment, then the file.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, addr := range []*string{&cfg.FrameAddr, &cfg.LineAddr, &cfg.FrameTLSAddr, &cfg.LineTLSAddr, &cfg.NameDialectAddr, &cfg.WelcomeDialectAddr, &cfg.IRCAddr, &cfg.IRCTLSAddr, &cfg.HTTPAddr, &cfg.MetricsAddr} {
		if disabled(*addr) {
			*addr = ""
		}
	}
	for name, flagName := range listenFlags {
		if !set[flagName] {
			cfg.Optional = append(cfg.Optional, name) // a default another program may hold
		}
	}
	if cfg.Hub.HistoryOnJoin == 0 {
		cfg.Hub.HistoryOnJoin = -1 // the flag's 0 means none; the hub's 0 means its default
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if cfg.Hub.Registration, err = chat.ParseRegistration(o.registration); err != nil {
		return fmt.Errorf("-registration: %w", err)
	}
	cfg.Hub.AnnounceLimit = o.announceLimit
	if o.announceLimit <= 0 {
		cfg.Hub.AnnounceLimit = -1 // the flag's 0 means always announce
	}
	stopProfiling, err := prof.start(stdout, log)
	defer stopProfiling()
	if err != nil {
		return err
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	switch {
	case o.natsEmbedded && len(o.nats.URLs) > 0:
		return errors.New("-nats and -nats-embedded are exclusive: join an existing NATS deployment, or run one inside each node")
	case o.natsEmbedded:
		o.nats.Embedded = &o.embedded
		cfg.Cluster = &o.nats
	case len(o.nats.URLs) > 0:
		cfg.Cluster = &o.nats
	case o.embedded.ClusterListen != "" || len(o.embedded.Routes) > 0 || o.embedded.Listen != "":
		return errors.New("-nats-listen, -nats-cluster-listen and -nats-routes need -nats-embedded")
	}
	cfg.Hub.Version = Version()
	log.Info("starting parley", "version", cfg.Hub.Version)
	n, err := node.Start(*cfg)
	if err != nil {
		var le *node.ListenError
		if errors.As(err, &le) {
			hint := ""
			if errors.Is(err, syscall.EADDRINUSE) {
				hint = " (another server, or another program, holds it)"
			}
			return fmt.Errorf("%w%s; choose another address with --%s, or turn it off with --%s off", err, hint, listenFlags[le.Listener], listenFlags[le.Listener])
		}
		return err
	}
	for _, l := range []struct{ name, what string }{
		{node.ListenFrame, "framed protocol (tutorial and native clients)"},
		{node.ListenLine, "line protocol (nc, telnet)"},
		{node.ListenFrameTLS, "framed protocol (tutorial and native clients)"},
		{node.ListenLineTLS, "line protocol (nc, telnet)"},
		{node.ListenName, "NAME dialect (the thread-per-client tutorial's raw-text client)"},
		{node.ListenWelcome, "welcome dialect (raw text, no name asked)"},
		{node.ListenIRC, "IRC (weechat, irssi, HexChat, bots)"},
		{node.ListenIRCTLS, "IRC (weechat, irssi, HexChat, bots)"},
	} {
		if a := n.Addr(l.name); a != nil {
			tls := ""
			if n.TLS(l.name) {
				tls = " over TLS"
			}
			fmt.Fprintf(stdout, "parley: %s%s on %s\n", l.what, tls, a)
		}
	}
	if a := n.Addr(node.ListenHTTP); a != nil {
		scheme := "http"
		if n.TLS(node.ListenHTTP) {
			scheme = "https"
		}
		metricsAt := " /metrics"
		if m := n.Addr(node.ListenMetrics); m != nil {
			metricsAt = " on http://" + m.String() + "/metrics"
		}
		fmt.Fprintf(stdout, "parley: web app on %s://%s/ (WebSocket %s/ws, health /healthz, metrics%s)\n", scheme, a, strings.Replace(scheme, "http", "ws", 1)+"://"+a.String(), metricsAt)
	} else if m := n.Addr(node.ListenMetrics); m != nil {
		fmt.Fprintf(stdout, "parley: metrics on http://%s/metrics\n", m)
	}
	for _, le := range n.Skipped {
		fmt.Fprintf(stdout, "parley: not serving the %s protocol: %s is not available (%v); move it with --%s ADDR or turn it off with --%s off\n",
			le.Listener, le.Addr, errors.Unwrap(le), listenFlags[le.Listener], listenFlags[le.Listener])
	}
	if cfg.Hub.Password != "" {
		fmt.Fprintln(stdout, "parley: clients need the server password")
	}
	if cfg.StoreKind == node.StoreSQLite {
		fmt.Fprintf(stdout, "parley: history kept in %s\n", filepath.Join(cfg.DataDir, sqlite.FileName))
	} else {
		fmt.Fprintln(stdout, "parley: history kept in memory only")
	}
	if n.Cluster != nil {
		fmt.Fprintf(stdout, "parley: cluster node %s; the room log is the JetStream stream %s (/readyz says how many nodes are up)\n", n.Cluster.ID(), cluster.DefaultStream)
	}
	fmt.Fprintf(stdout, "parley: version %s, pid %d; press Ctrl-C to stop\n", cfg.Hub.Version, os.Getpid())
	<-ctx.Done()
	log.Info("shutting down (Ctrl-C again to stop at once)", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
