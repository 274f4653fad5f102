package irc_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/store/memory"
	"github.com/parleychat/parley/wire/irc"
)

// hostile is client text that tries everything: an escape that erases the
// line, a CRLF and a forged command, an OSC title, NUL, the 8-bit CSI, a
// right-to-left override, a bare CR and invalid UTF-8.
const hostile = "\x02bold\x0304,01red\x0f x\x1b[2K\r\n:evil!u@h KICK #lobby alice :forged\x1b]0;pwned\x07\x00\u009b2J\u202eevil\r\xff " + "long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long"

type nullSink struct{}

func (nullSink) Deliver(*chat.Event) {}

// checkLines fails unless out is whole IRC lines, each a parseable message
// of at most 512 bytes without its tags, with no control character but the
// \x01 around a CTCP ACTION, no bidi control and no invalid UTF-8.
func checkLines(t *testing.T, what string, out []byte) {
	t.Helper()
	s := string(out)
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("%s: output does not end with CRLF: %q", what, s)
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if l == "" && s == "" {
			continue
		}
		if !utf8.ValidString(l) {
			t.Fatalf("%s: invalid UTF-8: %q", what, l)
		}
		m, err := irc.Parse(l)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", what, l, err)
		}
		body := l
		if strings.HasPrefix(l, "@") {
			body = strings.TrimLeft(l[strings.IndexByte(l, ' '):], " ")
		}
		if n := len(body) + 2; n > 512 {
			t.Fatalf("%s: a line of %d bytes: %q", what, n, l)
		}
		if last := m.Param(len(m.Params) - 1); strings.HasPrefix(last, "\x01ACTION ") && strings.HasSuffix(last, "\x01") {
			body = strings.Replace(body, "\x01ACTION ", "", 1)
			body = strings.TrimSuffix(body, "\x01")
		}
		for _, r := range body {
			switch {
			case strings.ContainsRune("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f", r):
				// IRC formatting codes are for IRC readers
			case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
				t.Fatalf("%s: control %U in %q", what, r, l)
			case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
				t.Fatalf("%s: bidi control %U in %q", what, r, l)
			}
		}
		// A real KICK (a part with a kicker) kicks "ok"; one kicking
		// "alice" came out of a field.
		if m.Command == "KICK" && m.Param(1) == "alice" || strings.HasPrefix(m.Source, "evil") {
			t.Fatalf("%s: a forged line %q", what, l)
		}
	}
}

// TestEveryFieldIsSafe puts hostile text in each string field of every
// kind of event, one field at a time, and checks what the IRC encoder
// writes, for a client with every capability and one with none.
func TestEveryFieldIsSafe(t *testing.T) {
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background(), "test over") })
	s, err := h.Register(nullSink{}, "reader", chat.ClientInfo{Protocol: "irc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, caps := range []string{"", "CAP REQ :away-notify batch cap-notify draft/chathistory echo-message labeled-response message-tags multi-prefix server-time userhost-in-names"} {
		c := (&irc.Protocol{}).NewClient(engine.Env{Hub: h})
		if caps != "" {
			_, _ = c.Handshake([]byte(caps))
		}
		enc := c.Encoder(s)
		fields := 0
		for kind := chat.KindSay; kind.String() != "unknown"; kind++ {
			var probe chat.Event
			var paths []string
			testkit.StringFields(reflect.ValueOf(&probe).Elem(), "Event", func(p string, _ func(string)) { paths = append(paths, p) })
			fields = len(paths)
			for _, field := range paths {
				for _, history := range []bool{false, true} {
					var ev chat.Event
					testkit.StringFields(reflect.ValueOf(&ev).Elem(), "Event", func(p string, set func(string)) {
						if p == field {
							set(hostile)
						} else {
							set("ok")
						}
					})
					ev.Kind, ev.Time, ev.Session, ev.ID, ev.History = kind, time.Unix(0, 0), 7, 42, history
					checkLines(t, kind.String()+" "+field, enc.Encode(&ev))
				}
			}
		}
		if fields < 15 {
			t.Fatalf("only %d string fields found: the walk is broken", fields)
		}
	}
}
