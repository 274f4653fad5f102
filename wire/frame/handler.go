package frame

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/render"
)

// Handler serves the framed port. The first frame decides the mode: a JSON
// hello (payload starting with '{') selects the native protocol, anything
// else is a tutorial client's username.
type Handler struct {
	Hub *chat.Hub
	// TutorialHistory replays recent history to tutorial clients on join,
	// as ordinary (username, text) pairs. Off by default: their protocol
	// cannot tell history from live messages.
	TutorialHistory bool
}

var _ server.Handler = (*Handler)(nil)

// ServeConn runs one framed connection until it ends.
func (h *Handler) ServeConn(ctx context.Context, c *server.Conn) {
	limits := c.Limits()
	fr := NewReader(c.Reader(), limits.MaxFrameBytes)
	_ = c.SetReadDeadline(c.HandshakeDeadline())
	first, err := fr.ReadFrame()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tutorialNotice(c, chat.Errorf(chat.CodeProtocol, "no name within %s; closing the connection", limits.HandshakeTimeout))
		c.Finish(server.ReasonHandshakeTimeout)
		return
	}
	if err != nil {
		h.readFailed(c, err, tutorialNotice)
		return
	}
	if len(first) > 0 && first[0] == '{' {
		h.serveNative(ctx, c, fr, first)
		return
	}
	h.serveTutorial(c, fr, first)
}

// readFailed tells the client why its input was refused (when it is a
// protocol error), closes the connection and returns the reason.
func (h *Handler) readFailed(c *server.Conn, err error, notify func(*server.Conn, *chat.Error)) server.CloseReason {
	var he *HeaderError
	switch {
	case errors.As(err, &he):
		code := chat.CodeProtocol
		if he.TooBig {
			code = chat.CodeTooLong
		}
		c.Logger().Warn("protocol violation", "err", err)
		notify(c, chat.Errorf(code, "%s; closing the connection", he.Error()))
		c.Finish(server.ReasonProtocolViolation)
		return c.Reason()
	case errors.Is(err, ErrShortFrame):
		return c.Fail(io.EOF)
	}
	reason := c.Fail(err)
	if reason == server.ReasonIdle {
		notify(c, chat.Errorf(chat.CodeProtocol, "idle past the deadline; closing the connection"))
		c.Finish(reason)
	}
	return reason
}

// tutorialNotice writes ("*", "error: ...") before the connection has a
// writer (handshake) or queues it after.
func tutorialNotice(c *server.Conn, e *chat.Error) {
	b := AppendStringFrame(nil, chat.ServerName)
	b = AppendStringFrame(b, "error: "+e.Message)
	_ = c.WriteNow(b)
}

// Refuse tells a connection over the limits why it is refused: it reads the
// first frame (briefly) to learn the client's mode and answers with a native
// error event or a tutorial ("*", "error: ...") pair.
func (h *Handler) Refuse(c *server.Conn, why *chat.Error) {
	_ = c.SetReadDeadline(c.RefuseDeadline())
	first, err := NewReader(c.Reader(), c.Limits().MaxFrameBytes).ReadFrame()
	if err == nil && len(first) > 0 && first[0] == '{' {
		_ = c.WriteNow(encodeNative(errorWire(why, "")))
		return
	}
	tutorialNotice(c, why)
}

// splitPassword splits a tutorial client's first frame "name:password" (a
// name cannot contain ':'; the password may). Without a ':' the password is
// empty.
func splitPassword(first string) (name, password string) {
	name, password, _ = strings.Cut(first, ":")
	return name, password
}

func (h *Handler) serveTutorial(c *server.Conn, fr *Reader, first []byte) {
	info := chat.ClientInfo{Protocol: "tutorial", Remote: c.RemoteAddr().String()}
	name := string(first)
	if h.Hub.NeedsPassword() {
		var password string
		name, password = splitPassword(name)
		if err := h.Hub.CheckPassword(password); err != nil {
			c.Logger().Warn("wrong server password", "protocol", "tutorial")
			tutorialNotice(c, chat.Errorf(chat.CodeAuth, "%s: send your username as name:password", chat.ErrorMessage(err)))
			c.Finish(server.ReasonAuthFailed)
			return
		}
	}
	s, err := h.Hub.Register(c, name, info)
	if err != nil {
		tutorialNotice(c, &chat.Error{Code: chat.ErrorCode(err), Message: chat.ErrorMessage(err) + "; reconnect with another name"})
		c.Finish(server.ReasonHandshakeFailed)
		return
	}
	c.SetEncoder(&tutorialEncoder{session: s})
	join := chat.JoinOptions{History: -1}
	if h.TutorialHistory {
		join.History = 0
	}
	if err := s.Begin(join); err != nil {
		c.Deliver(chat.ErrorEvent(err, ""))
		c.Finish(server.ReasonHandshakeFailed)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	for {
		payload, err := fr.ReadFrame()
		if err != nil {
			reason := h.readFailed(c, err, func(c *server.Conn, e *chat.Error) { c.Deliver(chat.ErrorEvent(e, "")) })
			s.Leave(reason.String())
			return
		}
		if !server.Throttle(c, s, "") {
			return
		}
		if len(payload) == 0 {
			continue // the tutorial's client sends nothing for an empty line; tolerate it
		}
		if err := s.Exec(string(payload), ""); err != nil {
			c.Deliver(chat.ErrorEvent(err, ""))
		}
		if s.Closed() {
			return
		}
	}
}

var (
	fmtTutorial       = chat.NewFormat() // (sender, text) pair
	fmtTutorialRoom   = chat.NewFormat() // the same, text prefixed with the room
	fmtTutorialNotice = chat.NewFormat() // ("*", notice) for recipients other than its subject
)

// tutorialEncoder renders events as (username, text) frame pairs. Runs only
// on the connection's writer goroutine.
type tutorialEncoder struct {
	session *chat.Session
	joined  bool // the session's first join (the lobby on connect) is not announced to itself
}

func (t *tutorialEncoder) Encode(ev *chat.Event) []byte {
	s := t.session
	own := s != nil && ev.Session == s.ID() && ev.Session != 0
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		if own && !ev.History {
			return nil // the tutorial never echoes a message to its sender
		}
		if s == nil || ev.Room == s.Current() {
			return ev.Encoded(fmtTutorial, func(ev *chat.Event) []byte { return tutorialMessage(ev, "") })
		}
		return ev.Encoded(fmtTutorialRoom, func(ev *chat.Event) []byte { return tutorialMessage(ev, "["+ev.Room+"] ") })
	case chat.KindDM:
		if own {
			if ev.To == ev.From {
				return pair(ev.From, "(private) "+ev.Text)
			}
			return pair(chat.ServerName, "sent to "+ev.To+": "+ev.Text)
		}
		return pair(ev.From, "(private) "+ev.Text)
	case chat.KindJoin:
		if own && !t.joined {
			t.joined = true
			return nil
		}
	case chat.KindWelcome, chat.KindPong, chat.KindHistoryEnd:
		return nil
	}
	if !own {
		// Notices to the rest of a room (joins, parts, ...) are the same
		// for every recipient: encode them once.
		return ev.Encoded(fmtTutorialNotice, tutorialNoticeOthers)
	}
	text := render.Notice(ev, own)
	if text == "" {
		return nil
	}
	return pair(chat.ServerName, text)
}

// tutorialNoticeOthers renders a notice for a recipient who is not its
// subject, as a ("*", text) pair, or nil if it shows nothing.
func tutorialNoticeOthers(ev *chat.Event) []byte {
	text := render.Notice(ev, false)
	if text == "" {
		return nil
	}
	return pair(chat.ServerName, text)
}

func tutorialMessage(ev *chat.Event, prefix string) []byte {
	if ev.Kind == chat.KindMe {
		return pair(ev.From, prefix+"* "+ev.From+" "+ev.Text)
	}
	return pair(ev.From, prefix+ev.Text)
}

func pair(user, text string) []byte {
	b := make([]byte, 0, 2*HeaderLen+len(user)+len(text))
	b = AppendStringFrame(b, user)
	return AppendStringFrame(b, text)
}

func (h *Handler) serveNative(ctx context.Context, c *server.Conn, fr *Reader, hello []byte) {
	n := &nativeConn{hub: h.Hub, c: c, fr: fr}
	n.serve(ctx, hello)
}
