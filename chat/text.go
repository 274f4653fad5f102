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
//   - C0 controls other than tab and newline, DEL and C1 controls (this
//     removes ESC and so every terminal escape sequence's introducer) are
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
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else if keepRune(r) {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		s = b.String()
		if maxBytes > 0 && len(s) > maxBytes {
			return "", Errorf(CodeTooLong, "message is %d bytes; the limit is %d", len(s), maxBytes)
		}
	}
	if strings.TrimSpace(s) == "" {
		return "", Errorf(CodeEmpty, "message is empty")
	}
	return s, nil
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
