// Package tui is parley's full-screen terminal client: a bubbletea model
// over the client library. The model is a state machine: server events and
// keys go in through Update, requests go out through a Sender, and View
// draws the screen. Tests drive it without a terminal.
package tui

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/wire/native"
	"github.com/parleychat/parley/wire/render"
)

// Sender is what the model needs from a client: client.Client implements it.
type Sender interface {
	// Send sends a request and returns its ref.
	Send(req native.Request) (string, error)
	// Quit says goodbye to the server.
	Quit(reason string) error
}

// Options configure a Model.
type Options struct {
	Addr     string              // server address, shown in the header
	Focus    string              // a room to show once it is joined (parley join --room dev); "" for the lobby
	Name     string              // the user's nickname
	Server   string              // server name from the welcome
	Events   <-chan client.Event // events to read; nil when a test feeds them
	Now      func() time.Time    // clock; default time.Now
	Location *time.Location      // for timestamps; default time.Local
	Bell     func()              // rings the terminal bell; nil for none
}

// EventMsg carries one client event into the model.
type EventMsg client.Event

// closedMsg says the client's event channel has closed.
type closedMsg struct{}

// tickMsg refreshes the reconnect countdown.
type tickMsg struct{}

// Entry kinds.
type kind int

const (
	kSay kind = iota
	kMe
	kDM
	kSystem
	kError
	kDivider
)

// entry is one logical line of a window.
type entry struct {
	kind    kind
	ts      time.Time
	from    string
	to      string
	text    string
	history bool
	mention bool
	own     bool
}

// window is a room, or a direct conversation with one user ("@bob").
type window struct {
	name    string
	dm      bool
	topic   string
	members []string
	entries []entry
	unread  int
	mention bool
	scroll  int // rendered lines scrolled up from the bottom
}

// maxEntries bounds a window's scrollback.
const maxEntries = 2000

// Model is the client's bubbletea model.
type Model struct {
	s   Sender
	opt Options

	me      string
	server  string
	state   client.State
	retryAt time.Time
	err     string // why the connection dropped

	windows []*window
	active  int

	width, height int
	input         textinput.Model
	hist          []string
	histPos       int
	draft         string
	compl         *completion
	showMembers   bool

	quietRefs map[string]bool // who requests made by the client itself
	wantJoin  map[string]bool // rooms the user asked to join: switch to them
	lastRoom  string          // the room window last shown, for /who in a conversation
	pageRefs  map[string]bool // refs of the later pages of a member list
	quitting  bool
}

type completion struct {
	base  string
	cands []string
	i     int
}

// New returns a model that sends through s.
func New(s Sender, opt Options) *Model {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 0
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.Focus()
	m := &Model{
		s: s, opt: opt, me: opt.Name, server: opt.Server, state: client.StateConnected,
		input: ti, showMembers: true, width: 80, height: 24,
		quietRefs: map[string]bool{}, wantJoin: map[string]bool{}, pageRefs: map[string]bool{},
	}
	m.windows = []*window{{name: chat.DefaultRoom}}
	if opt.Focus != "" && opt.Focus != chat.DefaultRoom {
		m.wantJoin[opt.Focus] = true
	}
	return m
}

// Init starts listening for client events.
func (m *Model) Init() tea.Cmd { return m.listen() }

func (m *Model) listen() tea.Cmd {
	ch := m.opt.Events
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return closedMsg{}
		}
		return EventMsg(ev)
	}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case EventMsg:
		ev := client.Event(msg)
		cmd := m.ingest(&ev)
		return m, tea.Batch(cmd, m.listen())
	case closedMsg:
		m.quitting = true
		return m, tea.Quit
	case tickMsg:
		if m.state == client.StateDisconnected {
			return m, tick()
		}
		return m, nil
	case tea.MouseMsg:
		if msg.Action == tea.MouseActionPress {
			switch msg.Button {
			case tea.MouseButtonWheelUp:
				m.scroll(3)
			case tea.MouseButtonWheelDown:
				m.scroll(-3)
			}
		}
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

// insertRunes types text into the input line at the cursor.
func (m *Model) insertRunes(r []rune) {
	v := []rune(m.input.Value())
	pos := min(m.input.Position(), len(v))
	out := make([]rune, 0, len(v)+len(r))
	out = append(append(append(out, v[:pos]...), r...), v[pos:]...)
	m.input.SetValue(string(out))
	m.input.SetCursor(pos + len(r))
}

func tick() tea.Cmd { return tea.Tick(time.Second, func(time.Time) tea.Msg { return tickMsg{} }) }

func (m *Model) cur() *window { return m.windows[m.active] }

func (m *Model) paneHeight() int { return max(m.height-3, 1) }

func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	s := k.String()
	if s != "tab" {
		m.compl = nil
	}
	if k.Type == tea.KeyRunes && !k.Alt {
		// Typed or pasted text, never a key name: bubbletea delivers a
		// paste word by word, so "down" or "end" arrives as runes whose
		// String() is that key's name, which both the switch below and
		// the textinput's key map would obey. Insert the runes instead.
		m.insertRunes(k.Runes)
		return m, nil
	}
	switch s {
	case "ctrl+c", "ctrl+d":
		if m.quitting {
			return m, tea.Quit // a second Ctrl-C: no more waiting
		}
		m.quitting = true
		_ = m.s.Quit("")
		return m, tea.Quit
	case "enter":
		return m, m.submit()
	case "tab":
		m.complete()
		return m, nil
	case "up":
		m.histMove(-1)
		return m, nil
	case "down":
		m.histMove(1)
		return m, nil
	case "pgup":
		m.scroll(m.paneHeight() - 1)
		return m, nil
	case "pgdown":
		m.scroll(-(m.paneHeight() - 1))
		return m, nil
	case "ctrl+end", "end":
		if s == "ctrl+end" || m.input.Value() == "" {
			m.cur().scroll = 0
			return m, nil
		}
	case "ctrl+n", "alt+right":
		m.switchTo((m.active + 1) % len(m.windows))
		return m, nil
	case "ctrl+p", "alt+left":
		m.switchTo((m.active + len(m.windows) - 1) % len(m.windows))
		return m, nil
	case "f2":
		m.showMembers = !m.showMembers
		return m, nil
	case "esc":
		m.input.SetValue("")
		return m, nil
	}
	if len(s) == 5 && strings.HasPrefix(s, "alt+") && s[4] >= '1' && s[4] <= '9' {
		if i := int(s[4] - '1'); i < len(m.windows) {
			m.switchTo(i)
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return m, cmd
}

func (m *Model) switchTo(i int) {
	m.active = i
	w := m.cur()
	w.unread, w.mention = 0, false
	if !w.dm {
		m.lastRoom = w.name
	}
}

func (m *Model) scroll(n int) {
	w := m.cur()
	w.scroll = max(w.scroll+n, 0)
	// the upper bound is applied when drawing, when the line count is known
	total := len(m.renderWindow(w, m.paneWidth()))
	w.scroll = min(w.scroll, max(total-m.paneHeight(), 0))
}

func (m *Model) histMove(d int) {
	if len(m.hist) == 0 {
		return
	}
	if m.histPos == len(m.hist) && d < 0 {
		m.draft = m.input.Value()
	}
	p := m.histPos + d
	if p < 0 || p > len(m.hist) {
		return
	}
	m.histPos = p
	if p == len(m.hist) {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(m.hist[p])
	}
	m.input.CursorEnd()
}

// clientCommands are handled by the client itself.
var clientCommands = []struct{ name, args, help string }{
	{"help", "[COMMAND]", "list the commands and keys, or explain one command"},
	{"query", "NAME", "open a conversation with NAME (plain lines there are direct messages)"},
	{"close", "", "leave the current room, or close the current conversation"},
	{"members", "", "show or hide the member list (also F2)"},
	{"clear", "", "clear the current window"},
}

func isClientCommand(name string) bool {
	for _, c := range clientCommands {
		if c.name == name {
			return true
		}
	}
	return false
}

// commandNames lists every command for completion, with the slash.
func commandNames() []string {
	var out []string
	for _, c := range chat.Commands {
		out = append(out, "/"+c.Name)
	}
	for _, c := range clientCommands {
		out = append(out, "/"+c.name)
	}
	sort.Strings(out)
	return slicesCompact(out)
}

func slicesCompact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func (m *Model) complete() {
	if c := m.compl; c != nil && len(c.cands) > 0 {
		c.i = (c.i + 1) % len(c.cands)
		m.input.SetValue(c.base + c.cands[c.i])
		m.input.CursorEnd()
		return
	}
	v := m.input.Value()
	i := strings.LastIndexAny(v, " \t") + 1
	base, word := v[:i], v[i:]
	var cands []string
	lw := strings.ToLower(word)
	if base == "" && strings.HasPrefix(word, "/") {
		for _, c := range commandNames() {
			if strings.HasPrefix(c, lw) {
				cands = append(cands, c+" ")
			}
		}
	} else if word != "" {
		seen := map[string]bool{}
		names := append([]string{}, m.cur().members...)
		for _, w := range m.windows {
			if w.dm {
				names = append(names, w.name[1:])
			}
		}
		for _, n := range names {
			if strings.HasPrefix(strings.ToLower(n), lw) && !seen[chat.NameKey(n)] && chat.NameKey(n) != chat.NameKey(m.me) {
				seen[chat.NameKey(n)] = true
				suffix := " "
				if base == "" {
					suffix = ": "
				}
				cands = append(cands, n+suffix)
			}
		}
		sort.Strings(cands)
	}
	if len(cands) == 0 {
		return
	}
	m.compl = &completion{base: base, cands: cands}
	m.input.SetValue(base + cands[0])
	m.input.CursorEnd()
}

// submit handles the input line on Enter.
func (m *Model) submit() tea.Cmd {
	line := m.input.Value()
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if len(m.hist) == 0 || m.hist[len(m.hist)-1] != line {
		m.hist = append(m.hist, line)
	}
	m.histPos = len(m.hist)
	m.draft = ""
	cmd, ok := m.run(line)
	if ok {
		m.input.SetValue("")
		m.cur().scroll = 0
	}
	return cmd
}

func strp(s string) *string { return &s }

// run executes one input line. It reports whether the line was handled (the
// input is cleared) or must be kept (it could not be sent).
func (m *Model) run(line string) (tea.Cmd, bool) {
	w := m.cur()
	name, rest, isCmd := chat.ParseCommand(line)
	if !isCmd {
		if w.dm {
			return nil, m.send(native.Request{Type: native.TypeDM, To: w.name[1:], Text: strp(rest)})
		}
		return nil, m.send(native.Request{Type: native.TypeSay, Room: w.name, Text: strp(rest)})
	}
	args := strings.Fields(rest)
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	if c := chat.LookupCommand(name); c != nil && !isClientCommand(name) {
		name = c.Name
	}
	switch name {
	case "help":
		m.system(w, m.helpText(arg(0)))
		return nil, true
	case "members":
		m.showMembers = !m.showMembers
		return nil, true
	case "clear":
		w.entries, w.scroll = nil, 0
		return nil, true
	case "query":
		if arg(0) == "" {
			m.errorLine(w, "usage: /query NAME")
			return nil, true
		}
		m.switchTo(m.openDM(arg(0)))
		return nil, true
	case "close":
		if w.dm {
			m.closeWindow(m.active)
			return nil, true
		}
		return nil, m.send(native.Request{Type: native.TypePart, Room: w.name})
	case "quit":
		m.quitting = true
		_ = m.s.Quit(strings.TrimSpace(rest))
		return tea.Quit, true
	case "join":
		if arg(0) == "" {
			break
		}
		room := strings.TrimPrefix(arg(0), "#")
		if key, err := chat.ValidateRoom(room); err == nil {
			if i := m.find(key); i >= 0 {
				m.switchTo(i)
				return nil, true
			}
			m.wantJoin[key] = true
		}
		return nil, m.send(native.Request{Type: native.TypeJoin, Room: room})
	case "part":
		room := w.name
		reason := strings.TrimSpace(rest)
		if a := strings.TrimPrefix(arg(0), "#"); a != "" && m.find(strings.ToLower(a)) >= 0 {
			room, reason = a, strings.TrimSpace(strings.TrimPrefix(rest, arg(0)))
		}
		if w.dm && room == w.name {
			m.closeWindow(m.active)
			return nil, true
		}
		return nil, m.send(native.Request{Type: native.TypePart, Room: room, Reason: reason})
	case "me":
		if rest == "" {
			break
		}
		if w.dm {
			return nil, m.send(native.Request{Type: native.TypeDM, To: w.name[1:], Text: strp("* " + m.me + " " + rest)})
		}
		return nil, m.send(native.Request{Type: native.TypeMe, Room: w.name, Text: strp(rest)})
	case "msg":
		if len(args) < 2 {
			break
		}
		to := args[0]
		text := strings.TrimLeft(strings.TrimPrefix(rest, to), " \t")
		m.switchTo(m.openDM(to))
		return nil, m.send(native.Request{Type: native.TypeDM, To: to, Text: strp(text)})
	case "topic":
		if w.dm {
			m.errorLine(w, "a conversation has no topic")
			return nil, true
		}
		req := native.Request{Type: native.TypeTopic, Room: w.name} // without text: ask the server, never the cache
		if strings.TrimSpace(rest) != "" {
			req.Text = strp(rest)
		}
		return nil, m.send(req)
	case "who":
		room := w.name
		if a := arg(0); a != "" {
			room = strings.TrimPrefix(a, "#")
		} else if w.dm {
			// A conversation has no member list: show the room the user
			// came from.
			room = m.lastRoom
			if room == "" || m.find(room) < 0 {
				m.errorLine(w, "this is a conversation with "+w.name[1:]+", not a room: /who ROOM lists a room's members")
				return nil, true
			}
		}
		return nil, m.send(native.Request{Type: native.TypeWho, Room: room})
	}
	// everything else (and usage errors) goes through the server's table
	return nil, m.send(native.Request{Type: native.TypeCommand, Text: strp(line)})
}

// send sends req, showing an error in the current window if it fails.
func (m *Model) send(req native.Request) bool {
	if _, err := m.s.Send(req); err != nil {
		m.errorLine(m.cur(), "not sent: "+err.Error()+" (your text is still in the input line)")
		return false
	}
	return true
}

func (m *Model) helpText(topic string) string {
	if topic != "" {
		t := strings.TrimPrefix(topic, "/")
		for _, c := range clientCommands {
			if c.name == t {
				return strings.TrimSpace("/"+c.name+" "+c.args) + " - " + c.help
			}
		}
		text, err := chat.HelpText([]string{t})
		if err != nil {
			return chat.ErrorMessage(err)
		}
		return text
	}
	var b strings.Builder
	b.WriteString("commands (anything else you type is a message; start it with // to send a leading /):")
	for _, c := range chat.Commands {
		help := c.Help
		if c.Name == "help" {
			help = "list the commands and keys, or explain one command"
		}
		fmt.Fprintf(&b, "\n  %-20s %s", c.Usage(), help)
	}
	for _, c := range clientCommands {
		if c.name != "help" {
			fmt.Fprintf(&b, "\n  %-20s %s", strings.TrimSpace("/"+c.name+" "+c.args), c.help)
		}
	}
	b.WriteString("\nkeys: Alt+1..9 or Ctrl+N/Ctrl+P switch windows; PgUp/PgDn or the wheel scroll; Tab completes;")
	b.WriteString("\n      Up/Down recall input; F2 toggles members; Esc clears the input; Ctrl+C quits")
	return b.String()
}

// find returns the index of the window called name, or -1.
func (m *Model) find(name string) int {
	for i, w := range m.windows {
		if w.name == name {
			return i
		}
	}
	return -1
}

// room returns the window of a room, creating it.
func (m *Model) room(name string) *window {
	if i := m.find(name); i >= 0 {
		return m.windows[i]
	}
	w := &window{name: name}
	m.windows = append(m.windows, w)
	return w
}

// openDM returns the index of the conversation with peer, creating it.
func (m *Model) openDM(peer string) int {
	for i, w := range m.windows {
		if w.dm && chat.NameKey(w.name[1:]) == chat.NameKey(peer) {
			return i
		}
	}
	m.windows = append(m.windows, &window{name: "@" + peer, dm: true, members: []string{peer}})
	return len(m.windows) - 1
}

func (m *Model) closeWindow(i int) {
	if len(m.windows) == 1 {
		w := m.windows[0]
		w.members, w.topic = nil, ""
		return
	}
	m.windows = append(m.windows[:i], m.windows[i+1:]...)
	if m.active >= i && m.active > 0 {
		m.active--
	}
	m.switchTo(m.active)
}

func (m *Model) add(w *window, e entry) {
	w.entries = append(w.entries, e)
	if len(w.entries) > maxEntries {
		w.entries = append(w.entries[:0], w.entries[len(w.entries)-maxEntries:]...)
	}
	if w.scroll > 0 {
		w.scroll += len(m.renderEntry(e, m.paneWidth()))
	}
}

func (m *Model) system(w *window, text string) {
	m.add(w, entry{kind: kSystem, ts: m.opt.Now(), text: text})
}

func (m *Model) errorLine(w *window, text string) {
	m.add(w, entry{kind: kError, ts: m.opt.Now(), text: text})
}

func (m *Model) isMe(name string) bool { return chat.NameKey(name) == chat.NameKey(m.me) }

// mentions reports whether text names the user as a word.
func mentions(text, name string) bool {
	if name == "" {
		return false
	}
	lt, ln := strings.ToLower(text), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(lt[i:], ln)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(ln)
		before, after := ' ', ' '
		if j > 0 {
			before = lastRune(lt[:j])
		}
		if end < len(lt) {
			after = []rune(lt[end:])[0]
		}
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		i = j + 1
	}
}

func lastRune(s string) rune { r := []rune(s); return r[len(r)-1] }

func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}

func (m *Model) ts(ev *client.Event) time.Time {
	if ev.TS != nil {
		return *ev.TS
	}
	return m.opt.Now()
}

// ingest applies one client event to the model.
func (m *Model) ingest(ev *client.Event) tea.Cmd {
	client.SanitizeEvent(&ev.Event) // defence in depth: never trust the source
	switch ev.Type {
	case client.TypeState:
		return m.stateChange(ev)
	case native.TypeWelcome:
		first := m.server == "" || m.me == ""
		m.me, m.server = ev.Name, ev.Server
		if first || len(m.cur().entries) == 0 {
			m.system(m.windows[0], "connected to "+m.server+" at "+m.opt.Addr+" as "+m.me+"; /help lists the commands")
			if ev.Motd != "" {
				m.system(m.windows[0], ev.Motd)
			}
		}
	case native.TypeSay, native.TypeMe:
		w := m.room(ev.Room)
		e := entry{kind: kSay, ts: m.ts(ev), from: ev.From, text: ev.Text, history: ev.History, own: m.isMe(ev.From)}
		if ev.Type == native.TypeMe {
			e.kind = kMe
		}
		e.mention = !e.own && mentions(ev.Text, m.me)
		m.add(w, e)
		return m.notify(w, e)
	case native.TypeDM:
		peer := ev.From
		if m.isMe(ev.From) {
			peer = ev.To
		}
		w := m.windows[m.openDM(peer)]
		e := entry{kind: kDM, ts: m.ts(ev), from: ev.From, to: ev.To, text: ev.Text, history: ev.History, own: m.isMe(ev.From)}
		e.mention = !e.own
		m.add(w, e)
		return m.notify(w, e)
	case native.TypeJoin:
		existed := m.find(ev.Room) >= 0
		w := m.room(ev.Room)
		if m.isMe(ev.Name) {
			// The room's state comes again after a (re)join: its topic, if
			// it has one, follows this event; what was cached may be stale
			// (the server may have restarted without it).
			w.topic = ""
			if m.wantJoin[ev.Room] {
				delete(m.wantJoin, ev.Room)
				m.switchTo(m.find(ev.Room))
			}
			if ref, err := m.s.Send(native.Request{Type: native.TypeWho, Room: ev.Room}); err == nil {
				m.quietRefs[ref] = true
			}
			if !existed {
				m.system(w, "you joined "+ev.Room) // not repeated on a rejoin after a reconnect
			}
			return nil
		}
		w.members = addName(w.members, ev.Name)
		m.system(w, ev.Name+" joined "+ev.Room)
	case native.TypePart:
		i := m.find(ev.Room)
		if i < 0 {
			return nil
		}
		w := m.windows[i]
		if m.isMe(ev.Name) {
			if ev.Room == chat.DefaultRoom || len(m.windows) == 1 {
				w.members = nil
				m.system(w, "you left "+ev.Room)
			} else {
				m.closeWindow(i)
				m.system(m.cur(), "you left "+ev.Room)
			}
			return nil
		}
		w.members = removeName(w.members, ev.Name)
		m.system(w, render.Notice(native.ToChat(&ev.Event), false))
	case native.TypeNick:
		own := m.isMe(ev.Old)
		if own {
			m.me = ev.Name
		}
		text := render.Notice(native.ToChat(&ev.Event), own)
		shown := false
		for _, w := range m.windows {
			if hasName(w.members, ev.Old) {
				w.members = addName(removeName(w.members, ev.Old), ev.Name)
				if w.dm {
					w.name = "@" + ev.Name
				}
				m.system(w, text)
				shown = shown || w == m.cur()
			}
		}
		if own && !shown {
			m.system(m.cur(), text)
		}
	case native.TypeTopic:
		w := m.room(ev.Room)
		w.topic = ev.Text
		if ev.Text == "" {
			m.system(w, "no topic is set in "+ev.Room)
		} else if ev.From != "" {
			m.system(w, ev.From+" set the topic: "+ev.Text)
		} else {
			m.system(w, "topic: "+ev.Text)
		}
	case native.TypeNotice:
		w := m.cur()
		if i := m.find(ev.Room); i >= 0 && ev.Room != "" {
			w = m.windows[i]
		}
		m.system(w, ev.Text)
	case native.TypeMembers:
		if i := m.find(ev.Room); i >= 0 {
			if m.pageRefs[ev.Ref] {
				m.windows[i].members = sortNames(append(m.windows[i].members, ev.Members...))
			} else {
				m.windows[i].members = sortNames(ev.Members)
			}
		}
		quiet := m.quietRefs[ev.Ref]
		if ev.Text == native.More && len(ev.Members) > 0 && (quiet || m.pageRefs[ev.Ref]) {
			// A long member list comes in pages: fetch the next quietly.
			if ref, err := m.s.Send(native.Request{Type: native.TypeWho, Room: ev.Room, Cursor: ev.Members[len(ev.Members)-1]}); err == nil {
				m.quietRefs[ref], m.pageRefs[ref] = true, true
			}
		}
		delete(m.pageRefs, ev.Ref)
		if quiet {
			delete(m.quietRefs, ev.Ref)
			return nil
		}
		m.system(m.cur(), render.Notice(native.ToChat(&ev.Event), false))
	case native.TypeRooms:
		m.system(m.cur(), render.Notice(native.ToChat(&ev.Event), false))
	case native.TypeError:
		if m.quietRefs[ev.Ref] {
			delete(m.quietRefs, ev.Ref)
			return nil
		}
		m.errorLine(m.cur(), ev.Message)
	case native.TypeHistoryEnd:
		i := m.find(ev.Room)
		if i < 0 {
			return nil
		}
		w := m.windows[i]
		if n := len(w.entries); n > 0 && w.entries[n-1].history {
			m.add(w, entry{kind: kDivider, text: "end of history"})
		}
		switch ev.Text {
		case native.HistoryGone:
			m.errorLine(w, "older messages of "+ev.Room+" are no longer kept: some were missed while you were away")
		case native.More:
			m.system(w, "more history of "+ev.Room+" is stored than shown")
		}
	case native.TypeBye:
		if ev.Reason == chat.ByeGoodbye {
			m.quitting = true
			return tea.Quit
		}
		m.system(m.cur(), "server: "+ev.Reason)
	}
	return nil
}

// notify counts unread messages and rings the bell for mentions.
func (m *Model) notify(w *window, e entry) tea.Cmd {
	if e.history || e.own {
		return nil
	}
	if w != m.cur() {
		w.unread++
		if e.mention {
			w.mention = true
		}
	}
	if e.mention && m.opt.Bell != nil {
		bell := m.opt.Bell
		return func() tea.Msg { bell(); return nil }
	}
	return nil
}

func (m *Model) stateChange(ev *client.Event) tea.Cmd {
	prev := m.state
	m.state = ev.State
	switch ev.State {
	case client.StateDisconnected:
		m.retryAt = m.opt.Now().Add(ev.RetryIn)
		if ev.Err != nil {
			m.err = ev.Err.Error()
		}
		if prev != client.StateDisconnected && prev != client.StateReconnecting {
			m.errorLine(m.cur(), "disconnected from "+m.opt.Addr+": "+m.err)
			for _, w := range m.windows {
				if !w.dm {
					w.members = nil
				}
			}
			return tick()
		}
	case client.StateConnected:
		m.err = ""
		if ev.Addr != "" {
			m.opt.Addr = ev.Addr // another node of a cluster, say
		}
		m.system(m.cur(), "reconnected to "+m.opt.Addr+"; catching up on what was missed")
	case client.StateClosed:
		m.quitting = true
	}
	return nil
}

func hasName(list []string, n string) bool {
	for _, x := range list {
		if chat.NameKey(x) == chat.NameKey(n) {
			return true
		}
	}
	return false
}

func addName(list []string, n string) []string {
	if hasName(list, n) {
		return list
	}
	return sortNames(append(list, n))
}

func removeName(list []string, n string) []string {
	out := list[:0]
	for _, x := range list {
		if chat.NameKey(x) != chat.NameKey(n) {
			out = append(out, x)
		}
	}
	return out
}

func sortNames(list []string) []string {
	out := append([]string(nil), list...)
	sort.Slice(out, func(i, j int) bool { return chat.NameKey(out[i]) < chat.NameKey(out[j]) })
	return out
}

// nickColors are foreground colours for nicknames, readable on dark and
// light backgrounds.
var nickColors = []lipgloss.Color{"33", "39", "43", "71", "107", "136", "166", "168", "134", "98", "62", "173", "31", "160"}

// nickColor returns the stable colour of a nickname.
func nickColor(name string) lipgloss.Color {
	h := fnv.New32a()
	h.Write([]byte(chat.NameKey(name)))
	return nickColors[h.Sum32()%uint32(len(nickColors))]
}

// width returns the display width of s in terminal cells.
func width(s string) int { return ansi.StringWidth(s) }
