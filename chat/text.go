package chat

import (
	"strings"
	"unicode/utf8"
)

// CleanText applies parley's text rule to a message from a client and
// returns what is relayed:
//
//   - invalid UTF-8 byte sequences are replaced by U+FFFD;
//   - "\r\n" becomes "\n";
//   - terminal escape sequences are removed whole (see EscapeEnd: CSI, OSC,
//     DCS, SOS, PM, APC and two-byte ESC sequences, and their 8-bit C1
//     forms), so that no debris such as "[31m" is left of them;
//   - other C0 controls than tab and newline, DEL and C1 controls are
//     removed;
//   - bidirectional embedding, override and isolate controls (U+202A-U+202E,
//     U+2066-U+2069) are removed, so no one can reorder other text on screen;
//   - the result must not be blank and must be at most maxBytes long.
//
// Text that needs no change is returned as is, without allocating.
func CleanText(s string, maxBytes int) (string, error) {
	if maxBytes > 0 && len(s) > maxBytes {
		return "", Errorf(CodeTooLong, "message is %d bytes; the limit is %d", len(s), maxBytes)
	}
	if needsCleaning(s) {
		s = Strip(s)
		if maxBytes > 0 && len(s) > maxBytes {
			return "", Errorf(CodeTooLong, "message is %d bytes; the limit is %d", len(s), maxBytes)
		}
	}
	if strings.TrimSpace(s) == "" {
		return "", Errorf(CodeEmpty, "message is empty")
	}
	return s, nil
}

// Strip applies the cleaning part of the text rule (see CleanText) with no
// length limit and no error: what it returns holds no escape sequence, no
// control character but tab and newline, no bidi control and no invalid
// UTF-8. Renderers apply it again to whatever they show, as a second line
// of defence. Clean text is returned as is, without allocating.
func Strip(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if end := EscapeEnd(s, i); end > i {
			i = end
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else if keepRune(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return true
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !keepRune(r) {
				return true
			}
			i += size - 1
		}
	}
	return false
}

func keepRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return true
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return false
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return false
	}
	return true
}

// MaxReasonBytes is the longest part or quit reason relayed; longer ones
// are cut.
const MaxReasonBytes = 200

// MaxTopicBytes is the longest room topic; longer ones are cut.
const MaxTopicBytes = 512

// CleanLine applies the text rule (CleanText) to client text that is shown
// on one line, such as a part or quit reason: line breaks and tabs become
// spaces, and text longer than maxBytes is cut at a character boundary.
func CleanLine(s string, maxBytes int) (string, error) {
	s, err := CleanText(s, 0)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(s, "\n\t") {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\t' }), " ")
	}
	if maxBytes > 0 && len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s), nil
}

// EscapeEnd returns the index just past the terminal escape sequence that
// starts at s[i], or i if none does. It knows ESC [ (CSI: parameters and
// intermediates, then a final byte), ESC ] P X ^ _ (OSC, DCS, SOS, PM and
// APC: a string up to BEL or ESC \), the other ESC sequences (intermediates,
// then one final byte), and the 8-bit forms of CSI (U+009B) and of the
// string introducers (U+0090, U+0098, U+009D-U+009F). A lone or malformed
// introducer is one byte long. The server's text rule and the client's
// terminal sanitizer both remove what it spans.
func EscapeEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	var kind byte
	var j int
	switch c := s[i]; {
	case c == 0x1b:
		if i+1 >= len(s) {
			return i + 1
		}
		kind, j = s[i+1], i+2
		if kind < 0x20 || kind >= 0x7f {
			return i + 1 // a lone ESC before a control or non-ASCII text
		}
	case c == 0xc2 && i+1 < len(s):
		switch s[i+1] {
		case 0x9b:
			kind = '['
		case 0x90:
			kind = 'P'
		case 0x98:
			kind = 'X'
		case 0x9d:
			kind = ']'
		case 0x9e:
			kind = '^'
		case 0x9f:
			kind = '_'
		default:
			return i
		}
		j = i + 2
	default:
		return i
	}
	switch kind {
	case '[': // CSI
		for ; j < len(s); j++ {
			if c := s[j]; c >= 0x40 && c <= 0x7e {
				return j + 1
			} else if c < 0x20 || c >= 0x7f {
				return j // malformed: stop here, the rest is text
			}
		}
		return j
	case ']', 'P', 'X', '^', '_': // a control string up to BEL or ST
		for ; j < len(s); j++ {
			switch {
			case s[j] == 0x07:
				return j + 1
			case s[j] == 0x1b:
				if j+1 < len(s) && s[j+1] == '\\' {
					return j + 2
				}
				return j
			case s[j] == 0xc2 && j+1 < len(s) && s[j+1] == 0x9c: // 8-bit ST
				return j + 2
			}
		}
		return j
	}
	if s[i] != 0x1b {
		return j
	}
	// nF and Fp/Fe/Fs sequences: intermediates 0x20-0x2f, then a final byte.
	j--
	for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
		j++
	}
	if j < len(s) {
		j++
	}
	return j
}
