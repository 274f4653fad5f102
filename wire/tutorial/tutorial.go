// Package tutorial is the front-end of the classic "Python sockets chat
// room" tutorial's protocol: 10-byte-header frames; the client's first
// frame is its username; every later frame is a message, relayed to every
// other client as two frames, the sender's username then the text. parley
// keeps it byte-compatible, and shows its own notices as ("*", text) pairs.
package tutorial

import (
	"strings"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/render"
)

// Protocol is the tutorial dialect.
type Protocol struct {
	// History replays recent history to tutorial clients on join, as
	// ordinary (username, text) pairs. Off by default: their protocol
	// cannot tell history from live messages.
	History bool
}

var _ engine.Protocol = (*Protocol)(nil)

// Name returns "tutorial".
func (p *Protocol) Name() string { return "tutorial" }

// NewClient starts one connection.
func (p *Protocol) NewClient(env engine.Env) engine.Client {
	return &Client{hub: env.Hub, history: p.History}
}

// Client is one tutorial connection's protocol state.
type Client struct {
	hub     *chat.Hub
	history bool
}

var _ engine.Client = (*Client)(nil)

// Greeting returns nil: the tutorial's client speaks first, with its name.
func (c *Client) Greeting() []byte { return nil }

// Handshake takes the first frame as the username: "name:password" when
// the server has a password or the name is a registered account's (a name
// cannot contain ':', the password may). For a registered name the
// password is the account's, and a correct one needs no server password.
func (c *Client) Handshake(msg []byte) (*engine.Login, error) {
	l := &engine.Login{Name: string(msg), Protocol: "tutorial", History: -1, OneShot: true}
	if c.history {
		l.History = 0
	}
	if name, pw, ok := strings.Cut(l.Name, ":"); ok && (c.hub.NeedsPassword() || c.hub.IsRegistered(name)) {
		l.Name, l.Password = name, pw
	}
	return l, nil
}

// HandshakeError renders ("*", "error: ...") with what to do about it: the
// tutorial's client cannot retry, so it is told to reconnect.
func (c *Client) HandshakeError(err error, final bool) []byte {
	msg := chat.ErrorMessage(err)
	switch chat.ErrorCode(err) {
	case chat.CodeAuth:
		msg += ": send your username as name:password"
	case chat.CodeNameTaken, chat.CodeNameInvalid, chat.CodeNameReserved:
		msg += "; reconnect with another name"
	case chat.CodeNameRegistered:
		msg += "; reconnect with name:password to log in, or with another name"
	}
	return pair(chat.ServerName, "error: "+msg)
}

// Encoder returns the session's renderer.
func (c *Client) Encoder(s *chat.Session) engine.Encoder { return &encoder{session: s} }

// Parse takes one frame as a line of input: a message or a /command. The
// tutorial's client sends nothing for an empty line; an empty frame is
// tolerated and does nothing.
func (c *Client) Parse(_ *chat.Session, msg []byte) (chat.Request, error) {
	if len(msg) == 0 {
		return chat.Request{}, nil
	}
	return chat.ParseLine(string(msg), "")
}

// ContinuationIndent starts the second and later lines of a message's text
// for tutorial clients. A name holds no space, so an indented line cannot
// be taken for a line "name > text" from someone else.
const ContinuationIndent = "    "

var (
	fmtMessage     = chat.NewFormat() // (sender, text) pair
	fmtRoomMessage = chat.NewFormat() // the same, text prefixed with the room
	fmtNotice      = chat.NewFormat() // ("*", notice) for recipients other than its subject
)

// encoder renders events as (username, text) frame pairs. Runs only on
// the connection's writer goroutine.
type encoder struct {
	session *chat.Session
	joined  bool // the session's first join (the lobby on connect) is not announced to itself
}

// Skips reports the events a tutorial client is never sent: its own live
// messages (the tutorial does not echo) and protocol events it has no
// words for. It reads no state, so it is safe from any goroutine.
func (t *encoder) Skips(ev *chat.Event) bool {
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		return !ev.History && ev.Session != 0 && t.session != nil && ev.Session == t.session.ID()
	case chat.KindWelcome, chat.KindPong, chat.KindPing, chat.KindHistoryEnd:
		return true
	}
	return false
}

func (t *encoder) Encode(ev *chat.Event) []byte {
	s := t.session
	own := s != nil && ev.Session == s.ID() && ev.Session != 0
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		if own && !ev.History {
			return nil // the tutorial never echoes a message to its sender
		}
		if s == nil || ev.Room == s.Current() {
			return ev.Encoded(fmtMessage, func(ev *chat.Event) []byte { return message(ev, "") })
		}
		return ev.Encoded(fmtRoomMessage, func(ev *chat.Event) []byte { return message(ev, "["+ev.Room+"] ") })
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
	case chat.KindWelcome, chat.KindPong, chat.KindPing, chat.KindHistoryEnd:
		return nil
	}
	if !own {
		// Notices to the rest of a room (joins, parts, ...) are the same
		// for every recipient: encode them once.
		return ev.Encoded(fmtNotice, noticeOthers)
	}
	text := render.Notice(ev, own)
	if text == "" {
		return nil
	}
	return pair(chat.ServerName, text)
}

// noticeOthers renders a notice for a recipient who is not its subject, as
// a ("*", text) pair, or nil if it shows nothing.
func noticeOthers(ev *chat.Event) []byte {
	text := render.Notice(ev, false)
	if text == "" {
		return nil
	}
	return pair(chat.ServerName, text)
}

func message(ev *chat.Event, prefix string) []byte {
	if ev.Kind == chat.KindMe {
		return pair(ev.From, prefix+"* "+ev.From+" "+ev.Text)
	}
	return pair(ev.From, prefix+ev.Text)
}

// pair encodes (user, text) as two frames. Both are made safe for a
// terminal (render.Safe), and a text of several lines has its continuation
// lines indented: the tutorial's client prints "user > text", so a line
// break must not let a message pass a line off as another user's.
func pair(user, text string) []byte {
	user, text = render.SafeLine(user), render.Safe(text)
	if strings.Contains(text, "\n") {
		text = strings.ReplaceAll(text, "\n", "\n"+ContinuationIndent)
	}
	b := make([]byte, 0, 2*frame.HeaderLen+len(user)+len(text))
	b = frame.AppendStringFrame(b, user)
	return frame.AppendStringFrame(b, text)
}
