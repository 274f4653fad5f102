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
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/framed"
	"github.com/parleychat/parley/wire/line"
)

// Config is everything a node needs. Zero values take defaults, except the
// listen addresses: an empty address disables that front-end.
type Config struct {
	FrameAddr string // framed protocol (tutorial + native), e.g. 127.0.0.1:1234
	LineAddr  string // line protocol (nc, telnet), e.g. 127.0.0.1:1235

	TutorialHistory bool // replay history to tutorial clients too

	Hub         chat.Config    // the hub: name, motd, history, limits, password, rate limit, clock; Store opened from StoreConfig when nil
	StoreConfig                // which store to open when Hub.Store is nil
	Server      server.Options // transport limits: frames, lines, queues, timeouts, connection counts
	Session     engine.Options // session policies: idle pings, login attempts
	Logger      *slog.Logger   // for everything; default slog.Default()

	TLSCertFile string // PEM certificate (chain) and key: serve every front-end over TLS
	TLSKeyFile  string
	TLS         *tls.Config // used instead of the files when set
}

// Node is a running server.
type Node struct {
	Hub    *chat.Hub
	Server *server.Server
	log    *slog.Logger
	addrs  map[string]net.Addr
	store  chat.Store
}

// Start builds the hub, opens every configured listener and starts serving.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FrameAddr == "" && cfg.LineAddr == "" {
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
	hub, err := chat.New(cfg.Hub)
	if err != nil {
		if c, ok := cfg.Hub.Store.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, err
	}
	n := &Node{Hub: hub, Server: server.New(cfg.Server), log: cfg.Logger, addrs: map[string]net.Addr{}, store: cfg.Hub.Store}
	listeners := []server.Listener{
		{Name: "frame", Addr: cfg.FrameAddr, Framing: framed.Framing, Handler: engine.NewHandler(hub, framed.New(cfg.TutorialHistory), cfg.Session)},
		{Name: "line", Addr: cfg.LineAddr, Framing: line.Framing, Handler: engine.NewHandler(hub, &line.Protocol{}, cfg.Session)},
	}
	for _, l := range listeners {
		if l.Addr == "" {
			continue
		}
		l.TLS = cfg.TLS
		a, err := n.Server.Listen(l)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.Shutdown(ctx)
			cancel()
			return nil, fmt.Errorf("listen for the %s protocol on %s: %w", l.Name, l.Addr, err)
		}
		n.addrs[l.Name] = a
	}
	return n, nil
}

// Addr returns the bound address of a front-end ("frame", "line"), or nil.
func (n *Node) Addr(name string) net.Addr { return n.addrs[name] }

// Shutdown stops accepting, tells every client the server is going away,
// commits and delivers every accepted message, flushes every queue and
// closes every connection, all within ctx's deadline.
func (n *Node) Shutdown(ctx context.Context) error {
	n.Server.StopAccepting()
	herr := n.Hub.Shutdown(ctx, "server shutting down")
	serr := n.Server.Shutdown(ctx)
	var cerr error
	if c, ok := n.store.(io.Closer); ok {
		cerr = c.Close()
	}
	return errors.Join(herr, serr, cerr)
}
