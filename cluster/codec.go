package cluster

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/parleychat/parley/chat"
)

// token makes a subject token or key part of any string (room keys and
// names may hold characters NATS subjects and keys cannot).
func token(s string) string {
	if s == "" {
		return "_"
	}
	return hex.EncodeToString([]byte(s))
}

// untoken reverses token.
func untoken(t string) (string, error) {
	if t == "_" {
		return "", nil
	}
	b, err := hex.DecodeString(t)
	return string(b), err
}

// subjectOf is the stream subject of a message: one per room, one per
// pair of users for direct messages (so that retention per subject keeps
// each conversation's latest).
func subjectOf(m *chat.Message) string {
	if m.Kind == chat.KindDM {
		a, b := chat.NameKey(m.From), chat.NameKey(m.To)
		if b < a {
			a, b = b, a
		}
		return msgPrefix + "d." + token(a) + "." + token(b)
	}
	return msgPrefix + "r." + token(m.Room)
}

// wireMessage is a message as the stream keeps it.
type wireMessage struct {
	Time int64     `json:"t"`
	Kind chat.Kind `json:"k"`
	Room string    `json:"r,omitempty"`
	From string    `json:"f"`
	To   string    `json:"o,omitempty"`
	Text string    `json:"x"`
}

func encodeMessage(m *chat.Message) []byte {
	b, _ := json.Marshal(wireMessage{Time: m.Time.UnixNano(), Kind: m.Kind, Room: m.Room, From: m.From, To: m.To, Text: m.Text})
	return b
}

// maxStreamText bounds a stream message's text (the hub's own bound,
// --max-message-bytes, is usually far lower; a node with a higher one may
// have stored it).
const maxStreamText = 1 << 20

// decodeMessage reads a stream message. The NATS deployment is trusted,
// but what its stream holds is checked like a client's input all the
// same before any node delivers it: a message kind, a valid room key or a
// valid recipient, a valid sender name, clean text.
func decodeMessage(b []byte) (chat.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return chat.Message{}, err
	}
	if !w.Kind.IsMessage() {
		return chat.Message{}, errors.New("not a message kind")
	}
	if (w.Kind == chat.KindDM) != (w.Room == "") {
		return chat.Message{}, errors.New("a message needs a room, or a recipient and no room")
	}
	if w.Room != "" {
		if key, err := chat.ValidateRoom(w.Room); err != nil || key != w.Room {
			return chat.Message{}, errors.New("not a room key")
		}
	}
	if _, _, err := chat.ValidateName(w.From); err != nil {
		return chat.Message{}, errors.New("not a sender's name")
	}
	if w.Kind == chat.KindDM {
		if _, _, err := chat.ValidateName(w.To); err != nil {
			return chat.Message{}, errors.New("not a recipient's name")
		}
	}
	if text, err := chat.CleanText(w.Text, maxStreamText); (err != nil && chat.ErrorCode(err) != chat.CodeEmpty) || text != w.Text {
		return chat.Message{}, errors.New("text that is not clean")
	}
	return chat.Message{Time: time.Unix(0, w.Time), Kind: w.Kind, Room: w.Room, From: w.From, To: w.To, Text: w.Text}, nil
}

// validName reports whether a name read from the presence bucket is one a
// session could hold.
func validName(name string) bool {
	display, _, err := chat.ValidateName(name)
	return err == nil && display == name
}
