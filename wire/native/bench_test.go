package native

import (
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
)

func benchEvent() *chat.Event {
	return &chat.Event{Message: chat.Message{ID: 123456, Kind: chat.KindSay, Room: "lobby", From: "alice",
		Text: "0123456789012345678901234567890123456789012345678901234567890123", Time: time.Unix(1700000000, 123456789)}}
}

// BenchmarkEncodeEvent converts and marshals one chat message event (done
// once per message for every native recipient, thanks to Event.Encoded).
func BenchmarkEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	ev := benchEvent()
	for i := 0; i < b.N; i++ {
		_ = Marshal(FromChat(ev, false))
	}
}

// BenchmarkDecodeEvent parses one server event, as a client does.
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	js := Marshal(FromChat(benchEvent(), false))
	b.SetBytes(int64(len(js)))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEvent(js); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest parses one client "say" request, as the server
// does for every message it receives.
func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	js := []byte(`{"type":"say","text":"0123456789012345678901234567890123456789012345678901234567890123"}`)
	b.SetBytes(int64(len(js)))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeRequest(js); err != nil {
			b.Fatal(err)
		}
	}
}
