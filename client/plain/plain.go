// Package plain is parley's scriptable client: it reads lines from an input
// (each a message to the current room or a /command) and writes one line
// per event to an output, in the line protocol's format:
//
//	[12:01] <bob> hi
//	[12:01] * bob waves
//	#dev [12:02] <carol> a message in another room you are in
//	[12:03] *bob* a direct message to you
//	-- bob joined lobby
//	! the name "bob" is taken
//
// It is what `parley join --plain` runs, and what runs when standard input
// or output is not a terminal.
package plain

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/wire/native"
	"github.com/parleychat/parley/wire/render"
)

// Options tune Run.
type Options struct {
	// Location for timestamps; default time.Local.
	Location *time.Location
	// Drain bounds how long Run waits at the end of input for the server
	// to confirm what was sent (and, while disconnected, to come back so
	// that what was typed meanwhile can be sent) before it says goodbye;
	// default 30s.
	Drain time.Duration
	// MaxQueued bounds the lines typed while disconnected that are kept to
	// be sent after the reconnect; default 10000. Past it a line is
	// refused with a message.
	MaxQueued int
}

// NotSentError is what Run returns when some lines were finally not sent:
// the outbox was full, or the input ended and the server did not come back
// within the drain time. A script can rely on a nil error meaning every
// line was sent.
type NotSentError struct{ Lines int }

func (e *NotSentError) Error() string {
	if e.Lines == 1 {
		return "1 line was not sent"
	}
	return fmt.Sprintf("%d lines were not sent", e.Lines)
}

// Run drives c from in and writes events to out until in ends (EOF: every
// line is sent and confirmed, then the client quits), the user types /quit,
// the client stops, or ctx is done. It does not close c.
//
// Lines typed while the client is disconnected are queued (up to
// MaxQueued) and sent after the reconnect, in order, once. If any line is
// finally not sent, Run says so and returns a *NotSentError.
//
// Lines are read by a goroutine that ends when in reaches EOF or fails;
// callers whose input may stay open after Run returns should close it.
func Run(ctx context.Context, c *client.Client, in io.Reader, out io.Writer, opt Options) error {
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Drain <= 0 {
		opt.Drain = 30 * time.Second
	}
	if opt.MaxQueued <= 0 {
		opt.MaxQueued = 10000
	}
	lines := make(chan string)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-stopRead:
				return
			}
		}
	}()

	w := bufio.NewWriter(out)
	defer w.Flush()
	r := &runner{c: c, p: &printer{w: w, loc: opt.Location, me: c.Name(), addr: c.Addr()}, max: opt.MaxQueued,
		pending: map[string]string{}, uncertain: map[string]int{}, connected: true}
	var drain <-chan time.Time // set once we are finishing
	quit := func(reason string) {
		if err := c.Quit(reason); err != nil {
			drain = time.After(0)
		} else if drain == nil {
			drain = time.After(opt.Drain)
		}
	}
	finish := func() error {
		if len(r.outbox) > 0 {
			r.p.line(fmt.Sprintf("! %d line(s) typed while disconnected were not sent: the server did not come back in time", len(r.outbox)))
		}
		uncertain := 0
		for _, n := range r.uncertain {
			uncertain += n
		}
		if uncertain > 0 {
			r.p.line(fmt.Sprintf("! %d message(s) sent just before the connection dropped were never confirmed and may be lost", uncertain))
		}
		w.Flush()
		if n := len(r.outbox) + r.refused + uncertain; n > 0 {
			return &NotSentError{Lines: n}
		}
		return nil
	}
	finishing := false
	events := c.Events()
	for {
		if finishing && len(r.pending) == 0 && r.pingRef == "" && len(r.outbox) == 0 && !c.Quitting() {
			quit("")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drain:
			return finish()
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if finishing {
					continue
				}
				finishing = true
				drain = time.After(opt.Drain)
				if ref, err := c.Ping(); err == nil {
					r.pingRef = ref
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if name, rest, isCmd := chat.ParseCommand(line); isCmd {
				if cmd := chat.LookupCommand(name); cmd != nil && cmd.Name == "quit" {
					finishing = true
					lines = nil
					if len(r.outbox) == 0 {
						quit(rest)
					} else {
						r.quitAfter, r.quitReason = true, rest
					}
					continue
				}
			}
			r.submit(line)
		case ev, ok := <-events:
			if !ok {
				return finish()
			}
			if ev.History && (ev.Type == native.TypeSay || ev.Type == native.TypeMe) && r.p.own(ev.From) && r.uncertain[ev.Text] > 0 {
				r.uncertain[ev.Text]-- // it was stored after all
			}
			if ev.Ref != "" {
				delete(r.pending, ev.Ref)
				if ev.Ref == r.pingRef {
					r.pingRef = ""
				}
			}
			if ev.Type == client.TypeState {
				switch ev.State {
				case client.StateDisconnected:
					r.connected = false
					r.pingRef = "" // the pong will not come
					// What was sent and not confirmed is uncertain until the
					// resume replay after the reconnect shows it stored.
					for _, text := range r.pending {
						if text != "" {
							r.uncertain[text]++
						}
					}
					clear(r.pending)
				case client.StateConnected:
					r.connected = true
				}
			}
			r.p.event(&ev)
			if ev.Type == native.TypeWelcome && r.connected {
				r.flush() // after the welcome of a reconnect: the session is up again
				if finishing && r.pingRef == "" {
					if ref, err := c.Ping(); err == nil {
						r.pingRef = ref
					}
				}
				if r.quitAfter && len(r.outbox) == 0 {
					quit(r.quitReason)
				}
			}
			if len(events) == 0 {
				w.Flush()
			}
		}
	}
}

// runner is Run's state: what was sent and awaits confirmation, and what
// was typed while disconnected.
type runner struct {
	c          *client.Client
	p          *printer
	max        int
	pending    map[string]string // refs of lines not yet confirmed -> the message text ("" for a DM)
	uncertain  map[string]int    // texts sent but not confirmed when the connection dropped
	pingRef    string            // the ping sent at EOF
	connected  bool
	outbox     []string // typed while disconnected, to send after the reconnect
	refused    int      // lines dropped because the outbox was full
	quitAfter  bool     // /quit was typed while lines were still queued
	quitReason string
}

// submit sends a line now, or queues it while disconnected.
func (r *runner) submit(line string) {
	if r.connected && len(r.outbox) == 0 && r.send(line) {
		return
	}
	if len(r.outbox) >= r.max {
		r.refused++
		r.p.line(fmt.Sprintf("! not sent (%d lines already wait for the server to come back): %s", r.max, client.SanitizeLine(line)))
		return
	}
	r.outbox = append(r.outbox, line)
}

// send sends one line; false if the client is not connected (the line is
// then still to send).
func (r *runner) send(line string) bool {
	ref, err := r.c.Command(line)
	if errors.Is(err, client.ErrNotConnected) {
		r.connected = false
		return false
	}
	if err != nil {
		r.refused++
		r.p.line("! not sent (" + err.Error() + "): " + client.SanitizeLine(line))
		return true
	}
	// Messages are confirmed by their echo (or an error); the text is what
	// a resume replay would show if the echo was lost with the connection.
	name, rest, isCmd := chat.ParseCommand(line)
	switch cmd := chat.LookupCommand(name); {
	case !isCmd:
		r.pending[ref] = rest
	case cmd != nil && cmd.Name == "me":
		r.pending[ref] = strings.TrimSpace(rest)
	case cmd != nil && cmd.Name == "msg":
		r.pending[ref] = ""
	}
	return true
}

// flush sends what was queued while disconnected, in order.
func (r *runner) flush() {
	for len(r.outbox) > 0 {
		if !r.send(r.outbox[0]) {
			return
		}
		r.outbox = r.outbox[1:]
	}
	r.outbox = nil
}

// printer formats events as lines.
type printer struct {
	w       *bufio.Writer
	loc     *time.Location
	me      string
	addr    string
	current string
}

func (p *printer) line(s string) {
	p.w.WriteString(s)
	p.w.WriteByte('\n')
}

func (p *printer) own(name string) bool { return chat.NameKey(name) == chat.NameKey(p.me) }

func (p *printer) event(ev *client.Event) {
	if s := Format(ev, p.me, p.current, p.loc, p.addr); s != "" {
		p.line(s)
	}
	switch ev.Type {
	case native.TypeWelcome:
		p.me = ev.Name
	case native.TypeJoin:
		if p.own(ev.Name) {
			p.current = ev.Room
		}
	case native.TypePart:
		if p.own(ev.Name) && ev.Room == p.current {
			p.current = ""
		}
	case native.TypeNick:
		if p.own(ev.Old) {
			p.me = ev.Name
		}
	case native.TypeNotice:
		if strings.HasPrefix(ev.Text, "you are in "+ev.Room+";") {
			p.current = ev.Room // joined again: it is current now
		}
	}
}

// Format renders one event as one line (without the newline), or "" for
// events that are not shown: the user's own live messages (they typed them),
// pongs, and reconnect attempts. me is the user's name, current the room
// plain lines go to (messages of other rooms get a #room prefix), addr the
// server address named in connection notices. Text is made safe for a
// terminal.
func Format(ev *client.Event, me, current string, loc *time.Location, addr string) string {
	own := me != "" && chat.NameKey(ev.From) == chat.NameKey(me)
	stamp := ""
	if ev.TS != nil {
		stamp = "[" + ev.TS.In(loc).Format("15:04") + "] "
	}
	hist := ""
	if ev.History {
		hist = "(history) "
	}
	text := client.SanitizeLine(ev.Text)
	from := client.SanitizeLine(ev.From)
	switch ev.Type {
	case native.TypeSay, native.TypeMe:
		if own && !ev.History {
			return ""
		}
		room := ""
		if ev.Room != current && !ev.History {
			room = "#" + client.SanitizeLine(ev.Room) + " "
		}
		if ev.Type == native.TypeMe {
			return hist + room + stamp + "* " + from + " " + text
		}
		return hist + room + stamp + "<" + from + "> " + text
	case native.TypeDM:
		if own && chat.NameKey(ev.To) != chat.NameKey(me) {
			return hist + stamp + "-> *" + client.SanitizeLine(ev.To) + "* " + text
		}
		return hist + stamp + "*" + from + "* " + text
	case native.TypeWelcome:
		s := "-- welcome, " + client.SanitizeLine(ev.Name) + "! connected to " + client.SanitizeLine(ev.Server) + " at " + addr + "; /help lists the commands"
		if ev.Motd != "" {
			s += "\n-- " + client.SanitizeLine(ev.Motd)
		}
		return s
	case native.TypeHistoryEnd:
		switch ev.Text {
		case native.HistoryGone:
			return "-- older messages of " + client.SanitizeLine(ev.Room) + " are no longer kept; some were missed"
		case native.More:
			return "-- more history of " + client.SanitizeLine(ev.Room) + " is stored than shown"
		}
		return ""
	case native.TypePong:
		return ""
	case native.TypeError:
		return "! " + client.SanitizeLine(ev.Message)
	case native.TypeBye:
		if ev.Reason == chat.ByeGoodbye {
			return "-- goodbye"
		}
		return "-- the server closed the session: " + client.SanitizeLine(ev.Reason)
	case client.TypeState:
		switch ev.State {
		case client.StateDisconnected:
			why := ""
			if ev.Err != nil {
				why = " (" + client.SanitizeLine(ev.Err.Error()) + ")"
			}
			return fmt.Sprintf("-- disconnected from %s%s; retrying in %s", addr, why, ev.RetryIn.Round(100*time.Millisecond))
		case client.StateConnected:
			return "-- reconnected to " + addr
		}
		return ""
	}
	ce := native.ToChat(&ev.Event)
	var mine bool
	switch ev.Type {
	case native.TypeJoin, native.TypePart:
		mine = chat.NameKey(ev.Name) == chat.NameKey(me)
	case native.TypeNick:
		mine = chat.NameKey(ev.Old) == chat.NameKey(me)
	}
	s := render.Notice(ce, mine)
	if s == "" {
		return ""
	}
	return "-- " + client.SanitizeLine(s)
}
