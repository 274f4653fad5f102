package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircevent"
	"github.com/ergochat/irc-go/ircmsg"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/wire/native"
)

// TestIRCBot: a bot written with a bot library nobody here wrote
// (github.com/ergochat/irc-go's ircevent) negotiates capabilities, reads
// the history of #lobby with a labeled CHATHISTORY, answers commands in
// #lobby from a tutorial client, uses a labeled WHOIS, and reconnects by
// itself after the server process is killed and started again.
func TestIRCBot(t *testing.T) {
	dir := t.TempDir()
	frame, ircAddr := freePort(t), freePort(t)
	start := func() *serverProc { return startServer(t, dir, "--frame-listen", frame, "--irc-listen", ircAddr) }
	srv := start()
	watcher := testkit.DialNative(t, mustResolve(t, frame), "watcher")
	watcher.ExpectType("welcome")
	tut := testkit.DialTutorial(t, mustResolve(t, frame), "tut")
	tut.Send("said before the bot came")
	// Delivered means stored.
	watcher.Expect("the message", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "said before the bot came" })

	bot := &ircevent.Connection{
		Server:        ircAddr,
		Nick:          "echobot",
		User:          "echobot",
		RealName:      "a test bot",
		RequestCaps:   []string{"server-time", "message-tags", "batch", "labeled-response", "echo-message", "draft/chathistory"},
		ReconnectFreq: 200 * time.Millisecond,
		Timeout:       5 * time.Second,
		KeepAlive:     time.Minute,
	}
	var mu sync.Mutex
	connects := 0
	bot.AddConnectCallback(func(ircmsg.Message) {
		mu.Lock()
		connects++
		mu.Unlock()
	})
	bot.AddCallback("PRIVMSG", func(e ircmsg.Message) {
		if len(e.Params) == 2 && strings.HasPrefix(e.Params[1], "!echo ") && e.Nick() != bot.CurrentNick() {
			_ = bot.Privmsg(e.Params[0], "echo: "+strings.TrimPrefix(e.Params[1], "!echo "))
		}
	})
	if err := bot.Connect(); err != nil {
		t.Fatalf("bot connect: %v", err)
	}
	loopDone := make(chan struct{})
	go func() { bot.Loop(); close(loopDone) }()
	t.Cleanup(func() {
		bot.Quit()
		<-loopDone
	})
	if acked := bot.AcknowledgedCaps(); len(acked) != 6 {
		t.Fatalf("caps acknowledged: %v", acked)
	}
	testkit.Eventually(t, "the bot in the lobby", func() bool { return bot.Connected() })

	// The history, through the library's labeled-response support.
	hist, err := bot.GetLabeledResponse(nil, "CHATHISTORY", "LATEST", "#lobby", "*", "10")
	if err != nil {
		t.Fatalf("labeled CHATHISTORY: %v", err)
	}
	var texts []string
	var walk func(b *ircevent.Batch)
	walk = func(b *ircevent.Batch) {
		if b.Command == "PRIVMSG" && len(b.Params) == 2 {
			if ok, _ := b.GetTag("msgid"); ok {
				texts = append(texts, b.Nick()+": "+b.Params[1])
			}
		}
		for _, item := range b.Items {
			walk(item)
		}
	}
	walk(hist)
	if strings.Join(texts, "|") != "tut: said before the bot came" {
		t.Fatalf("the bot read %q from the history", texts)
	}

	tut.Send("!echo hello bot")
	tut.Expect("echobot", "echo: hello bot")

	// A labeled request: the library matches the response by its label.
	batch, err := bot.GetLabeledResponse(nil, "WHOIS", "tut")
	if err != nil {
		t.Fatalf("labeled WHOIS: %v", err)
	}
	var cmds []string
	for _, item := range batch.Items {
		cmds = append(cmds, item.Command)
	}
	if got := strings.Join(cmds, " "); got != "311 319 312 317 318" {
		t.Fatalf("labeled WHOIS batch: %s", got)
	}

	srv.kill(t)
	start() // killed by the test's cleanup
	testkit.Eventually(t, "the bot back after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return connects >= 2 && bot.Connected()
	})
	tut2 := testkit.DialTutorial(t, mustResolve(t, frame), "tut2")
	tut2.Send("!echo after the restart")
	tut2.Expect("echobot", "echo: after the restart")
}
