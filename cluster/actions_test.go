package cluster

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
)

func TestDecodeAction(t *testing.T) {
	ok := wireAction{Node: "n1", Op: chat.ActionKick, Room: "dev", Target: "bob", By: "alice", Reason: "spam", Time: 1}
	for _, tc := range []struct {
		name string
		edit func(*wireAction)
		good bool
	}{
		{"a kick", func(*wireAction) {}, true},
		{"a notice", func(w *wireAction) { w.Op, w.Target, w.Text, w.Mode = chat.ActionNotice, "", "alice set mode +m", "+m" }, true},
		{"a kill, no room", func(w *wireAction) { w.Op, w.Room = chat.ActionKill, "" }, true},
		{"an invite", func(w *wireAction) { w.Op = chat.ActionInvite }, true},
		{"a user notice to a user", func(w *wireAction) { w.Op, w.Room, w.Text = chat.ActionUserNotice, "", "hello" }, true},
		{"a user notice to a room", func(w *wireAction) { w.Op, w.Target, w.Text = chat.ActionUserNotice, "", "hello all" }, true},
		{"a user notice to both", func(w *wireAction) { w.Op, w.Text = chat.ActionUserNotice, "hello" }, false},
		{"a user notice to no one", func(w *wireAction) { w.Op, w.Room, w.Target, w.Text = chat.ActionUserNotice, "", "", "hello" }, false},
		{"a user notice with no text", func(w *wireAction) { w.Op, w.Room = chat.ActionUserNotice, "" }, false},
		{"a user notice with an escape", func(w *wireAction) { w.Op, w.Room, w.Text = chat.ActionUserNotice, "", "\x1b[31mred" }, false},
		{"a user notice from no one", func(w *wireAction) { w.Op, w.Room, w.Text, w.By = chat.ActionUserNotice, "", "hi", "" }, false},
		{"op 0", func(w *wireAction) { w.Op = 0 }, false},
		{"op 99", func(w *wireAction) { w.Op = 99 }, false},
		{"a room that is not a key", func(w *wireAction) { w.Room = "Dev Room" }, false},
		{"a kick with no room", func(w *wireAction) { w.Room = "" }, false},
		{"no target", func(w *wireAction) { w.Target = "" }, false},
		{"a target that is not a name", func(w *wireAction) { w.Target = "bo b\x00" }, false},
		{"no moderator", func(w *wireAction) { w.By = "" }, false},
		{"a reason with a newline", func(w *wireAction) { w.Reason = "one\ntwo" }, false},
		{"a reason with an escape", func(w *wireAction) { w.Reason = "\x1b[2J" }, false},
		{"a huge reason", func(w *wireAction) { w.Reason = strings.Repeat("x", chat.MaxReasonBytes+1) }, false},
		{"a notice with no text", func(w *wireAction) { w.Op, w.Text = chat.ActionNotice, "" }, false},
		{"a notice with a control character", func(w *wireAction) { w.Op, w.Text = chat.ActionNotice, "hi\x07" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ok
			tc.edit(&w)
			b, _ := json.Marshal(w)
			a, node, err := decodeAction(b)
			if tc.good != (err == nil) {
				t.Fatalf("decodeAction(%s) = %+v, %v", b, a, err)
			}
			if tc.good && (node != "n1" || a.Op != w.Op || a.By != w.By) {
				t.Fatalf("decoded %+v from %q", a, node)
			}
		})
	}
	for _, junk := range []string{"", "null", "[]", `{"o":"kick"}`, "\xff"} {
		if _, _, err := decodeAction([]byte(junk)); err == nil {
			t.Errorf("decodeAction(%q) took it", junk)
		}
	}
}
