package raw

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
)

// chunks is a reader that returns one chunk per Read, as a socket returns
// one segment.
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	if n == len(c.parts[0]) {
		c.parts = c.parts[1:]
	} else {
		c.parts[0] = c.parts[0][n:]
	}
	return n, nil
}

func readAll(t testing.TB, max int, parts ...[]byte) (msgs []string, refused int) {
	o := &server.Options{MaxLineBytes: max}
	// A pool smaller than the limit: reads go straight to the socket, as
	// they do with the defaults (8 KiB messages, 1 KiB pool).
	mr := Framing(server.NewReader(&chunks{parts: parts}, server.NewBufferPool(16)), o)
	for {
		m, err := mr.ReadMessage()
		var bad *engine.BadInput
		switch {
		case errors.As(err, &bad):
			refused++
			continue
		case err != nil:
			return msgs, refused
		}
		if len(m) > max {
			t.Fatalf("a message of %d bytes past the limit of %d", len(m), max)
		}
		msgs = append(msgs, string(m))
	}
}

func TestReader(t *testing.T) {
	for _, tt := range []struct {
		name    string
		parts   []string
		want    string
		refused int
	}{
		{"one read, one message", []string{"hello"}, "hello", 0},
		{"two reads, two messages", []string{"alice: hi", "alice: there"}, "alice: hi|alice: there", 0},
		{"lines split", []string{"one\ntwo\r\nthree\n"}, "one|two|three", 0},
		{"blank lines dropped", []string{"\n\n x \n\n"}, " x ", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var parts [][]byte
			for _, p := range tt.parts {
				parts = append(parts, []byte(p))
			}
			msgs, refused := readAll(t, 64, parts...)
			if got := bytes.Join(toBytes(msgs), []byte("|")); string(got) != tt.want || refused != tt.refused {
				t.Fatalf("got %q (%d refused), want %q (%d)", got, refused, tt.want, tt.refused)
			}
		})
	}
	// A chunk bigger than the limit with no line break is refused once,
	// and not buffered whole: the reader holds one buffer of the limit.
	msgs, refused := readAll(t, 64, bytes.Repeat([]byte("A"), 1<<20))
	if refused != 1 || len(msgs) != 0 {
		t.Fatalf("1 MB chunk: %d messages, %d refusals", len(msgs), refused)
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// FuzzReader: whatever arrives, in whatever chunks, the raw framing never
// panics and never returns a message past its limit.
func FuzzReader(f *testing.F) {
	f.Add([]byte("alice: hi\nbob: yo\r\n"), uint8(3))
	f.Add(bytes.Repeat([]byte("x"), 300), uint8(7))
	f.Add([]byte("\xff\xfe\n\n\x1b[2J"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		step := int(cut%64) + 1
		var parts [][]byte
		for len(data) > 0 {
			n := min(step, len(data))
			parts = append(parts, data[:n])
			data = data[n:]
		}
		readAll(t, 32, parts...)
	})
}
