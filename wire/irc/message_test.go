package irc

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want Message
		err  error
	}{
		{"PING tok", Message{Command: "PING", Params: []string{"tok"}}, nil},
		{"privmsg #a :hello world", Message{Command: "PRIVMSG", Params: []string{"#a", "hello world"}, Trailing: true}, nil},
		{":nick!u@h PRIVMSG bob hi", Message{Source: "nick!u@h", Command: "PRIVMSG", Params: []string{"bob", "hi"}}, nil},
		{"@label=1;+draft/reply=5;flag :src CMD a b :c d", Message{Tags: []Tag{{"label", "1"}, {"+draft/reply", "5"}, {"flag", ""}}, Source: "src", Command: "CMD", Params: []string{"a", "b", "c d"}, Trailing: true}, nil},
		{`@a=x\:y\sz\\w\r\n\q;b=trail\ CMD`, Message{Tags: []Tag{{"a", "x;y z\\w\r\nq"}, {"b", "trail"}}, Command: "CMD"}, nil},
		{"WHOIS  coolNick", Message{Command: "WHOIS", Params: []string{"coolNick"}}, nil},
		{"TOPIC #a :", Message{Command: "TOPIC", Params: []string{"#a", ""}, Trailing: true}, nil},
		{"USER u s e r", Message{Command: "USER", Params: []string{"u", "s", "e", "r"}}, nil},
		{"  JOIN #a  ", Message{Command: "JOIN", Params: []string{"#a"}}, nil},
		{"CMD a ::b", Message{Command: "CMD", Params: []string{"a", ":b"}, Trailing: true}, nil},
		{"", Message{}, ErrEmpty},
		{"   ", Message{}, ErrEmpty},
		{":onlysource", Message{}, ErrNoCommand},
		{": :", Message{}, ErrNoCommand},
		{"PRIV-MSG x", Message{}, ErrNoCommand},
		{"1234 x", Message{}, ErrNoCommand},
		{"@a=b", Message{}, ErrNoCommand},
		{"@ CMD", Message{}, ErrBadTags},
		{"@=v CMD", Message{}, ErrBadTags},
		{"PRIVMSG #a :x\x00y", Message{}, ErrBadChar},
		{"PRIVMSG #a :x\ry", Message{}, ErrBadChar},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := Parse(tt.line)
			if err != tt.err {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Source: "srv", Command: "001", Params: []string{"bob", "Welcome bob"}}, ":srv 001 bob :Welcome bob"},
		{Message{Source: "srv", Command: "PONG", Params: []string{"srv", "tok"}, Trailing: true}, ":srv PONG srv :tok"},
		{Message{Command: "JOIN", Params: []string{"#a"}}, "JOIN #a"},
		{Message{Command: "TOPIC", Params: []string{"#a", ""}}, "TOPIC #a :"},
		{Message{Command: "X", Params: []string{":colon", "ignored"}}, "X ::colon"},
		{Message{Command: "X", Params: []string{"a b", "dropped"}}, "X :a b"},
		{Message{Tags: []Tag{{"label", "a;b c"}, {"flag", ""}}, Command: "ACK"}, `@label=a\:b\sc;flag ACK`},
		{Message{Command: "PRIVMSG", Params: []string{"#a", "line\r\nbreak\x00"}, Trailing: true}, "PRIVMSG #a :linebreak"},
	}
	for _, tt := range tests {
		got := string(tt.m.Append(nil))
		if got != tt.want+"\r\n" {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	long := strings.Repeat("ab ", 200)
	for _, s := range []string{"short", long, strings.Repeat("王芳", 300), strings.Repeat("🌸", 200) + "x"} {
		parts := split(s, 100)
		if strings.Join(parts, "") != s {
			t.Fatalf("pieces of %.20q do not join back", s)
		}
		for _, p := range parts {
			if len(p) > 100 || !utf8.ValidString(p) {
				t.Fatalf("piece %q: %d bytes, valid %v", p, len(p), utf8.ValidString(p))
			}
		}
	}
}

// FuzzParse: any line parses or fails cleanly, and what parses is written
// back as one line (no CR, LF or NUL inside) that parses to the same
// message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"PING x", "@a=b\\sc;d :src PRIVMSG #r :hi there", ":a b", "CMD a ::b", "@+x=\\ CMD :", "USER u 0 * :Real Name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		out := m.Append(nil)
		body := string(out[:len(out)-2])
		if strings.ContainsAny(body, "\r\n\x00") {
			t.Fatalf("%q written as %q", line, out)
		}
		again, err := Parse(body)
		if err != nil {
			t.Fatalf("%q written as %q, which does not parse: %v", line, body, err)
		}
		if bodyLen(line) > MaxBodyBytes-8 {
			return // a line near or over LINELEN: its text may have been cut to fit (TestAppendFitsLine)
		}
		if again.Command != m.Command || len(again.Params) != len(m.Params) {
			t.Fatalf("%q -> %q -> %#v, was %#v", line, body, again, m)
		}
		for i := range m.Params {
			if again.Params[i] != m.Params[i] {
				t.Fatalf("%q -> %q: param %d %q, was %q", line, body, i, again.Params[i], m.Params[i])
			}
		}
	})
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "alice", true}, {"al*", "alice", true}, {"*ce", "alice", true}, {"a?ice", "alice", true},
		{"a*e", "alice", true}, {"*l*c*", "alice", true}, {"b*", "alice", false}, {"alic", "alice", false},
		{"alice?", "alice", false}, {"王*", "王芳", true}, {"", "", true}, {"*", "", true}, {"?", "", false},
	} {
		if got := glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

// TestAppendFitsLine: a message whose text would make the line longer than
// 512 bytes has its text cut, between characters.
func TestAppendFitsLine(t *testing.T) {
	for _, text := range []string{strings.Repeat("t", 600), strings.Repeat("王", 300), strings.Repeat("é", 100)} {
		m := Message{Tags: []Tag{{"time", "2026-01-01T00:00:00.000Z"}}, Source: "alice!u@parley", Command: "TOPIC", Params: []string{"#lobby", text}, Trailing: true}
		out := string(m.Append(nil))
		body := out[strings.IndexByte(out, ' ')+1:]
		if len(body) > 512 || !utf8.ValidString(out) || !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("%d bytes of body, valid %v: %.60q", len(body), utf8.ValidString(out), body)
		}
		if len(text) < 400 && !strings.Contains(out, text) {
			t.Fatalf("a short text was cut: %q", out)
		}
	}
}
