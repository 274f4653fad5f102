//go:build linux

package server

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/engine"
)

// captureHandler hands each connection to the test and holds it open until
// the server shuts down.
type captureHandler struct{ conns chan *Conn }

func (h captureHandler) ServeConn(ctx context.Context, c engine.Conn) {
	h.conns <- c.(*Conn)
	<-ctx.Done()
}

func sockopt(t *testing.T, nc net.Conn, level, opt int) int {
	t.Helper()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

func TestKeepAlive(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keepAlive time.Duration
		on        int
		idle      int // seconds
	}{
		{"default", 0, 1, 30},
		{"custom", 45 * time.Second, 1, 45},
		{"off", -1, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := acceptOne(t, Options{KeepAlive: tt.keepAlive})
			if got := sockopt(t, sc.conn, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got != tt.on {
				t.Fatalf("SO_KEEPALIVE = %d, want %d", got, tt.on)
			}
			if tt.on == 1 {
				if got := sockopt(t, sc.conn, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); got != tt.idle {
					t.Fatalf("TCP_KEEPIDLE = %d, want %d", got, tt.idle)
				}
			}
		})
	}
}

func TestTLSMinimumVersion(t *testing.T) {
	for _, v := range []uint16{0, tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{MinVersion: v}
		if got := listenerTLS(cfg).MinVersion; got < tls.VersionTLS12 || got < v {
			t.Errorf("MinVersion %x became %x", v, got)
		}
		if cfg.MinVersion != v {
			t.Error("the caller's config was changed")
		}
	}
}

func TestDefaultMaxConnsFollowsDescriptorLimit(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{20000, 20000 - FDReserve},
		{1024, 1024 - FDReserve},
		{10, 1},
		{^uint64(0), 1<<24 - FDReserve}, // RLIM_INFINITY
	} {
		if got := maxConnsFor(tc.nofile); got != tc.want {
			t.Errorf("maxConnsFor(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Skip(err)
	}
	if got, want := DefaultMaxConns(), maxConnsFor(l.Cur); got != want {
		t.Errorf("DefaultMaxConns() = %d with RLIMIT_NOFILE %d, want %d", got, l.Cur, want)
	}
	var o Options
	o.setDefaults()
	if o.MaxConns != DefaultMaxConns() {
		t.Errorf("Options{}.MaxConns defaults to %d, want %d", o.MaxConns, DefaultMaxConns())
	}
}

func TestSendBuffer(t *testing.T) {
	sc := acceptOne(t, Options{SendBuffer: 64 << 10})
	// Linux doubles SO_SNDBUF for bookkeeping; autotuning would report
	// the (smaller) initial size instead.
	if got := sockopt(t, sc.conn, syscall.SOL_SOCKET, syscall.SO_SNDBUF); got != 2*(64<<10) {
		t.Fatalf("SO_SNDBUF = %d, want %d", got, 2*(64<<10))
	}
}

// acceptOne starts a server with opts on 127.0.0.1:0, dials it and returns
// the server side of that connection; everything is closed when the test
// ends.
func acceptOne(t *testing.T, opts Options) *Conn {
	t.Helper()
	s := New(opts)
	h := captureHandler{conns: make(chan *Conn, 1)}
	addr, err := s.Listen(Listener{Name: "test", Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Shutdown(context.Background()) })
	return <-h.conns
}
