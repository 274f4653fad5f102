// Package engine is the session engine: it runs every client connection,
// whatever its protocol and transport, through one life cycle.
//
//	greeting → handshake (read messages until the client says who it is:
//	name, password, what to resume) → login (password check, the name
//	registered with the hub, the encoder attached, the lobby joined) →
//	requests (read, rate-limit, parse, run through the command table) →
//	close with a typed reason, leaving every room on every exit path.
//
// The engine owns the handshake deadline, the server password, name retry,
// the rate limit, idle pings, close reasons and leaving. A front-end (a
// package under wire/) supplies only a Protocol: how to greet, how to read
// a login out of the handshake, how to parse one inbound message into a
// chat.Request and how to render an event into bytes. The transport (TCP
// stream or WebSocket) is behind the Conn interface, implemented by
// package server.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/parleychat/parley/chat"
)

// Encoder renders one event for one connection. It returns nil for events
// the connection does not show (for example its own messages on a protocol
// without echo). It runs on the connection's writer goroutine only, so it
// may keep state. Encoders should use chat.Event.Encoded so that an event
// shared by many recipients is encoded once per format.
type Encoder interface {
	Encode(ev *chat.Event) []byte
}

// Skipper is implemented by encoders that can tell, without touching
// their state and from any goroutine, that they would write nothing for an
// event (a protocol without echo and the sender's own message): the
// connection then does not queue it, and it costs the client's queue
// bound nothing.
type Skipper interface {
	Skips(ev *chat.Event) bool
}

// Backlog is what a connection that has fallen behind reads instead of the
// live messages it dropped: the session's stored messages after the last
// one written (chat.Session implements it).
type Backlog interface {
	ID() uint64
	Backlog(after uint64, limit int) ([]*chat.Event, error)
}

// EncoderFunc adapts a function to Encoder.
type EncoderFunc func(ev *chat.Event) []byte

// Encode calls f(ev).
func (f EncoderFunc) Encode(ev *chat.Event) []byte { return f(ev) }

// Conn is a message-oriented client connection as the engine uses it: TCP
// streams (framed, line, raw text, IRC) and WebSockets look the same here.
// Writes never block: Deliver and Send queue, in order, and a writer drains
// the queue. server.Conn implements it.
type Conn interface {
	chat.Sink // Deliver queues an event, rendered by the encoder when written

	// ReadMessage returns the next inbound message: a frame's payload, a
	// line, a WebSocket message. A message the framing refuses is a
	// *BadInput; other errors end the connection.
	ReadMessage() ([]byte, error)
	// Send queues bytes to write as they are, in order with events.
	Send(b []byte)
	// SetEncoder attaches the encoder of delivered events.
	SetEncoder(enc Encoder)
	// SetBacklog tells the connection where to catch up from when it
	// falls behind (the session).
	SetBacklog(b Backlog)
	// SetReadDeadline bounds the reads that follow (zero: no bound); a
	// read past it fails with an error matching os.ErrDeadlineExceeded.
	SetReadDeadline(t time.Time) error
	// HandshakeDeadline is when a client must have logged in.
	HandshakeDeadline() time.Time
	// Finish writes what is queued, then closes; the first reason wins.
	Finish(reason CloseReason)
	// Fail records why reading stopped (unless a reason is set) and
	// returns the connection's final reason.
	Fail(err error) CloseReason
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// Logger names the connection in logs.
	Logger() *slog.Logger
}

// BadInput is an inbound message the framing refused: too long, or not
// parseable. Err is told to the client; a Fatal one means the stream can
// no longer be followed, and the connection closes as a protocol violation.
type BadInput struct {
	Err   *chat.Error
	Fatal bool
}

// Error returns the client-facing message.
func (e *BadInput) Error() string { return e.Err.Error() }

// Unwrap returns the domain error.
func (e *BadInput) Unwrap() error { return e.Err }

// Protocol is a front-end: what the engine needs to know about one wire
// protocol.
type Protocol interface {
	// Name labels the protocol in logs ("line", "framed", ...).
	Name() string
	// NewClient starts the protocol state of one connection.
	NewClient(env Env) Client
}

// Env is what a protocol's client may use during its handshake.
type Env struct {
	Hub    *chat.Hub
	Remote string // the peer's address ("host:port"), for logins checked during the handshake
	// Conn is the connection, for Send, AwaitRoom and AwaitCaughtUp; nil
	// for none (a client rendering without one), which makes them no-ops.
	// (An interface, not three func fields: those would cost every
	// connection three closures.)
	Conn EnvConn
}

// EnvConn is what Env needs of a connection: Send, and optionally
// AwaitRoom (chat.Pacer) and AwaitCaughtUp.
type EnvConn interface {
	Send(b []byte)
}

// Send queues bytes to the client (prompts, handshake replies).
func (e Env) Send(b []byte) {
	if e.Conn != nil {
		e.Conn.Send(b)
	}
}

// AwaitRoom waits while the connection's outbound queue is over half its
// bound (see chat.Pacer), so that a long reply a protocol writes itself is
// paced by the client instead of overflowing the queue.
func (e Env) AwaitRoom() {
	if p, ok := e.Conn.(chat.Pacer); ok {
		p.AwaitRoom()
	}
}

// AwaitCaughtUp waits, a bounded time, while the connection is catching
// up from the store (it fell behind): a protocol whose replies promise
// order with what came before (IRC's PONG) calls it.
func (e Env) AwaitCaughtUp() {
	if cu, ok := e.Conn.(interface{ AwaitCaughtUp() }); ok {
		cu.AwaitCaughtUp()
	}
}

// Client is one connection's protocol state. The engine calls its methods
// from the connection's reader goroutine only; the Encoder it returns runs
// on the writer goroutine.
type Client interface {
	// Greeting returns the bytes sent on connect, before anything is read
	// (nil: the client speaks first).
	Greeting() []byte
	// Handshake handles one message before the client has a session. It
	// returns a Login once the client has said who it is, nil to read on,
	// or an error to tell the client (see HandshakeError).
	Handshake(msg []byte) (*Login, error)
	// HandshakeError renders an error for a client without a session.
	// final says the connection closes after it; otherwise the client may
	// try again, and the rendering may prompt for it.
	HandshakeError(err error, final bool) []byte
	// Encoder returns the renderer of the session's events; it is attached
	// before the first event is delivered.
	Encoder(s *chat.Session) Encoder
	// Parse turns one inbound message of a session into a request. A
	// request with no Command does nothing (a blank line); an error is
	// told to the client, with the request's Ref.
	Parse(s *chat.Session, msg []byte) (chat.Request, error)
}

// Runner is implemented by clients whose requests do not all fit the
// command table (IRC answers WHOIS, MODE or CHATHISTORY with numerics of
// its own): the engine calls Run, after the rate limit, instead of
// Session.Do, for every request with a Command that Parse returned. An
// error is told to the client, with the request's Ref.
type Runner interface {
	Run(s *chat.Session, req chat.Request) error
}

// Starter is implemented by clients with something to send once the
// session has begun (welcomed, in the lobby) and before any request is
// read: IRC sends the lobby's member list.
type Starter interface {
	Started(s *chat.Session)
}

// ErrQuit is the handshake error of a client that asked to leave before it
// logged in: the connection closes as a quit.
var ErrQuit = &chat.Error{Code: chat.CodeInvalid, Message: "quit before logging in"}

// AutoLogin is implemented by clients of protocols that never say who they
// are (the welcome dialect): the engine logs them in right after the
// greeting with the login AutoLogin returns for the peer's address, asking
// again, with the attempt number, while the name is taken.
type AutoLogin interface {
	AutoLogin(remote net.Addr, attempt int) *Login
}

// Login is what a client said about itself in its handshake.
type Login struct {
	Name     string
	Password string // the server password given (checked by the engine)
	Ref      string // correlation token of the handshake, echoed on its errors
	// Protocol names the dialect in logs and the member list when it is
	// more precise than the Protocol's name ("tutorial", "native").
	Protocol string
	// History is the default replay on join for this client (see
	// chat.ClientInfo.History): negative for a protocol that cannot tell
	// history from live messages.
	History int
	// Resume is the last lobby message id the client saw, 0 for none.
	Resume uint64
	// Rooms are joined after the lobby, each resumed after its id.
	Rooms []RoomResume
	// Pings says the client answers server pings, so an idle one is
	// pinged and, if silent, disconnected.
	Pings bool
	// OneShot says the client cannot try another name: a refused login
	// ends the connection.
	OneShot bool
	// NoLobby leaves the client out of the lobby: it joins the rooms it
	// asks for (an IRC server run for a conformance suite).
	NoLobby bool
	// User and RealName are what the client says about its user (IRC's
	// username and realname), shown in WHOIS; "" for none.
	User, RealName string
	// Account and AccountPassword log in to an account (a native hello's
	// account). Without Account, a Name that is registered logs in with
	// Password: one password field is the account's password for a
	// registered name and the server password otherwise.
	Account, AccountPassword string
	// DMsAfter is the last direct message the client has, for an account
	// login's replay (see chat.ClientInfo.DMsAfter); 0 for none.
	DMsAfter uint64
	// Credential is an account login the protocol has checked already
	// (IRC SASL answers before registration ends); it wins over the
	// fields above.
	Credential *chat.Credential
}

// RoomResume is one room a login joins, resumed after After (0: the usual
// replay).
type RoomResume struct {
	Room  string
	After uint64
}

// Options are the engine's timing and retry policies. Zero fields take the
// defaults.
type Options struct {
	IdleTimeout      time.Duration // a pinging client silent this long is pinged; default 2 min, negative disables
	PingTimeout      time.Duration // a pinged client must send something within this; default 30 s
	MaxLoginAttempts int           // names or hellos a client may try; default 5
	MaxLoginRooms    int           // rooms one login may ask to join besides the lobby; default 50
}

// Defaults of Options.
const (
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultPingTimeout      = 30 * time.Second
	DefaultMaxLoginAttempts = 5
	DefaultMaxLoginRooms    = 50
)

func (o *Options) setDefaults() {
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.MaxLoginAttempts <= 0 {
		o.MaxLoginAttempts = DefaultMaxLoginAttempts
	}
	if o.MaxLoginRooms <= 0 {
		o.MaxLoginRooms = DefaultMaxLoginRooms
	}
}

// Handler runs connections of one protocol against a hub. It is what a
// server listener hands each accepted connection to.
type Handler struct {
	Hub      *chat.Hub
	Protocol Protocol
	Options  Options

	idle idleWatch // the idle check of every session that answers pings
}

// NewHandler returns a handler with the options' defaults filled in.
func NewHandler(hub *chat.Hub, p Protocol, opt Options) *Handler {
	opt.setDefaults()
	return &Handler{Hub: hub, Protocol: p, Options: opt}
}

// handshakeTimeout is the handshake error of a client that did not log in
// before the deadline; IsHandshakeTimeout tells it apart.
type handshakeTimeout struct{ err *chat.Error }

func (e handshakeTimeout) Error() string { return e.err.Error() }
func (e handshakeTimeout) Unwrap() error { return e.err }

// IsHandshakeTimeout reports whether a handshake error is the deadline
// passing, so a protocol can word it for the step its client was at.
func IsHandshakeTimeout(err error) bool {
	_, ok := err.(handshakeTimeout)
	return ok
}

// errHandled means the failure has been told and the connection finished.
var errHandled = errors.New("engine: handled")

// ServeConn runs one connection until it ends. The server closes the
// connection after it returns.
func (h *Handler) ServeConn(ctx context.Context, c Conn) {
	cl := h.Protocol.NewClient(Env{Hub: h.Hub, Remote: c.RemoteAddr().String(), Conn: c})
	_ = c.SetReadDeadline(c.HandshakeDeadline())
	if g := cl.Greeting(); len(g) > 0 {
		c.Send(g)
	}
	if al, ok := cl.(AutoLogin); ok {
		if s, l := h.autoLogin(c, cl, al); s != nil {
			h.serve(c, cl, s, l)
		}
		return
	}
	hs := &handshake{h: h, ctx: ctx, c: c, cl: cl}
	if p, ok := c.(Parker); ok {
		hs.parker = p
		hs.resume = hs.run
	}
	hs.run()
}

// Farewell is implemented by clients whose protocol says why the server
// closes a connection (IRC's ERROR): when the engine ends a session (idle,
// flooding, a protocol violation), the bytes Farewell returns are written
// last. A bye event, which the protocol renders itself, does not call it.
type Farewell interface {
	Farewell(reason CloseReason) []byte
}

// Refuse tells a connection over the server's limits why it is refused, in
// its own protocol: a client that speaks first has its first message read
// (within the read deadline the server set) so that the answer is in its
// dialect.
func (h *Handler) Refuse(c Conn, why *chat.Error) {
	cl := h.Protocol.NewClient(Env{Hub: h.Hub})
	if len(cl.Greeting()) == 0 {
		if msg, err := c.ReadMessage(); err == nil {
			_, _ = cl.Handshake(msg)
		}
	}
	c.Send(cl.HandshakeError(why, true))
}

// handshake is the state of a connection's handshake. It lives here
// rather than on a goroutine's stack so that the connection can park
// (Parker) between the messages of its handshake too: a crowd connecting
// at once costs no goroutine per client waiting to give its name.
type handshake struct {
	h        *Handler
	ctx      context.Context
	c        Conn
	cl       Client
	attempts int
	parker   Parker
	resume   func() // run, made once
}

// run reads until the client has a session, then serves it; it returns
// when the connection is done (told why and finished), or parks.
func (hs *handshake) run() {
	h, c, cl := hs.h, hs.c, hs.cl
	for {
		if hs.parker != nil && hs.parker.Park(hs.resume) {
			return
		}
		msg, err := c.ReadMessage()
		var l *Login
		if err == nil {
			l, err = cl.Handshake(msg)
			if err == nil && l == nil {
				continue // the client has more to say
			}
		} else if err = h.handshakeReadFailed(c, err); err == nil {
			return
		}
		if err == nil {
			var s *chat.Session
			if s, err = h.login(c, cl, l); err == nil {
				h.serve(c, cl, s, l)
				return
			}
			if errors.Is(err, errHandled) {
				return
			}
		}
		hs.attempts++
		final, reason := h.finalError(err, hs.attempts, l)
		// (A wrong account password is logged by the hub as a failed login.)
		if chat.ErrorCode(err) == chat.CodeAuth && (l == nil || l.Account == "" && l.Credential == nil && !h.Hub.IsRegistered(l.Name)) {
			c.Logger().Warn("wrong server password", "protocol", h.Protocol.Name())
		}
		c.Send(cl.HandshakeError(err, final))
		if final {
			c.Finish(reason)
			return
		}
		if hs.ctx.Err() != nil {
			c.Finish(ReasonServerShutdown)
			return
		}
	}
}

// autoLogin logs in a client that never says who it is.
func (h *Handler) autoLogin(c Conn, cl Client, al AutoLogin) (*chat.Session, *Login) {
	var err error
	for attempt := 1; attempt <= h.Options.MaxLoginAttempts+5; attempt++ {
		l := al.AutoLogin(c.RemoteAddr(), attempt)
		var s *chat.Session
		if s, err = h.login(c, cl, l); err == nil {
			return s, l
		}
		if errors.Is(err, errHandled) {
			return nil, nil
		}
		if chat.ErrorCode(err) != chat.CodeNameTaken {
			break
		}
	}
	_, reason := h.finalError(err, h.Options.MaxLoginAttempts, nil)
	c.Send(cl.HandshakeError(err, true))
	c.Finish(reason)
	return nil, nil
}

// ErrHandshakeTimeout is the handshake error of a client that has not
// logged in by the deadline (IsHandshakeTimeout matches it).
var ErrHandshakeTimeout error = handshakeTimeout{&chat.Error{Code: chat.CodeProtocol, Message: "no name within the handshake deadline; closing the connection"}}

// handshakeReadFailed handles a read error before login. It returns the
// error to tell the client (the handshake goes on unless it is final), or
// nil when the connection is done.
func (h *Handler) handshakeReadFailed(c Conn, err error) error {
	var bad *BadInput
	switch {
	case errors.As(err, &bad):
		return bad
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrHandshakeTimeout
	}
	c.Fail(err)
	return nil
}

// finalError says whether a handshake error ends the connection, and with
// what reason.
func (h *Handler) finalError(err error, attempts int, l *Login) (bool, CloseReason) {
	var bad *BadInput
	switch {
	case errors.Is(err, ErrQuit):
		return true, ReasonQuit
	case errors.As(err, &bad):
		if bad.Fatal {
			return true, ReasonProtocolViolation
		}
	case IsHandshakeTimeout(err):
		return true, ReasonHandshakeTimeout
	}
	switch chat.ErrorCode(err) {
	case chat.CodeAuth:
		return true, ReasonAuthFailed
	case chat.CodeShutdown:
		return true, ReasonServerShutdown
	case chat.CodeBadVersion:
		return true, ReasonHandshakeFailed
	}
	if attempts >= h.Options.MaxLoginAttempts || (l != nil && l.OneShot) {
		return true, ReasonHandshakeFailed
	}
	return false, ReasonNone
}

// login checks the password, registers the session, attaches the encoder
// and joins the rooms. On an error before the session exists the caller
// tells the client; after it, login has (and returns errHandled).
func (h *Handler) login(c Conn, cl Client, l *Login) (*chat.Session, error) {
	proto := l.Protocol
	if proto == "" {
		proto = h.Protocol.Name()
	}
	info := chat.ClientInfo{Protocol: proto, Remote: c.RemoteAddr().String(), History: l.History, User: l.User, RealName: l.RealName, DMsAfter: l.DMsAfter}
	account, password := l.Account, l.AccountPassword
	if account == "" && h.Hub.IsRegistered(l.Name) {
		account, password = l.Name, l.Password
	}
	var s *chat.Session
	var err error
	if cred := l.Credential; cred != nil || account != "" {
		if cred == nil {
			if password == "" {
				return nil, chat.Errorf(chat.CodeNameRegistered, "%q is a registered name: give its password to log in, or choose another name", account)
			}
			if cred, err = h.Hub.Authenticate(account, password, info.Remote); err != nil {
				return nil, err
			}
		}
		// A correct account login needs no server password.
		s, err = h.Hub.RegisterAccount(c, cred, info)
	} else {
		if err := h.Hub.CheckPassword(l.Password); err != nil {
			return nil, err
		}
		s, err = h.Hub.Register(c, l.Name, info)
	}
	if err != nil {
		return nil, err
	}
	c.SetEncoder(cl.Encoder(s))
	c.SetBacklog(s)
	_ = c.SetReadDeadline(time.Time{})
	if l.NoLobby {
		s.Welcome()
	} else if err := s.Begin(chat.JoinOptions{After: l.Resume}); err != nil {
		c.Deliver(chat.ErrorEvent(err, l.Ref))
		c.Finish(ReasonHandshakeFailed)
		return nil, errHandled
	}
	rooms := l.Rooms
	if len(rooms) > h.Options.MaxLoginRooms {
		s.Send(chat.ErrorEvent(chat.Errorf(chat.CodeInvalid, "a login may join at most %d rooms; the other %d were not joined", h.Options.MaxLoginRooms, len(rooms)-h.Options.MaxLoginRooms), l.Ref))
		rooms = rooms[:h.Options.MaxLoginRooms]
	}
	for _, r := range rooms {
		// Each join costs what a join request costs: a login cannot be
		// used to create rooms faster than the rate limit allows.
		if !throttle(c, s, l.Ref) {
			return nil, errHandled
		}
		if err := s.Join(r.Room, chat.JoinOptions{After: r.After}); err != nil {
			s.Send(chat.ErrorEvent(err, l.Ref))
		}
	}
	return s, nil
}

// Parker is implemented by connections that can wait for their next
// message without holding a goroutine (server.Conn, for plain TCP). Park
// arranges for resume to run on a new goroutine once input arrives or the
// connection is closed or finished, and reports true: the caller then
// returns at once and touches the connection no more. It reports false,
// having done nothing, when input is already waiting or it cannot park;
// the caller then reads as usual.
type Parker interface {
	Park(resume func()) bool
}

// loop is the request loop of one session. Its state lives here rather
// than on a goroutine's stack, so that between messages the connection
// can park (Parker) and an idle session costs no goroutine.
//
// The loop is also the session's Conn for the engine's own use: its Finish
// says the client's Farewell first, if it has one. So a session costs one
// allocation here, not a loop and a wrapper of its connection; the
// client's optional interfaces are asserted where they are used, not kept.
type loop struct {
	Conn
	h        *Handler
	cl       Client
	s        *chat.Session
	farewell sync.Once
	resume   func() // run, made once; nil if the connection cannot park
	idle     idleState
}

// Finish ends the connection, after the client's farewell if it has one
// (once, whoever finishes first).
func (lp *loop) Finish(reason CloseReason) {
	if f, ok := lp.cl.(Farewell); ok {
		lp.farewell.Do(func() { lp.Send(f.Farewell(reason)) })
	}
	lp.Conn.Finish(reason)
}

// serve runs the request loop of a session that has logged in.
func (h *Handler) serve(c Conn, cl Client, s *chat.Session, l *Login) {
	lp := &loop{Conn: c, h: h, cl: cl, s: s}
	if l.Pings && h.Options.IdleTimeout > 0 {
		h.watch(lp)
	}
	if st, ok := cl.(Starter); ok {
		st.Started(s)
	}
	if _, ok := c.(Parker); ok {
		lp.resume = lp.run
	}
	lp.run()
}

// run reads and runs requests until the session ends, or until the
// connection parks (then it returns, and resumes on another goroutine).
func (lp *loop) run() {
	c, s := Conn(lp), lp.s
	defer func() {
		if p := recover(); p != nil {
			lp.end() // the server recovers and closes the connection
			panic(p)
		}
	}()
	for {
		if lp.resume != nil && lp.Conn.(Parker).Park(lp.resume) {
			return
		}
		msg, err := c.ReadMessage()
		if err != nil {
			var bad *BadInput
			if errors.As(err, &bad) {
				s.Send(chat.ErrorEvent(bad.Err, ""))
				if !bad.Fatal {
					continue
				}
				c.Logger().Warn("protocol violation", "err", bad.Err)
				c.Finish(ReasonProtocolViolation)
			}
			s.Leave(c.Fail(err).String())
			lp.end()
			return
		}
		if lp.idle.watched {
			lp.idle.last.Store(time.Now().UnixNano())
		}
		req, err := lp.cl.Parse(s, msg)
		if !throttle(c, s, req.Ref) {
			lp.end()
			return
		}
		if err == nil && req.Command != "" {
			if r, ok := lp.cl.(Runner); ok {
				err = r.Run(s, req)
			} else {
				err = s.Do(req)
			}
		}
		if err != nil {
			s.Send(chat.ErrorEvent(err, req.Ref))
		}
		if s.Closed() {
			lp.end()
			return
		}
	}
}

// end stops what the loop started.
func (lp *loop) end() {
	lp.h.unwatch(lp)
}
