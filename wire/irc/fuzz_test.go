package irc_test

import (
	"bufio"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

// FuzzClient sends arbitrary lines from a registered IRC client to a real
// server: whatever they are, the server answers a PING after them (or has
// closed the connection with an ERROR), and another client is unaffected.
func FuzzClient(f *testing.F) {
	for _, s := range []string{
		"JOIN #a,#b\nPRIVMSG #a,#b,nobody :hi\nPART #a :bye",
		"@label=x CHATHISTORY AROUND #lobby msgid=1 3\nCHATHISTORY TARGETS timestamp=x timestamp=y 1",
		"MODE #lobby +bbb\nMODE fuzz +iwx\nWHO *\nWHOIS a,b\nWHOWAS x 99999999999",
		"PRIVMSG #lobby :\x01ACTION\x01\nPRIVMSG fuzz :\x01VERSION\x01\nNOTICE #lobby :\x1b[2J",
		"CAP REQ :-batch labeled-response\nTOPIC #lobby :\x1b]0;pwned\x07\nAWAY :\u202e",
		"NICK #x\nNICK\nQUIT :bye",
	} {
		f.Add(s)
	}
	n := testkit.StartNode(f, node.Config{})
	addr := n.Addr(node.ListenIRC)
	watcher := testkit.DialIRC(f, addr, "watcher", true).Conn
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, input string) {
		c := testkit.IRCOn(t, testkit.Dial(t, addr))
		c.Register(fmt.Sprintf("fuzz%d", seq.Add(1)))
		w := bufio.NewWriter(c.Conn)
		for _, l := range strings.Split(input, "\n") {
			w.WriteString(l + "\r\n")
		}
		w.WriteString("PING :fuzz-end\r\n")
		if err := w.Flush(); err != nil {
			return // the server closed the connection: fine
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c.Conn)
		for {
			line, err := r.ReadString('\n')
			if strings.HasPrefix(line, "ERROR ") || strings.Contains(line, "PONG") && strings.Contains(line, "fuzz-end") {
				break
			}
			if err != nil {
				if strings.Contains(err.Error(), "timeout") {
					t.Fatalf("no answer to a PING after %q", input)
				}
				break // closed
			}
		}
		_ = c.Conn.Close()
		testkit.IRCOn(t, watcher).Sync() // the other client is still served
	})
}
