package render_test

import (
	"bytes"
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
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/line"
	"github.com/parleychat/parley/wire/tutorial"
)

// hostile is client text that tries everything: an escape that erases the
// line and a forged line from another user, an OSC title, NUL, the 8-bit
// CSI, a right-to-left override, a bare CR and invalid UTF-8.
const hostile = "\x02bold\x0304,01red\x0f x\x1b[2K\r[06:46] <vline> my password is hunter2\nvline > I agree\x1b]0;pwned\x07\x00\u009b2J\u202eevil\r\xff"

// encoders are the renderers of the protocols that write raw text to
// terminals. Their sessions are nil: no event is taken for the reader's own.
func encoders() map[string]engine.Encoder {
	env := engine.Env{Hub: testHub}
	return map[string]engine.Encoder{
		"line":     (&line.Protocol{Location: time.UTC}).NewClient(env).Encoder(nil),
		"tutorial": (&tutorial.Protocol{}).NewClient(env).Encoder(nil),
	}
}

var testHub = func() *chat.Hub {
	h, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	return h
}()

// checkTerminalSafe fails if out could drive a terminal or forge a line.
func checkTerminalSafe(t *testing.T, proto, what string, out []byte) {
	t.Helper()
	texts := []string{string(out)}
	if proto == "tutorial" {
		texts = texts[:0]
		fr := frame.NewReader(bytes.NewReader(out), 1<<20)
		for {
			p, err := fr.ReadFrame()
			if err != nil {
				break
			}
			texts = append(texts, string(p))
		}
	}
	for i, s := range texts {
		if !utf8.ValidString(s) {
			t.Fatalf("%s %s: invalid UTF-8 in %q", proto, what, s)
		}
		for _, r := range s {
			switch {
			case r == '\n' || r == '\t' || r == '\r' && proto == "line":
			case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
				t.Fatalf("%s %s: control %U in %q", proto, what, r, s)
			case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
				t.Fatalf("%s %s: bidi control %U in %q", proto, what, r, s)
			}
		}
		if proto == "line" {
			s = strings.ReplaceAll(s, "\r\n", "\n")
			if strings.Contains(s, "\r") {
				t.Fatalf("line %s: a bare CR in %q", what, s)
			}
		}
		for j, l := range strings.Split(s, "\n") {
			if j > 0 && (strings.HasPrefix(l, "[06:46]") || strings.HasPrefix(l, "vline >")) {
				t.Fatalf("%s %s: a forged line %q in frame %d: %q", proto, what, l, i, s)
			}
		}
		if proto == "tutorial" && i%2 == 0 && strings.Contains(s, "\n") {
			t.Fatalf("tutorial %s: a username with a line break: %q", what, s)
		}
	}
}

// TestEveryFieldIsSafe puts hostile text in each client-text field of an
// event, one field at a time, for every kind of event, and checks what the
// line and tutorial encoders write.
func TestEveryFieldIsSafe(t *testing.T) {
	fields := 0
	for kind := chat.KindSay; kind.String() != "unknown"; kind++ {
		var probe chat.Event
		var paths []string
		testkit.StringFields(reflect.ValueOf(&probe).Elem(), "Event", func(path string, _ func(string)) { paths = append(paths, path) })
		fields = len(paths)
		for _, field := range paths {
			var ev chat.Event
			ev.Kind, ev.Time, ev.Session = kind, time.Unix(0, 0), 7
			testkit.StringFields(reflect.ValueOf(&ev).Elem(), "Event", func(path string, set func(string)) {
				if path == field {
					set(hostile)
				} else {
					set("ok")
				}
			})
			ev.Kind = kind
			for proto, enc := range encoders() {
				checkTerminalSafe(t, proto, kind.String()+" "+field, enc.Encode(&ev))
			}
		}
	}
	if fields < 15 {
		t.Fatalf("only %d string fields found in chat.Event: the walk is broken", fields)
	}
}

// FuzzRender: whatever text is in whatever field of whatever event, the
// line and tutorial encoders write nothing that can drive a terminal or
// forge a line.
func FuzzRender(f *testing.F) {
	f.Add(uint8(1), uint8(0), hostile)
	f.Add(uint8(6), uint8(3), "bye\nvline > forged")
	f.Add(uint8(10), uint8(9), "\x1bP1;2|secret\x1b\\")
	f.Fuzz(func(t *testing.T, kind, field uint8, text string) {
		var ev chat.Event
		n := 0
		testkit.StringFields(reflect.ValueOf(&ev).Elem(), "Event", func(path string, set func(string)) {
			if uint8(n) == field {
				set(text)
			} else {
				set("ok")
			}
			n++
		})
		ev.Kind = chat.Kind(kind%16 + 1)
		ev.Time = time.Unix(0, 0)
		for proto, enc := range encoders() {
			checkTerminalSafe(t, proto, "fuzzed", enc.Encode(&ev))
		}
	})
}
