package bench

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// headerLen is the framed protocol's header size: the payload length in
// ASCII decimal, left-aligned and space padded.
const headerLen = 10

// maxFrame bounds the frames the bench accepts (the server's default limit).
const maxFrame = 64 * 1024

var errBadHeader = errors.New("bench: bad frame header")

// frameReader is a lean, allocation-free frame reader: it reads into one
// fixed buffer and returns payloads that alias it, valid until the next call.
// It is deliberately separate from the client library so that the bench
// measures the server, not a general-purpose client.
type frameReader struct {
	r    io.Reader
	buf  []byte
	head int // start of unread data
	tail int // end of unread data
}

func newFrameReader(r io.Reader, size int) *frameReader {
	return &frameReader{r: r, buf: make([]byte, size)}
}

// fill makes at least n unread bytes available.
func (f *frameReader) fill(n int) error {
	if f.tail-f.head >= n {
		return nil
	}
	if n > len(f.buf) { // rare: a frame larger than the buffer
		nb := make([]byte, max(n, 2*len(f.buf)))
		f.tail = copy(nb, f.buf[f.head:f.tail])
		f.head = 0
		f.buf = nb
	} else if f.head+n > len(f.buf) {
		f.tail = copy(f.buf, f.buf[f.head:f.tail])
		f.head = 0
	}
	for f.tail-f.head < n {
		m, err := f.r.Read(f.buf[f.tail:])
		f.tail += m
		if err != nil {
			if f.tail-f.head >= n {
				return nil
			}
			return err
		}
	}
	return nil
}

// next returns the next frame's payload.
func (f *frameReader) next() ([]byte, error) {
	if err := f.fill(headerLen); err != nil {
		return nil, err
	}
	n, ok := parseHeader(f.buf[f.head : f.head+headerLen])
	if !ok {
		return nil, errBadHeader
	}
	if err := f.fill(headerLen + n); err != nil {
		return nil, err
	}
	p := f.buf[f.head+headerLen : f.head+headerLen+n]
	f.head += headerLen + n
	if f.head == f.tail {
		f.head, f.tail = 0, 0
	}
	return p, nil
}

// parseHeader parses a space-padded decimal length.
func parseHeader(h []byte) (int, bool) {
	n, digits := 0, 0
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
			digits++
		case c == ' ':
		default:
			return 0, false
		}
	}
	return n, digits > 0 && n <= maxFrame
}

// appendFrame appends a frame carrying payload to dst.
func appendFrame(dst, payload []byte) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	for len(dst)-start < headerLen {
		dst = append(dst, ' ')
	}
	return append(dst, payload...)
}

// A bench message text is "P<sender> <seq> <sendNanos> " padded with 'x' to
// the requested size. It is plain ASCII so that JSON leaves it unescaped.

// appendMessage appends the text of message seq from sender, sent at ts
// nanoseconds after the run's epoch, padded to size bytes.
func appendMessage(dst []byte, sender, seq int, ts int64, size int) []byte {
	start := len(dst)
	dst = append(dst, 'P')
	dst = strconv.AppendInt(dst, int64(sender), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parseMessage parses a bench message text. ok is false for anything else.
func parseMessage(b []byte) (sender, seq int, ts int64, ok bool) {
	if len(b) < 2 || b[0] != 'P' {
		return 0, 0, 0, false
	}
	i := 1
	var v [3]int64
	for k := range v {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			v[k] = v[k]*10 + int64(b[i]-'0')
			i++
		}
		if i == start || i >= len(b) || b[i] != ' ' {
			return 0, 0, 0, false
		}
		i++
	}
	return int(v[0]), int(v[1]), v[2], true
}

var (
	jsonSay     = []byte(`"type":"say"`)
	jsonText    = []byte(`"text":"`)
	jsonHistory = []byte(`"history":true`)
)

// nativeText extracts the text of a live native "say" event without
// decoding the JSON. Bench texts contain no characters JSON escapes, so the
// text ends at the next quote.
func nativeText(p []byte) ([]byte, bool) {
	if len(p) < 2+len(jsonSay) || !hasPrefixAt(p, 1, jsonSay) {
		return nil, false
	}
	i := bytes.Index(p, jsonText)
	if i < 0 {
		return nil, false
	}
	t := p[i+len(jsonText):]
	j := bytes.IndexByte(t, '"')
	if j < 0 {
		return nil, false
	}
	if bytes.Contains(t[j:], jsonHistory) {
		return nil, false // replayed history, not a live delivery
	}
	return t[:j], true
}

func hasPrefixAt(p []byte, at int, prefix []byte) bool {
	return len(p) >= at+len(prefix) && string(p[at:at+len(prefix)]) == string(prefix)
}

// nextLine returns the next line (an IRC line, without its CRLF), valid
// until the next call.
func (f *frameReader) nextLine() ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(f.buf[f.head+scanned:f.tail], '\n'); i >= 0 {
			end := f.head + scanned + i
			line := bytes.TrimSuffix(f.buf[f.head:end], []byte("\r"))
			f.head = end + 1
			if f.head == f.tail {
				f.head, f.tail = 0, 0
			}
			return line, nil
		}
		scanned = f.tail - f.head
		if err := f.fill(scanned + 1); err != nil {
			return nil, err
		}
	}
}

var (
	ircPing    = []byte("PING")
	ircPrivmsg = []byte(" PRIVMSG ")
)

// ircText extracts the text of a PRIVMSG line without parsing the rest.
func ircText(line []byte) ([]byte, bool) {
	i := bytes.Index(line, ircPrivmsg)
	if i < 0 || len(line) == 0 || line[0] != ':' {
		return nil, false
	}
	rest := line[i+len(ircPrivmsg):]
	j := bytes.Index(rest, []byte(" :"))
	if j < 0 {
		return nil, false
	}
	return rest[j+2:], true
}

var (
	lineFrom = []byte("] <")
	lineSay  = []byte("> ")
)

// lineText extracts the text of a live message on the line protocol,
// "[15:04] <name> text", or "#room [15:04] <name> text" for a joined room
// that is not the current one. Replayed history ("(history) ...") and
// notices ("-- ...", "! ...") are not messages.
func lineText(line []byte) ([]byte, bool) {
	if len(line) > 0 && line[0] == '#' {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil, false
		}
		line = line[i+1:]
	}
	if len(line) == 0 || line[0] != '[' {
		return nil, false
	}
	i := bytes.Index(line, lineFrom)
	if i < 0 {
		return nil, false
	}
	rest := line[i+len(lineFrom):]
	j := bytes.Index(rest, lineSay)
	if j < 0 {
		return nil, false
	}
	return rest[j+len(lineSay):], true
}
