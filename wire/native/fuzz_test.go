package native

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
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
