package server

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

var (
	_ chat.Sink   = (*Conn)(nil)
	_ engine.Conn = (*Conn)(nil)
	_ Handler     = (*engine.Handler)(nil)
	_ Refuser     = (*engine.Handler)(nil)
	_ chat.Pacer  = (*Conn)(nil)
)

// pipeConn returns a Conn over one end of a net.Pipe, reading lines, and
// the other end for the test to play the client.
func pipeConn(t *testing.T, opts Options) (*Conn, net.Conn) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := New(opts)
	server, client := net.Pipe()
	c := newConn(server, s, "test", func(r *Reader, _ *Options) MessageReader { return lineReader{r} })
	c.accepted = at(time.Now())
	t.Cleanup(func() {
		c.Close(engine.ReasonClientClosed)
		client.Close()
		c.wait()
	})
	return c, client
}

type lineReader struct{ r *Reader }

func (l lineReader) ReadMessage() ([]byte, error) {
	b, err := l.r.ReadSlice('\n')
	return bytes.TrimSuffix(b, []byte("\n")), err
}

// textEncoder renders an event as "kind text\n".
var textEncoder = engine.EncoderFunc(func(ev *chat.Event) []byte {
	return []byte(ev.Kind.String() + " " + ev.Text + "\n")
})

func say(text string) *chat.Event {
	return &chat.Event{Message: chat.Message{Kind: chat.KindSay, Text: text}}
}

func readLines(t *testing.T, nc net.Conn, n int) []string {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	var out []string
	for range n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return out
}

// TestConnOrder: raw bytes and events are written in the order queued;
// events wait for the encoder, and the bytes queued before them do not.
func TestConnOrder(t *testing.T) {
	c, client := pipeConn(t, Options{})
	c.Send([]byte("prompt\n"))
	if got := readLines(t, client, 1); got[0] != "prompt" {
		t.Fatalf("got %q before any encoder", got)
	}
	c.Deliver(say("one"))
	c.Send([]byte("raw\n"))
	c.Deliver(say("two"))
	c.SetEncoder(textEncoder)
	got := readLines(t, client, 3)
	if strings.Join(got, "|") != "say one|raw|say two" {
		t.Fatalf("got %q", got)
	}
}

// TestConnReadMessage: inbound messages come through the listener's framing.
func TestConnReadMessage(t *testing.T) {
	c, client := pipeConn(t, Options{})
	go func() { _, _ = io.WriteString(client, "hello\nworld\n") }()
	for _, want := range []string{"hello", "world"} {
		got, err := c.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q", got, err, want)
		}
	}
}

// TestConnSlowConsumerWriteDeadline: a peer that reads nothing makes the
// write miss its deadline; the connection closes as a slow consumer.
func TestConnSlowConsumerWriteDeadline(t *testing.T) {
	c, _ := pipeConn(t, Options{WriteTimeout: 20 * time.Millisecond})
	c.SetEncoder(textEncoder)
	c.Deliver(say("nobody reads this"))
	waitReason(t, c, engine.ReasonSlowConsumer)
}

// TestConnSlowConsumerQueueBound: past MaxQueueBytes the connection closes
// as a slow consumer, and later deliveries are dropped without blocking.
func TestConnSlowConsumerQueueBound(t *testing.T) {
	c, _ := pipeConn(t, Options{MaxQueueBytes: 1000, WriteTimeout: time.Hour})
	c.SetEncoder(textEncoder)
	for range 100 {
		c.Deliver(say(strings.Repeat("x", 100)))
	}
	waitReason(t, c, engine.ReasonSlowConsumer)
	c.Deliver(say("after the close"))
}

// TestConnFinishFlushes: Finish writes everything queued, then ends the
// connection; a bye ends writing with its reason.
func TestConnFinishFlushes(t *testing.T) {
	c, client := pipeConn(t, Options{})
	c.SetEncoder(textEncoder)
	c.Deliver(say("last words"))
	c.Deliver(&chat.Event{Message: chat.Message{Kind: chat.KindBye}, Reason: chat.ByeGoodbye})
	c.Deliver(say("never written"))
	got := readLines(t, client, 2)
	if strings.Join(got, "|") != "say last words|bye " {
		t.Fatalf("got %q", got)
	}
	waitReason(t, c, engine.ReasonQuit)
	c.Finish(engine.ReasonServerShutdown) // the first reason stays
	if r := c.Reason(); r != engine.ReasonQuit {
		t.Fatalf("reason %v after a second Finish", r)
	}
}

func waitReason(t *testing.T, c *Conn, want engine.CloseReason) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Reason() != want {
		if time.Now().After(deadline) {
			t.Fatalf("reason %v, want %v", c.Reason(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
