package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// The browser tests drive the web app in headless Chromium (the Debian
// chromium package; .ci/run installs it). Without a browser they skip,
// unless PARLEY_BROWSER_TESTS=required (as in CI), when they fail.
// PARLEY_SCREENSHOTS=DIR saves the screenshots of the main views there
// (docs/screenshots is where the README takes them from).

func browserPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserOptions are how every test browser is started; skip the test if
// there is no browser.
func browserOptions(t *testing.T) []chromedp.ExecAllocatorOption {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a browser")
	}
	path := browserPath()
	if path == "" {
		if os.Getenv("PARLEY_BROWSER_TESTS") == "required" {
			t.Fatal("no chromium found, and PARLEY_BROWSER_TESTS=required (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", "en-US"),
	)
}

// browserPage is the one tab of a browser of its own (its own profile and
// storage): one user.
type browserPage struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	dialogs  []string // JavaScript dialogs opened (alert, confirm): a script ran
	problems []string // uncaught exceptions and console errors
}

func openPage(t *testing.T, opts []chromedp.ExecAllocatorOption, url string, width, height int) *browserPage {
	t.Helper()
	profile, err := os.MkdirTemp("", "parley-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, chromedp.UserDataDir(profile))...)
	t.Cleanup(func() {
		cancelAlloc()
		// The browser's helpers may still be writing as they exit: a
		// leftover is not the test's concern.
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first Run starts the browser, bound to ctx (not to a timeout).
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	p := &browserPage{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			p.dialogs = append(p.dialogs, e.Type.String()+": "+e.Message)
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) }()
		case *runtime.EventExceptionThrown:
			p.problems = append(p.problems, "exception: "+e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.problems = append(p.problems, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	p.run(chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(url))
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, d := range p.dialogs {
			t.Errorf("the page opened a dialog (a script ran): %s", d)
		}
		for _, e := range p.problems {
			t.Errorf("the page logged: %s", e)
		}
	})
	return p
}

func (p *browserPage) run(actions ...chromedp.Action) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval runs a JavaScript expression and stores its result in out.
func (p *browserPage) eval(expr string, out any) {
	p.t.Helper()
	p.run(chromedp.Evaluate(expr, out))
}

// wait polls a JavaScript expression until it is truthy.
func (p *browserPage) wait(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		var log string
		_ = chromedp.Run(p.ctx, chromedp.Evaluate(`[...document.querySelectorAll('#log .msg')].slice(-15).map(m => m.textContent).join("\n")`, &log))
		var input string
		_ = chromedp.Run(p.ctx, chromedp.Evaluate(`JSON.stringify(document.getElementById('input').value)`, &input))
		log += "\ninput: " + input
		var status string
		_ = chromedp.Run(p.ctx, chromedp.Evaluate(`document.getElementById('status').textContent`, &status))
		p.t.Fatalf("waiting for %s: %v\nstatus: %s\nlast lines:\n%s", what, err, status, log)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// login fills in the name and joins, and waits for the chat.
func (p *browserPage) login(name string) {
	p.t.Helper()
	p.run(chromedp.WaitVisible("#name", chromedp.ByID),
		chromedp.SendKeys("#name", name, chromedp.ByID),
		chromedp.Click("#join-btn", chromedp.ByID))
	p.wait(name+" online", `document.getElementById('status').dataset.state === 'online' && !document.getElementById('chat-view').hidden`)
}

// enter presses Enter in the focused element the way a keyboard does (as
// Puppeteer does): one keyDown that carries the text, so that a page that
// handles the keydown gets no newline. (chromedp's kb.Enter sends a
// separate char event, which types the newline whatever the page did.)
var enter = chromedp.ActionFunc(func(ctx context.Context) error {
	down := input.DispatchKeyEvent(input.KeyDown).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).WithNativeVirtualKeyCode(13).WithText("\r").WithUnmodifiedText("\r")
	if err := down.Do(ctx); err != nil {
		return err
	}
	return input.DispatchKeyEvent(input.KeyUp).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).WithNativeVirtualKeyCode(13).Do(ctx)
})

// say types text into the message box and presses Enter.
func (p *browserPage) say(text string) {
	p.t.Helper()
	p.run(chromedp.Focus("#input", chromedp.ByID), chromedp.SendKeys("#input", text, chromedp.ByID), enter)
	p.wait("the input to clear", `document.getElementById('input').value === ''`)
}

// shows waits until the current view shows a line containing text.
func (p *browserPage) shows(text string) {
	p.t.Helper()
	p.wait(fmt.Sprintf("a line with %q", text), fmt.Sprintf(`[...document.querySelectorAll('#log .msg')].some(m => m.textContent.includes(%s))`, js(text)))
}

// count returns how many lines of the current view contain text.
func (p *browserPage) count(text string) int {
	p.t.Helper()
	var n int
	p.eval(fmt.Sprintf(`[...document.querySelectorAll('#log .msg')].filter(m => m.textContent.includes(%s)).length`, js(text)), &n)
	return n
}

// tab clicks the sidebar entry of a room ("#dev") or conversation ("@bob").
func (p *browserPage) tab(key string) {
	p.t.Helper()
	p.run(chromedp.Click(fmt.Sprintf(`.tab[data-key=%s]`, js(key)), chromedp.ByQuery))
	p.wait("tab "+key, fmt.Sprintf(`document.querySelector('.tab[aria-current]')?.dataset.key === %s`, js(key)))
}

// unread returns the unread badge of a tab ("" for none).
func (p *browserPage) unread(key string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`document.querySelector('.tab[data-key=%s] .unread')?.textContent || ''`, js(key)), &s)
	return s
}

func (p *browserPage) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	p.run(chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&png)) // a settled frame for the picture only; no verdict waits on it
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func webURL(n *node.Node) string { return "http://" + n.Addr(node.ListenHTTP).String() + "/" }

// TestBrowserChat: two browser users chat with each other and with a
// 10-byte-header tutorial client and a line (nc) client in the same room;
// HTML and scripts in messages show as text and run nothing; only http(s)
// links are links; unread counts and mention marks follow room switches;
// a direct message opens its own tab.
func TestBrowserChat(t *testing.T) {
	browser := browserOptions(t)
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Motd: "be nice"}})
	tut := testkit.DialTutorial(t, n.Addr(node.ListenFrame), "tut")
	liner := testkit.DialLine(t, n.Addr(node.ListenLine), "liner")
	testkit.WaitMembers(t, n, "lobby", 2)

	alice := openPage(t, browser, webURL(n), 1280, 800)
	alice.login("alice")
	bob := openPage(t, browser, webURL(n), 1280, 800)
	bob.login("bob")
	testkit.WaitMembers(t, n, "lobby", 4)
	alice.wait("bob in the member list", `[...document.querySelectorAll('#members .nick')].some(e => e.textContent === 'bob')`)

	alice.say("hello from alice's browser")
	bob.shows("alice: hello from alice's browser")
	tut.Expect("alice", "hello from alice's browser")
	liner.Expect("hello from alice's browser")

	tut.Send("hi from the tutorial client")
	alice.shows("tut: hi from the tutorial client")
	bob.shows("tut: hi from the tutorial client")
	liner.Send("hi from nc")
	alice.shows("liner: hi from nc")
	bob.shows("liner: hi from nc")
	tut.Expect("liner", "hi from nc")
	bob.say("/me waves")
	alice.shows("* bob waves")
	tut.Expect("bob", "* bob waves")

	// Hostile text is text.
	hostile := `<img src=x onerror="alert(1);window.pwned=1"> <script>alert(2);window.pwned=2</script> <b>bold?</b>`
	bob.say(hostile)
	alice.shows(`<img src=x onerror="alert(1);window.pwned=1">`)
	tut.Expect("bob", hostile)
	var bad struct {
		Elements int  `json:"elements"`
		Pwned    bool `json:"pwned"`
	}
	alice.eval(`({elements: document.querySelectorAll('#log img, #log script, #log b, #log iframe').length, pwned: 'pwned' in window})`, &bad)
	if bad.Elements != 0 || bad.Pwned {
		t.Fatalf("a message became HTML: %+v", bad)
	}
	bob.say("docs at https://example.org/a_(b)?q=1, not javascript:alert(3) or data:text/html,x")
	alice.shows("docs at https://example.org/a_(b)?q=1,")
	var links []struct{ Href, Rel, Target string }
	alice.eval(`[...document.querySelectorAll('#log a')].map(a => ({href: a.href, rel: a.rel, target: a.target}))`, &links)
	if len(links) != 1 || links[0].Href != "https://example.org/a_(b)?q=1" || links[0].Rel != "noopener noreferrer" || links[0].Target != "_blank" {
		t.Fatalf("links %+v, want only https://example.org/a_(b)?q=1 with rel=noopener noreferrer", links)
	}
	alice.screenshot("wide-light")

	// Rooms: alice joins dev with the sidebar form; bob with /join.
	alice.run(chromedp.SendKeys("#join-room", "dev", chromedp.ByID), enter)
	alice.wait("alice in #dev", `document.querySelector('.tab[aria-current]')?.dataset.key === '#dev'`)
	bob.say("/join dev")
	bob.wait("bob in #dev", `document.querySelector('.tab[aria-current]')?.dataset.key === '#dev'`)
	alice.shows("bob joined")
	alice.say("/topic release on friday")
	bob.wait("the topic", `document.getElementById('tab-topic').textContent === 'release on friday'`)

	alice.tab("#lobby")
	bob.say("news in dev")
	bob.say("a second one")
	alice.wait("dev's unread count", `document.querySelector('.tab[data-key="#dev"] .unread')?.textContent === '2'`)
	if alice.count("news in dev") != 0 {
		t.Fatal("a message of #dev shows in #lobby")
	}
	bob.tab("#lobby")
	bob.say("alice: are you there?")
	alice.shows("bob: alice: are you there?")
	var mention bool
	alice.eval(`[...document.querySelectorAll('#log .msg.mention')].some(m => m.textContent.includes('are you there'))`, &mention)
	if !mention {
		t.Fatal("a mention of alice is not highlighted")
	}
	alice.tab("#dev")
	if u := alice.unread("#dev"); u != "" {
		t.Fatalf("#dev still shows %q unread after switching to it", u)
	}
	alice.shows("bob: news in dev")
	alice.shows("bob: a second one")
	bob.say("hey alice, in lobby") // alice is in #dev now: a mention mark on #lobby
	alice.wait("the mention mark on #lobby", `!!document.querySelector('.tab[data-key="#lobby"] .mention-mark') && document.querySelector('.tab[data-key="#lobby"] .unread')?.textContent === '1'`)

	// A direct message opens its own tab; the reply goes back.
	bob.say("/msg alice psst, a secret")
	alice.wait("bob's conversation tab", `document.querySelector('.tab[data-key="@bob"] .unread')?.textContent === '1'`)
	alice.tab("@bob")
	alice.shows("bob: psst, a secret")
	alice.say("got it")
	bob.shows("alice: got it")

	// Input history: Up brings back the last line.
	alice.run(chromedp.Focus("#input", chromedp.ByID), chromedp.KeyEvent(kb.ArrowUp))
	alice.wait("the recalled line", `document.getElementById('input').value === 'got it'`)
	alice.run(chromedp.KeyEvent(kb.Escape))

	alice.tab("#lobby")
	alice.run(emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
	var bg string
	alice.eval(`getComputedStyle(document.body).backgroundColor`, &bg)
	if bg != "rgb(17, 24, 39)" {
		t.Fatalf("dark mode background %q", bg)
	}
	alice.screenshot("wide-dark")

	phone := openPage(t, browser, webURL(n), 390, 844)
	phone.login("carol")
	phone.shows("welcome to parley, carol")
	var sidebarShown bool
	phone.eval(`getComputedStyle(document.getElementById('sidebar')).display !== 'none'`, &sidebarShown)
	if sidebarShown {
		t.Fatal("the sidebar takes the phone's screen")
	}
	phone.screenshot("phone-light")
	phone.run(chromedp.Click("#toggle-sidebar", chromedp.ByID))
	phone.wait("the sidebar drawer", `getComputedStyle(document.getElementById('sidebar')).display !== 'none'`)
	phone.run(emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
	phone.screenshot("phone-dark-rooms")
	phone.run(chromedp.KeyEvent(kb.Escape))
}

// TestBrowserScrollBack: scrolling up loads older history a page at a
// time until the beginning, each message once and in order.
func TestBrowserScrollBack(t *testing.T) {
	browser := browserOptions(t)
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{RateLimit: chat.RateLimit{}}})
	poster := testkit.DialNative(t, n.Addr(node.ListenFrame), "poster")
	poster.ExpectType("welcome")
	const total = 180
	for i := 1; i <= total; i++ {
		poster.Send(native.Request{Type: "say", Text: text(fmt.Sprintf("old message %03d", i)), Ref: fmt.Sprint(i)})
	}
	poster.Expect("the last echo", func(ev native.Event) bool { return ev.Ref == fmt.Sprint(total) })

	p := openPage(t, browser, webURL(n), 1000, 600)
	p.login("reader")
	p.shows(fmt.Sprintf("old message %03d", total))
	for range 20 {
		var done bool
		p.eval(`document.getElementById('older').textContent.includes('the beginning')`, &done)
		if done {
			break
		}
		var before int
		p.eval(`document.querySelectorAll('#log .msg[data-id]').length`, &before)
		p.run(chromedp.Evaluate(`document.getElementById('log').scrollTop = 0`, nil))
		p.wait("an older page", fmt.Sprintf(`document.querySelectorAll('#log .msg[data-id]').length > %d || document.getElementById('older').textContent.includes('the beginning')`, before))
	}
	var got []string
	p.eval(`[...document.querySelectorAll('#log .msg[data-id]')].map(m => m.querySelector('.body').textContent)`, &got)
	if len(got) != total {
		t.Fatalf("%d messages shown after scrolling back to the beginning, want %d", len(got), total)
	}
	for i, line := range got {
		if want := fmt.Sprintf("poster: old message %03d", i+1); line != want {
			t.Fatalf("line %d is %q, want %q", i, line, want)
		}
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBrowserReconnect: the server process is stopped (SIGTERM) and later
// killed (SIGKILL) and started again on the same data; the page reconnects
// by itself and resumes: every message, those sent while it was away
// included, shows exactly once.
func TestBrowserReconnect(t *testing.T) {
	browser := browserOptions(t)
	dir := t.TempDir()
	frame, web := freePort(t), freePort(t)
	start := func() *serverProc {
		p := startServer(t, dir, "--frame-listen", frame, "--http-listen", web)
		if p.addr != frame {
			t.Fatalf("the server listens on %s, want %s", p.addr, frame)
		}
		return p
	}
	srv := start()
	p := openPage(t, browser, "http://"+web+"/", 1000, 700)
	p.login("alice")
	p.say("/join dev")
	p.wait("#dev", `document.querySelector('.tab[aria-current]')?.dataset.key === '#dev'`)
	p.tab("#lobby")

	post := func(room string, texts ...string) {
		t.Helper()
		c := testkit.DialNative(t, mustResolve(t, frame), "poster")
		c.ExpectType("welcome")
		if room != "" {
			c.Send(native.Request{Type: "join", Room: room})
			c.Expect("the join", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == room })
		}
		for i, s := range texts {
			c.Send(native.Request{Type: "say", Room: room, Text: text(s), Ref: fmt.Sprint(i)})
		}
		c.Expect("the last echo", func(ev native.Event) bool { return ev.Ref == fmt.Sprint(len(texts)-1) })
		c.Send(native.Request{Type: "quit"})
		c.ExpectType("bye")
	}
	post("", "before 1", "before 2", "before 3")
	p.shows("before 3")

	for round, crash := range []bool{false, true} {
		if crash {
			srv.kill(t)
		} else {
			srv.stop(t)
		}
		// Wait until the page has failed to reconnect at least twice (its
		// next try is seconds away), so that what follows is sent while it
		// is away and must come back through the resume.
		p.wait("the page to be reconnecting", `/reconnecting in [2-9] s|reconnecting in 1[0-9] s/.test(document.getElementById('status').textContent)`)
		srv = start()
		away := []string{fmt.Sprintf("away %d.1", round), fmt.Sprintf("away %d.2", round)}
		post("", away...)
		post("dev", fmt.Sprintf("away in dev %d", round))
		p.run(chromedp.Click("#btn-retry", chromedp.ByID)) // the user does not want to wait for the backoff
		p.wait("online again", `document.getElementById('status').dataset.state === 'online'`)
		for _, s := range away {
			p.shows(s)
		}
		p.say(fmt.Sprintf("back %d", round))
		p.shows(fmt.Sprintf("alice: back %d", round))
	}
	for _, s := range []string{"before 1", "before 2", "before 3", "away 0.1", "away 0.2", "away 1.1", "away 1.2", "back 0", "back 1"} {
		if c := p.count(s); c != 1 {
			t.Errorf("%q shows %d times, want once", s, c)
		}
	}
	var ids []int
	p.eval(`[...document.querySelectorAll('#log .msg[data-id]')].map(m => Number(m.dataset.id))`, &ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("message ids out of order or repeated: %v", ids)
		}
	}
	if u := p.unread("#dev"); u != "2" {
		t.Errorf("#dev shows %q unread, want 2 (the messages sent to it while away)", u)
	}
	p.tab("#dev")
	p.shows("away in dev 0")
	p.shows("away in dev 1")
}

func mustResolve(t *testing.T, addr string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBrowserLogin: a taken name and a wrong password are explained on the
// login form, and the next try goes in; /quit goes back to the form and
// the session ends.
func TestBrowserLogin(t *testing.T) {
	browser := browserOptions(t)
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "sesame"}})
	bob := testkit.NativeOnWith(t, testkit.Dial(t, n.Addr(node.ListenFrame)), native.Request{Type: "hello", Name: "bob", Version: native.Version, Password: "sesame"})
	bob.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 1)

	p := openPage(t, browser, webURL(n), 1000, 700)
	p.run(chromedp.WaitVisible("#name", chromedp.ByID),
		chromedp.SendKeys("#name", "Bob", chromedp.ByID),
		chromedp.SendKeys("#password", "wrong", chromedp.ByID),
		chromedp.Click("#join-btn", chromedp.ByID))
	p.wait("the password error", `document.getElementById('login-error').textContent.includes('password')`)
	p.run(chromedp.Evaluate(`document.getElementById('password').value = 'sesame'`, nil), chromedp.Click("#join-btn", chromedp.ByID))
	p.wait("the name error", `document.getElementById('login-error').textContent.includes('taken')`)
	p.run(chromedp.Evaluate(`document.getElementById('name').value = ''`, nil))
	p.login("robert")
	p.shows("welcome to parley, robert")
	bob.Expect("robert's join", func(ev native.Event) bool { return ev.Type == "join" && ev.Name == "robert" })
	p.say("/quit see you")
	p.wait("the login form again", `!document.getElementById('login-view').hidden && document.getElementById('login-error').textContent.includes('left')`)
	bob.Expect("robert's quit", func(ev native.Event) bool {
		return ev.Type == "part" && ev.Name == "robert" && ev.Reason == "quit: see you"
	})
	testkit.WaitMembers(t, n, "lobby", 1)
}

// TestBrowserAccountLogin: a registered name asks for its password on the
// login form, a wrong one is explained, the right one logs in (on a server
// with a password of its own, which the account does not need), and a
// direct message that waited is there; a kick shows who did it.
func TestBrowserAccountLogin(t *testing.T) {
	browser := browserOptions(t)
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{Password: "sesame"}})
	reg := testkit.NativeOnWith(t, testkit.Dial(t, n.Addr(node.ListenFrame)), native.Request{Type: "hello", Name: "alice", Version: native.Version, Password: "sesame"})
	reg.ExpectType("welcome")
	reg.Send(native.Request{Type: "register", Password: "alice-secret"})
	reg.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
	reg.Send(native.Request{Type: "join", Room: "dev"})
	reg.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #dev") })
	reg.Send(native.Request{Type: "quit"})
	reg.ExpectType("bye")
	testkit.WaitMembers(t, n, "lobby", 0)
	bob := testkit.NativeOnWith(t, testkit.Dial(t, n.Addr(node.ListenFrame)), native.Request{Type: "hello", Name: "bob", Version: native.Version, Password: "sesame", Rooms: []string{"dev"}})
	bob.ExpectType("welcome")
	bob.Send(native.Request{Type: "dm", To: "alice", Text: text("waited for you")})
	bob.Expect("kept", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "kept for them") })

	p := openPage(t, browser, webURL(n), 1000, 700)
	p.run(chromedp.WaitVisible("#name", chromedp.ByID),
		chromedp.SendKeys("#name", "alice", chromedp.ByID),
		chromedp.Click("#join-btn", chromedp.ByID))
	p.wait("the registered-name error", `document.getElementById('login-error').textContent.includes('registered name')`)
	p.run(chromedp.SendKeys("#password", "not-hers", chromedp.ByID), chromedp.Click("#join-btn", chromedp.ByID))
	p.wait("the wrong password", `document.getElementById('login-error').textContent.includes('wrong account name or password')`)
	p.run(chromedp.Evaluate(`document.getElementById('password').value = 'alice-secret'`, nil), chromedp.Click("#join-btn", chromedp.ByID))
	p.wait("alice online", `document.getElementById('status').dataset.state === 'online' && !document.getElementById('chat-view').hidden`)
	p.shows("arrived while you were away")
	p.tab("@bob")
	p.shows("waited for you")
	// In #dev, which she owns, she kicks bob; he is told who did it.
	p.run(chromedp.SendKeys("#join-room", "dev", chromedp.ByID), enter)
	p.say("/kick bob enough")
	part := bob.Expect("the kick", func(ev native.Event) bool { return ev.Type == "part" && ev.Room == "dev" && ev.Name == "bob" })
	if part.By != "alice" || !strings.Contains(part.Reason, "enough") {
		t.Fatalf("kick %+v", part)
	}
	p.shows("alice kicked bob from #dev: enough")
}
