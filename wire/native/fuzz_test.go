package native

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleychat/parley/auth"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/store/memory"
)

// FuzzDecodeRequest: no payload panics the server's JSON decoder, and every
// refusal is an invalid-code error safe to show to the client.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","name":"alice","version":1,"password":"pw","rooms":["dev"],"since":{"lobby":3}}`,
		`{"type":"say","text":"hi","ref":"1"}`, `{"type":"say","text":42}`, `{"type":"topic"}`,
		`{"type":"history","room":"lobby","after":1,"before":9,"limit":-5}`, `{"text":"no type"}`,
		`{"type":"say","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		`{"type":"` + "\xff\xfe" + `"}`, `[1,2]`, `null`, `{nope`, ``, `{"type":"say","since":{"a":-1}}`,
		`{"type":"join","after":18446744073709551616}`, `{"type":"say","text":"\u0000\u001b[2J"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := DecodeRequest(payload)
		if err != nil {
			if chat.ErrorCode(err) != chat.CodeInvalid {
				t.Fatalf("DecodeRequest(%q) = %v: not an invalid-code error", payload, err)
			}
			return
		}
		if req.Type == "" {
			t.Fatalf("DecodeRequest(%q) accepted an event without a type", payload)
		}
		// What was accepted can be encoded again.
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
	})
}

// FuzzDecodeEvent: no payload from a (hostile) server panics the client's
// decoder.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","server":"parley","version":1,"name":"alice","max_message_bytes":65536}`,
		`{"type":"say","id":7,"ts":"2024-01-01T00:00:00Z","room":"lobby","from":"bob","text":"hi"}`,
		`{"type":"rooms","rooms":[{"name":"lobby","members":2}]}`, `{"type":"members","members":null}`,
		`{"type":"say","ts":"yesterday"}`, `{"type":"say","id":-1}`, `{"rooms":[null]}`, `nul`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := DecodeEvent(payload)
		if err != nil {
			return
		}
		_ = Marshal(ev) // must not panic either
	})
}

// FuzzProtocol: the native engine's handshake and request parser take any
// payload without panicking, refuse with a client-safe domain error, and
// every request they accept runs through the hub's command table without a
// panic or an internal error.
func FuzzProtocol(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","name":"alice","version":1,"rooms":["dev","#x","../.."],"since":{"lobby":3,"dev":1}}`,
		`{"type":"say","text":"hi","ref":"1"}`, `{"type":"topic","room":"lobby"}`, `{"type":"topic","text":""}`,
		`{"type":"history","after":1,"before":9,"limit":-5}`, `{"type":"command","text":"/who lobby"}`,
		`{"type":"join","room":"dev","after":5}`, `{"type":"part","reason":"\u001b[2Kbye"}`, `{"type":"hello"}`,
		`{"type":"nick","name":"bob"}`, `{"type":"dm","to":"alice","text":"hey"}`, `{"type":"rooms"}`, `{"type":"j"}`,
		`{"type":"quit","reason":"x"}`, `{"type":"ping","ref":"p"}`, `{"type":"pong"}`, `{"type":"who"}`,
	} {
		f.Add([]byte(s))
	}
	hub, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HashParams: auth.TestParams})
	if err != nil {
		f.Fatal(err)
	}
	p := NewProtocol(nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		c := p.NewClient(engine.Env{Hub: hub})
		if _, err := c.Handshake(payload); err != nil && chat.ErrorCode(err) == chat.CodeInternal {
			t.Fatalf("Handshake(%q) = %v", payload, err)
		}
		if len(c.HandshakeError(chat.Errorf(chat.CodeInvalid, "x"), false)) == 0 {
			t.Fatal("empty handshake error")
		}
		s, err := hub.Register(discardSink{}, "fuzzer", chat.ClientInfo{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Leave("done")
		if err := s.Begin(chat.JoinOptions{History: -1}); err != nil {
			t.Fatal(err)
		}
		req, err := c.Parse(s, payload)
		if err == nil && req.Command != "" {
			err = s.Do(req)
		}
		if err != nil && chat.ErrorCode(err) == chat.CodeInternal && err != chat.ErrClosed {
			t.Fatalf("Parse/Do(%q) = %v", payload, err)
		}
	})
}

type discardSink struct{}

func (discardSink) Deliver(*chat.Event) {}
