package cluster

import (
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range []chat.Message{
		{Time: time.Unix(0, 1764590000123456789), Kind: chat.KindSay, Room: "dev", From: "alice", Text: "hello, world"},
		{Time: time.Unix(0, 1), Kind: chat.KindMe, Room: "lobby", From: "Bob", Text: "waves"},
		{Time: time.Unix(0, 2), Kind: chat.KindDM, From: "alice", To: "Bob", Text: "psst\nsecond line"},
	} {
		got, err := decodeMessage(encodeMessage(&m))
		if err != nil || got != m {
			t.Fatalf("%+v came back as %+v, %v", m, got, err)
		}
	}
}

func TestDecodeRefusesBadMessages(t *testing.T) {
	for name, b := range map[string]string{
		"not json":         `{"t":`,
		"not a message":    `{"t":1,"k":4,"r":"dev","f":"alice","x":"hi"}`,
		"room and dm":      `{"t":1,"k":3,"r":"dev","f":"alice","o":"bob","x":"hi"}`,
		"say without room": `{"t":1,"k":1,"f":"alice","x":"hi"}`,
		"bad room":         `{"t":1,"k":1,"r":"Dev Room","f":"alice","x":"hi"}`,
		"bad sender":       `{"t":1,"k":1,"r":"dev","f":"al ice","x":"hi"}`,
		"bad recipient":    `{"t":1,"k":3,"f":"alice","o":"","x":"hi"}`,
		"control chars":    `{"t":1,"k":1,"r":"dev","f":"alice","x":"hi\u001b[2J"}`,
	} {
		if m, err := decodeMessage([]byte(b)); err == nil {
			t.Errorf("%s: accepted as %+v", name, m)
		}
	}
}

func TestSubjects(t *testing.T) {
	a := subjectOf(&chat.Message{Kind: chat.KindDM, From: "Alice", To: "bob"})
	b := subjectOf(&chat.Message{Kind: chat.KindDM, From: "BOB", To: "alice"})
	if a != b {
		t.Fatalf("one conversation, two subjects: %s %s", a, b)
	}
	if s := subjectOf(&chat.Message{Kind: chat.KindSay, Room: "dev.ops>*"}); s != msgPrefix+"r."+token("dev.ops>*") {
		t.Fatalf("room subject %s", s)
	}
	for _, s := range []string{"", "dev", "ünïcode", "a.b*c>"} {
		if got, err := untoken(token(s)); err != nil || got != s {
			t.Fatalf("token(%q) back as %q, %v", s, got, err)
		}
	}
}

// FuzzDecodeMessage: whatever the stream holds, decoding never panics, and
// what it accepts encodes back to a message that decodes the same.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"t":1,"k":1,"r":"dev","f":"alice","x":"hi"}`))
	f.Add([]byte(`{"t":2,"k":3,"f":"alice","o":"bob","x":"psst"}`))
	f.Add([]byte(`{"k":2,"r":"lobby","f":"Bob","x":"waves"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := decodeMessage(encodeMessage(&m))
		if err != nil || again != m {
			t.Fatalf("%+v re-encoded decodes as %+v, %v", m, again, err)
		}
	})
}
