package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/wire/native"
)

// Real IRC clients (irssi, weechat) driven in tmux against a real parley
// serve process: they join #lobby, see its history, chat with a tutorial
// client and a native client, and come back by themselves after the
// server is killed and started again. Debian's irssi, weechat and tmux are
// installed by .ci/run; PARLEY_IRC_CLIENT_TESTS=required makes a missing
// one fail instead of skip.

// needBinary skips (or, when required, fails) without a program.
func needBinary(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			msg := fmt.Sprintf("%s is not installed (apt-get install %s; .ci/run does)", name, name)
			if os.Getenv("PARLEY_IRC_CLIENT_TESTS") == "required" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// tmuxTerm is a terminal program running in a private tmux server.
type tmuxTerm struct {
	t       *testing.T
	socket  string
	session string
	log     string // a file the program writes its chat to, read instead of the screen when set
}

func startTmux(t *testing.T, name string, argv ...string) *tmuxTerm {
	t.Helper()
	tt := &tmuxTerm{t: t, socket: fmt.Sprintf("parley-%s-%d", name, time.Now().UnixNano()), session: name}
	args := append([]string{"-L", tt.socket, "new-session", "-d", "-s", name, "-x", "220", "-y", "60", "--"}, argv...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tt.socket, "kill-server").Run() })
	return tt
}

// text is what the program shows: its log file, or the screen and its
// scroll-back.
func (tt *tmuxTerm) text() string {
	if tt.log != "" {
		b, _ := os.ReadFile(tt.log)
		return string(b)
	}
	out, _ := exec.Command("tmux", "-L", tt.socket, "capture-pane", "-p", "-J", "-S", "-500", "-t", tt.session).Output()
	return string(out)
}

// wait polls until the program shows text.
func (tt *tmuxTerm) wait(text string) {
	tt.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(tt.text(), text) {
		if time.Now().After(deadline) {
			tt.t.Fatalf("%s never showed %q; it shows:\n%s", tt.session, text, tt.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// typeLine types a line and Enter.
func (tt *tmuxTerm) typeLine(s string) {
	tt.t.Helper()
	if out, err := exec.Command("tmux", "-L", tt.socket, "send-keys", "-t", tt.session, "-l", s).CombinedOutput(); err != nil {
		tt.t.Fatalf("send-keys: %v\n%s", err, out)
	}
	if out, err := exec.Command("tmux", "-L", tt.socket, "send-keys", "-t", tt.session, "Enter").CombinedOutput(); err != nil {
		tt.t.Fatalf("send-keys: %v\n%s", err, out)
	}
}

// clientDir is a directory for a client's configuration and logs,
// removed once the client has exited (it may still write while tmux
// stops it).
func clientDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "parley-irc-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// ircClient starts one kind of IRC client as nick against addr.
type ircClient struct {
	name  string
	bin   []string
	start func(t *testing.T, addr, nick string) *tmuxTerm
}

var ircClients = []ircClient{
	{"irssi", []string{"irssi"}, func(t *testing.T, addr, nick string) *tmuxTerm {
		home := clientDir(t)
		host, port, _ := strings.Cut(addr, ":")
		// Reconnect within a second, and no client-side flood delay, so
		// the test does not wait on irssi's defaults.
		cfg := `settings = {
  core = { real_name = "irssi user"; user_name = "` + nick + `"; nick = "` + nick + `"; server_reconnect_time = "1"; };
  "irc/core" = { cmd_queue_speed = "10msec"; cmds_max_at_once = "50"; };
  "fe-common/core" = { autolog = "yes"; autolog_path = "` + home + `/logs/$0.log"; };
};
`
		if err := os.WriteFile(filepath.Join(home, "config"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		tt := startTmux(t, "irssi", "irssi", "--home="+home, "-c", host, "-p", port, "-n", nick)
		tt.log = filepath.Join(home, "logs", "#lobby.log")
		return tt
	}},
	{"weechat", []string{"weechat"}, func(t *testing.T, addr, nick string) *tmuxTerm {
		dir := clientDir(t)
		cmds := strings.Join([]string{
			"/set logger.file.flush_delay 0",
			"/set logger.file.time_format %H:%M:%S",
			"/set irc.server_default.autoreconnect_delay 1",
			"/set irc.server_default.anti_flood_prio_high 0",
			"/set irc.server_default.anti_flood_prio_low 0",
			"/server add parley " + strings.Replace(addr, ":", "/", 1) + " -notls -nicks=" + nick + " -username=" + nick + " -realname=weechat_user",
			"/connect parley",
		}, ";")
		tt := startTmux(t, "weechat", "weechat", "--dir", dir, "-r", cmds)
		tt.log = filepath.Join(dir, "logs", "irc.parley.#lobby.weechatlog")
		return tt
	}},
}

func TestIRCClients(t *testing.T) {
	for _, cl := range ircClients {
		t.Run(cl.name, func(t *testing.T) {
			needBinary(t, append([]string{"tmux"}, cl.bin...)...)
			dir := t.TempDir()
			frame, ircAddr := freePort(t), freePort(t)
			start := func() *serverProc {
				return startServer(t, dir, "--frame-listen", frame, "--irc-listen", ircAddr)
			}
			srv := start()
			tut := testkit.DialTutorial(t, mustResolve(t, frame), "tut")
			tut.Send("said before " + cl.name + " came")
			nick := cl.name + "user"
			term := cl.start(t, ircAddr, nick)
			term.wait("said before " + cl.name + " came") // the lobby's history, played back
			term.typeLine("/window goto #lobby")          // irssi stays on its status window
			nat := testkit.DialNative(t, mustResolve(t, frame), "王芳")
			nat.ExpectType("welcome")
			term.wait("王芳")

			term.typeLine("hello from " + cl.name)
			tut.Expect(nick, "hello from "+cl.name)
			nat.Expect("the IRC message", func(ev native.Event) bool { return ev.Type == "say" && ev.From == nick })
			term.typeLine("/me waves")
			tut.Expect(nick, "* "+nick+" waves")
			tut.Send("hello back from the tutorial")
			term.wait("hello back from the tutorial")
			nat.Send(native.Request{Type: "say", Text: text("王芳 says 你好")})
			term.wait("王芳 says 你好")
			term.typeLine("/topic #lobby set from " + cl.name)
			nat.Expect("the topic", func(ev native.Event) bool { return ev.Type == "topic" && ev.Text == "set from "+cl.name })

			// The server is killed and started again: the client comes
			// back by itself, into #lobby, and chats on.
			srv.kill(t)
			start() // killed by the test's cleanup
			watcher := testkit.DialNative(t, mustResolve(t, frame), "watcher")
			watcher.ExpectType("welcome")
			deadline := time.Now().Add(30 * time.Second)
			for {
				watcher.Send(native.Request{Type: "who"})
				ev := watcher.Expect("members", func(ev native.Event) bool { return ev.Type == "members" })
				if strings.Contains(strings.Join(ev.Members, ","), nick) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not come back after the restart; %s shows:\n%s", nick, cl.name, term.text())
				}
				time.Sleep(200 * time.Millisecond)
			}
			tut2 := testkit.DialTutorial(t, mustResolve(t, frame), "tut2")
			testkit.Eventually(t, "tut2 in the lobby", func() bool { return strings.Contains(term.text(), "tut2") })
			tut2.Send("after the restart")
			term.wait("after the restart")
			term.typeLine("still here after the restart")
			tut2.Expect(nick, "still here after the restart")
		})
	}
}

// TestIRCClientII: ii, the file-based IRC client (Debian's), as a script
// would use it: it lands in #lobby, what is written to its channel's "in"
// FIFO reaches a tutorial client, and what the tutorial client says lands
// in its "out" file.
func TestIRCClientII(t *testing.T) {
	needBinary(t, "ii")
	dir := t.TempDir()
	frame, ircAddr := freePort(t), freePort(t)
	startServer(t, dir, "--frame-listen", frame, "--irc-listen", ircAddr)
	tut := testkit.DialTutorial(t, mustResolve(t, frame), "tut")
	host, port, _ := strings.Cut(ircAddr, ":")
	home := clientDir(t)
	cmd := exec.Command("ii", "-s", host, "-p", port, "-n", "iiuser", "-i", home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lobby := filepath.Join(home, host, "#lobby")
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(lobby, name)); return string(b) }
	testkit.Eventually(t, "ii in #lobby", func() bool { return strings.Contains(read("out"), "iiuser") })
	tut.Send("hello ii")
	testkit.Eventually(t, "the tutorial's message in ii's out file", func() bool { return strings.Contains(read("out"), "<tut> hello ii") })
	in, err := os.OpenFile(filepath.Join(lobby, "in"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.WriteString("hello from ii\n"); err != nil {
		t.Fatal(err)
	}
	tut.Expect("iiuser", "hello from ii")
}

// saslClients start an IRC client that logs in to an account with SASL
// PLAIN, as nick "someone" (the server gives it the account's name).
var saslClients = []ircClient{
	{"irssi", []string{"irssi"}, func(t *testing.T, addr, account string) *tmuxTerm {
		home := clientDir(t)
		host, port, _ := strings.Cut(addr, ":")
		cfg := `servers = ( { address = "` + host + `"; chatnet = "parley"; port = "` + port + `"; autoconnect = "yes"; } );
chatnets = { parley = { type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "` + account + `"; sasl_password = "` + account + `-secret"; }; };
settings = { core = { real_name = "irssi user"; user_name = "someone"; nick = "someone"; }; };
`
		if err := os.WriteFile(filepath.Join(home, "config"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return startTmux(t, "irssi", "irssi", "--home="+home)
	}},
	{"weechat", []string{"weechat"}, func(t *testing.T, addr, account string) *tmuxTerm {
		dir := clientDir(t)
		cmds := strings.Join([]string{
			"/server add parley " + strings.Replace(addr, ":", "/", 1) + " -notls -nicks=someone -username=someone -realname=weechat_user" +
				" -sasl_mechanism=plain -sasl_username=" + account + " -sasl_password=" + account + "-secret",
			"/connect parley",
		}, ";")
		return startTmux(t, "weechat", "weechat", "--dir", dir, "-r", cmds)
	}},
}

// TestIRCClientsSASL: irssi and weechat log in to an account registered
// from another protocol with SASL PLAIN, get the account's name, and read
// the direct message that waited for it.
func TestIRCClientsSASL(t *testing.T) {
	for _, cl := range saslClients {
		t.Run(cl.name, func(t *testing.T) {
			needBinary(t, append([]string{"tmux"}, cl.bin...)...)
			frame, ircAddr := freePort(t), freePort(t)
			startServer(t, t.TempDir(), "--frame-listen", frame, "--irc-listen", ircAddr)
			account := cl.name + "acct"
			reg := testkit.DialNative(t, mustResolve(t, frame), account)
			reg.ExpectType("welcome")
			reg.Send(native.Request{Type: "register", Password: account + "-secret"})
			reg.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
			reg.Send(native.Request{Type: "quit"})
			reg.ExpectType("bye")
			bob := testkit.DialNative(t, mustResolve(t, frame), "bob")
			bob.ExpectType("welcome")
			testkit.Eventually(t, account+" gone", func() bool {
				bob.Send(native.Request{Type: "who"})
				ev := bob.Expect("members", func(ev native.Event) bool { return ev.Type == "members" })
				return !strings.Contains(strings.Join(ev.Members, ","), account)
			})
			bob.Send(native.Request{Type: "dm", To: account, Text: text("kept for you")})
			bob.Expect("kept", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "kept for them") })

			term := cl.start(t, ircAddr, account)
			if cl.name == "weechat" {
				term.wait("#lobby")        // connected; it shows the channel
				term.typeLine("/buffer 1") // the server's messages
			}
			term.wait("You are now logged in as " + account)
			testkit.Eventually(t, account+" online under its name", func() bool {
				bob.Send(native.Request{Type: "who"})
				ev := bob.Expect("members", func(ev native.Event) bool { return ev.Type == "members" })
				return strings.Contains(strings.Join(ev.Members, ","), account)
			})
			term.typeLine("/msg bob got it")
			bob.Expect("the reply", func(ev native.Event) bool { return ev.Type == "dm" && ev.From == account && ev.Text == "got it" })
			term.typeLine("/query bob")
			term.wait("kept for you") // the DM that waited, in bob's query window
		})
	}
}
