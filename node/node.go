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
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/line"
)

// Config is everything a node needs. Zero values take defaults, except the
// listen addresses: an empty address disables that front-end.
type Config struct {
	FrameAddr string // framed protocol (tutorial + native), e.g. 127.0.0.1:1234
	LineAddr  string // line protocol (nc, telnet), e.g. 127.0.0.1:1235

	ServerName      string
	Motd            string
	HistoryOnJoin   int  // messages replayed on join (negative: none)
	TutorialHistory bool // replay history to tutorial clients too
	MaxMessageBytes int
	AnnounceLimit   int // rooms over this many members do not announce joins and parts; 0: chat.DefaultAnnounceLimit, negative: always announce

	Store       chat.Store     // default: opened from StoreConfig
	StoreConfig                // which store to open when Store is nil
	Server      server.Options // transport limits
	Logger      *slog.Logger

	Password    string              // server password clients must give; empty for none
	RateLimit   chat.RateLimit      // per-client request rate; zero for none
	TLSCertFile string              // PEM certificate (chain) and key: serve every front-end over TLS;
	TLSKeyFile  string              // ignored when Server.TLS is set
	Now         func() time.Time    // the hub's clock (message times, rate limit); default time.Now
	Sleep       func(time.Duration) // waits on that clock (rate limit); default time.Sleep
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
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.Server.TLS == nil {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("load TLS certificate: %w", err)
			}
			cfg.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
	}
	if cfg.Store == nil {
		st, err := OpenStore(cfg.StoreConfig, cfg.Logger)
		if err != nil {
			return nil, err
		}
		cfg.Store = st
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = chat.DefaultMaxMessageBytes
	}
	cfg.Server.Logger = cfg.Logger
	hub, err := chat.New(chat.Config{
		ServerName:      cfg.ServerName,
		Motd:            cfg.Motd,
		Store:           cfg.Store,
		Logger:          cfg.Logger,
		HistoryOnJoin:   cfg.HistoryOnJoin,
		MaxMessageBytes: cfg.MaxMessageBytes,
		Password:        cfg.Password,
		RateLimit:       cfg.RateLimit,
		AnnounceLimit:   cfg.AnnounceLimit,
		Now:             cfg.Now,
		Sleep:           cfg.Sleep,
	})
	if err != nil {
		if c, ok := cfg.Store.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, err
	}
	n := &Node{Hub: hub, Server: server.New(cfg.Server), log: cfg.Logger, addrs: map[string]net.Addr{}, store: cfg.Store}
	listen := []struct {
		name, addr string
		h          server.Handler
	}{
		{"frame", cfg.FrameAddr, &frame.Handler{Hub: hub, TutorialHistory: cfg.TutorialHistory}},
		{"line", cfg.LineAddr, &line.Handler{Hub: hub}},
	}
	for _, l := range listen {
		if l.addr == "" {
			continue
		}
		a, err := n.Server.Listen(l.name, l.addr, l.h)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.Shutdown(ctx)
			cancel()
			return nil, fmt.Errorf("listen for the %s protocol on %s: %w", l.name, l.addr, err)
		}
		n.addrs[l.name] = a
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
