package chat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parleychat/parley/auth"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

// FuzzExec runs arbitrary input lines through the command table of a live
// session: nothing may panic, and every reply is something a front-end can
// render.
func FuzzExec(f *testing.F) {
	for _, s := range []string{
		"hello", "/nick bob", "/nick Server", "/join #dev", "/join " + strings.Repeat("x", 40), "/part dev bye",
		"/msg carol hi", "/msg nobody hi", "/me waves", "/topic new \x1b[2J topic", "/topic", "/who", "/who nowhere",
		"/rooms", "/help", "/help msg", "/help nope", "/quit bye", "//slash", "/", "/ nick", "/NICK   x", "\xff\xfe",
		"/msg carol", "/join", "/nick a b", "\t", "/me", "/part nowhere",
		"/register secret1", "/register a", "/login carol secret1", "/identify x", "/passwd a b", "/unregister x",
		"/claim", "/claim #lobby", "/op carol", "/voice carol", "/kick carol rude", "/ban carol 1h spam", "/ban 10.0.0.0/8",
		"/ban ip:::1", "/unban carol", "/mute carol 3d", "/mode +mtir-m", "/mode +x", "/invite carol", "/slow 5",
		"/slow -1", "/modlog *", "/modlog 5", "/kill carol", "/gban carol", "/bans", "/ban account:carol 99999999d",
	} {
		f.Add(s)
	}
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HashParams: auth.TestParams})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = h.Shutdown(context.Background(), "fuzzing over") })
	if _, err := h.Connect(&fakeSink{}, "carol", chat.ClientInfo{Protocol: "test"}, chat.JoinOptions{}); err != nil {
		f.Fatal(err)
	}
	var next atomic.Int64
	f.Fuzz(func(t *testing.T, line string) {
		s, sink := connect(t, h, fmt.Sprint("u", next.Add(1)))
		defer s.Leave("done")
		err := s.Exec(line, "ref")
		if err != nil && chat.ErrorMessage(err) == "internal error" {
			t.Fatalf("Exec(%q) = %v: not a client-safe error", line, err)
		}
		for _, ev := range sink.snapshot() {
			if ev.Kind.String() == "unknown" {
				t.Fatalf("Exec(%q) delivered an event of unknown kind %d", line, ev.Kind)
			}
		}
		if !s.Closed() {
			if _, _, err := chat.ValidateName(s.Name()); err != nil && chat.ErrorCode(err) != chat.CodeNameReserved {
				t.Fatalf("Exec(%q) left the invalid name %q", line, s.Name())
			}
		}
	})
}

// FuzzValidateName: an accepted name is valid UTF-8, 1 to 32 characters,
// without spaces or controls, not reserved, and stable (validating it again
// gives the same name and key).
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"alice", "Server", "ｓｅｒｖｅｒ", "_server_", "*", "", "王芳", "Chloé🌸", "👩\u200d💻",
		"a\u200db", "esc\x1b", "\xff", strings.Repeat("x", 33), "Ⅻ", "ﬁ", "e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		display, key, err := chat.ValidateName(name)
		if err != nil {
			return
		}
		if !utf8.ValidString(display) || display == "" || utf8.RuneCountInString(display) > chat.MaxNameRunes {
			t.Fatalf("ValidateName(%q) accepted %q", name, display)
		}
		for _, r := range display {
			if unicode.IsSpace(r) || unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != '\u200d') {
				t.Fatalf("ValidateName(%q) accepted %q with %U", name, display, r)
			}
		}
		if key != chat.NameKey(display) {
			t.Fatalf("key %q != NameKey(%q)", key, display)
		}
		for _, reserved := range []string{"server", "*", "admin"} {
			if key == reserved {
				t.Fatalf("ValidateName(%q) accepted the reserved %q", name, display)
			}
		}
		d2, k2, err := chat.ValidateName(display)
		if err != nil || d2 != display || k2 != key {
			t.Fatalf("not stable: %q -> %q (%q) -> %q (%q), %v", name, display, key, d2, k2, err)
		}
	})
}
