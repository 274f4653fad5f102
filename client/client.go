// Package client is parley's client library: it dials a server, speaks the
// native protocol over frames, delivers typed events, and keeps the session
// alive across disconnects: it reconnects with exponential backoff and
// jitter, rejoins the rooms it was in and resumes each from the last message
// id it saw, so nothing is missed and nothing is shown twice.
//
// The terminal UI, the plain (scriptable) client and the load generator all
// use it. Events are read by one goroutine per client and handed over on a
// channel; received text is sanitized for terminals unless Config.Raw is set.
package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// Config says where to connect and how to behave. Zero values take the
// documented defaults.
type Config struct {
	Addr string // host:port of the server's framed protocol
	// Others are more addresses of the same chat server (the other nodes
	// of a cluster): a connection attempt that fails moves on to the
	// next, so a client whose node died resumes on another.
	Others   []string
	Name     string      // nickname
	Password string      // the account's password for a registered name, else the server password, if the server wants one
	TLS      *tls.Config // nil for plain TCP
	Rooms    []string    // rooms to join besides the lobby
	Client   string      // client name and version reported in the hello

	DialTimeout  time.Duration // per connection attempt, handshake included; default 5s
	WriteTimeout time.Duration // per request; default 10s
	PingInterval time.Duration // keepalive; default 30s, negative disables
	MinBackoff   time.Duration // first reconnect delay; default 250ms
	MaxBackoff   time.Duration // longest reconnect delay; default 30s
	NoReconnect  bool          // end the client when the connection drops

	EventBuffer   int  // capacity of the Events channel; default 256
	MaxFrameBytes int  // largest frame accepted from the server; default 1 MiB
	Raw           bool // deliver received text as is, without Sanitize

	// Jitter returns a number in [0, 1) used to spread reconnects; default
	// math/rand/v2. Tests set it to make delays predictable.
	Jitter func() float64
}

func (c *Config) defaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 1 << 20
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	if c.Client == "" {
		c.Client = "parley-client"
	}
}

// State is the connection state reported by TypeState events.
type State int

// Connection states.
const (
	StateConnected    State = iota + 1 // a session is up (first connect or reconnect)
	StateDisconnected                  // the connection dropped; a reconnect is scheduled
	StateReconnecting                  // a reconnect attempt has started
	StateClosed                        // the client has stopped for good
)

var stateNames = [...]string{StateConnected: "connected", StateDisconnected: "disconnected", StateReconnecting: "reconnecting", StateClosed: "closed"}

// String returns "connected", "disconnected", "reconnecting" or "closed".
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// TypeState is the Type of the events the client itself makes to report a
// change of connection state. It is not a server event type.
const TypeState = "client.state"

// Event is one server event, or a state change made by the client
// (Type == TypeState).
type Event struct {
	native.Event

	State   State         // TypeState: the new state
	Err     error         // TypeState: why the connection dropped or the client closed
	RetryIn time.Duration // StateDisconnected: delay before the next attempt
	Attempt int           // StateDisconnected, StateReconnecting: attempt number, from 1
	Addr    string        // StateConnected: the server (of Config.Addr and Others) it is connected to
}

// ServerError is an error event the server answered a hello with.
type ServerError struct {
	Code    string
	Message string
}

// Error returns the server's message and code.
func (e *ServerError) Error() string { return e.Message + " (" + e.Code + ")" }

// DialError is a failure to reach the server at all.
type DialError struct {
	Addr string
	Err  error
}

// Error names the address and the cause.
func (e *DialError) Error() string {
	return fmt.Sprintf("cannot reach a parley server at %s: %v", e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *DialError) Unwrap() error { return e.Err }

// ErrNotConnected is returned by Send while the client is between
// connections; nothing was sent.
var ErrNotConnected = errors.New("not connected")

// ErrClosed is returned by Send after Close or Quit.
var ErrClosed = errors.New("client closed")

// Client is a connection to a parley server that survives disconnects. Its
// methods are safe for concurrent use.
type Client struct {
	cfg    Config
	events chan Event
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	done   <-chan struct{} // ctx.Done()
	wg     sync.WaitGroup
	refs   atomic.Uint64
	next   atomic.Uint64 // which of Config.Addr and Config.Others to dial: this, modulo their number

	closeOnce sync.Once
	quitting  atomic.Bool

	wmu  sync.Mutex // guards conn and wbuf; held while writing
	conn *conn
	wbuf []byte

	mu      sync.Mutex // guards the fields below; never held while wmu is wanted
	name    string
	server  string
	welcome native.Event

	// Resume state, owned by the run goroutine (read under mu by Rooms).
	lastSeen map[string]uint64 // room key ("" for DMs) -> highest id seen
	joined   map[string]bool   // rooms the session is in
}

// conn is one live connection.
type conn struct {
	nc       net.Conn
	fr       *frame.Reader
	dead     chan struct{} // closed when the connection is finished
	lastRecv atomic.Int64  // unix nanos of the last frame received
	once     sync.Once
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.dead)
		_ = c.nc.Close()
	})
}

// Dial connects to the server, says hello and waits for the welcome. A
// server that cannot be reached gives a *DialError naming the address; a
// refused hello (name taken, bad password) gives a *ServerError. On success
// the welcome is the first event on Events.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg.defaults()
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:      cfg,
		events:   make(chan Event, cfg.EventBuffer),
		ctx:      cctx,
		cancel:   cancel,
		done:     cctx.Done(),
		name:     cfg.Name,
		lastSeen: map[string]uint64{},
		joined:   map[string]bool{},
	}
	for _, r := range cfg.Rooms {
		if k, err := chat.ValidateRoom(r); err == nil {
			c.joined[k] = true
		}
	}
	stop := context.AfterFunc(ctx, cancel)
	cn, welcome, err := c.connect(cctx)
	for range cfg.Others { // each other node once, if the first is not there
		var de *DialError
		if !errors.As(err, &de) || cctx.Err() != nil {
			break
		}
		cn, welcome, err = c.connect(cctx)
	}
	stop()
	if err != nil {
		cancel()
		return nil, err
	}
	if !c.setConn(cn, welcome) {
		return nil, &DialError{Addr: cfg.Addr, Err: context.Canceled}
	}
	c.events <- c.wrap(welcome)
	c.wg.Add(1)
	go c.run(cn)
	return c, nil
}

// Events returns the channel of events. It is closed after the client has
// stopped (Close, Quit, or a lost connection with NoReconnect).
func (c *Client) Events() <-chan Event { return c.events }

// Name returns the nickname the server knows this client by.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Server returns the server's name from its last welcome.
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// Addr returns the address the client connects to (of Config.Addr and
// Config.Others, the one it is at).
func (c *Client) Addr() string {
	if len(c.cfg.Others) == 0 {
		return c.cfg.Addr
	}
	n := uint64(len(c.cfg.Others) + 1)
	if i := c.next.Load() % n; i > 0 {
		return c.cfg.Others[i-1]
	}
	return c.cfg.Addr
}

// Welcome returns the server's last welcome event.
func (c *Client) Welcome() native.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// RequestedRooms returns the rooms Config.Rooms asked for, as room keys,
// in the order given.
func (c *Client) RequestedRooms() []string {
	var out []string
	for _, r := range c.cfg.Rooms {
		if k, err := chat.ValidateRoom(r); err == nil && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// LastSeen returns the highest message id seen in room (its key).
func (c *Client) LastSeen(room string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeen[room]
}

// NewRef returns a fresh correlation token for a request.
func (c *Client) NewRef() string { return "r" + strconv.FormatUint(c.refs.Add(1), 10) }

// historyRefPrefix marks refs of explicit history requests, whose replies
// are older messages that must not be deduplicated away.
const historyRefPrefix = "h"

// Send sends one request. A request without a Ref gets a fresh one, which is
// returned: the server echoes it on the reply, on the sender's copy of a
// message (the delivery confirmation) and on an error caused by the request.
// While disconnected it returns ErrNotConnected and sends nothing.
func (c *Client) Send(req native.Request) (string, error) {
	if req.Ref == "" {
		if req.Type == native.TypeHistory {
			req.Ref = historyRefPrefix + strconv.FormatUint(c.refs.Add(1), 10)
		} else {
			req.Ref = c.NewRef()
		}
	}
	js, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed() {
		return "", ErrClosed
	}
	if c.conn == nil {
		return "", ErrNotConnected
	}
	c.wbuf = frame.AppendFrame(c.wbuf[:0], js)
	_ = c.conn.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if _, err := c.conn.nc.Write(c.wbuf); err != nil {
		c.conn.close() // the run goroutine notices and reconnects
		c.conn = nil
		return "", fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return req.Ref, nil
}

func str(s string) *string { return &s }

// Say sends a message to a room.
func (c *Client) Say(room, text string) (string, error) {
	return c.Send(native.Request{Type: native.TypeSay, Room: room, Text: str(text)})
}

// Me sends an action to a room.
func (c *Client) Me(room, text string) (string, error) {
	return c.Send(native.Request{Type: native.TypeMe, Room: room, Text: str(text)})
}

// DM sends a direct message.
func (c *Client) DM(to, text string) (string, error) {
	return c.Send(native.Request{Type: native.TypeDM, To: to, Text: str(text)})
}

// Join joins a room.
func (c *Client) Join(room string) (string, error) {
	return c.Send(native.Request{Type: native.TypeJoin, Room: room})
}

// Part leaves a room.
func (c *Client) Part(room, reason string) (string, error) {
	return c.Send(native.Request{Type: native.TypePart, Room: room, Reason: reason})
}

// Command runs a /command line through the server's command table.
func (c *Client) Command(line string) (string, error) {
	return c.Send(native.Request{Type: native.TypeCommand, Text: str(line)})
}

// Ping asks the server for a pong.
func (c *Client) Ping() (string, error) { return c.Send(native.Request{Type: native.TypePing}) }

// Quit tells the server the user is leaving and stops reconnecting. The
// Events channel closes once the server has said goodbye and hung up (or
// right away if no connection is up); call Close to wait for that.
func (c *Client) Quit(reason string) error {
	c.quitting.Store(true)
	_, err := c.Send(native.Request{Type: native.TypeQuit, Reason: reason})
	if err != nil {
		c.wmu.Lock()
		if c.conn != nil {
			c.conn.close()
		}
		c.wmu.Unlock()
	}
	return err
}

// Quitting reports whether the client is leaving for good (Quit was
// called or the server said goodbye).
func (c *Client) Quitting() bool { return c.quitting.Load() }

// Close stops the client: it closes the connection, stops reconnecting,
// waits for its goroutines to end and closes the Events channel. It is safe
// to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		c.cancel()
		if c.conn != nil {
			c.conn.close()
			c.conn = nil
		}
		c.wmu.Unlock()
	})
	c.wg.Wait()
	return nil
}

// setConn makes cn the live connection. It reports false, and closes cn,
// if the client has been closed meanwhile.
func (c *Client) setConn(cn *conn, welcome native.Event) bool {
	c.wmu.Lock()
	if c.closed() {
		c.wmu.Unlock()
		cn.close()
		return false
	}
	c.conn = cn
	c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.welcome = welcome
	c.server = welcome.Server
	if welcome.Name != "" {
		c.name = welcome.Name
	}
	return true
}

// hello builds the hello for the next connection: the current name, the
// rooms the session is in and, for resume, the last id seen in each.
func (c *Client) hello() native.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := native.Request{Type: native.TypeHello, Name: c.name, Version: native.Version, Client: c.cfg.Client, Password: c.cfg.Password}
	for r := range c.joined {
		if r == chat.DefaultRoom {
			continue
		}
		req.Rooms = append(req.Rooms, r)
	}
	slices.Sort(req.Rooms)
	req.DMSince = c.lastSeen[""] // an account's direct messages resume after it
	for r, id := range c.lastSeen {
		if r != "" && id > 0 && (c.joined[r] || r == chat.DefaultRoom) {
			if req.Since == nil {
				req.Since = map[string]uint64{}
			}
			req.Since[r] = id
		}
	}
	return req
}

// connect dials and performs the handshake, returning the live connection
// and the welcome.
func (c *Client) connect(ctx context.Context) (cn *conn, welcome native.Event, err error) {
	addr := c.Addr()
	defer func() {
		var de *DialError
		if errors.As(err, &de) && len(c.cfg.Others) > 0 {
			c.next.Add(1) // try the next node the next time
		}
	}()
	return c.connectTo(ctx, addr)
}

// connectTo is connect to one address.
func (c *Client) connectTo(ctx context.Context, addr string) (*conn, native.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	var nc net.Conn
	var err error
	if c.cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: c.cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, native.Event{}, &DialError{Addr: addr, Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	js, _ := json.Marshal(c.hello())
	if _, err := nc.Write(frame.AppendFrame(nil, js)); err != nil {
		nc.Close()
		return nil, native.Event{}, &DialError{Addr: addr, Err: err}
	}
	fr := frame.NewReader(bufio.NewReaderSize(nc, 16<<10), c.cfg.MaxFrameBytes)
	for {
		payload, err := fr.ReadFrame()
		if err != nil {
			nc.Close()
			return nil, native.Event{}, &DialError{Addr: addr, Err: fmt.Errorf("handshake: %w", err)}
		}
		ev, err := native.DecodeEvent(payload)
		if err != nil {
			nc.Close()
			return nil, native.Event{}, &DialError{Addr: addr, Err: fmt.Errorf("handshake: %w (is this a parley server?)", err)}
		}
		switch ev.Type {
		case native.TypeWelcome:
			if !stop() {
				nc.Close()
				return nil, native.Event{}, &DialError{Addr: addr, Err: ctx.Err()}
			}
			_ = nc.SetDeadline(time.Time{})
			if !c.cfg.Raw {
				SanitizeEvent(&ev)
			}
			cn := &conn{nc: nc, fr: fr, dead: make(chan struct{})}
			cn.lastRecv.Store(time.Now().UnixNano())
			return cn, ev, nil
		case native.TypeError:
			nc.Close()
			if !c.cfg.Raw {
				SanitizeEvent(&ev)
			}
			return nil, native.Event{}, &ServerError{Code: ev.Code, Message: ev.Message}
		}
	}
}

func (c *Client) wrap(ev native.Event) Event { return Event{Event: ev} }

// emit hands an event to the consumer. It reports false if the client is
// closing.
func (c *Client) emit(ev Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.done:
		return false
	}
}

func (c *Client) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// run reads the connection until it fails, then reconnects, until Close.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	defer close(c.events)
	for {
		err := c.serve(cn)
		c.wmu.Lock()
		if c.conn == cn {
			c.conn = nil
		}
		c.wmu.Unlock()
		cn.close()
		if c.closed() {
			c.emitFinal(Event{Event: native.Event{Type: TypeState}, State: StateClosed, Err: ErrClosed})
			return
		}
		if c.quitting.Load() || c.cfg.NoReconnect {
			c.emitFinal(Event{Event: native.Event{Type: TypeState}, State: StateClosed, Err: err})
			return
		}
		var ok bool
		if cn, ok = c.reconnect(err); !ok {
			c.emitFinal(Event{Event: native.Event{Type: TypeState}, State: StateClosed, Err: ErrClosed})
			return
		}
	}
}

// emitFinal delivers the last event without blocking forever on a consumer
// that has gone away.
func (c *Client) emitFinal(ev Event) {
	select {
	case c.events <- ev:
	default:
	}
}

// Backoff returns the delay before reconnect attempt n (from 1): an
// exponential delay from min doubling up to max, of which the upper half is
// scaled by jitter (in [0, 1)) so that clients disconnected together do not
// come back together.
func Backoff(n int, min, max time.Duration, jitter float64) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(float64(d-half)*jitter)
}

// reconnect waits and redials until a session is up again or the client is
// closed.
func (c *Client) reconnect(cause error) (*conn, bool) {
	for attempt := 1; ; attempt++ {
		delay := Backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff, c.cfg.Jitter())
		if !c.emit(Event{Event: native.Event{Type: TypeState}, State: StateDisconnected, Err: cause, RetryIn: delay, Attempt: attempt}) {
			return nil, false
		}
		t := time.NewTimer(delay)
		select {
		case <-c.done:
			t.Stop()
			return nil, false
		case <-t.C:
		}
		if !c.emit(Event{Event: native.Event{Type: TypeState}, State: StateReconnecting, Attempt: attempt}) {
			return nil, false
		}
		cn, welcome, err := c.connect(c.ctx)
		if err != nil {
			cause = err
			continue
		}
		if !c.setConn(cn, welcome) {
			return nil, false
		}
		if !c.emit(Event{Event: native.Event{Type: TypeState}, State: StateConnected, Attempt: attempt, Addr: c.Addr()}) {
			return nil, false
		}
		if !c.emit(c.wrap(welcome)) {
			return nil, false
		}
		return cn, true
	}
}

// serve reads one connection until it ends, delivering events, and returns
// why it ended.
func (c *Client) serve(cn *conn) error {
	if c.cfg.PingInterval > 0 {
		c.wg.Add(1)
		go c.keepalive(cn)
	}
	for {
		payload, err := cn.fr.ReadFrame()
		if err != nil {
			return err
		}
		cn.lastRecv.Store(time.Now().UnixNano())
		ev, err := native.DecodeEvent(payload)
		if err != nil {
			return err
		}
		if ev.Type == native.TypePing { // an idle check by the server: answer, show nothing
			_, _ = c.Send(native.Request{Type: native.TypePong, Ref: ev.Ref})
			continue
		}
		if !c.accept(&ev) {
			continue
		}
		if !c.cfg.Raw {
			SanitizeEvent(&ev)
		}
		if !c.emit(Event{Event: ev}) {
			return ErrClosed
		}
		if ev.Type == native.TypeBye && ev.Reason == chat.ByeGoodbye {
			c.quitting.Store(true)
		}
	}
}

// accept updates the resume state with one event and reports whether the
// event should be delivered (false for a duplicate).
func (c *Client) accept(ev *native.Event) bool {
	switch ev.Type {
	case native.TypeSay, native.TypeMe, native.TypeDM:
		if ev.ID == 0 {
			return true
		}
		key := ev.Room
		if ev.Type == native.TypeDM {
			key = ""
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		last := c.lastSeen[key]
		switch {
		case ev.ID > last:
			c.lastSeen[key] = ev.ID
		case len(ev.Ref) > 0 && ev.Ref[:1] == historyRefPrefix:
			// an explicit page of older history: deliver, keep the mark
		case ev.History:
			return false // replayed again after a resume: already shown
		default:
			// A live message with an old id: the server has lost its
			// history (a restart without persistence) and counts anew.
			c.lastSeen[key] = ev.ID
		}
	case native.TypeJoin, native.TypePart:
		c.mu.Lock()
		defer c.mu.Unlock()
		if chat.NameKey(ev.Name) == chat.NameKey(c.name) {
			if ev.Type == native.TypeJoin {
				c.joined[ev.Room] = true
			} else {
				delete(c.joined, ev.Room)
			}
		}
	case native.TypeNick:
		c.mu.Lock()
		defer c.mu.Unlock()
		if chat.NameKey(ev.Old) == chat.NameKey(c.name) {
			c.name = ev.Name
		}
	}
	return true
}

// keepalive pings the server and drops the connection when nothing has been
// heard for two intervals.
func (c *Client) keepalive(cn *conn) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.dead:
			return
		case <-c.done:
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, cn.lastRecv.Load())) > 2*c.cfg.PingInterval {
				cn.close()
				return
			}
			c.wmu.Lock()
			same := c.conn == cn
			c.wmu.Unlock()
			if same {
				_, _ = c.Ping()
			}
		}
	}
}
