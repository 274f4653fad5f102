// Package e2e holds end-to-end tests of durable history: real server
// processes killed with SIGKILL and restarted on the same data directory,
// and clients resuming under load, all over real sockets.
package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
)

// timeout bounds every wait in these tests; a healthy run never nears it.
const timeout = 30 * time.Second

// msg is a chat message as a client saw it.
type msg struct {
	ID       uint64
	Type     string
	Room     string
	From, To string
	Text     string
	History  bool
}

func (m msg) String() string {
	return fmt.Sprintf("#%d %s %s %s>%s %q", m.ID, m.Type, m.Room, m.From, m.To, m.Text)
}

// same reports whether two views of a message agree, ignoring History.
func (m msg) same(o msg) bool {
	return m.ID == o.ID && m.Type == o.Type && m.Room == o.Room && m.From == o.From && m.To == o.To && m.Text == o.Text
}

func toMsg(ev native.Event) msg {
	return msg{ID: ev.ID, Type: ev.Type, Room: ev.Room, From: ev.From, To: ev.To, Text: ev.Text, History: ev.History}
}

func isMessage(typ string) bool { return typ == "say" || typ == "me" || typ == "dm" }

// client is a minimal native-protocol client; writes are goroutine-safe.
type client struct {
	name string
	conn net.Conn
	r    *frame.Reader
	wmu  sync.Mutex
}

// errNameTaken is returned by dial while a previous session still holds
// the name.
var errNameTaken = errors.New("name taken")

// dial connects and says hello, and waits for the welcome.
func dial(addr string, hello native.Request) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &client{name: hello.Name, conn: conn, r: frame.NewReader(bufio.NewReader(conn), 1<<20)}
	hello.Type, hello.Version = "hello", native.Version
	if err := c.send(hello); err != nil {
		conn.Close()
		return nil, err
	}
	ev, err := c.next()
	switch {
	case err != nil:
		conn.Close()
		return nil, err
	case ev.Type == "error" && ev.Code == "name_taken":
		conn.Close()
		return nil, errNameTaken
	case ev.Type != "welcome":
		conn.Close()
		return nil, fmt.Errorf("hello as %s: got %s %s %s", hello.Name, ev.Type, ev.Code, ev.Message)
	}
	return c, nil
}

// dialRetry dials until the name is free (a dropped session takes a moment
// to be noticed by the server).
func dialRetry(t *testing.T, addr string, hello native.Request) *client {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := dial(addr, hello)
		if err == nil {
			return c
		}
		if !errors.Is(err, errNameTaken) || time.Now().After(deadline) {
			t.Fatalf("dial %s as %s: %v", addr, hello.Name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *client) send(req native.Request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err = c.conn.Write(frame.AppendFrame(nil, b))
	return err
}

func (c *client) next() (native.Event, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	p, err := c.r.ReadFrame()
	if err != nil {
		return native.Event{}, err
	}
	return native.DecodeEvent(p)
}

// readUntil reads events until done returns true for one, failing the test
// on a read error or an error event. It returns every message event read
// on the way, done's event included if it is one.
func (c *client) readUntil(t *testing.T, what string, done func(native.Event) bool) []msg {
	t.Helper()
	var out []msg
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("%s waiting for %s: %v", c.name, what, err)
		}
		if ev.Type == "error" {
			t.Fatalf("%s waiting for %s: error %s: %s", c.name, what, ev.Code, ev.Message)
		}
		if isMessage(ev.Type) {
			out = append(out, toMsg(ev))
		}
		if done(ev) {
			return out
		}
	}
}

// historyAll fetches every stored message of room ("" for the client's
// DMs), oldest first, paging back with history requests.
func (c *client) historyAll(t *testing.T, room string) []msg {
	t.Helper()
	return c.historyAfter(t, room, 0)
}

// historyAfter fetches every stored message of room ("" for the client's
// DMs) with an id above after, oldest first, paging back with history
// requests.
func (c *client) historyAfter(t *testing.T, room string, after uint64) []msg {
	t.Helper()
	var all []msg
	before := uint64(0)
	for page := 0; ; page++ {
		ref := fmt.Sprintf("h%d", page)
		if err := c.send(native.Request{Type: "history", Ref: ref, Room: room, After: after, Before: before, Limit: 1000}); err != nil {
			t.Fatal(err)
		}
		var got []msg
		c.readUntil(t, "history", func(ev native.Event) bool {
			if ev.Ref == ref && isMessage(ev.Type) {
				got = append(got, toMsg(ev))
			}
			return ev.Ref == ref && ev.Type == "history_end"
		})
		if len(got) == 0 {
			break
		}
		all = append(got, all...)
		before = got[0].ID
	}
	checkIncreasing(t, "history of "+room, all)
	return all
}

func (c *client) close() { c.conn.Close() }

// checkIncreasing fails unless ids strictly increase.
func checkIncreasing(t *testing.T, what string, ms []msg) {
	t.Helper()
	for i := 1; i < len(ms); i++ {
		if ms[i].ID <= ms[i-1].ID {
			t.Fatalf("%s: id %d follows %d", what, ms[i].ID, ms[i-1].ID)
		}
	}
}

// checkSame fails unless got and want are the same messages in the same
// order.
func checkSame(t *testing.T, what string, got, want []msg) {
	t.Helper()
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if !got[i].same(want[i]) {
			t.Fatalf("%s: message %d differs:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d (first extra: %v)", what, len(got), len(want), extra(got, want, n))
	}
}

func extra(got, want []msg, n int) msg {
	if len(got) > n {
		return got[n]
	}
	return want[n]
}

// filter returns the messages of room ("" for DMs).
func filter(ms []msg, room string) []msg {
	var out []msg
	for _, m := range ms {
		if m.Room == room {
			out = append(out, m)
		}
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
