package testkit

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// IRC is an IRC client: raw lines in, raw lines out.
type IRC struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
	Nick string
	// Welcome holds the lines of the registration burst, from 001 to the
	// end of the MOTD (and the lobby's names when the server puts clients
	// in the lobby).
	Welcome []string
	syncs   int
}

// DialIRC connects and registers as nick, asking for caps (none: no CAP
// negotiation), and waits for the end of the registration burst; lobby
// says the server puts the client in #lobby (then it also waits for the
// lobby's names).
func DialIRC(t testing.TB, addr net.Addr, nick string, lobby bool, caps ...string) *IRC {
	t.Helper()
	c := IRCOn(t, Dial(t, addr))
	c.Register(nick, caps...)
	c.Welcome = c.Until(" 376 ", " 422 ")
	if lobby {
		c.Welcome = append(c.Welcome, c.Until(" 366 "+c.Nick+" #lobby ")...)
	}
	return c
}

// IRCOn wraps an open connection.
func IRCOn(t testing.TB, conn net.Conn) *IRC {
	return &IRC{t: t, Conn: conn, r: bufio.NewReader(conn)}
}

// Register sends the registration: CAP LS 302 and CAP REQ (when caps are
// given), NICK, USER and CAP END, and waits for RPL_WELCOME.
func (c *IRC) Register(nick string, caps ...string) {
	c.t.Helper()
	c.Nick = nick
	if len(caps) > 0 {
		c.Send("CAP LS 302")
		c.Send("CAP REQ :" + strings.Join(caps, " "))
	}
	c.Send("NICK " + nick)
	c.Send("USER " + "u 0 * :Real " + nick)
	if len(caps) > 0 {
		c.Send("CAP END")
	}
	c.Expect(" 001 ")
}

// Send writes one line (CRLF added).
func (c *IRC) Send(line string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.Conn, "%s\r\n", line); err != nil {
		c.t.Fatalf("irc write: %v", err)
	}
}

// ReadLine returns the next line without its CRLF.
func (c *IRC) ReadLine() (string, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	s, err := c.r.ReadString('\n')
	if err == nil && !strings.HasSuffix(s, "\r\n") {
		return s, fmt.Errorf("line %q does not end with CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n"), err
}

// Expect reads lines until one contains substr and returns it.
func (c *IRC) Expect(substr string) string {
	c.t.Helper()
	lines := c.Until(substr)
	return lines[len(lines)-1]
}

// Until reads lines until one contains any of the substrings and returns
// all of them, that one last. A substring with {*} (a run of non-space
// characters, as in MatchIRC) matches as a pattern: "bob!u@{*} JOIN".
// A server PING is answered on the way.
func (c *IRC) Until(substrs ...string) []string {
	c.t.Helper()
	var seen []string
	for {
		s, err := c.ReadLine()
		if err != nil {
			c.t.Fatalf("%s waiting for %q: %v; seen %q", c.Nick, substrs, err, seen)
		}
		for _, sub := range substrs {
			if strings.Contains(s, sub) || strings.Contains(sub, "{*}") && MatchIRC("{**}"+sub+"{**}", s) {
				return append(seen, s)
			}
		}
		seen = append(seen, s)
	}
}

// Sync sends a PING and returns every line that came before its PONG: the
// server answers a PING after everything sent before it, and after every
// message accepted before it has been handed to its readers.
func (c *IRC) Sync() []string {
	c.t.Helper()
	c.syncs++
	tok := "sync" + strconv.Itoa(c.syncs)
	c.Send("PING " + tok)
	var lines []string
	for {
		got := c.Until(" PONG ")
		last := got[len(got)-1]
		if strings.HasSuffix(last, " "+tok) || strings.HasSuffix(last, ":"+tok) {
			return append(lines, got[:len(got)-1]...)
		}
		lines = append(lines, got...) // another PONG (a labeled one): a line like the others
	}
}

// ExpectLines syncs and checks that exactly the given lines came, in
// order. In a pattern, {*} stands for any run of characters without a
// space, {**} for anything.
func (c *IRC) ExpectLines(want ...string) []string {
	c.t.Helper()
	got := c.Sync()
	if len(got) != len(want) {
		c.t.Fatalf("%s got %d lines, want %d:\n got: %s\nwant: %s", c.Nick, len(got), len(want), strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	for i := range want {
		if !MatchIRC(want[i], got[i]) {
			c.t.Fatalf("%s line %d:\n got: %s\nwant: %s\n all: %s", c.Nick, i, got[i], want[i], strings.Join(got, "\n      "))
		}
	}
	return got
}

// MatchIRC reports whether line matches pattern ({*}: any run of
// non-space characters; {**}: anything).
func MatchIRC(pattern, line string) bool {
	var re strings.Builder
	for i, any := range strings.Split(pattern, "{**}") {
		if i > 0 {
			re.WriteString(`.*`)
		}
		parts := strings.Split(any, "{*}")
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		re.WriteString(strings.Join(parts, `\S*`))
	}
	return regexp.MustCompile(`^` + re.String() + `$`).MatchString(line)
}
