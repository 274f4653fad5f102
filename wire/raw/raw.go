// Package raw serves the thread-per-client chat tutorials' dialects: raw
// UTF-8 text with no framing at all, one read being one message.
//
//   - The NAME dialect (port 5550): the server's first bytes are exactly
//     "NAME"; the client's first chunk is its name; it sends each message
//     as "name: text", and every message, its own included, comes back as
//     raw text ("name: text").
//   - The welcome dialect (port 8000): the server says "Welcome to this
//     chatroom!" and never asks for a name (the client gets a guest name);
//     each message goes to every other client as "<name> text".
//
// Without delimiters the framing is a guess: one read is one message, a
// read that holds line breaks is split on them, and a read that fills the
// whole buffer without one is part of a message too long to take, which is
// refused (and skipped) without being buffered whole.
package raw

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/render"
)

// Framing splits a raw stream into messages: what one read returns, split
// on line breaks, at most MaxLineBytes.
func Framing(r *server.Reader, o *server.Options) server.MessageReader {
	return &reader{r: r, buf: make([]byte, o.MaxLineBytes)}
}

type reader struct {
	r       *server.Reader
	buf     []byte
	pending [][]byte  // the rest of a read that held several lines
	skip    bool      // inside a message too long to take: drop what follows of it
	last    time.Time // when the last read returned
}

// burstGap is the pause that separates one sent chunk from the next: the
// tail of an oversized message comes in a burst, a new message after a
// pause.
const burstGap = 100 * time.Millisecond

// ReadsWhole marks one read as one message (server.ReadsWhole).
func (rd *reader) ReadsWhole() {}

// Pending reports whether lines of an earlier read wait to be returned
// (server.PendingReader): the connection must not park on them.
func (rd *reader) Pending() bool { return len(rd.pending) > 0 }

func (rd *reader) ReadMessage() ([]byte, error) {
	for {
		if len(rd.pending) > 0 {
			m := rd.pending[0]
			rd.pending = rd.pending[1:]
			return m, nil
		}
		n, err := rd.r.Read(rd.buf)
		if n == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		now := time.Now()
		gap := now.Sub(rd.last) > burstGap
		rd.last = now
		chunk := rd.buf[:n]
		if rd.skip && !gap {
			// The rest of a message too long to take: dropped up to its
			// first line break, if it has one.
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				continue
			}
			chunk = chunk[i+1:]
		}
		rd.skip = false
		if n == len(rd.buf) && bytes.IndexByte(chunk, '\n') < 0 {
			// A message too long to take: refused once, the rest dropped.
			rd.skip = true
			return nil, &engine.BadInput{Err: chat.Errorf(chat.CodeTooLong, "message too long; the limit is %d bytes", len(rd.buf))}
		}
		for _, line := range bytes.Split(chunk, []byte("\n")) {
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(bytes.TrimSpace(line)) > 0 {
				rd.pending = append(rd.pending, bytes.Clone(line))
			}
		}
	}
}

// NameDialect is the NAME dialect.
type NameDialect struct{}

var _ engine.Protocol = (*NameDialect)(nil)

// Name returns "name-dialect".
func (*NameDialect) Name() string { return "name-dialect" }

// NewClient starts one connection.
func (*NameDialect) NewClient(env engine.Env) engine.Client { return &nameClient{hub: env.Hub} }

type nameClient struct {
	hub    *chat.Hub
	prefix string // "alice: ", what the client puts before each message it sends
}

// Greeting is exactly "NAME", alone: the client compares its first read
// with it.
func (c *nameClient) Greeting() []byte { return []byte("NAME") }

// Handshake takes the first chunk as the name ("name:password" when the
// server has a password or the name is a registered account's, as on the
// framed port).
func (c *nameClient) Handshake(msg []byte) (*engine.Login, error) {
	l := &engine.Login{Name: strings.TrimSpace(string(msg)), Protocol: "name-dialect", History: -1, OneShot: true}
	// The client puts what it was given as its name before every message
	// ("alice:secret: hi"): that whole prefix comes off, so a password in
	// it never reaches anyone.
	c.prefix = l.Name + ": "
	if name, pw, ok := strings.Cut(l.Name, ":"); ok && (c.hub.NeedsPassword() || c.hub.IsRegistered(name)) {
		l.Name, l.Password = name, pw
	}
	return l, nil
}

// HandshakeError is one line of raw text; the client prints it. Its
// protocol has no retry.
func (c *nameClient) HandshakeError(err error, final bool) []byte {
	msg := chat.ErrorMessage(err)
	switch chat.ErrorCode(err) {
	case chat.CodeAuth:
		msg += ": give your name as name:password"
	case chat.CodeNameTaken, chat.CodeNameInvalid, chat.CodeNameReserved:
		msg += "; reconnect with another name"
	case chat.CodeNameRegistered:
		msg += "; reconnect as name:password to log in, or with another name"
	}
	return []byte("error: " + render.SafeLine(msg))
}

// Encoder renders events as the NAME dialect's server writes them.
func (c *nameClient) Encoder(s *chat.Session) engine.Encoder { return &nameEncoder{session: s} }

// Parse takes one message, without the "name: " the client puts before it.
func (c *nameClient) Parse(s *chat.Session, msg []byte) (chat.Request, error) {
	text := strings.TrimPrefix(string(msg), c.prefix)
	if cur := s.Name() + ": "; cur != c.prefix {
		text = strings.TrimPrefix(text, cur)
	}
	if strings.TrimSpace(text) == "" {
		return chat.Request{}, nil
	}
	return chat.ParseLine(text, "")
}

var fmtName = chat.NewFormat()

type nameEncoder struct{ session *chat.Session }

// Encode writes "name: text" for messages (the sender's own too: the
// client does not print what it sends, so the echo is how its user sees
// it), and the tutorial server's words for arrivals and departures.
func (e *nameEncoder) Encode(ev *chat.Event) []byte {
	own := ev.Session != 0 && ev.Session == e.session.ID()
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		if ev.History {
			return nil
		}
		return ev.Encoded(fmtName, func(ev *chat.Event) []byte {
			text := render.Safe(ev.Text)
			if ev.Kind == chat.KindMe {
				text = "* " + render.SafeLine(ev.From) + " " + text
			}
			if ev.Room != chat.DefaultRoom {
				text = "[" + render.SafeLine(ev.Room) + "] " + text
			}
			return []byte(render.SafeLine(ev.From) + ": " + text)
		})
	case chat.KindDM:
		if own && ev.To != ev.From {
			return []byte("(private to " + render.SafeLine(ev.To) + ") " + render.Safe(ev.Text))
		}
		return []byte("(private) " + render.SafeLine(ev.From) + ": " + render.Safe(ev.Text))
	case chat.KindJoin:
		if own {
			return nil // the tutorial's server tells the others only
		}
		return []byte(render.SafeLine(ev.Name) + " is Connected to the server!")
	case chat.KindPart:
		if own {
			return []byte("you left " + render.SafeLine(ev.Room))
		}
		return []byte(render.SafeLine(ev.Name) + " left the server!")
	case chat.KindWelcome:
		return []byte("Welcome, " + render.SafeLine(ev.Welcome.Name) + "! You are in " + chat.DefaultRoom + " with everyone; /help lists the commands.")
	case chat.KindPing, chat.KindPong, chat.KindHistoryEnd:
		return nil
	}
	if text := render.Notice(ev, own); text != "" {
		return []byte(render.Safe(text))
	}
	return nil
}

// Skips reports what the NAME dialect never shows.
func (e *nameEncoder) Skips(ev *chat.Event) bool {
	switch ev.Kind {
	case chat.KindPing, chat.KindPong, chat.KindHistoryEnd:
		return true
	case chat.KindSay, chat.KindMe:
		return ev.History
	}
	return false
}

// WelcomeDialect is the welcome dialect.
type WelcomeDialect struct{}

var _ engine.Protocol = (*WelcomeDialect)(nil)

// Name returns "welcome-dialect".
func (*WelcomeDialect) Name() string { return "welcome-dialect" }

// NewClient starts one connection.
func (*WelcomeDialect) NewClient(env engine.Env) engine.Client { return &welcomeClient{hub: env.Hub} }

type welcomeClient struct{ hub *chat.Hub }

var _ engine.AutoLogin = (*welcomeClient)(nil)

// Greeting is the tutorial server's.
func (c *welcomeClient) Greeting() []byte { return []byte("Welcome to this chatroom!") }

// AutoLogin names the client after its address: its protocol never asks.
func (c *welcomeClient) AutoLogin(remote net.Addr, attempt int) *engine.Login {
	name := "guest"
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		name = fmt.Sprintf("guest%d", ap.Port())
	}
	if attempt > 1 {
		name = fmt.Sprintf("%s-%d", name, attempt)
	}
	return &engine.Login{Name: name, Protocol: "welcome-dialect", History: -1}
}

// Handshake is never called: the client is logged in at once.
func (c *welcomeClient) Handshake([]byte) (*engine.Login, error) {
	return nil, chat.Errorf(chat.CodeInternal, "the welcome dialect has no handshake")
}

// HandshakeError is one line of raw text.
func (c *welcomeClient) HandshakeError(err error, final bool) []byte {
	return []byte("\nerror: " + render.SafeLine(chat.ErrorMessage(err)))
}

// Encoder renders events as the welcome dialect's server writes them.
func (c *welcomeClient) Encoder(s *chat.Session) engine.Encoder { return &welcomeEncoder{session: s} }

// Parse takes one message as a line of input.
func (c *welcomeClient) Parse(_ *chat.Session, msg []byte) (chat.Request, error) {
	if strings.TrimSpace(string(msg)) == "" {
		return chat.Request{}, nil
	}
	return chat.ParseLine(string(msg), "")
}

var fmtWelcome = chat.NewFormat()

type welcomeEncoder struct{ session *chat.Session }

// Encode writes "<name> text" to every client but the sender.
func (e *welcomeEncoder) Encode(ev *chat.Event) []byte {
	own := ev.Session != 0 && ev.Session == e.session.ID()
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		if own || ev.History {
			return nil
		}
		return ev.Encoded(fmtWelcome, func(ev *chat.Event) []byte {
			text := render.Safe(ev.Text)
			if ev.Kind == chat.KindMe {
				text = "* " + render.SafeLine(ev.From) + " " + text
			}
			if ev.Room != chat.DefaultRoom {
				text = "[" + render.SafeLine(ev.Room) + "] " + text
			}
			return []byte("<" + render.SafeLine(ev.From) + "> " + text)
		})
	case chat.KindDM:
		if own && ev.To != ev.From {
			return []byte("(private to " + render.SafeLine(ev.To) + ") " + render.Safe(ev.Text))
		}
		return []byte("(private) <" + render.SafeLine(ev.From) + "> " + render.Safe(ev.Text))
	case chat.KindJoin:
		if own {
			return nil
		}
	case chat.KindWelcome:
		return []byte("\nYou are " + render.SafeLine(ev.Welcome.Name) + " in " + chat.DefaultRoom + "; /nick NAME to choose a name, /help lists the commands.")
	case chat.KindPing, chat.KindPong, chat.KindHistoryEnd:
		return nil
	}
	if text := render.Notice(ev, own); text != "" {
		return []byte("* " + render.Safe(text))
	}
	return nil
}

// Skips reports what the welcome dialect never shows, the sender's own
// messages among them.
func (e *welcomeEncoder) Skips(ev *chat.Event) bool {
	switch ev.Kind {
	case chat.KindPing, chat.KindPong, chat.KindHistoryEnd:
		return true
	case chat.KindSay, chat.KindMe:
		return ev.History || ev.Session != 0 && ev.Session == e.session.ID()
	}
	return false
}
