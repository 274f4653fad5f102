package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/store/memory"
)

// fakeConn is an in-memory engine.Conn: the test feeds inbound messages
// and reads what was written, events rendered by the attached encoder.
type fakeConn struct {
	in chan []byte

	mu       sync.Mutex
	enc      engine.Encoder
	out      []string
	deadline time.Time
	reason   engine.CloseReason
	finished chan struct{}
	once     sync.Once
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan []byte, 16), finished: make(chan struct{})}
}

func (f *fakeConn) ReadMessage() ([]byte, error) {
	f.mu.Lock()
	dl := f.deadline
	f.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case m, ok := <-f.in:
		switch {
		case !ok:
			return nil, io.EOF
		case string(m) == "long": // what a framing refuses and reads on after
			return nil, &engine.BadInput{Err: chat.Errorf(chat.CodeTooLong, "too long")}
		case string(m) == "garbage": // what a framing cannot follow after
			return nil, &engine.BadInput{Err: chat.Errorf(chat.CodeProtocol, "unparseable"), Fatal: true}
		}
		return m, nil
	case <-timeout:
		return nil, os.ErrDeadlineExceeded
	case <-f.finished:
		return nil, net.ErrClosed
	}
}

func (f *fakeConn) Deliver(ev *chat.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enc == nil {
		panic("an event was delivered before the encoder was attached: " + ev.Kind.String())
	}
	if b := f.enc.Encode(ev); b != nil {
		f.out = append(f.out, string(b))
	}
}

func (f *fakeConn) Send(b []byte) {
	f.mu.Lock()
	f.out = append(f.out, string(b))
	f.mu.Unlock()
}

func (f *fakeConn) SetEncoder(enc engine.Encoder) {
	f.mu.Lock()
	f.enc = enc
	f.mu.Unlock()
}

func (f *fakeConn) SetBacklog(engine.Backlog) {}

func (f *fakeConn) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.deadline = t
	f.mu.Unlock()
	return nil
}

func (f *fakeConn) HandshakeDeadline() time.Time { return time.Now().Add(time.Hour) }

func (f *fakeConn) Finish(r engine.CloseReason) {
	f.mu.Lock()
	if f.reason == engine.ReasonNone {
		f.reason = r
	}
	f.mu.Unlock()
	f.once.Do(func() { close(f.finished) })
}

func (f *fakeConn) Fail(err error) engine.CloseReason {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reason == engine.ReasonNone {
		f.reason = engine.ReasonClientClosed
	}
	return f.reason
}

func (f *fakeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242} }

func (f *fakeConn) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (f *fakeConn) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.out...)
}

func (f *fakeConn) wait(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range f.lines() {
			if strings.Contains(l, substr) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", substr, f.lines())
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeConn) closeReason() engine.CloseReason {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason
}

// toy is the smallest protocol: "hi NAME" logs in, then each message is a
// line of input; "!bad" is refused by the parser; events render as
// "kind text".
type toy struct {
	pings   bool
	oneShot bool
}

func (p *toy) Name() string                               { return "toy" }
func (p *toy) NewClient(engine.Env) engine.Client         { return &toyClient{p: p} }
func (c *toyClient) Greeting() []byte                     { return []byte("hello, who are you?") }
func (c *toyClient) Encoder(*chat.Session) engine.Encoder { return engine.EncoderFunc(render) }

type toyClient struct{ p *toy }

func (c *toyClient) Handshake(msg []byte) (*engine.Login, error) {
	name, ok := strings.CutPrefix(string(msg), "hi ")
	if !ok {
		return nil, chat.Errorf(chat.CodeInvalid, "say hi first")
	}
	return &engine.Login{Name: name, Pings: c.p.pings, OneShot: c.p.oneShot, History: -1}, nil
}

func (c *toyClient) HandshakeError(err error, final bool) []byte {
	s := "refused: " + chat.ErrorMessage(err)
	if engine.IsHandshakeTimeout(err) {
		s = "too slow"
	}
	if final {
		s += " (bye)"
	}
	return []byte(s)
}

func (c *toyClient) Parse(_ *chat.Session, msg []byte) (chat.Request, error) {
	if string(msg) == "!bad" {
		return chat.Request{Ref: "x"}, chat.Errorf(chat.CodeInvalid, "bad request")
	}
	return chat.ParseLine(string(msg), "")
}

func render(ev *chat.Event) []byte {
	switch ev.Kind {
	case chat.KindError:
		return []byte("error " + ev.Err.Message + " ref=" + ev.Ref)
	case chat.KindWelcome:
		return []byte("welcome " + ev.Welcome.Name)
	}
	return []byte(ev.Kind.String() + " " + ev.Text)
}

func newHub(t *testing.T, cfg chat.Config) *chat.Hub {
	t.Helper()
	cfg.Store = memory.New(0)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := chat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	return h
}

// serve runs the engine on a fake connection until it returns.
func serve(t *testing.T, h *engine.Handler) (*fakeConn, <-chan struct{}) {
	t.Helper()
	c := newFakeConn()
	done := make(chan struct{})
	go func() { defer close(done); h.ServeConn(context.Background(), c) }()
	t.Cleanup(func() {
		c.Finish(engine.ReasonClientClosed)
		<-done
	})
	return c, done
}

func TestLifecycle(t *testing.T) {
	hub := newHub(t, chat.Config{})
	h := engine.NewHandler(hub, &toy{}, engine.Options{})
	c, done := serve(t, h)
	c.in <- []byte("hello?")
	c.wait(t, "refused: say hi first")
	c.in <- []byte("hi alice")
	c.wait(t, "welcome alice")
	c.in <- []byte("!bad")
	c.wait(t, "error bad request ref=x")
	c.in <- []byte("/nope")
	c.wait(t, "error unknown command /nope")
	c.in <- []byte("/quit")
	c.wait(t, "bye")
	<-done
	if got := c.lines()[0]; got != "hello, who are you?" {
		t.Fatalf("first write %q, want the greeting", got)
	}
	if hub.Sessions() != 0 {
		t.Fatal("the session outlived the connection")
	}
}

func TestLoginAttempts(t *testing.T) {
	hub := newHub(t, chat.Config{})
	taken, err := hub.Connect(discard{}, "taken", chat.ClientInfo{}, chat.JoinOptions{History: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Leave("done")
	t.Run("retry until a name is free", func(t *testing.T) {
		c, _ := serve(t, engine.NewHandler(hub, &toy{}, engine.Options{}))
		c.in <- []byte("hi taken")
		c.wait(t, `refused: the name "taken" is taken`)
		c.in <- []byte("hi free")
		c.wait(t, "welcome free")
	})
	t.Run("too many attempts", func(t *testing.T) {
		c, done := serve(t, engine.NewHandler(hub, &toy{}, engine.Options{MaxLoginAttempts: 2}))
		c.in <- []byte("hi taken")
		c.in <- []byte("hi taken")
		<-done
		c.wait(t, "is taken (bye)")
		if r := c.closeReason(); r != engine.ReasonHandshakeFailed {
			t.Fatalf("reason %v", r)
		}
	})
	t.Run("one-shot protocol", func(t *testing.T) {
		c, done := serve(t, engine.NewHandler(hub, &toy{oneShot: true}, engine.Options{}))
		c.in <- []byte("hi taken")
		<-done
		c.wait(t, "is taken (bye)")
	})
	t.Run("wrong password is final", func(t *testing.T) {
		locked := newHub(t, chat.Config{Password: "s3cret"})
		c, done := serve(t, engine.NewHandler(locked, &toy{}, engine.Options{}))
		c.in <- []byte("hi alice")
		<-done
		c.wait(t, "this server needs a password (bye)")
		if r := c.closeReason(); r != engine.ReasonAuthFailed {
			t.Fatalf("reason %v", r)
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	hub := newHub(t, chat.Config{})
	c := newFakeConn()
	h := engine.NewHandler(hub, &toy{}, engine.Options{})
	// The engine sets the read deadline from HandshakeDeadline; make it short.
	sc := &shortDeadline{fakeConn: c, at: time.Now().Add(20 * time.Millisecond)}
	h.ServeConn(context.Background(), sc)
	c.wait(t, "too slow (bye)")
	if r := c.closeReason(); r != engine.ReasonHandshakeTimeout {
		t.Fatalf("reason %v", r)
	}
}

type shortDeadline struct {
	*fakeConn
	at time.Time
}

func (s *shortDeadline) HandshakeDeadline() time.Time { return s.at }

func TestBadInput(t *testing.T) {
	hub := newHub(t, chat.Config{})
	c, done := serve(t, engine.NewHandler(hub, &toy{}, engine.Options{}))
	c.in <- []byte("hi alice")
	c.wait(t, "welcome alice")
	c.in <- []byte("long")
	c.wait(t, "error too long")
	c.in <- []byte("still here")
	c.in <- []byte("garbage")
	<-done
	c.wait(t, "error unparseable")
	if r := c.closeReason(); r != engine.ReasonProtocolViolation {
		t.Fatalf("reason %v", r)
	}
}

func TestIdlePing(t *testing.T) {
	hub := newHub(t, chat.Config{})
	c, done := serve(t, engine.NewHandler(hub, &toy{pings: true}, engine.Options{IdleTimeout: 20 * time.Millisecond, PingTimeout: 30 * time.Millisecond}))
	c.in <- []byte("hi alice")
	c.wait(t, "welcome alice")
	c.wait(t, "ping ")
	<-done
	c.wait(t, "error idle past the deadline")
	if r := c.closeReason(); r != engine.ReasonIdle {
		t.Fatalf("reason %v", r)
	}
}

// TestIdleWatchMany runs the one idle check of a handler over sessions that
// answer their pings, stay silent or leave early, in an order that moves
// the watched sessions around in the check's list.
func TestIdleWatchMany(t *testing.T) {
	hub := newHub(t, chat.Config{})
	h := engine.NewHandler(hub, &toy{pings: true}, engine.Options{IdleTimeout: 30 * time.Millisecond, PingTimeout: 400 * time.Millisecond})
	const n = 7
	conns := make([]*fakeConn, n)
	dones := make([]<-chan struct{}, n)
	for i := range n {
		conns[i], dones[i] = serve(t, h)
		conns[i].in <- []byte(fmt.Sprintf("hi user%d", i))
		conns[i].wait(t, fmt.Sprintf("welcome user%d", i))
	}
	if got := engine.Watched(h); got != n {
		t.Fatalf("watched %d sessions, want %d", got, n)
	}
	pings := func(c *fakeConn) int {
		k := 0
		for _, l := range c.lines() {
			if strings.HasPrefix(l, "ping ") {
				k++
			}
		}
		return k
	}
	// 0, 2 and 4 answer every ping; 1 leaves at once; 3, 5 and 6 say nothing.
	conns[1].Finish(engine.ReasonClientClosed)
	<-dones[1]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, i := range []int{0, 2, 4} {
		wg.Add(1)
		go func(c *fakeConn) {
			defer wg.Done()
			answered := 0
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if k := pings(c); k > answered {
					answered = k
					c.in <- []byte("/who")
				}
			}
		}(conns[i])
	}
	for _, i := range []int{3, 5, 6} {
		select {
		case <-dones[i]:
		case <-time.After(10 * time.Second):
			t.Fatalf("user%d was never finished as idle", i)
		}
		conns[i].wait(t, "error idle past the deadline")
		if r := conns[i].closeReason(); r != engine.ReasonIdle {
			t.Fatalf("user%d: reason %v, want idle", i, r)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, i := range []int{0, 2, 4} {
		for pings(conns[i]) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("user%d was pinged %d times, want 3", i, pings(conns[i]))
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	for _, i := range []int{0, 2, 4} {
		if r := conns[i].closeReason(); r != engine.ReasonNone {
			t.Fatalf("user%d answered its pings and was closed: %v", i, r)
		}
		conns[i].Finish(engine.ReasonClientClosed)
		<-dones[i]
	}
	if got := engine.Watched(h); got != 0 {
		t.Fatalf("%d sessions still watched after every one ended", got)
	}
}

func TestRateLimit(t *testing.T) {
	hub := newHub(t, chat.Config{RateLimit: chat.RateLimit{Rate: 1000, Burst: 1, FloodAfter: time.Hour}})
	c, _ := serve(t, engine.NewHandler(hub, &toy{}, engine.Options{}))
	c.in <- []byte("hi alice")
	c.wait(t, "welcome alice")
	for range 3 {
		c.in <- []byte("/who")
	}
	c.wait(t, "error slow down")
}

type discard struct{}

func (discard) Deliver(*chat.Event) {}
