// Package node assembles a running parley server: the hub, its store, and
// the listeners of every front-end. cmd/parley parses flags into a Config;
// tests start a Node on port 0.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/framed"
	"github.com/parleychat/parley/wire/irc"
	"github.com/parleychat/parley/wire/line"
	"github.com/parleychat/parley/wire/raw"
)

// Config is everything a node needs. Zero values take defaults, except the
// listen addresses: an empty address disables that front-end.
type Config struct {
	FrameAddr    string // framed protocol (tutorial + native), e.g. 127.0.0.1:1234
	LineAddr     string // line protocol (nc, telnet), e.g. 127.0.0.1:1235
	FrameTLSAddr string // framed protocol over TLS, beside the plain one (needs a certificate)
	LineTLSAddr  string // line protocol over TLS, beside the plain one
	// The thread-per-client tutorials' raw-text dialects.
	NameDialectAddr    string // the NAME dialect, e.g. 127.0.0.1:5550
	WelcomeDialectAddr string // the welcome dialect, e.g. 127.0.0.1:8000
	// IRCAddr serves IRC clients (weechat, irssi, bots), e.g.
	// 127.0.0.1:6667; IRCTLSAddr IRC over TLS beside it (6697).
	IRCAddr    string
	IRCTLSAddr string
	// IRC tunes the IRC front-end (leave clients out of the lobby, the
	// server description).
	IRC IRCConfig
	// HTTPAddr serves the web app, the WebSocket endpoint (/ws), /healthz,
	// /readyz and /metrics, e.g. 127.0.0.1:8080.
	HTTPAddr string
	// HTTPAllowedOrigins are other origins (host patterns) whose pages may
	// open /ws; the server's own origin always may.
	HTTPAllowedOrigins []string
	// MetricsAddr serves /metrics on an address of its own (plain HTTP)
	// instead of on the HTTP port; empty keeps it on the HTTP port.
	MetricsAddr string

	// Optional names the listeners ("frame", "line", ...) whose address
	// could not be bound is a warning, not an error: the defaults, which
	// another program may hold. Start fails only if none listens.
	Optional []string

	TutorialHistory bool // replay history to tutorial clients too

	// ReleaseIdleMemory returns the heap's free memory to the operating
	// system once the node has been idle (nothing accepted or delivered)
	// for a moment after it grew: see memoryReleaser.
	ReleaseIdleMemory bool

	// Cluster, if set, joins this node to others through NATS JetStream
	// (package cluster): the shared log gives the ids, the store is its
	// local mirror. An embedded server's JetStream data defaults to
	// DataDir/nats.
	Cluster *cluster.Config

	Hub         chat.Config    // the hub: name, motd, history, limits, password, rate limit, clock; Store opened from StoreConfig when nil
	StoreConfig                // which store to open when Hub.Store is nil
	Server      server.Options // transport limits: frames, lines, queues, timeouts, connection counts
	Session     engine.Options // session policies: idle pings, login attempts
	Logger      *slog.Logger   // for everything; default slog.Default()

	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and its key.
	// With no TLS listener address set, every front-end is served over TLS;
	// with one, the plain listeners stay plain and the TLS ones are added.
	TLSCertFile string
	TLSKeyFile  string
	TLS         *tls.Config // used instead of the files when set
}

// IRCConfig tunes the IRC front-end.
type IRCConfig struct {
	// NoLobby leaves IRC clients out of the lobby on connect: they join
	// the channels they ask for, as on other IRC servers.
	NoLobby bool
	// Description is the server's one-line description (WHOIS, ADMIN).
	Description string
	// LineRate and LineBurst penalise bursts, as IRC servers do: past
	// LineBurst commands at once, a client's commands run at most
	// LineRate a second (its next lines wait unread). Zero: no penalty.
	LineRate  float64
	LineBurst int
}

// Listener names, for Addr and Config.Optional.
const (
	ListenFrame    = "frame"
	ListenLine     = "line"
	ListenFrameTLS = "frame-tls"
	ListenLineTLS  = "line-tls"
	ListenName     = "name-dialect"
	ListenWelcome  = "welcome-dialect"
	ListenIRC      = "irc"
	ListenIRCTLS   = "irc-tls"
	ListenHTTP     = "http"
	ListenMetrics  = "metrics"
)

// ListenError is a listener that could not be bound.
type ListenError struct {
	Listener string // "frame", "line", ...
	Addr     string
	Err      error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen for the %s protocol on %s: %v", e.Listener, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *ListenError) Unwrap() error { return e.Err }

// Node is a running server.
type Node struct {
	Hub    *chat.Hub
	Server *server.Server
	log    *slog.Logger
	addrs  map[string]net.Addr
	tls    map[string]bool
	store  chat.Store
	// Skipped are the optional listeners that could not be bound.
	Skipped []*ListenError
	http    []*http.Server
	memory  *memoryReleaser // nil unless Config.ReleaseIdleMemory
	// Cluster is the node's connection to its cluster; nil for a single
	// node.
	Cluster *cluster.Cluster
}

// Start builds the hub, opens every configured listener and starts serving.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FrameAddr == "" && cfg.LineAddr == "" && cfg.FrameTLSAddr == "" && cfg.LineTLSAddr == "" && cfg.NameDialectAddr == "" && cfg.WelcomeDialectAddr == "" && cfg.HTTPAddr == "" && cfg.IRCAddr == "" && cfg.IRCTLSAddr == "" {
		return nil, errors.New("node: no listen address configured")
	}
	if cfg.TLS == nil && (cfg.TLSCertFile != "" || cfg.TLSKeyFile != "") {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if cfg.Hub.Store == nil {
		st, err := OpenStore(cfg.StoreConfig, cfg.Logger)
		if err != nil {
			return nil, err
		}
		cfg.Hub.Store = st
	}
	cfg.Hub.Logger = cfg.Logger
	cfg.Server.Logger = cfg.Logger
	var cl *cluster.Cluster
	if cfg.Cluster != nil {
		cc := *cfg.Cluster
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		if cc.RetainMessages == 0 {
			cc.RetainMessages = cfg.RetainMessages
		}
		if cc.RetainAge == 0 {
			cc.RetainAge = cfg.RetainAge
		}
		if e := cc.Embedded; e != nil && e.StoreDir == "" {
			dir := cfg.DataDir
			if dir == "" {
				dir = DefaultDataDir
			}
			emb := *e
			emb.StoreDir = filepath.Join(dir, "nats")
			cc.Embedded = &emb
		}
		var err error
		if cl, err = cluster.Start(cc); err != nil {
			if c, ok := cfg.Hub.Store.(io.Closer); ok {
				_ = c.Close()
			}
			return nil, err
		}
		cfg.Hub.Cluster = cl
		if local, ok := cfg.Hub.Store.(chat.Directory); ok && cfg.Hub.Directory == nil {
			cl.Directory().Seed(local) // a single node becoming a cluster keeps its accounts
		}
		cfg.Hub.Directory = cl.Directory()
	}
	hub, err := chat.New(cfg.Hub)
	if err != nil {
		if cl != nil {
			cl.Close()
		}
		if c, ok := cfg.Hub.Store.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, err
	}
	n := &Node{Hub: hub, Server: server.New(cfg.Server), log: cfg.Logger, addrs: map[string]net.Addr{}, tls: map[string]bool{}, store: cfg.Hub.Store, Cluster: cl}
	framedH := engine.NewHandler(hub, framed.New(cfg.TutorialHistory), cfg.Session)
	lineH := engine.NewHandler(hub, &line.Protocol{}, cfg.Session)
	ircH := engine.NewHandler(hub, &irc.Protocol{Created: time.Now(), NoLobby: cfg.IRC.NoLobby, Description: cfg.IRC.Description, LineRate: cfg.IRC.LineRate, LineBurst: cfg.IRC.LineBurst}, cfg.Session)
	separateTLS := cfg.FrameTLSAddr != "" || cfg.LineTLSAddr != "" || cfg.IRCTLSAddr != ""
	if separateTLS && cfg.TLS == nil {
		return nil, n.fail(errors.New("a TLS listener needs a certificate (-tls-cert and -tls-key)"))
	}
	plainTLS := cfg.TLS // the plain addresses are TLS too when no TLS address is given
	if separateTLS {
		plainTLS = nil
	}
	listeners := []server.Listener{
		{Name: ListenFrame, Addr: cfg.FrameAddr, TLS: plainTLS, Framing: framed.Framing, Handler: framedH},
		{Name: ListenLine, Addr: cfg.LineAddr, TLS: plainTLS, Framing: line.Framing, Handler: lineH},
		{Name: ListenFrameTLS, Addr: cfg.FrameTLSAddr, TLS: cfg.TLS, Framing: framed.Framing, Handler: framedH},
		{Name: ListenLineTLS, Addr: cfg.LineTLSAddr, TLS: cfg.TLS, Framing: line.Framing, Handler: lineH},
		{Name: ListenName, Addr: cfg.NameDialectAddr, TLS: plainTLS, Framing: raw.Framing, Handler: engine.NewHandler(hub, &raw.NameDialect{}, cfg.Session)},
		{Name: ListenWelcome, Addr: cfg.WelcomeDialectAddr, TLS: plainTLS, Framing: raw.Framing, Handler: engine.NewHandler(hub, &raw.WelcomeDialect{}, cfg.Session)},
		{Name: ListenIRC, Addr: cfg.IRCAddr, TLS: plainTLS, Framing: irc.Framing, Handler: ircH},
		{Name: ListenIRCTLS, Addr: cfg.IRCTLSAddr, TLS: cfg.TLS, Framing: irc.Framing, Handler: ircH},
	}
	for _, l := range listeners {
		if l.Addr == "" {
			continue
		}
		a, err := n.Server.Listen(l)
		if err != nil {
			le := &ListenError{Listener: l.Name, Addr: l.Addr, Err: err}
			if slices.Contains(cfg.Optional, l.Name) {
				n.log.Warn("a default address is not available; that listener is off", "protocol", l.Name, "addr", l.Addr, "err", err)
				n.Skipped = append(n.Skipped, le)
				continue
			}
			return nil, n.fail(le)
		}
		n.addrs[l.Name] = a
		n.tls[l.Name] = l.TLS != nil
	}
	if cfg.HTTPAddr != "" {
		if err := n.listenHTTP(cfg, plainTLS, cfg.TLS); err != nil {
			le := &ListenError{Listener: ListenHTTP, Addr: cfg.HTTPAddr, Err: err}
			if !slices.Contains(cfg.Optional, ListenHTTP) {
				return nil, n.fail(le)
			}
			n.log.Warn("a default address is not available; that listener is off", "protocol", ListenHTTP, "addr", cfg.HTTPAddr, "err", err)
			n.Skipped = append(n.Skipped, le)
		}
	}
	if cfg.MetricsAddr != "" {
		if err := n.listenMetrics(cfg.MetricsAddr); err != nil {
			return nil, n.fail(&ListenError{Listener: ListenMetrics, Addr: cfg.MetricsAddr, Err: err})
		}
	}
	if len(n.addrs) == 0 {
		errs := []error{errors.New("no listener could be started")}
		for _, e := range n.Skipped {
			errs = append(errs, e)
		}
		return nil, n.fail(errors.Join(errs...))
	}
	if cfg.ReleaseIdleMemory {
		n.memory = newMemoryReleaser(n.activity, n.log).start()
	}
	return n, nil
}

// activity is a count that grows whenever the node accepts a connection
// or delivers a message.
func (n *Node) activity() uint64 {
	return n.Hub.Deliveries() + n.Server.Accepted()
}

// fail shuts down what Start began and returns err.
func (n *Node) fail(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
	return err
}

// TLS reports whether a listener ("frame", "line", ...) serves TLS.
func (n *Node) TLS(name string) bool { return n.tls[name] }

// Addr returns the bound address of a listener ("frame", "line",
// "frame-tls", "line-tls"), or nil if it is not listening.
func (n *Node) Addr(name string) net.Addr { return n.addrs[name] }

// Shutdown stops accepting, tells every client the server is going away,
// commits and delivers every accepted message, flushes every queue and
// closes every connection, all within ctx's deadline.
func (n *Node) Shutdown(ctx context.Context) error {
	for _, h := range n.http {
		_ = h.Close() // no new requests; WebSocket sessions are the server's to finish
	}
	if n.memory != nil {
		n.memory.close()
	}
	n.Server.StopAccepting()
	herr := n.Hub.Shutdown(ctx, "server shutting down")
	serr := n.Server.Shutdown(ctx)
	if n.Cluster != nil {
		n.Cluster.Close()
	}
	var cerr error
	if c, ok := n.store.(io.Closer); ok {
		cerr = c.Close()
	}
	return errors.Join(herr, serr, cerr)
}
