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
	// to confirm what was sent and say goodbye; default 5s.
	Drain time.Duration
}

// Run drives c from in and writes events to out until in ends (EOF: every
// line sent is confirmed, then the client quits), the user types /quit, the
// client stops, or ctx is done. It does not close c.
//
// Lines are read by a goroutine that ends when in reaches EOF or fails;
// callers whose input may stay open after Run returns should close it.
func Run(ctx context.Context, c *client.Client, in io.Reader, out io.Writer, opt Options) error {
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Drain <= 0 {
		opt.Drain = 5 * time.Second
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
	p := &printer{w: w, loc: opt.Location, me: c.Name(), addr: c.Addr()}
	pending := map[string]bool{} // refs of lines not yet confirmed
	pingRef := ""                // the ping sent at EOF
	var drain <-chan time.Time   // set once we are finishing
	quit := func(reason string) {
		if err := c.Quit(reason); err != nil {
			drain = time.After(0)
		} else if drain == nil {
			drain = time.After(opt.Drain)
		}
	}
	finishing := false
	events := c.Events()
	for {
		if finishing && len(pending) == 0 && pingRef == "" && !c.Quitting() {
			quit("")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drain:
			return nil
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if finishing {
					continue
				}
				finishing = true
				drain = time.After(opt.Drain)
				ref, err := c.Ping()
				if err == nil {
					pingRef = ref
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			cmd := ""
			name, rest, isCmd := chat.ParseCommand(line)
			if isCmd {
				if c := chat.LookupCommand(name); c != nil {
					cmd = c.Name
				}
			}
			if cmd == "quit" {
				finishing = true
				lines = nil
				quit(rest)
				continue
			}
			ref, err := c.Command(line)
			if err != nil {
				p.line("! not sent (" + err.Error() + "): " + client.SanitizeLine(line))
				w.Flush()
				continue
			}
			if !isCmd || cmd == "me" || cmd == "msg" {
				pending[ref] = true // confirmed by its echo (or an error)
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Ref != "" {
				delete(pending, ev.Ref)
				if ev.Ref == pingRef {
					pingRef = ""
				}
			}
			if ev.Type == client.TypeState && ev.State == client.StateDisconnected {
				pingRef = "" // the pong will not come; what was sent is resolved or lost
				clear(pending)
			}
			p.event(&ev)
			if len(events) == 0 {
				w.Flush()
			}
		}
	}
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
