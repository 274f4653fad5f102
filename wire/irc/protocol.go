// Package irc is parley's IRC front-end: the client protocol of RFC 1459
// and 2812 as the modern IRC client protocol documents it, with the IRCv3
// capabilities a current client asks for (message tags, server-time,
// echo-message, batch, labeled-response, away-notify, draft/chathistory).
//
// Rooms are channels (room "lobby" is "#lobby"); nicks are parley names,
// UTF-8, compared as parley compares names (CASEMAPPING=rfc8265 is the
// closest standard name). Every client joins #lobby on connect, as on
// every other front-end. docs/irc.md says what is supported.
package irc

import (
	"errors"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/line"
	"golang.org/x/time/rate"
)

// MaxLineBytes is the longest line a client may send: tags, body and CRLF.
const MaxLineBytes = MaxTagBytes + MaxBodyBytes + 2

// Framing splits a stream into IRC lines (CRLF or LF). A line over
// MaxLineBytes is skipped and refused with ERR_INPUTTOOLONG; the
// connection goes on.
func Framing(r *server.Reader, _ *server.Options) server.MessageReader {
	f := &framer{}
	f.lr.InitPlain(r, MaxLineBytes)
	return f
}

type framer struct{ lr line.Reader }

func (f *framer) ReadMessage() ([]byte, error) {
	text, err := f.lr.ReadLine()
	if errors.Is(err, line.ErrLineTooLong) {
		return nil, &engine.BadInput{Err: errInputTooLong}
	}
	if err != nil {
		return nil, err
	}
	return []byte(text), nil
}

var errInputTooLong = chat.Errorf(chat.CodeTooLong, "Input line was too long")

// Protocol is the IRC front-end.
type Protocol struct {
	// Created is when the server started, for RPL_CREATED.
	Created time.Time
	// Description is the server's one-line description (WHOIS, ADMIN);
	// default "parley VERSION chat server".
	Description string
	// NoLobby leaves IRC clients out of the lobby on connect: they join
	// the channels they ask for, as on other IRC servers (for a
	// conformance suite, or a server used mostly from IRC).
	NoLobby bool
	// Location is the time zone of the timestamps put before played-back
	// messages for clients without server-time; default time.Local.
	Location *time.Location
	// LineRate and LineBurst are IRC's usual penalty for bursts ("fake
	// lag"): after LineBurst commands at once, a registered client's
	// commands are run at most LineRate a second, its later lines waiting
	// unread (so TCP holds the client back); nothing is dropped. Zero
	// LineRate: no penalty beyond the hub's rate limit.
	LineRate  float64
	LineBurst int

	name atomic.Pointer[hubName] // the server name, made once (serverName)
}

var _ engine.Protocol = (*Protocol)(nil)

// Name returns "irc".
func (p *Protocol) Name() string { return "irc" }

// NewClient starts one connection.
func (p *Protocol) NewClient(env engine.Env) engine.Client {
	c := &Client{hub: env.Hub, conn: env.Conn, p: p, reg: &registration{remote: env.Remote}}
	if p.LineRate > 0 {
		c.lag = rate.NewLimiter(rate.Limit(p.LineRate), max(p.LineBurst, 1))
	}
	return c
}

// env is what the engine gave the client, but the remote address (kept
// only until registered).
func (c *Client) env() engine.Env { return engine.Env{Hub: c.hub, Conn: c.conn} }

// server is the server's name as IRC shows it.
func (c *Client) server() string { return c.p.serverName(c.hub) }

// serverName returns serverName(h), made once per hub: the name is on
// every reply, and a copy of it in every client would cost each
// connection 16 bytes.
func (p *Protocol) serverName(h *chat.Hub) string {
	if n := p.name.Load(); n != nil && n.hub == h {
		return n.name
	}
	n := &hubName{hub: h, name: serverName(h)}
	p.name.Store(n)
	return n.name
}

// hubName is a hub's server name as IRC shows it.
type hubName struct {
	hub  *chat.Hub
	name string
}

// serverName is the server's name as IRC shows it: the hub's name, made a
// single token.
func serverName(h *chat.Hub) string {
	name := strings.Map(func(r rune) rune {
		if r <= ' ' || r == ':' || r == '!' || r == '@' || r == ',' || r == '*' || r == '?' {
			return '-'
		}
		return r
	}, h.Config().ServerName)
	if name == "" {
		name = "parley"
	}
	return name
}

// Client is one IRC connection's protocol state. Its fields are used on
// the connection's reader goroutine only, but for caps, which its encoder
// reads on the writer goroutine.
type Client struct {
	hub  *chat.Hub
	conn engine.EnvConn // the connection, for env
	p    *Protocol

	reg        *registration // until registered; nil after
	caps       atomic.Uint32 // negotiated capabilities (capSet bits)
	capVersion int16         // 302 from "CAP LS 302"
	capBusy    bool          // CAP LS or REQ before registration: wait for CAP END
	registered bool
	umodes     userModes

	session *chat.Session
	enc     *encoder
	lag     *rate.Limiter // the burst penalty; nil for none
	msg     *Message      // the line being run (Parse keeps it for Run)
	label   string        // its label tag, when labeled-response is on
}

// registration is what a client says before it is registered, dropped
// once it is: a registered client's memory holds none of it.
type registration struct {
	remote               string // the peer's address, for a SASL login's checks
	nick, user, realname string // what NICK and USER said (the session keeps them once registered)
	pass                 string
	tried                string // the nick last offered to the engine
	gotUser              bool
	sasl                 saslState
	cred                 *chat.Credential // the account SASL logged in to
}

var _ engine.Client = (*Client)(nil)

// Greeting: IRC clients speak first.
func (c *Client) Greeting() []byte { return nil }

// reply builds a message from the server. Parameters go through the text
// rule: a reply may echo what the client sent (a channel name, a nick, a
// CHATHISTORY target), and no reply carries a control or invalid UTF-8.
func (c *Client) reply(cmd string, params ...string) *Message {
	for i, p := range params {
		p = chat.Strip(p)
		if i < len(params)-1 && len(p) > maxEcho {
			p = cutUTF8(p, maxEcho) // an echoed target, not the text
		}
		params[i] = p
	}
	return &Message{Source: c.server(), Command: cmd, Params: params}
}

// maxEcho bounds a parameter a reply echoes from the client (a target),
// so that no reply outgrows a line.
const maxEcho = 100

// cutUTF8 cuts s to at most n bytes, between characters.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// target is the nick numerics are addressed to: "*" before registration
// (the nick asked for may be someone else's).
func (c *Client) target() string {
	if c.session != nil {
		return c.session.Name()
	}
	return "*"
}

// numeric builds a numeric reply addressed to the client. Its last
// parameter is written as a trailing one (":text"), as servers do, but for
// the numerics whose last parameter is a token.
func (c *Client) numeric(code string, params ...string) *Message {
	m := c.reply(code, append([]string{c.target()}, params...)...)
	m.Trailing = !tokenLast[code]
	return m
}

// tokenLast are the numerics whose last parameter is a token, not text.
var tokenLast = map[string]bool{RplMyInfo: true, RplUModeIs: true, RplChannelModeIs: true, RplCreationTime: true, RplTopicWhoTime: true, RplInviting: true}

// sendNow writes messages straight to the connection (before there is a
// session, or for what must not wait behind the session's events).
func (c *Client) sendNow(msgs ...*Message) {
	var b []byte
	for _, m := range msgs {
		b = m.Append(b)
	}
	c.env().Send(b)
}

// Handshake runs registration: CAP negotiation, PASS, NICK and USER in any
// order. It returns a login once the client has a nick and a user and has
// ended capability negotiation.
func (c *Client) Handshake(raw []byte) (*engine.Login, error) {
	m, err := Parse(string(raw))
	if err != nil {
		return nil, nil // a blank or malformed line before registration is ignored
	}
	switch m.Command {
	case "CAP":
		c.handleCap(&m)
	case "PASS":
		if len(m.Params) < 1 {
			c.sendNow(c.numeric(ErrNeedMoreParams, "PASS", "Not enough parameters"))
			return nil, nil
		}
		c.reg.pass = m.Params[0]
	case "NICK":
		if len(m.Params) < 1 || m.Params[0] == "" {
			c.sendNow(c.numeric(ErrNoNicknameGiven, "No nickname given"))
			return nil, nil
		}
		if err := checkNick(m.Params[0]); err != nil {
			c.sendNow(c.numeric(ErrErroneusNickname, m.Params[0], "Erroneous nickname: "+chat.ErrorMessage(err)))
			return nil, nil
		}
		// Cloned, as what is kept of a line is: a substring would keep
		// the whole line alive for as long as the session lasts.
		c.reg.nick, c.reg.tried = strings.Clone(m.Params[0]), "" // a NICK is a new try, even of the same name
	case "USER":
		if len(m.Params) < 4 {
			c.sendNow(c.numeric(ErrNeedMoreParams, "USER", "Not enough parameters"))
			return nil, nil
		}
		realname, err := chat.CleanLine(m.Params[3], 100)
		if err != nil || realname == "" {
			c.sendNow(c.numeric(ErrNeedMoreParams, "USER", "Not enough parameters: the realname is empty"))
			return nil, nil
		}
		c.reg.user, c.reg.realname, c.reg.gotUser = identOf(m.Params[0]), strings.Clone(realname), true
	case "PING":
		if len(m.Params) < 1 {
			c.sendNow(c.numeric(ErrNoOrigin, "No origin specified"))
			return nil, nil
		}
		pong := c.reply("PONG", c.server(), m.Params[0])
		pong.Trailing = true
		c.sendNow(pong)
	case "PONG":
	case "AUTHENTICATE":
		c.authenticate(&m)
		return nil, nil
	case "QUIT":
		return nil, engine.ErrQuit
	default:
		c.sendNow(c.numeric(ErrNotRegistered, "You have not registered"))
		return nil, nil
	}
	if c.reg.nick == "" || !c.reg.gotUser || c.capBusy || c.reg.nick == c.reg.tried {
		return nil, nil
	}
	c.reg.tried = c.reg.nick
	history := 0
	if c.has(capChatHistory) {
		history = -1 // the client fetches what it wants
	}
	l := &engine.Login{Name: c.reg.nick, Password: c.reg.pass, Protocol: "irc", History: history, Pings: true, User: c.reg.user, RealName: c.reg.realname, NoLobby: c.p.NoLobby,
		Credential: c.reg.cred}
	if acct, pw, ok := strings.Cut(c.reg.pass, ":"); ok && c.reg.cred == nil && c.hub.IsRegistered(acct) {
		l.Account, l.AccountPassword = acct, pw // PASS account:password
	}
	return l, nil
}

// HandshakeError renders a refused registration: a numeric, and ERROR
// when the connection closes.
func (c *Client) HandshakeError(err error, final bool) []byte {
	var out []*Message
	var bad *engine.BadInput
	switch {
	case errors.Is(err, engine.ErrQuit):
		out = append(out, &Message{Command: "ERROR", Params: []string{"Closing link: quit"}})
		return appendAll(out)
	case errors.As(err, &bad) && chat.ErrorCode(err) == chat.CodeTooLong:
		out = append(out, c.numeric(ErrInputTooLong, "Input line was too long"))
	case engine.IsHandshakeTimeout(err):
		out = append(out, &Message{Command: "ERROR", Params: []string{"Closing link: registration timed out"}})
		return appendAll(out)
	}
	nick := "*"
	if c.reg != nil && c.reg.tried != "" {
		nick = c.reg.tried
	}
	switch chat.ErrorCode(err) {
	case chat.CodeNameTaken:
		out = append(out, c.reply(ErrNicknameInUse, "*", nick, "Nickname is already in use: "+chat.ErrorMessage(err)))
	case chat.CodeNameRegistered:
		out = append(out, c.reply(ErrNicknameInUse, "*", nick, "Nickname is registered: log in with SASL or PASS "+nick+":password, or choose another"))
	case chat.CodeNameInvalid, chat.CodeNameReserved:
		out = append(out, c.reply(ErrErroneusNickname, "*", nick, "Erroneous nickname: "+chat.ErrorMessage(err)))
	case chat.CodeAuth:
		out = append(out, c.reply(ErrPasswdMismatch, "*", "Password incorrect"))
	case chat.CodeTooLong:
	default:
		out = append(out, c.reply("NOTICE", "*", chat.ErrorMessage(err)))
	}
	if final {
		out = append(out, &Message{Command: "ERROR", Params: []string{"Closing link: " + chat.ErrorMessage(err)}})
	}
	return appendAll(out)
}

func appendAll(msgs []*Message) []byte {
	var b []byte
	for _, m := range msgs {
		b = m.Append(b)
	}
	return b
}

// Encoder returns the session's renderer.
func (c *Client) Encoder(s *chat.Session) engine.Encoder {
	c.session, c.registered = s, true
	c.reg = nil
	c.enc = newEncoder(c, s)
	return c.enc
}

// Started sends what follows the welcome and the lobby's join: the member
// list of every room the session is in.
func (c *Client) Started(s *chat.Session) {
	for _, room := range s.Joined() {
		c.sendNames(room)
	}
}

// Parse reads one line of a registered client. The line is kept for Run.
func (c *Client) Parse(_ *chat.Session, raw []byte) (chat.Request, error) {
	m, err := Parse(string(raw))
	if err != nil {
		if errors.Is(err, ErrEmpty) {
			return chat.Request{}, nil
		}
		return chat.Request{Command: "irc-bad", Text: err.Error()}, nil // Run says why
	}
	c.msg, c.label = &m, ""
	if c.has(capLabeledResponse | capBatch) { // a labeled response may be a batch
		if l, ok := m.Tag("label"); ok && validLabel(l) {
			c.label = l
		}
	}
	if bodyLen(string(raw)) > MaxBodyBytes {
		return chat.Request{Command: "irc-too-long", Ref: c.label}, nil
	}
	if !utf8.Valid(raw) {
		return chat.Request{Command: "irc-not-utf8", Ref: c.label}, nil
	}
	return chat.Request{Command: m.Command, Ref: c.label}, nil
}

// bodyLen is the length of a line without its tags.
func bodyLen(s string) int {
	if strings.HasPrefix(s, "@") {
		if i := strings.IndexByte(s, ' '); i >= 0 {
			return len(strings.TrimLeft(s[i:], " "))
		}
	}
	return len(s)
}

// Farewell is the ERROR line of a connection the server closes.
func (c *Client) Farewell(reason engine.CloseReason) []byte {
	return (&Message{Command: "ERROR", Params: []string{"Closing link: " + reason.String()}, Trailing: true}).Append(nil)
}

// validLabel reports whether a label tag can be echoed: 1 to 64 printable
// ASCII characters other than space.
func validLabel(l string) bool {
	if l == "" || len(l) > 64 {
		return false
	}
	for i := 0; i < len(l); i++ {
		if l[i] <= ' ' || l[i] >= 0x7f {
			return false
		}
	}
	return true
}
