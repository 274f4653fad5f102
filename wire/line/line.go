// Package line is parley's line protocol front-end, for nc and telnet: a
// greeting and a name prompt, then one UTF-8 line per message or /command,
// and one line of output per event.
package line

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/render"
)

// ErrLineTooLong is returned by Reader.ReadLine for a line over the limit;
// the rest of that line has been discarded and reading may go on.
var ErrLineTooLong = errors.New("line too long")

// Reader reads lines of at most max bytes, without ever buffering more than
// its buffered reader holds. It drops telnet IAC negotiation and a trailing CR.
type Reader struct {
	r        SliceReader
	max      int
	noTelnet bool // keep 0xff bytes (a protocol that is not telnet's)
}

// SliceReader is the buffered reader a Reader reads through: a
// *bufio.Reader or a *server.Reader. ReadSlice returns bufio.ErrBufferFull
// when its buffer fills without a delimiter.
type SliceReader interface {
	ReadSlice(delim byte) ([]byte, error)
}

// NewReader returns a line reader over r with the given limit.
func NewReader(r SliceReader, max int) *Reader { return &Reader{r: r, max: max} }

// InitPlain makes lr a reader over r like NewReader's, without the telnet
// handling: lines are returned as they came (IRC, where a 0xff byte is
// text to be cleaned, not a command). It is for a Reader kept by value
// inside another struct: one allocation fewer per connection.
func (lr *Reader) InitPlain(r SliceReader, max int) {
	*lr = Reader{r: r, max: max, noTelnet: true}
}

// ReadLine returns the next line without its line ending. An overlong line
// is skipped to its end and reported as ErrLineTooLong. At EOF, a last
// unterminated line is returned first.
//
// A line that is in the buffered reader whole (the common case) is not
// copied; one that arrives in pieces is gathered in a buffer that is let
// go once the line is returned, so an idle connection holds none.
func (lr *Reader) ReadLine() (string, error) {
	var buf []byte // a line that arrives in pieces; not kept past the call
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if err == nil && len(buf) == 0 && !tooLong {
			return lr.finish(chunk)
		}
		if !tooLong {
			if len(buf)+len(chunk) > lr.max+2 { // +2: the line ending does not count
				tooLong = true
				buf = buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return "", ErrLineTooLong
			}
			return lr.finish(buf)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0 && !tooLong:
			line, lerr := lr.finish(buf)
			if lerr != nil {
				return "", lerr
			}
			return line, nil
		default:
			return "", err
		}
	}
}

func (lr *Reader) finish(line []byte) (string, error) {
	b := bytes.TrimSuffix(line, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if !lr.noTelnet && bytes.IndexByte(b, 0xff) >= 0 {
		b = stripTelnet(b)
	}
	if len(b) > lr.max {
		return "", ErrLineTooLong
	}
	return string(b), nil
}

// stripTelnet removes telnet IAC command sequences (negotiation that some
// telnet clients send) from a line.
func stripTelnet(b []byte) []byte {
	const (
		iac  = 255
		sb   = 250
		se   = 240
		will = 251
		dont = 254
	)
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		if b[i] != iac {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch c := b[i+1]; {
		case c == iac:
			i++ // escaped 255: not valid UTF-8 text anyway; drop it
		case c >= will && c <= dont:
			i += 2
		case c == sb:
			j := bytes.Index(b[i:], []byte{iac, se})
			if j < 0 {
				return out
			}
			i += j + 1
		default:
			i++
		}
	}
	return out
}

// Framing splits a stream into lines, for a server listener. A line over
// MaxLineBytes is skipped and refused (the connection goes on).
func Framing(r *server.Reader, o *server.Options) server.MessageReader {
	return &lineFramer{lr: Reader{r: r, max: o.MaxLineBytes}}
}

// lineFramer keeps its Reader by value: one allocation per connection.
type lineFramer struct{ lr Reader }

func (f *lineFramer) ReadMessage() ([]byte, error) {
	text, err := f.lr.ReadLine()
	if errors.Is(err, ErrLineTooLong) {
		return nil, &engine.BadInput{Err: chat.Errorf(chat.CodeTooLong, "line too long; the limit is %d bytes", f.lr.max)}
	}
	if err != nil {
		return nil, err
	}
	return []byte(text), nil
}

// Protocol is the line protocol.
type Protocol struct {
	// Location is the time zone of timestamps; default time.Local.
	Location *time.Location
}

var _ engine.Protocol = (*Protocol)(nil)

// Name returns "line".
func (p *Protocol) Name() string { return "line" }

// NewClient starts one connection.
func (p *Protocol) NewClient(env engine.Env) engine.Client {
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	return &Client{env: env, loc: loc, needPassword: env.Hub.NeedsPassword()}
}

// Client is one line connection's protocol state: a password prompt when
// the server has a password, then a name prompt, repeated until a name is
// accepted.
type Client struct {
	env          engine.Env
	loc          *time.Location
	needPassword bool   // the password prompt is still open
	password     string // the password given, carried into the login
	account      string // a registered name given at the name prompt: the next line is its password
}

var _ engine.Client = (*Client)(nil)

const (
	namePrompt     = "What is your name? "
	passwordPrompt = "Password: "
)

// Greeting welcomes the user and asks for the password or the name.
func (c *Client) Greeting() []byte {
	prompt := namePrompt
	if c.needPassword {
		prompt = passwordPrompt
	}
	return []byte("Welcome to " + c.env.Hub.Config().ServerName + " (" + c.env.Hub.Software() + "). Type /help once you are in.\r\n" + prompt)
}

// Handshake takes the password line, then name lines.
func (c *Client) Handshake(msg []byte) (*engine.Login, error) {
	if c.needPassword {
		pw := strings.TrimRight(string(msg), " \t")
		if err := c.env.Hub.CheckPassword(pw); err != nil {
			return nil, err
		}
		c.needPassword, c.password = false, pw
		c.env.Send([]byte(namePrompt))
		return nil, nil
	}
	if c.account != "" {
		name, pw := c.account, strings.TrimSpace(string(msg))
		c.account = ""
		if pw == "" { // changed their mind: another name
			c.env.Send([]byte(namePrompt))
			return nil, nil
		}
		return &engine.Login{Name: name, Password: c.password, Account: name, AccountPassword: pw}, nil
	}
	name := strings.TrimSpace(string(msg))
	if c.env.Hub.IsRegistered(name) {
		c.account = name
		c.env.Send([]byte(name + " is a registered name. Its password (or an empty line to choose another name): "))
		return nil, nil
	}
	if n, pw, ok := strings.Cut(name, " "); ok && c.env.Hub.IsRegistered(n) { // "alice secret" on one line
		return &engine.Login{Name: n, Password: c.password, Account: n, AccountPassword: strings.TrimSpace(pw)}, nil
	}
	return &engine.Login{Name: name, Password: c.password}, nil
}

// HandshakeError says what went wrong and prompts again, or says goodbye.
func (c *Client) HandshakeError(err error, final bool) []byte {
	msg := "! " + chat.ErrorMessage(err)
	if engine.IsHandshakeTimeout(err) {
		what := "name"
		if c.needPassword {
			what = "password"
		}
		msg = "\r\n! no " + what + " within the handshake deadline"
	}
	if final {
		return []byte(msg + "; goodbye\r\n")
	}
	prompt := namePrompt
	if c.needPassword {
		prompt = passwordPrompt
	}
	return []byte(msg + "\r\n" + prompt)
}

// Encoder returns the session's renderer.
func (c *Client) Encoder(s *chat.Session) engine.Encoder { return &encoder{loc: c.loc, session: s} }

// Parse takes one line: a /command or a message; a blank line does nothing.
func (c *Client) Parse(_ *chat.Session, msg []byte) (chat.Request, error) {
	text := string(msg)
	if strings.TrimSpace(text) == "" {
		return chat.Request{}, nil
	}
	return chat.ParseLine(text, "")
}

var (
	fmtLine     = chat.NewFormat() // events of the current room
	fmtLineRoom = chat.NewFormat() // events of another joined room, prefixed with #room
)

// encoder renders events as text lines (CRLF, which both nc and telnet
// show right). Runs only on the connection's writer goroutine.
type encoder struct {
	loc     *time.Location
	session *chat.Session
}

// Skips reports the events a line client is never sent: its own live
// messages (its terminal shows what it typed) and pings and pongs. It
// reads no state, so it is safe from any goroutine.
func (e *encoder) Skips(ev *chat.Event) bool {
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		return !ev.History && ev.Session != 0 && e.session != nil && ev.Session == e.session.ID()
	case chat.KindPong, chat.KindPing:
		return true
	}
	return false
}

func (e *encoder) Encode(ev *chat.Event) []byte {
	s := e.session
	own := s != nil && ev.Session != 0 && ev.Session == s.ID()
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		if own && !ev.History {
			return nil // you typed it; your terminal shows it already
		}
		if ev.History {
			return []byte(e.message(ev, "(history) "))
		}
		if s == nil || ev.Room == s.Current() {
			return ev.Encoded(fmtLine, func(ev *chat.Event) []byte { return []byte(e.message(ev, "")) })
		}
		return ev.Encoded(fmtLineRoom, func(ev *chat.Event) []byte { return []byte(e.message(ev, "#"+render.SafeLine(ev.Room)+" ")) })
	case chat.KindDM:
		prefix := ""
		if ev.History {
			prefix = "(history) "
		}
		if own && ev.To != ev.From {
			return []byte(prefix + e.stamp(ev) + " -> *" + render.SafeLine(ev.To) + "* " + indent(ev.Text) + "\r\n")
		}
		return []byte(prefix + e.stamp(ev) + " *" + render.SafeLine(ev.From) + "* " + indent(ev.Text) + "\r\n")
	case chat.KindWelcome:
		w := ev.Welcome
		text := "-- welcome, " + render.SafeLine(w.Name) + "! You are in " + chat.DefaultRoom + ". /help lists the commands; plain lines are messages.\r\n"
		if w.Motd != "" {
			text += "-- " + indent(w.Motd) + "\r\n"
		}
		return []byte(text)
	case chat.KindHistoryEnd:
		switch ev.Text {
		case string(chat.CodeHistoryGone):
			return []byte("-- older messages of " + render.SafeLine(ev.Room) + " are no longer kept\r\n")
		case chat.HistoryMore:
			return []byte("-- more history of " + render.SafeLine(ev.Room) + " is stored than shown\r\n")
		}
		return nil
	case chat.KindPong, chat.KindPing:
		return nil
	case chat.KindError:
		return []byte("! " + indent(ev.Err.Message) + "\r\n")
	case chat.KindRooms:
		if len(ev.Rooms) == 0 {
			return []byte("-- no rooms yet\r\n")
		}
		var b strings.Builder
		for _, r := range ev.Rooms {
			b.WriteString("-- #" + render.SafeLine(render.Room(r)) + "\r\n")
		}
		if more := render.MoreRooms(ev); more != "" {
			b.WriteString("--" + render.SafeLine(strings.TrimPrefix(more, ";")) + "\r\n")
		}
		return []byte(b.String())
	}
	text := render.Notice(ev, own)
	if text == "" {
		return nil
	}
	if !own && ev.Session != 0 {
		return ev.Encoded(fmtLine, func(*chat.Event) []byte { return []byte("-- " + indent(text) + "\r\n") })
	}
	return []byte("-- " + indent(text) + "\r\n")
}

func (e *encoder) stamp(ev *chat.Event) string {
	return "[" + ev.Time.In(e.loc).Format("15:04") + "]"
}

func (e *encoder) message(ev *chat.Event, prefix string) string {
	from := render.SafeLine(ev.From)
	if ev.Kind == chat.KindMe {
		return prefix + e.stamp(ev) + " * " + from + " " + indent(ev.Text) + "\r\n"
	}
	return prefix + e.stamp(ev) + " <" + from + "> " + indent(ev.Text) + "\r\n"
}

// indent makes text safe for a terminal (render.Safe: the second line of
// defence behind the hub's text rule) and keeps a multi-line text readable
// and unforgeable: continuation lines are indented, so none can pass for
// another line of output.
func indent(s string) string {
	s = render.Safe(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\r\n    ")
}
