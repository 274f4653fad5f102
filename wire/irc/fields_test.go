package irc

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/store/memory"
)

// hostile is client text that tries everything: an escape that erases the
// line, a CRLF and a forged command, an OSC title, NUL, the 8-bit CSI, a
// right-to-left override, a bare CR and invalid UTF-8.
const hostile = "\x02bold\x0304,01red\x0f x\x1b[2K\r\n:evil!u@h KICK #lobby alice :forged\x1b]0;pwned\x07\x00\u009b2J\u202eevil\r\xff " + "long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long long"

type nullSink struct{}

func (nullSink) Deliver(*chat.Event) {}

// setStrings calls set for every settable string field reachable from v
// (allocating pointed-to structs and one slice element), so that a field
// added to chat.Event later is covered.
func setStrings(v reflect.Value, path string, visit func(path string, set func(string))) {
	switch v.Kind() {
	case reflect.String:
		visit(path, func(s string) { v.SetString(s) })
	case reflect.Ptr:
		if v.Type().Elem().Kind() == reflect.Struct {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			setStrings(v.Elem(), path, visit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				setStrings(v.Field(i), path+"."+v.Type().Field(i).Name, visit)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		setStrings(v.Index(0), path+"[0]", visit)
	}
}

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
		m, err := Parse(l)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", what, l, err)
		}
		if n := bodyLen(l) + 2; n > 512 {
			t.Fatalf("%s: a line of %d bytes: %q", what, n, l)
		}
		body := l
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
		if m.Command == "KICK" || strings.HasPrefix(m.Source, "evil") {
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
	for _, caps := range []uint32{0, ^uint32(0)} {
		c := (&Protocol{}).NewClient(engine.Env{Hub: h, Send: func([]byte) {}, AwaitRoom: func() {}}).(*Client)
		c.caps = &atomic.Uint32{}
		c.caps.Store(caps)
		enc := c.Encoder(s).(*encoder)
		fields := 0
		for kind := chat.KindSay; kind.String() != "unknown"; kind++ {
			var probe chat.Event
			var paths []string
			setStrings(reflect.ValueOf(&probe).Elem(), "Event", func(p string, _ func(string)) { paths = append(paths, p) })
			fields = len(paths)
			for _, field := range paths {
				for _, history := range []bool{false, true} {
					var ev chat.Event
					setStrings(reflect.ValueOf(&ev).Elem(), "Event", func(p string, set func(string)) {
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
