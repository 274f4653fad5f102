// Package line is parley's line protocol front-end, for nc and telnet: a
// greeting and a name prompt, then one UTF-8 line per message or /command,
// and one line of output per event.
package line

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/render"
)

// maxNameAttempts is how many names a client may try before it is dropped.
const maxNameAttempts = 5

// Handler serves the line protocol.
type Handler struct {
	Hub *chat.Hub
	// Location is the time zone of timestamps; default time.Local.
	Location *time.Location
}

var _ server.Handler = (*Handler)(nil)

// ErrLineTooLong is returned by Reader.ReadLine for a line over the limit;
// the rest of that line has been discarded and reading may go on.
var ErrLineTooLong = errors.New("line too long")

// Reader reads lines of at most max bytes, without ever buffering more than
// its buffered reader holds. It drops telnet IAC negotiation and a trailing CR.
type Reader struct {
	r   SliceReader
	max int
	buf []byte
}

// SliceReader is the buffered reader a Reader reads through: a
// *bufio.Reader or a *server.Reader. ReadSlice returns bufio.ErrBufferFull
// when its buffer fills without a delimiter.
type SliceReader interface {
	ReadSlice(delim byte) ([]byte, error)
}

// NewReader returns a line reader over r with the given limit.
func NewReader(r SliceReader, max int) *Reader { return &Reader{r: r, max: max} }

// ReadLine returns the next line without its line ending. An overlong line
// is skipped to its end and reported as ErrLineTooLong. At EOF, a last
// unterminated line is returned first.
func (lr *Reader) ReadLine() (string, error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(lr.buf)+len(chunk) > lr.max+2 { // +2: the line ending does not count
				tooLong = true
				lr.buf = lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return "", ErrLineTooLong
			}
			return finishLine(lr.buf, lr.max)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(lr.buf) > 0 && !tooLong:
			line, lerr := finishLine(lr.buf, lr.max)
			if lerr != nil {
				return "", lerr
			}
			return line, nil
		default:
			return "", err
		}
	}
}

func finishLine(b []byte, max int) (string, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if bytes.IndexByte(b, 0xff) >= 0 {
		b = stripTelnet(b)
	}
	if len(b) > max {
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

// ServeConn runs one line connection until it ends.
func (h *Handler) ServeConn(ctx context.Context, c *server.Conn) {
	limits := c.Limits()
	lr := NewReader(c.Reader(), limits.MaxLineBytes)
	loc := h.Location
	if loc == nil {
		loc = time.Local
	}
	_ = c.SetReadDeadline(c.HandshakeDeadline())
	prompt := "What is your name? "
	if h.Hub.NeedsPassword() {
		prompt = "Password: "
	}
	if c.WriteNow([]byte("Welcome to "+h.Hub.Config().ServerName+". Type /help once you are in.\r\n"+prompt)) != nil {
		c.Close(server.ReasonWriteError)
		return
	}
	if h.Hub.NeedsPassword() && !h.password(c, lr) {
		return
	}
	enc := &encoder{loc: loc}
	var s *chat.Session
	for attempt := 1; s == nil; attempt++ {
		name, err := lr.ReadLine()
		if errors.Is(err, ErrLineTooLong) {
			err = nil
			name = strings.Repeat("x", chat.MaxNameRunes+1)
		}
		if err != nil {
			if c.Fail(err) == server.ReasonIdle {
				_ = c.WriteNow([]byte("\r\n! no name within the handshake deadline; goodbye\r\n"))
				c.Finish(server.ReasonHandshakeTimeout)
			}
			return
		}
		name = strings.TrimSpace(name)
		s, err = h.Hub.Register(c, name, chat.ClientInfo{Protocol: "line", Remote: c.RemoteAddr().String()})
		if err != nil {
			msg := "! " + chat.ErrorMessage(err)
			if attempt >= maxNameAttempts || chat.ErrorCode(err) == chat.CodeShutdown {
				_ = c.WriteNow([]byte(msg + "; goodbye\r\n"))
				c.Finish(server.ReasonHandshakeFailed)
				return
			}
			_ = c.WriteNow([]byte(msg + "\r\nWhat is your name? "))
		}
	}
	enc.session = s
	c.SetEncoder(enc)
	if err := s.Begin(chat.JoinOptions{}); err != nil {
		c.Deliver(chat.ErrorEvent(err, ""))
		c.Finish(server.ReasonHandshakeFailed)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	for {
		text, err := lr.ReadLine()
		if errors.Is(err, ErrLineTooLong) {
			c.Deliver(chat.ErrorEvent(chat.Errorf(chat.CodeTooLong, "line too long; the limit is %d bytes", limits.MaxLineBytes), ""))
			continue
		}
		if err != nil {
			s.Leave(c.Fail(err).String())
			return
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if !server.Throttle(c, s, "") {
			return
		}
		if err := s.Exec(text, ""); err != nil {
			c.Deliver(chat.ErrorEvent(err, ""))
		}
		if s.Closed() {
			return
		}
	}
}

// password reads and checks the server password (the prompt is written),
// then asks for the name. On failure it has told the client and finished
// the connection, and returns false.
func (h *Handler) password(c *server.Conn, lr *Reader) bool {
	pw, err := lr.ReadLine()
	if errors.Is(err, ErrLineTooLong) {
		pw, err = "", nil
	}
	if err != nil {
		if c.Fail(err) == server.ReasonIdle {
			_ = c.WriteNow([]byte("\r\n! no password within the handshake deadline; goodbye\r\n"))
			c.Finish(server.ReasonHandshakeTimeout)
		}
		return false
	}
	if err := h.Hub.CheckPassword(strings.TrimRight(pw, " \t")); err != nil {
		c.Logger().Warn("wrong server password", "protocol", "line")
		_ = c.WriteNow([]byte("! " + chat.ErrorMessage(err) + "; goodbye\r\n"))
		c.Finish(server.ReasonAuthFailed)
		return false
	}
	return c.WriteNow([]byte("What is your name? ")) == nil
}

// Refuse tells a connection over the limits why it is refused, in one line.
func (h *Handler) Refuse(c *server.Conn, why *chat.Error) {
	_ = c.WriteNow([]byte("! " + why.Message + "; goodbye\r\n"))
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
		return ev.Encoded(fmtLineRoom, func(ev *chat.Event) []byte { return []byte(e.message(ev, "#"+ev.Room+" ")) })
	case chat.KindDM:
		prefix := ""
		if ev.History {
			prefix = "(history) "
		}
		if own && ev.To != ev.From {
			return []byte(prefix + e.stamp(ev) + " -> *" + ev.To + "* " + indent(ev.Text) + "\r\n")
		}
		return []byte(prefix + e.stamp(ev) + " *" + ev.From + "* " + indent(ev.Text) + "\r\n")
	case chat.KindWelcome:
		w := ev.Welcome
		text := "-- welcome, " + w.Name + "! You are in " + chat.DefaultRoom + ". /help lists the commands; plain lines are messages.\r\n"
		if w.Motd != "" {
			text += "-- " + indent(w.Motd) + "\r\n"
		}
		return []byte(text)
	case chat.KindHistoryEnd:
		switch ev.Text {
		case string(chat.CodeHistoryGone):
			return []byte("-- older messages of " + ev.Room + " are no longer kept\r\n")
		case "more":
			return []byte("-- more history of " + ev.Room + " is stored than shown\r\n")
		}
		return nil
	case chat.KindPong:
		return nil
	case chat.KindError:
		return []byte("! " + ev.Err.Message + "\r\n")
	case chat.KindRooms:
		if len(ev.Rooms) == 0 {
			return []byte("-- no rooms yet\r\n")
		}
		var b strings.Builder
		for _, r := range ev.Rooms {
			b.WriteString("-- #" + render.Room(r) + "\r\n")
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
	if ev.Kind == chat.KindMe {
		return prefix + e.stamp(ev) + " * " + ev.From + " " + indent(ev.Text) + "\r\n"
	}
	return prefix + e.stamp(ev) + " <" + ev.From + "> " + indent(ev.Text) + "\r\n"
}

// indent keeps a multi-line text readable: continuation lines are indented.
func indent(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\r\n    ")
}
