package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded configures a NATS server with JetStream run inside the parley
// process (--nats-embedded).
type Embedded struct {
	// Listen is the address NATS clients (other programs, the nats CLI)
	// may connect to; "" for none (parley itself connects in-process).
	Listen string
	// ClusterListen is the address other nodes' routes connect to; ""
	// for a single server.
	ClusterListen string
	// Routes are the other nodes' cluster addresses (host:port or
	// nats-route://host:port); listing a node's own address is harmless.
	Routes []string
	// ClusterName names the NATS cluster; default "parley".
	ClusterName string
	// ServerName is this server's unique name in the cluster; default
	// derived from the host name and the cluster address.
	ServerName string
	// StoreDir keeps JetStream's data; required.
	StoreDir string
	// ClusterSecret, if set, is the password every route must give (the
	// same on every node): without it anyone who reaches ClusterListen
	// can join the NATS cluster.
	ClusterSecret string
	// token is what clients of the server must give (Config.Token, or a
	// random one): other programs on the machine cannot connect without it.
	token string
}

// startEmbedded starts the embedded server and waits until it accepts
// connections.
func startEmbedded(e Embedded, log *slog.Logger) (*server.Server, error) {
	if e.StoreDir == "" {
		return nil, errors.New("cluster: the embedded NATS server needs a data directory")
	}
	if len(e.Routes) > 0 && e.ClusterListen == "" {
		return nil, errors.New("cluster: --nats-routes needs --nats-cluster-listen (the address the other nodes route to)")
	}
	if err := os.MkdirAll(e.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	opts := &server.Options{
		Authorization: e.token,
		JetStream:     true,
		StoreDir:      e.StoreDir,
		NoSigs:        true,
		NoLog:         false,
		// parley's own sessions need few connections; the limits are
		// NATS's defaults otherwise.
		MaxPayload: 8 << 20,
	}
	switch {
	case e.Listen == "" && e.ClusterListen == "":
		opts.DontListen = true // parley connects in-process
	case e.Listen == "":
		// Routing waits for the client listener: a private one, on a
		// free loopback port.
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	default:
		host, port, err := splitHostPort(e.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster: --nats-listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if e.ClusterListen != "" {
		host, port, err := splitHostPort(e.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster: --nats-cluster-listen: %w", err)
		}
		opts.Cluster.Host, opts.Cluster.Port = host, port
		opts.Cluster.Name = e.ClusterName
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "parley"
		}
		if e.ClusterSecret != "" {
			opts.Cluster.Username, opts.Cluster.Password = "parley", e.ClusterSecret
		}
		for _, r := range e.Routes {
			u, err := routeURL(r)
			if err != nil {
				return nil, fmt.Errorf("cluster: --nats-routes: %w", err)
			}
			if e.ClusterSecret != "" {
				u.User = url.UserPassword("parley", e.ClusterSecret)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	opts.ServerName = e.ServerName
	if opts.ServerName == "" {
		host, _ := os.Hostname()
		opts.ServerName = "parley-" + host
		if e.ClusterListen != "" {
			opts.ServerName += "-" + strings.NewReplacer(":", "-", "[", "", "]", "").Replace(e.ClusterListen)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(&natsLogger{log: log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("cluster: the embedded NATS server did not start within 30s (is its port taken?)")
	}
	log.Info("embedded NATS server started", "server_name", opts.ServerName, "listen", e.Listen, "cluster_listen", ns.ClusterAddr(), "routes", len(opts.Routes), "store", filepath.Clean(e.StoreDir))
	return ns, nil
}

// splitHostPort parses host:port; port 0 picks a free one.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// routeURL accepts host:port or a nats-route:// URL.
func routeURL(r string) (*url.URL, error) {
	if !strings.Contains(r, "://") {
		r = "nats-route://" + r
	}
	u, err := url.Parse(r)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad route %q", r)
	}
	return u, nil
}

// natsLogger sends the embedded server's log to slog: notices at Debug
// (NATS is chatty at start), warnings and errors as they are.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "Error trying to connect to route") {
		// Several a second while a peer is down: the node's own log
		// says it is gone, once.
		l.log.Debug(msg)
		return
	}
	l.log.Error(msg)
}
func (l *natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any) {}
