package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/metrics"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/web"
	"github.com/parleychat/parley/wire/native"
)

// listenHTTP serves the HTTP port: the WebSocket endpoint, health, and
// (with the web app and metrics) the rest. tlsConfig is used when the
// plain listeners are TLS too (every port TLS) or, as with the TLS
// listeners, when it is the only TLS there is: the web app has no other
// port to be served securely on.
func (n *Node) listenHTTP(cfg Config, plainTLS, tlsConfig *tls.Config) error {
	useTLS := plainTLS
	if useTLS == nil {
		useTLS = tlsConfig
	}
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
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
		if n.Cluster != nil {
			st := n.Cluster.Stats()
			fmt.Fprintf(w, "ready (cluster node %s: %d nodes up, %d sessions elsewhere, log at %d)\n", st.Node, st.Nodes, st.Remote, st.LastID)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.MetricsAddr == "" {
		mux.Handle("/metrics", n.metricsHandler())
	}
	return n.serveHTTP(ListenHTTP, cfg.HTTPAddr, mux, useTLS)
}

// listenMetrics serves /metrics alone on its own address (plain HTTP: keep
// it private).
func (n *Node) listenMetrics(addr string) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.metricsHandler())
	return n.serveHTTP(ListenMetrics, addr, mux, nil)
}

// serveHTTP listens on addr (over TLS when tlsConfig is set) and serves h
// there until Shutdown; name labels it in Addr and the logs.
func (n *Node) serveHTTP(name, addr string, h http.Handler, tlsConfig *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if tlsConfig != nil {
		c := tlsConfig.Clone()
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		ln = tls.NewListener(ln, c)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.http = append(n.http, srv)
	n.addrs[name] = ln.Addr()
	n.tls[name] = tlsConfig != nil
	n.log.Info("listening", "protocol", name, "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// metricsHandler serves /metrics: the hub's, the connections' and, in a
// cluster, the cluster's.
func (n *Node) metricsHandler() http.Handler {
	if n.Cluster == nil {
		return metrics.Handler(n.Hub, n.Server)
	}
	return metrics.Handler(n.Hub, n.Server, metrics.NewClusterCollector(n.Cluster))
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
