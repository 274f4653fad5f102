package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/native"
)

// listenHTTP serves the HTTP port: the WebSocket endpoint, health, and
// (with the web app and metrics) the rest. tlsConfig is used when the
// plain listeners are TLS too (every port TLS) or, as with the TLS
// listeners, when it is the only TLS there is: the web app has no other
// port to be served securely on.
func (n *Node) listenHTTP(cfg Config, plainTLS, tlsConfig *tls.Config) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	useTLS := plainTLS
	if useTLS == nil {
		useTLS = tlsConfig
	}
	if useTLS != nil {
		c := useTLS.Clone()
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		ln = tls.NewListener(ln, c)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", &server.WebSocket{
		Server:         n.Server,
		Name:           "ws",
		Handler:        engine.NewHandler(n.Hub, native.NewProtocol(nil), cfg.Session),
		OriginPatterns: cfg.HTTPAllowedOrigins,
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := n.ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	n.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.addrs[ListenHTTP] = ln.Addr()
	n.tls[ListenHTTP] = useTLS != nil
	n.log.Info("listening", "protocol", ListenHTTP, "addr", ln.Addr().String(), "tls", useTLS != nil)
	go func() { _ = n.http.Serve(ln) }()
	return nil
}

// ready reports whether the node can serve: the hub takes messages and its
// listeners are open.
func (n *Node) ready() error {
	if err := n.Hub.Ready(); err != nil {
		return err
	}
	if n.Server.Listening() == 0 {
		return fmt.Errorf("no listener is open")
	}
	return nil
}
