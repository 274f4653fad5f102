package client

import (
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/wire/native"
)

// Sanitize makes text received from the network safe to write to a
// terminal. Whatever another user (or a hostile server) sends, the result
// cannot move the cursor, change colours, set the window title, reorder text
// or do anything else to the terminal:
//
//   - escape sequences are removed whole (chat.EscapeEnd, the same rule the
//     server applies): CSI (ESC [ ... final byte), OSC, DCS, SOS, PM and APC
//     strings (up to BEL or ESC \), two-byte ESC sequences, and their 8-bit
//     forms; a lone ESC is removed;
//   - C0 controls other than newline are removed, except tab, which becomes
//     a space; carriage return, DEL and C1 controls (U+0080-U+009F,
//     including the 8-bit CSI) are removed;
//   - bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
//     U+2066-U+2069) are removed; the line and paragraph separators
//     U+2028/U+2029 become newlines;
//   - invalid UTF-8 becomes U+FFFD.
//
// Newlines are kept; use SanitizeLine for a single line. Clean text is
// returned as is, without allocating.
func Sanitize(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if end := chat.EscapeEnd(s, i); end > i {
			i = end
			continue
		}
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				b.WriteByte(c)
			case c == '\t':
				b.WriteByte(' ')
			case c < 0x20 || c == 0x7f:
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x2028 || r == 0x2029:
			b.WriteByte('\n')
		case dropRune(r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// SanitizeLine is Sanitize for text shown on one line: each newline becomes
// a space, so that one event stays one line.
func SanitizeLine(s string) string {
	s = Sanitize(s)
	if strings.IndexByte(s, '\n') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// clean reports whether s needs no change.
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == 0x2028 || r == 0x2029 || dropRune(r) {
			return false
		}
		i += size
	}
	return true
}

// dropRune reports whether a non-ASCII rune is removed.
func dropRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	}
	return false
}

// SanitizeEvent sanitizes every text field of an event in place.
func SanitizeEvent(ev *native.Event) {
	ev.Room = SanitizeLine(ev.Room)
	ev.From = SanitizeLine(ev.From)
	ev.To = SanitizeLine(ev.To)
	ev.Name = SanitizeLine(ev.Name)
	ev.Old = SanitizeLine(ev.Old)
	ev.Text = Sanitize(ev.Text)
	ev.Reason = SanitizeLine(ev.Reason)
	ev.Message = Sanitize(ev.Message)
	ev.Code = SanitizeLine(ev.Code)
	ev.Server = SanitizeLine(ev.Server)
	ev.Software = SanitizeLine(ev.Software)
	ev.Motd = Sanitize(ev.Motd)
	for i, m := range ev.Members {
		ev.Members[i] = SanitizeLine(m)
	}
	for i := range ev.Rooms {
		ev.Rooms[i].Name = SanitizeLine(ev.Rooms[i].Name)
		ev.Rooms[i].Topic = SanitizeLine(ev.Rooms[i].Topic)
	}
}
