package frame

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

var payload64 = bytes.Repeat([]byte("x"), 64)

// BenchmarkAppendFrame encodes one 64-byte frame into a reused buffer.
func BenchmarkAppendFrame(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 128)
	for i := 0; i < b.N; i++ {
		buf = AppendFrame(buf[:0], payload64)
	}
	b.SetBytes(int64(len(buf)))
}

// repeatReader yields the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// BenchmarkReadFrame decodes 64-byte frames through the server's Reader
// (one allocation per frame: the payload, sized after the header is
// validated).
func BenchmarkReadFrame(b *testing.B) {
	b.ReportAllocs()
	var stream []byte
	for i := 0; i < 64; i++ {
		stream = AppendFrame(stream, payload64)
	}
	fr := NewReader(bufio.NewReaderSize(&repeatReader{data: stream}, 4096), 64*1024)
	b.SetBytes(int64(HeaderLen + len(payload64)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fr.ReadFrame(); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}
