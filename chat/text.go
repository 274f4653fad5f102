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
//   - other C0 controls than tab, newline and the IRC formatting codes
//     (bold, colour, italic...: kept for IRC readers, removed by every
//     other renderer through Strip), DEL and C1 controls are removed;
//   - bidirectional embedding, override and isolate controls (U+202A-U+202E,
//     U+2066-U+2069) are removed, so no one can reorder other text on screen;
//   - the result must not be blank and must be at most maxBytes long.
//
// Text that needs no change is returned as is, without allocating.
func CleanText(s string, maxBytes int) (string, error) {
	if maxBytes > 0 && len(s) > maxBytes {
		return "", Errorf(CodeTooLong, "message is %d bytes; the limit is %d", len(s), maxBytes)
	}
	if needsCleaning(s, true) {
		s = strip(s, true)
		if maxBytes > 0 && len(s) > maxBytes {
			return "", Errorf(CodeTooLong, "message is %d bytes; the limit is %d", len(s), maxBytes)
		}
	}
	if strings.TrimSpace(StripFormatting(s)) == "" {
		return "", Errorf(CodeEmpty, "message is empty")
	}
	return s, nil
}

// IRC formatting codes: bold, colour (with up to two numbers), hex colour,
// monospace, reverse, italic, strikethrough, underline and reset. The text
// rule keeps them (IRC readers see them); every other renderer removes
// them (Strip), parameters included.
const (
	fmtBold      = 0x02
	fmtColour    = 0x03
	fmtHexColour = 0x04
	fmtReset     = 0x0f
	fmtMono      = 0x11
	fmtReverse   = 0x16
	fmtItalic    = 0x1d
	fmtStrike    = 0x1e
	fmtUnderline = 0x1f
)

// isFormatting reports whether c is an IRC formatting code.
func isFormatting(c byte) bool {
	switch c {
	case fmtBold, fmtColour, fmtHexColour, fmtReset, fmtMono, fmtReverse, fmtItalic, fmtStrike, fmtUnderline:
		return true
	}
	return false
}

// Strip applies the cleaning part of the text rule (see CleanText) with no
// length limit and no error, and removes IRC formatting codes too: what it
// returns holds no escape sequence, no control character but tab and
// newline, no bidi control and no invalid UTF-8. Renderers apply it again
// to whatever they show, as a second line of defence. Clean text is
// returned as is, without allocating.
func Strip(s string) string {
	if !needsCleaning(s, false) {
		return s
	}
	return strip(s, false)
}

// StripKeepFormatting is Strip for a renderer that shows IRC formatting
// codes (the IRC front-end): it keeps them.
func StripKeepFormatting(s string) string {
	if !needsCleaning(s, true) {
		return s
	}
	return strip(s, true)
}

// StripFormatting removes only IRC formatting codes (and their colour
// numbers) from s.
func StripFormatting(s string) string {
	has := false
	for i := 0; i < len(s) && !has; i++ {
		has = isFormatting(s[i])
	}
	if !has {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if isFormatting(s[i]) {
			i = formattingEnd(s, i)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// formattingEnd returns the index past the formatting code at s[i] and its
// parameters: "\x03" takes up to two digits, then "," and up to two more;
// "\x04" six hex digits, then "," and six more.
func formattingEnd(s string, i int) int {
	c := s[i]
	i++
	digits := func(n int, ok func(byte) bool) bool {
		j := i
		for j < len(s) && j-i < n && ok(s[j]) {
			j++
		}
		if j == i {
			return false
		}
		i = j
		return true
	}
	dec := func(b byte) bool { return b >= '0' && b <= '9' }
	hex := func(b byte) bool { return dec(b) || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }
	var ok func(byte) bool
	n := 2
	switch c {
	case fmtColour:
		ok = dec
	case fmtHexColour:
		ok, n = hex, 6
	default:
		return i
	}
	if digits(n, ok) && i+1 < len(s) && s[i] == ',' && ok(s[i+1]) {
		i++
		digits(n, ok)
	}
	return i
}

func strip(s string, keepFormatting bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if end := EscapeEnd(s, i); end > i {
			i = end
			continue
		}
		if isFormatting(s[i]) {
			if keepFormatting {
				b.WriteByte(s[i])
				i++
			} else {
				i = formattingEnd(s, i)
			}
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

func needsCleaning(s string, keepFormatting bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' && !(keepFormatting && isFormatting(c)) || c == 0x7f {
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
