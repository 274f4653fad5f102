package frame

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/native"
)

// maxHelloAttempts is how many hellos a native client may send before one
// is accepted (a taken name may be retried with another).
const maxHelloAttempts = 5

var fmtNative = chat.NewFormat()

// nativeEncoder renders events as framed JSON. The shared form of an event
// is encoded once for every native recipient; the sender's own copy, which
// carries its ref, is encoded separately.
type nativeEncoder struct{ self uint64 }

func (n *nativeEncoder) Encode(ev *chat.Event) []byte {
	if ev.Ref != "" && (ev.Session == n.self || ev.Session == 0) {
		return encodeNative(native.FromChat(ev, true))
	}
	return ev.Encoded(fmtNative, func(ev *chat.Event) []byte { return encodeNative(native.FromChat(ev, false)) })
}

func encodeNative(ev native.Event) []byte {
	js := native.Marshal(ev)
	b := make([]byte, 0, HeaderLen+len(js))
	return AppendFrame(b, js)
}

// nativeConn is one native-protocol connection.
type nativeConn struct {
	hub *chat.Hub
	c   *server.Conn
	fr  *Reader
	s   *chat.Session
}

// writeNow sends an event synchronously, during the handshake only.
func (n *nativeConn) writeNow(ev native.Event) { _ = n.c.WriteNow(encodeNative(ev)) }

func errorWire(err error, ref string) native.Event {
	return native.Event{Type: "error", Ref: ref, Code: string(chat.ErrorCode(err)), Message: chat.ErrorMessage(err)}
}

func (n *nativeConn) serve(ctx context.Context, first []byte) {
	payload := first
	for attempt := 1; ; attempt++ {
		ok, fatal := n.hello(payload)
		if ok {
			break
		}
		if fatal != server.ReasonNone || attempt >= maxHelloAttempts {
			if fatal == server.ReasonNone {
				fatal = server.ReasonHandshakeFailed
			}
			n.c.Finish(fatal)
			return
		}
		var err error
		if payload, err = n.fr.ReadFrame(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				n.writeNow(errorWire(chat.Errorf(chat.CodeProtocol, "no hello accepted within %s; closing the connection", n.c.Limits().HandshakeTimeout), ""))
				n.c.Finish(server.ReasonHandshakeTimeout)
				return
			}
			h := Handler{Hub: n.hub}
			h.readFailed(n.c, err, func(c *server.Conn, e *chat.Error) { n.writeNow(errorWire(e, "")) })
			return
		}
	}
	_ = n.c.SetReadDeadline(time.Time{})
	for {
		payload, err := n.read()
		if err != nil {
			h := Handler{Hub: n.hub}
			reason := h.readFailed(n.c, err, func(c *server.Conn, e *chat.Error) { c.Deliver(chat.ErrorEvent(e, "")) })
			n.s.Leave(reason.String())
			return
		}
		req, err := native.DecodeRequest(payload)
		if !server.Throttle(n.c, n.s, req.Ref) {
			return
		}
		if err == nil {
			err = n.handle(req)
		}
		if err != nil {
			n.s.Send(chat.ErrorEvent(err, req.Ref))
		}
		if n.s.Closed() {
			return
		}
	}
}

// errNoPong is the read error of a client that did not answer a ping.
var errNoPong = fmt.Errorf("no answer to a ping: %w", os.ErrDeadlineExceeded)

// read returns the next frame. A client silent for the idle timeout is sent
// a ping; if nothing at all arrives within the ping timeout after it, read
// returns errNoPong (a deadline error: the connection closes as idle).
func (n *nativeConn) read() ([]byte, error) {
	lim := n.c.Limits()
	if lim.IdleTimeout <= 0 {
		return n.fr.ReadFrame()
	}
	wait := lim.IdleTimeout
	for pinged := false; ; pinged = true {
		_ = n.c.SetIdleDeadline(time.Now().Add(wait))
		// Peek consumes nothing, so a timeout here loses no input; the
		// rest of the frame must arrive within the same deadline.
		_, err := n.c.Reader().Peek(1)
		if err == nil {
			return n.fr.ReadFrame()
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || n.c.Finishing() {
			return nil, err
		}
		if pinged {
			return nil, errNoPong
		}
		n.s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindPing, Time: time.Now()}})
		wait = lim.PingTimeout
	}
}

// hello handles one hello attempt. It reports whether the session started,
// and, when the failure is final, why the connection must close
// (ReasonNone: the client may try again).
func (n *nativeConn) hello(payload []byte) (ok bool, fatal server.CloseReason) {
	req, err := native.DecodeRequest(payload)
	if err == nil && req.Type != "hello" {
		err = chat.Errorf(chat.CodeInvalid, "the first event must be a hello, not %q", req.Type)
	}
	if err == nil && req.Version < 0 {
		err = chat.Errorf(chat.CodeBadVersion, "protocol version %d is not supported; this server speaks %d", req.Version, native.Version)
	}
	if err != nil {
		n.writeNow(errorWire(err, req.Ref))
		if chat.ErrorCode(err) == chat.CodeBadVersion {
			return false, server.ReasonHandshakeFailed
		}
		return false, server.ReasonNone
	}
	if err := n.hub.CheckPassword(req.Password); err != nil {
		n.c.Logger().Warn("wrong server password", "protocol", "native")
		n.writeNow(errorWire(err, req.Ref))
		return false, server.ReasonAuthFailed
	}
	info := chat.ClientInfo{Protocol: "native", Remote: n.c.RemoteAddr().String()}
	s, err := n.hub.Register(n.c, req.Name, info)
	if err != nil {
		n.writeNow(errorWire(err, req.Ref))
		if chat.ErrorCode(err) == chat.CodeShutdown {
			return false, server.ReasonServerShutdown
		}
		return false, server.ReasonNone
	}
	n.c.SetEncoder(&nativeEncoder{self: s.ID()})
	n.s = s
	if err := s.Begin(chat.JoinOptions{After: req.Since[chat.DefaultRoom]}); err != nil {
		s.Send(chat.ErrorEvent(err, req.Ref))
		return false, server.ReasonHandshakeFailed
	}
	for _, room := range helloRooms(req) {
		if err := s.Join(room, chat.JoinOptions{After: req.Since[room]}); err != nil {
			s.Send(chat.ErrorEvent(err, req.Ref))
		}
	}
	return true, server.ReasonNone
}

// helloRooms lists the rooms a hello asks to be in besides the lobby: those
// named in rooms and in since, in a stable order.
func helloRooms(req native.Request) []string {
	seen := map[string]bool{chat.DefaultRoom: true}
	var out []string
	for _, r := range req.Rooms {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	var resumed []string
	for r := range req.Since {
		if !seen[r] {
			seen[r] = true
			resumed = append(resumed, r)
		}
	}
	sort.Strings(resumed)
	return append(out, resumed...)
}

// handle runs one request of a registered session.
func (n *nativeConn) handle(req native.Request) error {
	s := n.s
	now := time.Now()
	switch req.Type {
	case "say":
		return s.Say(req.Room, req.TextOf(), req.Ref)
	case "me":
		return s.Me(req.Room, req.TextOf(), req.Ref)
	case "dm":
		return s.DM(req.To, req.TextOf(), req.Ref)
	case "join":
		return s.Join(req.Room, chat.JoinOptions{After: req.After, History: req.Limit})
	case "part":
		return s.Part(req.Room, req.Reason)
	case "nick":
		return s.Nick(req.Name)
	case "topic":
		if req.Text != nil {
			return s.SetTopic(req.Room, *req.Text)
		}
		key, topic, by, err := s.Topic(req.Room)
		if err != nil {
			return err
		}
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindTopic, Room: key, From: by, Text: topic, Time: now}, Ref: req.Ref})
	case "who":
		key, names, err := s.Who(req.Room)
		if err != nil {
			return err
		}
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindMembers, Room: key, Time: now}, Members: names, Ref: req.Ref})
	case "rooms":
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindRooms, Time: now}, Rooms: s.Rooms(), Ref: req.Ref})
	case "pong":
		// the answer to a server ping: reading it was the point
	case "ping":
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindPong, Time: now}, Ref: req.Ref})
	case "history":
		msgs, err := s.History(chat.HistoryQuery{Room: req.Room, After: req.After, Before: req.Before, Limit: req.Limit, FromOldest: req.After > 0 && req.Before == 0})
		if err != nil {
			return err
		}
		for i := range msgs {
			s.Send(&chat.Event{Message: msgs[i], History: true, Ref: req.Ref})
		}
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindHistoryEnd, Room: req.Room, Time: now}, History: true, Ref: req.Ref})
	case "command":
		return s.Exec(req.TextOf(), req.Ref)
	case "quit":
		reason := "quit"
		if req.Reason != "" {
			if r, err := chat.CleanText(req.Reason, 200); err == nil {
				reason = "quit: " + r
			}
		}
		s.Leave(reason)
		s.Send(&chat.Event{Message: chat.Message{Kind: chat.KindBye, Time: now}, Reason: chat.ByeGoodbye, Ref: req.Ref})
	case "hello":
		return chat.Errorf(chat.CodeInvalid, "you are already registered as %s", s.Name())
	default:
		return chat.Errorf(chat.CodeUnknownType, "unknown event type %q", req.Type)
	}
	return nil
}
