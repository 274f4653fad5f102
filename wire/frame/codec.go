// Package frame implements parley's framed protocol: the classic tutorial's
// 10-byte length header codec, and the front-end that serves both tutorial
// clients and native (JSON) clients on one port.
package frame

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// HeaderLen is the size of a frame header: the payload length in ASCII
// decimal, left-aligned and space padded.
const HeaderLen = 10

// HeaderError is a malformed or unacceptable frame header.
type HeaderError struct {
	Header []byte // the raw header
	Reason string
	TooBig bool // the length parsed but is over the limit
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("bad frame header %q: %s", e.Header, e.Reason)
}

// ErrShortFrame means the connection ended in the middle of a frame.
var ErrShortFrame = errors.New("frame: connection closed in the middle of a frame")

// pyspace reports whether b is whitespace that Python's str.strip() removes
// (the ASCII subset: space, \t \n \v \f \r and the separators \x1c-\x1f).
func pyspace(b byte) bool {
	return b == ' ' || (b >= '\t' && b <= '\r') || (b >= 0x1c && b <= 0x1f)
}

// ParseHeader parses a header the way the tutorial's server does,
// int(header.strip()), restricted to plain decimal digits: surrounding
// whitespace is allowed (" 5        " and "5         " both mean 5), a sign,
// an underscore, a letter or an empty header is an error, and so is a length
// over max.
func ParseHeader(h []byte, max int) (int, error) {
	i, j := 0, len(h)
	for i < j && pyspace(h[i]) {
		i++
	}
	for j > i && pyspace(h[j-1]) {
		j--
	}
	if i == j {
		return 0, &HeaderError{Header: append([]byte(nil), h...), Reason: "no length"}
	}
	n := 0
	for _, c := range h[i:j] {
		if c < '0' || c > '9' {
			return 0, &HeaderError{Header: append([]byte(nil), h...), Reason: "the length must be decimal digits only"}
		}
		if n <= max && n <= 1<<40 { // past max the value no longer matters, and must not overflow
			n = n*10 + int(c-'0')
		}
	}
	if n > max {
		return 0, &HeaderError{Header: append([]byte(nil), h...), Reason: fmt.Sprintf("length %d is over the limit of %d bytes", n, max), TooBig: true}
	}
	return n, nil
}

// AppendHeader appends the header for a payload of n bytes to dst.
func AppendHeader(dst []byte, n int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(n), 10)
	for len(dst)-start < HeaderLen {
		dst = append(dst, ' ')
	}
	return dst
}

// AppendFrame appends one frame carrying payload to dst.
func AppendFrame(dst []byte, payload []byte) []byte {
	dst = AppendHeader(dst, len(payload))
	return append(dst, payload...)
}

// AppendStringFrame appends one frame carrying payload to dst.
func AppendStringFrame(dst []byte, payload string) []byte {
	dst = AppendHeader(dst, len(payload))
	return append(dst, payload...)
}

// Reader reads frames. A frame may arrive split over any number of reads,
// and one read may carry many frames.
type Reader struct {
	r   io.Reader
	max int
	hdr [HeaderLen]byte
}

// NewReader returns a Reader that refuses payloads over max bytes. r should
// be buffered (a *bufio.Reader or a *server.Reader): frames are read with
// small reads.
func NewReader(r io.Reader, max int) *Reader { return &Reader{r: r, max: max} }

// frameChunk is the most a frame's buffer is grown ahead of the bytes that
// have arrived: a client that declares 64 KiB and sends one byte pins a
// few KiB, not 64.
const frameChunk = 4096

// ReadFrame reads the next frame's payload. Its buffer is allocated only
// after the header has been validated, and grows as the payload arrives
// (a small payload is one allocation of exactly its size). The error is
// io.EOF at a clean end between frames, ErrShortFrame in the middle of
// one, a *HeaderError for a bad header, or the underlying read error.
func (fr *Reader) ReadFrame() ([]byte, error) {
	n, err := io.ReadFull(fr.r, fr.hdr[:])
	if err != nil {
		if err == io.ErrUnexpectedEOF || (err == io.EOF && n > 0) {
			return nil, ErrShortFrame
		}
		return nil, err
	}
	size, err := ParseHeader(fr.hdr[:], fr.max)
	if err != nil {
		return nil, err
	}
	payload := make([]byte, min(size, frameChunk))
	got := 0
	for {
		n, err := io.ReadFull(fr.r, payload[got:])
		got += n
		if err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return nil, ErrShortFrame
			}
			return nil, err
		}
		if got == size {
			return payload, nil
		}
		grown := make([]byte, min(2*len(payload), size))
		copy(grown, payload)
		payload = grown
	}
}
