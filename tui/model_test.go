package tui

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/wire/native"
)

var update = flag.Bool("update", false, "rewrite the golden views in testdata/")

func TestMain(m *testing.M) {
	// No colours: golden views are plain text, and any escape sequence in
	// a view can only have come from received text.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// fakeSender records requests.
type fakeSender struct {
	reqs []native.Request
	fail error
	n    int
	quit bool
}

func (f *fakeSender) Send(r native.Request) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	f.n++
	r.Ref = "r" + string(rune('0'+f.n%10))
	f.reqs = append(f.reqs, r)
	return r.Ref, nil
}

func (f *fakeSender) Quit(string) error { f.quit = true; return nil }

func (f *fakeSender) last() native.Request {
	if len(f.reqs) == 0 {
		return native.Request{}
	}
	return f.reqs[len(f.reqs)-1]
}

var t0 = time.Date(2026, 3, 14, 12, 1, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	m     *Model
	s     *fakeSender
	now   time.Time
	bells int
}

func newHarness(t *testing.T, w, h int) *harness {
	x := &harness{t: t, s: &fakeSender{}, now: t0}
	x.m = New(x.s, Options{Addr: "127.0.0.1:1234", Name: "alice", Now: func() time.Time { return x.now }, Location: time.UTC, Bell: func() { x.bells++ }})
	x.m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	x.ev(native.Event{Type: "welcome", Name: "alice", Server: "parley", Version: 1})
	x.ev(native.Event{Type: "join", Room: "lobby", Name: "alice"})
	x.ev(native.Event{Type: "members", Room: "lobby", Members: []string{"alice", "bob", "王芳"}, Ref: x.s.last().Ref})
	return x
}

// ev feeds one server event, running any command it returns (bells).
func (x *harness) ev(e native.Event) {
	if e.TS == nil && (e.Type == "say" || e.Type == "me" || e.Type == "dm") {
		ts := x.now
		e.TS = &ts
	}
	_, cmd := x.m.Update(EventMsg(client.Event{Event: e}))
	x.run(cmd)
}

func (x *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	// run only synchronous, side-effect commands (the bell); batches are
	// opened, ticks and listeners skipped
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				x.run(c)
			}
		}
	case <-time.After(50 * time.Millisecond): // a tick: not needed here
	}
}

func (x *harness) state(s client.State, retry time.Duration, err error) {
	x.m.Update(EventMsg(client.Event{Event: native.Event{Type: client.TypeState}, State: s, RetryIn: retry, Err: err}))
}

func (x *harness) key(k string) tea.Cmd {
	var msg tea.KeyMsg
	switch k {
	case "enter":
		msg = tea.KeyMsg{Type: tea.KeyEnter}
	case "tab":
		msg = tea.KeyMsg{Type: tea.KeyTab}
	case "up":
		msg = tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		msg = tea.KeyMsg{Type: tea.KeyDown}
	case "pgup":
		msg = tea.KeyMsg{Type: tea.KeyPgUp}
	case "pgdown":
		msg = tea.KeyMsg{Type: tea.KeyPgDown}
	case "f2":
		msg = tea.KeyMsg{Type: tea.KeyF2}
	case "ctrl+n":
		msg = tea.KeyMsg{Type: tea.KeyCtrlN}
	case "alt+1", "alt+2", "alt+3":
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{rune(k[4])}, Alt: true}
	default:
		panic("unknown key " + k)
	}
	_, cmd := x.m.Update(msg)
	return cmd
}

func (x *harness) typ(s string) {
	x.m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
}

func (x *harness) enter(s string) tea.Cmd {
	x.typ(s)
	return x.key("enter")
}

func (x *harness) golden(name string) {
	x.t.Helper()
	got := x.m.View()
	lines := strings.Split(got, "\n")
	if len(lines) != x.m.height {
		x.t.Errorf("view has %d lines, want %d", len(lines), x.m.height)
	}
	for i, l := range lines {
		if w := width(l); w != x.m.width {
			x.t.Errorf("line %d is %d cells wide, want %d: %q", i, w, x.m.width, l)
		}
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			x.t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		x.t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if got != string(want) {
		x.t.Errorf("view differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoldenLobby(t *testing.T) {
	x := newHarness(t, 80, 18)
	old := t0.Add(-time.Hour)
	x.ev(native.Event{Type: "say", ID: 1, Room: "lobby", From: "bob", Text: "from before you came", History: true, TS: &old})
	x.ev(native.Event{Type: "history_end", Room: "lobby", History: true})
	x.ev(native.Event{Type: "topic", Room: "lobby", From: "bob", Text: "welcome to parley"})
	x.ev(native.Event{Type: "say", ID: 2, Room: "lobby", From: "bob", Text: "hi alice, how are you?"})
	x.ev(native.Event{Type: "say", ID: 3, Room: "lobby", From: "alice", Text: "fine! this is a long message that has to wrap onto a second line in the pane"})
	x.ev(native.Event{Type: "me", ID: 4, Room: "lobby", From: "王芳", Text: "waves 👋 你好世界"})
	x.ev(native.Event{Type: "join", Room: "lobby", Name: "carol"})
	x.ev(native.Event{Type: "error", Code: "name_taken", Message: `the name "bob" is taken`})
	x.golden("lobby")
	if x.bells != 1 {
		t.Errorf("bells = %d, want 1 (one mention)", x.bells)
	}
}

func TestGoldenRoomsAndDisconnected(t *testing.T) {
	x := newHarness(t, 60, 12)
	x.enter("/join dev")
	if r := x.s.last(); r.Type != "join" || r.Room != "dev" {
		t.Fatalf("sent %+v", r)
	}
	x.ev(native.Event{Type: "join", Room: "dev", Name: "alice"})
	if x.m.cur().name != "dev" {
		t.Fatalf("active window %q, want dev", x.m.cur().name)
	}
	x.ev(native.Event{Type: "members", Room: "dev", Members: []string{"alice", "bob"}, Ref: x.s.last().Ref})
	x.ev(native.Event{Type: "say", ID: 5, Room: "lobby", From: "bob", Text: "one"})
	x.ev(native.Event{Type: "say", ID: 6, Room: "lobby", From: "bob", Text: "alice: two"})
	x.ev(native.Event{Type: "dm", ID: 7, From: "carol", To: "alice", Text: "psst"})
	x.state(client.StateDisconnected, 3*time.Second, errors.New("EOF"))
	x.now = x.now.Add(time.Second)
	x.golden("rooms-disconnected")
	x.key("alt+1")
	if x.m.cur().name != "lobby" || x.m.cur().unread != 0 {
		t.Fatalf("after alt+1: %q unread %d", x.m.cur().name, x.m.cur().unread)
	}
	x.state(client.StateReconnecting, 0, nil)
	x.state(client.StateConnected, 0, nil)
	x.ev(native.Event{Type: "welcome", Name: "alice", Server: "parley"})
	x.ev(native.Event{Type: "join", Room: "lobby", Name: "alice"})
	x.ev(native.Event{Type: "join", Room: "dev", Name: "alice"})
	if x.m.cur().name != "lobby" {
		t.Fatalf("a rejoin after reconnect switched the window to %q", x.m.cur().name)
	}
	if !strings.Contains(x.m.View(), "● alice") {
		t.Fatalf("header does not show connected:\n%s", x.m.View())
	}
	// Reconnected to another node of a cluster: it says which.
	x.m.Update(EventMsg(client.Event{Event: native.Event{Type: client.TypeState}, State: client.StateConnected, Addr: "10.0.0.2:1234"}))
	if !strings.Contains(x.m.View(), "reconnected to 10.0.0.2:1234") {
		t.Fatalf("the reconnect line does not name the node reached:\n%s", x.m.View())
	}
}

func TestGoldenNarrowWrapWide(t *testing.T) {
	x := newHarness(t, 30, 10)
	x.ev(native.Event{Type: "say", ID: 2, Room: "lobby", From: "王芳", Text: "中文字符需要两个单元格宽度，换行时也要对齐"})
	x.ev(native.Event{Type: "say", ID: 3, Room: "lobby", From: "bob", Text: "emoji 🎉🎉🎉🎉🎉🎉🎉🎉🎉 and a verylongwordwithoutanyspacesatall"})
	x.golden("narrow")
	// resize reflows
	x.m.Update(tea.WindowSizeMsg{Width: 70, Height: 8})
	x.golden("resized")
}

func TestSendAndCommands(t *testing.T) {
	x := newHarness(t, 80, 20)
	x.enter("hello")
	if r := x.s.last(); r.Type != "say" || r.Room != "lobby" || r.TextOf() != "hello" {
		t.Fatalf("sent %+v", r)
	}
	if x.m.input.Value() != "" {
		t.Fatal("input not cleared")
	}
	x.enter("/me dances")
	if r := x.s.last(); r.Type != "me" || r.Room != "lobby" || r.TextOf() != "dances" {
		t.Fatalf("sent %+v", r)
	}
	x.enter("//slash")
	if r := x.s.last(); r.Type != "say" || r.TextOf() != "/slash" {
		t.Fatalf("sent %+v", r)
	}
	x.enter("/topic new topic")
	if r := x.s.last(); r.Type != "topic" || r.Room != "lobby" || r.TextOf() != "new topic" {
		t.Fatalf("sent %+v", r)
	}
	x.enter("/nick al")
	if r := x.s.last(); r.Type != "command" || r.TextOf() != "/nick al" {
		t.Fatalf("sent %+v", r)
	}
	x.enter("/rooms")
	if r := x.s.last(); r.Type != "command" || r.TextOf() != "/rooms" {
		t.Fatalf("sent %+v", r)
	}
	x.enter("/msg bob secret plan")
	if r := x.s.last(); r.Type != "dm" || r.To != "bob" || r.TextOf() != "secret plan" {
		t.Fatalf("sent %+v", r)
	}
	if x.m.cur().name != "@bob" {
		t.Fatalf("window %q, want @bob", x.m.cur().name)
	}
	x.enter("and more")
	if r := x.s.last(); r.Type != "dm" || r.To != "bob" {
		t.Fatalf("plain line in a conversation sent %+v", r)
	}
	n := len(x.s.reqs)
	x.enter("/help")
	if help := x.m.cur().entries[len(x.m.cur().entries)-1].text; len(x.s.reqs) != n || !strings.Contains(help, "/join ROOM") || !strings.Contains(help, "/query NAME") {
		t.Fatalf("/help: sent %d requests, showed:\n%s", len(x.s.reqs)-n, help)
	}
	x.enter("/query carol")
	if x.m.cur().name != "@carol" || len(x.s.reqs) != n {
		t.Fatalf("/query: window %q, %d requests", x.m.cur().name, len(x.s.reqs)-n)
	}
	x.key("f2")
	if x.m.showMembers {
		t.Fatal("F2 did not hide the members")
	}
	if cmd := x.enter("/quit"); cmd == nil || !x.s.quit {
		t.Fatal("/quit did not quit")
	}
}

func TestSendFailureKeepsInput(t *testing.T) {
	x := newHarness(t, 80, 20)
	x.s.fail = client.ErrNotConnected
	x.enter("important")
	if x.m.input.Value() != "important" {
		t.Fatalf("input %q, want it kept", x.m.input.Value())
	}
	if !strings.Contains(x.m.View(), "not sent: not connected") {
		t.Fatalf("no error shown:\n%s", x.m.View())
	}
}

func TestHistoryAndCompletion(t *testing.T) {
	x := newHarness(t, 80, 20)
	x.enter("first")
	x.enter("second")
	x.typ("draft")
	x.key("up")
	if v := x.m.input.Value(); v != "second" {
		t.Fatalf("up: %q", v)
	}
	x.key("up")
	x.key("up")
	if v := x.m.input.Value(); v != "first" {
		t.Fatalf("up up up: %q", v)
	}
	x.key("down")
	x.key("down")
	if v := x.m.input.Value(); v != "draft" {
		t.Fatalf("down to the draft: %q", v)
	}
	x.m.input.SetValue("")
	x.typ("b")
	x.key("tab")
	if v := x.m.input.Value(); v != "bob: " {
		t.Fatalf("nick completion at line start: %q", v)
	}
	x.m.input.SetValue("")
	x.typ("hi 王")
	x.key("tab")
	if v := x.m.input.Value(); v != "hi 王芳 " {
		t.Fatalf("nick completion: %q", v)
	}
	x.m.input.SetValue("")
	x.typ("/jo")
	x.key("tab")
	if v := x.m.input.Value(); v != "/join " {
		t.Fatalf("command completion: %q", v)
	}
	x.m.input.SetValue("")
	x.typ("/q")
	x.key("tab")
	first := x.m.input.Value()
	x.key("tab")
	second := x.m.input.Value()
	if first == second || !strings.HasPrefix(first, "/q") || !strings.HasPrefix(second, "/q") {
		t.Fatalf("tab does not cycle: %q then %q", first, second)
	}
}

func TestScrollStaysUnlessAtBottom(t *testing.T) {
	x := newHarness(t, 60, 8) // a pane of 5 lines
	for i := range 20 {
		x.ev(native.Event{Type: "say", ID: uint64(10 + i), Room: "lobby", From: "bob", Text: "line " + string(rune('a'+i))})
	}
	if !strings.Contains(x.m.View(), "line t") {
		t.Fatal("not at the bottom")
	}
	x.key("pgup")
	v := x.m.View()
	if strings.Contains(v, "line t") || !strings.Contains(v, "more lines") {
		t.Fatalf("pgup did not scroll:\n%s", v)
	}
	x.ev(native.Event{Type: "say", ID: 99, Room: "lobby", From: "bob", Text: "newest"})
	if v2 := x.m.View(); strings.Contains(v2, "newest") {
		t.Fatalf("a new message moved a scrolled pane:\n%s", v2)
	}
	x.m.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	x.key("pgdown")
	x.key("pgdown")
	if !strings.Contains(x.m.View(), "newest") {
		t.Fatalf("pgdown did not return to the bottom:\n%s", x.m.View())
	}
	x.ev(native.Event{Type: "say", ID: 100, Room: "lobby", From: "bob", Text: "even newer"})
	if !strings.Contains(x.m.View(), "even newer") {
		t.Fatal("at the bottom, a new message is not shown")
	}
}

func TestHostileTextNeverReachesTheTerminal(t *testing.T) {
	x := newHarness(t, 80, 20)
	hostile := []string{
		"\x1b[2J\x1b[Hcleared", "\x1b]0;title\x07", "\x1b]52;c;cGF5bG9hZA==\x07", "\u009b31m", "bell\x07",
		"\u202eevil", "\r\x1b[Koverwrite", "\x1bP+q\x1b\\",
	}
	for i, h := range hostile {
		x.ev(native.Event{Type: "say", ID: uint64(i + 1), Room: "lobby", From: "m\x1b[31mallory", Text: h})
		x.ev(native.Event{Type: "topic", Room: "lobby", From: "mallory", Text: h})
		x.ev(native.Event{Type: "join", Room: "lobby", Name: "x" + h})
		x.ev(native.Event{Type: "error", Message: h})
	}
	v := x.m.View()
	for _, r := range v {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == 0x202e {
			t.Fatalf("control %U reached the view:\n%q", r, v)
		}
	}
}

func TestUnreadAndMentions(t *testing.T) {
	x := newHarness(t, 80, 20)
	x.ev(native.Event{Type: "join", Room: "dev", Name: "alice"}) // joined at connect: no switch
	if x.m.cur().name != "lobby" {
		t.Fatal("switched without being asked")
	}
	x.ev(native.Event{Type: "say", ID: 1, Room: "dev", From: "bob", Text: "x"})
	x.ev(native.Event{Type: "say", ID: 2, Room: "dev", From: "bob", Text: "ping ALICE!"})
	x.ev(native.Event{Type: "say", ID: 3, Room: "dev", From: "bob", Text: "malice is not a mention"})
	dev := x.m.windows[x.m.find("dev")]
	if dev.unread != 3 || !dev.mention || x.bells != 1 {
		t.Fatalf("unread %d mention %v bells %d", dev.unread, dev.mention, x.bells)
	}
	x.key("ctrl+n")
	if x.m.cur() != dev || dev.unread != 0 {
		t.Fatal("ctrl+n did not switch and clear")
	}
	x.ev(native.Event{Type: "part", Room: "dev", Name: "alice"})
	if x.m.find("dev") >= 0 || x.m.cur().name != "lobby" {
		t.Fatal("own part did not close the window")
	}
}

// TestPastedKeyNamesAreText: bubbletea delivers pasted or fast-typed text
// word by word (a space is its own key), so a word such as "down", "up",
// "end" or "enter" arrives as runes whose String() is a key name. It must
// be typed, not obeyed.
func TestPastedKeyNamesAreText(t *testing.T) {
	x := newHarness(t, 80, 20)
	line := "up down end enter tab esc f2 pgup ctrl+c done"
	for i, w := range strings.Split(line, " ") {
		if i > 0 {
			x.m.Update(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		}
		x.m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(w)})
	}
	if got := x.m.input.Value(); got != line {
		t.Fatalf("input %q, want %q", got, line)
	}
	x.key("enter")
	if r := x.s.last(); r.Type != "say" || r.TextOf() != line {
		t.Fatalf("sent %+v", r)
	}
}

// TestNewcomerCommands: --room opens its window once joined; /who in a
// conversation lists the room the user came from; /topic asks the server
// (never a cache, which a restart may have made stale); a rejoin after a
// reconnect forgets the cached topic until the server says it again.
func TestNewcomerCommands(t *testing.T) {
	x := &harness{t: t, s: &fakeSender{}, now: t0}
	x.m = New(x.s, Options{Addr: "127.0.0.1:1234", Name: "alice", Focus: "dev", Now: func() time.Time { return x.now }, Location: time.UTC})
	x.m.Update(tea.WindowSizeMsg{Width: 80, Height: 20})
	x.ev(native.Event{Type: "welcome", Name: "alice", Server: "parley", Version: 1})
	x.ev(native.Event{Type: "join", Room: "lobby", Name: "alice"})
	x.ev(native.Event{Type: "join", Room: "dev", Name: "alice"})
	if x.m.cur().name != "dev" {
		t.Fatalf("window %q, want dev (--room dev)", x.m.cur().name)
	}
	x.ev(native.Event{Type: "topic", Room: "dev", From: "bob", Text: "release friday"})
	x.enter("/topic")
	if r := x.s.last(); r.Type != "topic" || r.Room != "dev" || r.Text != nil {
		t.Fatalf("/topic sent %+v, want a topic query to the server", r)
	}
	x.ev(native.Event{Type: "join", Room: "dev", Name: "alice"}) // the rejoin after a reconnect
	if w := x.m.cur(); w.topic != "" {
		t.Fatalf("topic %q kept after a rejoin that did not confirm it", w.topic)
	}

	x.enter("/msg bob hi")
	if x.m.cur().name != "@bob" {
		t.Fatalf("window %q", x.m.cur().name)
	}
	x.enter("/who")
	if r := x.s.last(); r.Type != "who" || r.Room != "dev" {
		t.Fatalf("/who in a conversation sent %+v, want the members of dev", r)
	}
}

// TestSecondCtrlCQuitsAtOnce: the first Ctrl-C says goodbye to the server
// and quits; a second one (if the first is slow) quits too.
func TestSecondCtrlCQuitsAtOnce(t *testing.T) {
	x := newHarness(t, 80, 20)
	for i := range 2 {
		_, cmd := x.m.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
		if cmd == nil || cmd() != tea.Quit() {
			t.Fatalf("Ctrl-C %d did not quit", i+1)
		}
	}
	if !x.s.quit {
		t.Fatal("the server was not told goodbye")
	}
}
