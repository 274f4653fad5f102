package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its data in the given read sizes (the last repeated).
type chunkReader struct {
	data  []byte
	sizes []int
	reads int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.reads++
	n := c.sizes[0]
	if len(c.sizes) > 1 {
		c.sizes = c.sizes[1:]
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestReaderReadSliceTable(t *testing.T) {
	long := strings.Repeat("x", 100) + "\n"
	tests := []struct {
		name  string
		input string
		size  int
		sizes []int
		want  []string // lines, or "FULL:" + chunk for bufio.ErrBufferFull
	}{
		{"one line", "hello\n", 64, []int{1024}, []string{"hello\n"}},
		{"many lines one read", "a\nbb\nccc\n", 64, []int{1024}, []string{"a\n", "bb\n", "ccc\n"}},
		{"byte at a time", "ab\ncd\n", 64, []int{1}, []string{"ab\n", "cd\n"}},
		{"split over inline", strings.Repeat("y", 40) + "\nz\n", 64, []int{3, 20, 7}, []string{strings.Repeat("y", 40) + "\n", "z\n"}},
		{"line over buffer", long, 32, []int{1024}, []string{"FULL:" + long[:32], "FULL:" + long[32:64], "FULL:" + long[64:96], long[96:]}},
		{"line over buffer, byte at a time", long, 32, []int{1}, []string{"FULL:" + long[:32], "FULL:" + long[32:64], "FULL:" + long[64:96], long[96:]}},
		{"unterminated at EOF", "ab\ncd", 64, []int{2}, []string{"ab\n", "EOF:cd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(&chunkReader{data: []byte(tt.input), sizes: tt.sizes}, NewBufferPool(tt.size))
			for _, want := range tt.want {
				line, err := r.ReadSlice('\n')
				got := string(line)
				switch {
				case errors.Is(err, bufio.ErrBufferFull):
					got = "FULL:" + got
				case err == io.EOF:
					got = "EOF:" + got
				case err != nil:
					t.Fatalf("ReadSlice: %v", err)
				}
				if got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			if line, err := r.ReadSlice('\n'); err != io.EOF || len(line) != 0 {
				t.Fatalf("at end: %q, %v", line, err)
			}
		})
	}
}

// TestReaderMatchesBufio reads the same input through Reader and
// bufio.Reader with the same mix of calls, the Reader's input arriving in
// various read sizes, and compares every result.
func TestReaderMatchesBufio(t *testing.T) {
	var input []byte
	for i := range 300 {
		input = append(input, strings.Repeat(string(rune('a'+i%26)), i%70)...)
		input = append(input, '\n')
	}
	for _, sizes := range [][]int{{1}, {2}, {7}, {16}, {17}, {64}, {1000}, {5, 1, 300, 2, 16}} {
		for _, size := range []int{16, 32, 100, 4096} {
			ours := NewReader(&chunkReader{data: input, sizes: sizes}, NewBufferPool(size))
			ref := bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(input)), size)
			var got bytes.Buffer
			for step := 0; ; step++ {
				var a, b []byte
				var ea, eb error
				switch step % 5 {
				case 0:
					a, ea = ours.ReadSlice('\n')
					b, eb = ref.ReadSlice('\n')
				case 1, 4:
					n := 1 + step%37
					if step%5 == 4 {
						n = step % (3 * size) // sometimes larger than the buffer
					}
					p, q := make([]byte, n), make([]byte, n)
					na, err := io.ReadFull(ours, p)
					a, ea = p[:na], err
					nb, err := io.ReadFull(ref, q)
					b, eb = q[:nb], err
				case 2:
					a, ea = ours.Peek(step % 20)
					b, eb = ref.Peek(step % 20)
					a, b = bytes.Clone(a), bytes.Clone(b)
					if ea == nil {
						ca, _ := ours.ReadByte()
						cb, _ := ref.ReadByte()
						a, b = append(a, ca), append(b, cb)
						got.WriteByte(ca)
					}
				case 3:
					na, err := ours.Discard(step % 11)
					ea = err
					a = input[got.Len() : got.Len()+na]
					nb, err := ref.Discard(step % 11)
					eb = err
					b = a[:0:0]
					if nb == na {
						b = a
					}
				}
				if !bytes.Equal(a, b) || (ea == nil) != (eb == nil) || (ea == bufio.ErrBufferFull) != (eb == bufio.ErrBufferFull) {
					t.Fatalf("sizes %v size %d step %d: got %q, %v; bufio %q, %v", sizes, size, step, a, ea, b, eb)
				}
				if step%5 != 2 {
					got.Write(a)
				}
				if ea != nil && ea != bufio.ErrBufferFull {
					break
				}
			}
			if !bytes.Equal(got.Bytes(), input) {
				t.Fatalf("sizes %v size %d: stream differs (%d of %d bytes)", sizes, size, got.Len(), len(input))
			}
			if ours.Holding() {
				t.Fatalf("sizes %v size %d: buffer held at EOF", sizes, size)
			}
		}
	}
}

// blockingReader hands out one queued chunk per Read. A nil chunk marks
// where a connection would block waiting for input: idle is called there,
// then the next chunk "arrives".
type blockingReader struct {
	chunks [][]byte
	idle   func()
}

func (b *blockingReader) Read(p []byte) (int, error) {
	for len(b.chunks) > 0 && b.chunks[0] == nil {
		b.idle()
		b.chunks = b.chunks[1:]
	}
	if len(b.chunks) == 0 {
		b.idle()
		return 0, io.EOF
	}
	n := copy(p, b.chunks[0])
	if b.chunks[0] = b.chunks[0][n:]; len(b.chunks[0]) == 0 {
		b.chunks = b.chunks[1:]
	}
	return n, nil
}

// TestReaderIdleHoldsNoBuffer checks that a Reader waiting for input holds
// no pooled buffer unless the read before filled its buffer exactly.
func TestReaderIdleHoldsNoBuffer(t *testing.T) {
	frame := append([]byte{0, 0, 0, 200}, bytes.Repeat([]byte{'p'}, 200)...)
	var r *Reader
	idleChecks := 0
	br := &blockingReader{
		chunks: [][]byte{nil, frame[:3], nil, frame[3:150], nil, frame[150:], nil, bytes.Repeat(frame, 20), nil, []byte("x")},
		idle: func() {
			idleChecks++
			// A read that filled its space exactly cannot tell that
			// nothing more is coming: only then may a wait hold a buffer.
			if r.Holding() && !r.full {
				t.Fatalf("wait %d: read about to block while holding a buffer (buffered %d, full %v)", idleChecks, r.Buffered(), r.full)
			}
		},
	}
	r = NewReader(br, NewBufferPool(64))
	hdr := make([]byte, 4)
	for range 21 {
		if _, err := io.ReadFull(r, hdr); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 200)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, frame[4:]) {
			t.Fatalf("payload %q", payload)
		}
	}
	if _, err := r.Peek(1); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.ReadByte(); b != 'x' {
		t.Fatalf("got %q", b)
	}
	if _, err := r.Peek(1); err != io.EOF {
		t.Fatalf("Peek at end: %v", err)
	}
	if idleChecks < 6 {
		t.Fatalf("waited %d times", idleChecks)
	}
	// A Peek that finds input is served from the inline array: a small
	// frame arriving alone costs no pooled buffer.
	r = NewReader(&chunkReader{data: []byte("hi"), sizes: []int{2}}, NewBufferPool(64))
	if p, err := r.Peek(2); err != nil || string(p) != "hi" || r.Holding() {
		t.Fatalf("Peek: %q, %v, holding %v", p, err, r.Holding())
	}
}

// TestReaderReadCount checks that a burst arriving in one read is not read
// 16 bytes at a time: after a read that filled the inline array the
// pooled buffer is used.
func TestReaderReadCount(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 100) // 1700 bytes
	src := &chunkReader{data: data, sizes: []int{1 << 20}}
	r := NewReader(src, NewBufferPool(1024))
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		n += len(line)
		if err != nil {
			break
		}
	}
	if n != len(data) {
		t.Fatalf("read %d of %d bytes", n, len(data))
	}
	if src.reads > 4 { // 16 inline, 1024, 660
		t.Fatalf("%d reads for %d bytes", src.reads, len(data))
	}
}

func TestReaderLargeReadBypassesBuffer(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 5000)
	r := NewReader(bytes.NewReader(data), NewBufferPool(1024))
	p := make([]byte, 4096)
	if n, err := r.Read(p); n != 4096 || err != nil || r.Holding() {
		t.Fatalf("Read: %d, %v, holding %v", n, err, r.Holding())
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{1, 2, 3}, uint8(16))
	f.Add(bytes.Repeat([]byte("x"), 300), []byte{200, 0, 7}, uint8(20))
	f.Fuzz(func(t *testing.T, data, ops []byte, size uint8) {
		bsize := 16 + int(size)
		sizes := []int{1}
		for _, o := range ops {
			sizes = append(sizes, 1+int(o))
		}
		ours := NewReader(&chunkReader{data: data, sizes: sizes}, NewBufferPool(bsize))
		ref := bufio.NewReaderSize(bytes.NewReader(data), bsize)
		for i := 0; i < 4*len(data)+8; i++ {
			op := byte(i)
			if len(ops) > 0 {
				op = ops[i%len(ops)]
			}
			var a, b []byte
			var ea, eb error
			switch op % 4 {
			case 0:
				a, ea = ours.ReadSlice(op)
				b, eb = ref.ReadSlice(op)
			case 1:
				n := int(op) * 3 % (2*bsize + 1)
				p, q := make([]byte, n), make([]byte, n)
				na, err := io.ReadFull(ours, p)
				a, ea = p[:na], err
				nb, err := io.ReadFull(ref, q)
				b, eb = q[:nb], err
			case 2:
				a, ea = ours.Peek(int(op) % (bsize + 2))
				b, eb = ref.Peek(int(op) % (bsize + 2))
			case 3:
				na, err := ours.Discard(int(op))
				nb, err2 := ref.Discard(int(op))
				if na != nb {
					t.Fatalf("Discard %d vs %d", na, nb)
				}
				ea, eb = err, err2
			}
			if !bytes.Equal(a, b) || (ea == nil) != (eb == nil) || (ea == bufio.ErrBufferFull) != (eb == bufio.ErrBufferFull) {
				t.Fatalf("op %d (%d): got %q, %v; bufio %q, %v", i, op, a, ea, b, eb)
			}
			if ea == io.EOF && op%4 != 2 {
				break
			}
		}
	})
}
