package irc

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Message is one IRC protocol message: "@tags :source COMMAND params".
type Message struct {
	Tags    []Tag  // in the order sent; values unescaped
	Source  string // the prefix without its ':' ("" when absent)
	Command string // a verb, upper-cased, or a three-digit numeric
	Params  []string
	// Trailing writes the last parameter with a ':' even when it needs
	// none (as servers do for text: "PRIVMSG #room :hi").
	Trailing bool
}

// Tag is one message tag ("key=value"; Value is unescaped).
type Tag struct {
	Key, Value string
}

// Tag returns the value of the tag with the given key, and whether it is
// present.
func (m *Message) Tag(key string) (string, bool) {
	for _, t := range m.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Param returns the i-th parameter, or "" when there are fewer.
func (m *Message) Param(i int) string {
	if i >= 0 && i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// Parse errors.
var (
	ErrEmpty     = errors.New("empty line")
	ErrNoCommand = errors.New("no command (a verb of letters, or three digits)")
	ErrBadChar   = errors.New("a NUL, CR or LF inside the line")
	ErrBadTags   = errors.New("malformed message tags")
)

// Limits of a client's line: the message body (without tags or CRLF) and
// the tags (with their '@' and the space after them), from the modern IRC
// client protocol and the IRCv3 message-tags specification.
const (
	MaxBodyBytes = 510
	MaxTagBytes  = 4096
)

// Parse parses one line (without its CRLF). Tags, source, command and
// parameters follow the modern IRC client protocol: runs of spaces separate
// parameters, and a parameter starting with ':' is the last one and takes
// the rest of the line.
func Parse(line string) (Message, error) {
	var m Message
	if strings.ContainsAny(line, "\x00\r\n") {
		return m, ErrBadChar
	}
	line = strings.TrimLeft(line, " ")
	if line == "" {
		return m, ErrEmpty
	}
	if line[0] == '@' {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return m, ErrNoCommand
		}
		tags, err := parseTags(line[1:i])
		if err != nil {
			return m, err
		}
		m.Tags = tags
		line = strings.TrimLeft(line[i:], " ")
	}
	if strings.HasPrefix(line, ":") {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return m, ErrNoCommand
		}
		m.Source = line[1:i]
		line = strings.TrimLeft(line[i:], " ")
	}
	i := strings.IndexByte(line, ' ')
	if i < 0 {
		i = len(line)
	}
	m.Command = strings.ToUpper(line[:i])
	if !validCommand(m.Command) {
		return m, ErrNoCommand
	}
	line = line[i:]
	for {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			break
		}
		if line[0] == ':' {
			m.Params = append(m.Params, line[1:])
			m.Trailing = true
			break
		}
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			m.Params = append(m.Params, line)
			break
		}
		m.Params = append(m.Params, line[:i])
		line = line[i:]
	}
	return m, nil
}

// validCommand reports whether s is a verb (ASCII letters) or a
// three-digit numeric.
func validCommand(s string) bool {
	if s == "" {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return digits == 0 || (digits == 3 && len(s) == 3)
}

func parseTags(s string) ([]Tag, error) {
	if s == "" {
		return nil, ErrBadTags
	}
	var tags []Tag
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "" || k == "+" {
			return nil, ErrBadTags
		}
		tags = append(tags, Tag{Key: k, Value: unescapeTag(v)})
	}
	return tags, nil
}

// unescapeTag undoes the message-tags value escaping.
func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break // a lone trailing backslash is dropped
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// escapeTag applies the message-tags value escaping.
func escapeTag(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			b = append(b, `\:`...)
		case ' ':
			b = append(b, `\s`...)
		case '\\':
			b = append(b, `\\`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		case 0:
		default:
			b = append(b, c)
		}
	}
	return b
}

// Append appends the message as one line, CRLF included. A middle
// parameter that could not be sent as one (empty, with a space, or
// starting with ':') makes it the last, as the protocol requires; a CR, LF
// or NUL is never written.
func (m *Message) Append(b []byte) []byte {
	if len(m.Tags) > 0 {
		b = append(b, '@')
		for i, t := range m.Tags {
			if i > 0 {
				b = append(b, ';')
			}
			b = append(b, t.Key...)
			if t.Value != "" {
				b = append(b, '=')
				b = escapeTag(b, t.Value)
			}
		}
		b = append(b, ' ')
	}
	body := len(b)
	if m.Source != "" {
		b = append(b, ':')
		b = appendClean(b, m.Source)
		b = append(b, ' ')
	}
	b = appendClean(b, m.Command)
	last := -1 // where the last parameter starts
	for i, p := range m.Params {
		b = append(b, ' ')
		if p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0 {
			b = append(b, ':')
			last = len(b)
			b = appendClean(b, p)
			break // a trailing parameter is the last
		}
		if i == len(m.Params)-1 && m.Trailing {
			b = append(b, ':')
		}
		last = len(b)
		b = appendClean(b, p)
	}
	if len(b)-body > MaxBodyBytes && last > body && last < body+MaxBodyBytes {
		// Over LINELEN: the last parameter (text) is cut, between
		// characters. Renderers split long text themselves; this is for a
		// topic or reason longer than a line leaves room for.
		limit := body + MaxBodyBytes
		cut := limit
		for cut > last && !utf8.RuneStart(b[cut]) {
			cut--
		}
		if cut == last {
			cut = limit // not UTF-8 at all: cut where the line ends
		}
		b = b[:cut]
	}
	return append(b, '\r', '\n')
}

// appendClean appends s without CR, LF or NUL.
func appendClean(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\x00\r\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != 0 && c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return b
}

// String returns the message as a line without its CRLF.
func (m *Message) String() string {
	b := m.Append(nil)
	return string(b[:len(b)-2])
}
