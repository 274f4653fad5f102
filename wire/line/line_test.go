package line_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/line"
)

func TestReadLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // "!" marks ErrLineTooLong
	}{
		{"lf", "one\ntwo\n", []string{"one", "two"}},
		{"crlf", "one\r\ntwo\r\n", []string{"one", "two"}},
		{"last line without newline", "one\ntwo", []string{"one", "two"}},
		{"too long then fine", strings.Repeat("x", 100) + "\nok\n", []string{"!", "ok"}},
		{"exactly the limit", strings.Repeat("y", 64) + "\r\n", []string{strings.Repeat("y", 64)}},
		{"telnet negotiation", "\xff\xfb\x01\xff\xfd\x03alice\r\n", []string{"alice"}},
		{"telnet subnegotiation", "\xff\xfa\x18\x00xterm\xff\xf0bob\n", []string{"bob"}},
		{"empty lines", "\n\r\n", []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A 16-byte buffer makes long lines span many reads.
			lr := line.NewReader(bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(tt.input)), 16), 64)
			for _, w := range tt.want {
				got, err := lr.ReadLine()
				if w == "!" {
					if !errors.Is(err, line.ErrLineTooLong) {
						t.Fatalf("got %q, %v; want ErrLineTooLong", got, err)
					}
					continue
				}
				if err != nil || got != w {
					t.Fatalf("got %q, %v; want %q", got, err, w)
				}
			}
			if _, err := lr.ReadLine(); err != io.EOF {
				t.Fatalf("at end: %v", err)
			}
		})
	}
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("hello\r\nworld\n"))
	f.Add([]byte("\xff\xfa\x18\x00xterm\xff\xf0bob\n"))
	f.Add([]byte(strings.Repeat("z", 300)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := line.NewReader(bufio.NewReaderSize(strings.NewReader(string(data)), 16), 64)
		for {
			s, err := lr.ReadLine()
			if errors.Is(err, line.ErrLineTooLong) {
				continue
			}
			if err != nil {
				return
			}
			if len(s) > 64 {
				t.Fatalf("line of %d bytes past the limit", len(s))
			}
		}
	})
}

func TestLineChat(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := testkit.DialLine(t, n.Addr("line"), "alice")
	bob := testkit.DialLine(t, n.Addr("line"), "bob")
	alice.Expect("-- bob joined lobby")

	bob.Send("hello alice")
	got := alice.Expect("<bob> hello alice")
	if !strings.HasPrefix(got, "[") || got[6] != ']' {
		t.Fatalf("no [hh:mm] stamp: %q", got)
	}
	bob.Send("/me waves")
	alice.Expect("* bob waves")
	alice.Send("/msg bob secret")
	bob.Expect("*alice* secret")
	alice.Expect("-> *bob* secret")
	alice.Send("/join dev")
	alice.Expect("-- you joined dev")
	alice.Send("/topic all things dev")
	alice.Expect("-- alice set the topic of dev: all things dev")
	alice.Send("/topic")
	alice.Expect("-- topic of dev: all things dev (set by alice)")
	bob.Send("/rooms")
	bob.Expect("-- #dev (1 member): all things dev")
	bob.Send("still in lobby")
	alice.Expect("#lobby [") // another room than alice's current one is labelled
	bob.Send("/who")
	bob.Expect("-- members of lobby (2): alice, bob")
	bob.Send("/nick")
	bob.Expect("! usage: /nick NAME")
	bob.Send("/nope")
	bob.Expect("! unknown command /nope")
	bob.Send("/help")
	bob.Expect("/msg NAME TEXT")
	bob.Send("/quit gone fishing")
	bob.Expect("-- goodbye")
	alice.Expect("-- bob left lobby (quit: gone fishing)")
}

func TestLineNameRetry(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	testkit.DialLine(t, n.Addr("line"), "alice")
	c := testkit.Dial(t, n.Addr("line"))
	l := &lineConn{r: bufio.NewReader(c)}
	for _, try := range []string{"Alice", "Server", "two words"} {
		if _, err := io.WriteString(c, try+"\r\n"); err != nil {
			t.Fatal(err)
		}
		l.expect(t, "! ")
	}
	io.WriteString(c, "carol\r\n")
	l.expect(t, "-- welcome, carol!")
}

type lineConn struct{ r *bufio.Reader }

func (l *lineConn) expect(t *testing.T, substr string) {
	t.Helper()
	for {
		s, err := l.r.ReadString('\n')
		if strings.Contains(s, substr) {
			return
		}
		if err != nil {
			t.Fatalf("waiting for %q: %v", substr, err)
		}
	}
}

func TestLineTooLong(t *testing.T) {
	n := testkit.StartNode(t, node.Config{})
	alice := testkit.DialLine(t, n.Addr("line"), "alice")
	bob := testkit.DialLine(t, n.Addr("line"), "bob")
	alice.Expect("bob joined")
	bob.Send(strings.Repeat("A", 1<<20)) // 1 MB line
	bob.Expect("! line too long")
	bob.Send("short one")
	alice.Expect("<bob> short one")
}
