package client

import (
	"strings"
	"testing"

	"github.com/parleychat/parley/wire/native"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ASCII", "hello world", "hello world"},
		{"unicode kept", "王芳 Chloé🌸 👍🏽 e\u0301", "王芳 Chloé🌸 👍🏽 e\u0301"},
		{"newline kept", "line one\nline two", "line one\nline two"},
		{"tab to space", "a\tb", "a b"},
		{"CSI colour", "\x1b[31mred\x1b[0m", "red"},
		{"CSI cursor move", "a\x1b[2J\x1b[H\x1b[10;20Hb", "ab"},
		{"CSI private mode", "\x1b[?1049h\x1b[?25lx", "x"},
		{"CSI cut short", "x\x1b[12", "x"},
		{"CSI broken by control", "x\x1b[1\ay", "xy"},
		{"OSC title BEL", "\x1b]0;pwned\x07after", "after"},
		{"OSC title ST", "\x1b]2;pwned\x1b\\after", "after"},
		{"OSC 52 clipboard", "\x1b]52;c;ZWNobyBwd25lZA==\x07ok", "ok"},
		{"OSC 8 hyperlink", "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"OSC unterminated", "a\x1b]0;never ends", "a"},
		{"DCS", "\x1bPq#0;2;0;0;0\x1b\\x", "x"},
		{"APC", "\x1b_Gf=100;AAAA\x1b\\x", "x"},
		{"bare ESC at end", "abc\x1b", "abc"},
		{"two-byte ESC", "a\x1bcb\x1b7c\x1b8", "abc"},
		{"charset ESC", "a\x1b(0lqqk\x1b(Bb", "alqqkb"},
		{"C0 controls", "a\x00b\x07c\x08d\x0be\x0cf\rg\x7fh", "abcdefgh"},
		{"carriage return overwrite", "safe\rEVIL", "safeEVIL"},
		{"C1 controls", "a\u0085b\u008dc\u0080d", "abcd"},
		{"8-bit CSI with params, removed whole", "\u009b31mred", "red"},
		{"8-bit OSC up to 8-bit ST", "a\u009d0;title\u009cb", "ab"},
		{"8-bit CSI final byte taken", "x\u009bdy", "xy"},
		{"bidi override", "abc\u202edcba\u202c", "abcdcba"},
		{"bidi isolates", "\u2066x\u2067y\u2068z\u2069", "xyz"},
		{"bidi marks", "a\u200eb\u200fc\u061cd", "abcd"},
		{"line separator", "a\u2028b\u2029c", "a\nb\nc"},
		{"invalid UTF-8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"ESC before non-ASCII", "\x1bé", "é"},
		{"nested", "\x1b[\x1b]0;t\x07m", "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Fatalf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if Sanitize(got) != got {
				t.Fatalf("Sanitize is not idempotent on %q", got)
			}
			for _, r := range got {
				if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == 0x1b {
					t.Fatalf("control %U left in %q", r, got)
				}
			}
		})
	}
}

func TestSanitizeLine(t *testing.T) {
	if got := SanitizeLine("a\nb\x1b[1mc"); got != "a bc" {
		t.Fatalf("got %q", got)
	}
}

func TestSanitizeCleanDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("hello 世界 ", 20)
	if n := testing.AllocsPerRun(100, func() { _ = Sanitize(s) }); n != 0 {
		t.Fatalf("Sanitize allocated %v times on clean text", n)
	}
}

func TestSanitizeEvent(t *testing.T) {
	ev := native.Event{
		Type: "say", From: "ev\x1b[1mil", Room: "lob\nby", Text: "\x1b]0;x\x07hi",
		Members: []string{"a\x1b[2Jb"}, Rooms: []native.RoomInfo{{Name: "r\u202e", Topic: "t\x07"}},
		Message: "m\u009b", Motd: "\x1b[5mblink",
	}
	SanitizeEvent(&ev)
	if ev.From != "evil" || ev.Room != "lob by" || ev.Text != "hi" || ev.Members[0] != "ab" ||
		ev.Rooms[0].Name != "r" || ev.Rooms[0].Topic != "t" || ev.Message != "m" || ev.Motd != "blink" {
		t.Fatalf("not sanitized: %+v", ev)
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("\x1b[31mred")
	f.Add("\x1b]0;t\x07")
	f.Add("a\u202eb")
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if Sanitize(got) != got {
			t.Fatalf("not idempotent: %q -> %q", s, got)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("control %U left in %q (from %q)", r, got, s)
			}
		}
	})
}
