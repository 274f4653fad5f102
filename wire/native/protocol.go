package native

import (
	"sort"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Protocol is the native protocol's server side, transport-free: the hello
// handshake, the dispatch of typed requests through the hub's command
// table, and the rendering of events as JSON. The framed port carries one
// event per 10-byte-header frame, a WebSocket one per text message: the
// same Protocol with another Frame.
type Protocol struct {
	// Frame appends one encoded event (a JSON object) to dst as the
	// transport carries it; nil sends the JSON as it is (one message per
	// event, as on a WebSocket).
	Frame func(dst, payload []byte) []byte

	format chat.Format // the shared encoding of events in this framing
}

// NewProtocol returns the native protocol for a transport framing (see
// Protocol.Frame).
func NewProtocol(frame func(dst, payload []byte) []byte) *Protocol {
	return &Protocol{Frame: frame, format: chat.NewFormat()}
}

var _ engine.Protocol = (*Protocol)(nil)

// Name returns "native".
func (p *Protocol) Name() string { return "native" }

// NewClient starts one connection.
func (p *Protocol) NewClient(env engine.Env) engine.Client { return &Client{p: p} }

// Encode frames one event for the transport.
func (p *Protocol) Encode(ev Event) []byte {
	js := Marshal(ev)
	if p.Frame == nil {
		return js
	}
	return p.Frame(make([]byte, 0, len(js)+16), js)
}

// Client is one native connection's protocol state.
type Client struct {
	p   *Protocol
	ref string // the last hello's ref, echoed on handshake errors
}

var _ engine.Client = (*Client)(nil)

// Greeting returns nil: a native client speaks first, with a hello.
func (c *Client) Greeting() []byte { return nil }

// Handshake reads a hello.
func (c *Client) Handshake(msg []byte) (*engine.Login, error) {
	req, err := DecodeRequest(msg)
	c.ref = req.Ref
	if err != nil {
		return nil, err
	}
	if req.Type != TypeHello {
		return nil, chat.Errorf(chat.CodeInvalid, "the first event must be a hello, not %q", req.Type)
	}
	if req.Version < 0 {
		return nil, chat.Errorf(chat.CodeBadVersion, "protocol version %d is not supported; this server speaks %d; closing the connection", req.Version, Version)
	}
	l := &engine.Login{Name: req.Name, Password: req.Password, Ref: req.Ref, Protocol: "native",
		Resume: req.Since[chat.DefaultRoom], Pings: true, DMsAfter: req.DMSince}
	if req.Account != "" {
		// An account login: password is the account's (and the server
		// password is not needed).
		l.Name, l.Account, l.AccountPassword, l.Password = req.Account, req.Account, req.Password, ""
	}
	for _, room := range helloRooms(req) {
		l.Rooms = append(l.Rooms, engine.RoomResume{Room: room, After: req.Since[room]})
	}
	return l, nil
}

// HandshakeError renders an error event, with the hello's ref.
func (c *Client) HandshakeError(err error, final bool) []byte {
	ev := ErrorEvent(err, c.ref)
	if engine.IsHandshakeTimeout(err) {
		ev.Message = "no hello accepted within the handshake deadline; closing the connection"
	}
	return c.p.Encode(ev)
}

// ErrorEvent is the wire form of an error for one request (ref).
func ErrorEvent(err error, ref string) Event {
	return Event{Type: TypeError, Ref: ref, Code: string(chat.ErrorCode(err)), Message: chat.ErrorMessage(err)}
}

// Encoder returns the session's renderer.
func (c *Client) Encoder(s *chat.Session) engine.Encoder { return &encoder{p: c.p, self: s.ID()} }

// Parse decodes one request of a session.
func (c *Client) Parse(s *chat.Session, msg []byte) (chat.Request, error) {
	req, err := DecodeRequest(msg)
	if err != nil {
		return chat.Request{Ref: req.Ref}, err
	}
	switch {
	case req.Type == TypeHello:
		return chat.Request{Ref: req.Ref}, chat.Errorf(chat.CodeInvalid, "you are already registered as %s", s.Name())
	case req.Type == TypeCommand:
		return chat.ParseLine(req.TextOf(), req.Ref)
	case !requestTypes[req.Type]:
		return chat.Request{Ref: req.Ref}, chat.Errorf(chat.CodeUnknownType, "unknown event type %q", req.Type)
	}
	return req.ToChat()
}

// ToChat converts a typed request to the hub's form; its Type names the
// command.
func (r Request) ToChat() (chat.Request, error) {
	out := chat.Request{Command: r.Type, Ref: r.Ref, Room: r.Room, To: r.To, Name: r.Name,
		Text: r.TextOf(), HasText: r.Text != nil, Reason: r.Reason, After: r.After, Before: r.Before, Limit: r.Limit, Cursor: r.Cursor,
		Password: r.Password, NewPassword: r.NewPassword, Mode: r.Mode, Server: r.Server}
	if r.Type == "login" && r.Account != "" {
		out.Name = r.Account
	}
	if r.Duration != "" {
		d, ok := chat.ParseDuration(r.Duration)
		if !ok {
			return chat.Request{Ref: r.Ref}, chat.Errorf(chat.CodeInvalid, "duration %q is not one: 90s, 10m, 2h, 7d, or 0 for no end", r.Duration)
		}
		out.Duration, out.HasText = d, true
	}
	return out, nil
}

// helloRooms lists the rooms a hello asks to be in besides the lobby: those
// named in rooms and in since, in a stable order.
func helloRooms(req Request) []string {
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

// encoder renders events as JSON. The shared form of an event is encoded
// once for every native recipient in this framing; the sender's own copy,
// which carries its ref, is encoded separately.
type encoder struct {
	p    *Protocol
	self uint64
}

func (e *encoder) Encode(ev *chat.Event) []byte {
	if ev.Ref != "" && (ev.Session == e.self || ev.Session == 0) {
		return e.p.Encode(FromChat(ev, true))
	}
	return ev.Encoded(e.p.format, func(ev *chat.Event) []byte { return e.p.Encode(FromChat(ev, false)) })
}
