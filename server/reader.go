package server

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// Reader is a buffered reader, like bufio.Reader, whose buffer is held only
// while there is input in it. A connection waiting for input (the common
// state of an idle chat client) reads into a small array inside the Reader
// and holds no buffer; the buffer is taken from a pool when input arrives
// and goes back to it when the input has been consumed and the next read is
// about to block.
//
// The buffer is released lazily, at the start of the next read that finds
// it empty, so slices returned by ReadSlice and Peek stay valid until the
// next call, as with bufio.Reader.
//
// Which array a read goes into: an empty Reader reads into its inline array
// unless the previous read filled everything it was given (more input is
// then probably waiting, and reading it 16 bytes at a time would multiply
// the system calls); input that needs more than the inline array holds, and
// reads following a full one, use the pooled buffer.
type Reader struct {
	rd     io.Reader
	wait   func() // called before each read that may block (see Conn.ReadMessage)
	pool   *BufferPool
	buf    []byte // inline[:] or a pooled buffer
	pooled *[]byte
	r, w   int   // buf[r:w] is buffered input
	err    error // sticky read error, returned once the buffer is drained
	full   bool  // the last read filled the space it was given
	inline [inlineSize]byte
}

// inlineSize is the size of the array an empty Reader reads into.
const inlineSize = 16

// maxEmptyReads bounds reads returning no data and no error.
const maxEmptyReads = 100

// BufferPool is a pool of read buffers of one size.
type BufferPool struct {
	size int
	pool sync.Pool
}

// NewBufferPool returns a pool of buffers of size bytes (at least 16).
func NewBufferPool(size int) *BufferPool {
	size = max(size, inlineSize)
	p := &BufferPool{size: size}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// NewReader returns a Reader over rd whose buffer comes from pool.
func NewReader(rd io.Reader, pool *BufferPool) *Reader {
	b := new(Reader)
	b.init(rd, pool)
	return b
}

func (b *Reader) init(rd io.Reader, pool *BufferPool) {
	b.rd, b.pool = rd, pool
	b.buf = b.inline[:]
}

// Size returns the most input the Reader buffers (the pooled buffer's size).
func (b *Reader) Size() int { return b.pool.size }

// Buffered returns the number of bytes that can be read without reading
// from the underlying reader.
func (b *Reader) Buffered() int { return b.w - b.r }

// Holding reports whether the Reader holds a pooled buffer.
func (b *Reader) Holding() bool { return b.pooled != nil }

// Release returns the pooled buffer, if any, to the pool, dropping
// buffered input. Call it when the connection is done with.
func (b *Reader) Release() {
	b.r, b.w = 0, 0
	b.toInline()
}

func (b *Reader) toInline() {
	if b.pooled != nil {
		b.pool.pool.Put(b.pooled)
		b.pooled = nil
	}
	b.buf = b.inline[:]
}

func (b *Reader) toPooled() {
	if b.pooled != nil {
		return
	}
	b.pooled = b.pool.pool.Get().(*[]byte)
	nb := *b.pooled
	copy(nb, b.buf[b.r:b.w])
	b.w -= b.r
	b.r = 0
	b.buf = nb
}

func (b *Reader) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// fill reads once into the buffer, after making room for more input.
func (b *Reader) fill() {
	switch {
	case b.r == b.w:
		b.r, b.w = 0, 0
		if !b.full {
			b.toInline() // likely to block: hold nothing while waiting
		} else {
			b.toPooled() // more input is probably waiting
		}
	case b.pooled == nil:
		b.toPooled()
	case b.r > 0:
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
	if b.w >= len(b.buf) {
		panic("server.Reader: fill of a full buffer")
	}
	for range maxEmptyReads {
		space := len(b.buf) - b.w
		if b.wait != nil {
			b.wait()
		}
		n, err := b.rd.Read(b.buf[b.w:])
		if n < 0 || n > space {
			panic("server.Reader: invalid read count")
		}
		b.w += n
		b.full = n == space
		if err != nil {
			b.err = err
			b.full = false
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

// Read reads up to len(p) bytes into p, with at most one read from the
// underlying reader, which goes straight into p when nothing is buffered
// and p is at least as large as the buffer.
func (b *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if b.Buffered() > 0 {
			return 0, nil
		}
		return 0, b.readErr()
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		if len(p) >= b.pool.size {
			b.r, b.w = 0, 0
			b.toInline()
			if b.wait != nil {
				b.wait()
			}
			n, err := b.rd.Read(p)
			if n < 0 || n > len(p) {
				panic("server.Reader: invalid read count")
			}
			b.full = n == len(p) && err == nil
			return n, err
		}
		b.fill()
		if b.r == b.w {
			return 0, b.readErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// ReadByte reads one byte.
func (b *Reader) ReadByte() (byte, error) {
	for b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		b.fill()
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}

// Peek returns the next n bytes without consuming them; they are valid
// until the next call. With fewer than n bytes it returns an error:
// bufio.ErrBufferFull if n is larger than the buffer.
func (b *Reader) Peek(n int) ([]byte, error) {
	if n < 0 {
		return nil, bufio.ErrNegativeCount
	}
	for b.w-b.r < n && b.w-b.r < b.pool.size && b.err == nil {
		b.fill()
	}
	if n > b.pool.size {
		return b.buf[b.r:b.w], bufio.ErrBufferFull
	}
	var err error
	if avail := b.w - b.r; avail < n {
		n = avail
		err = b.readErr()
		if err == nil {
			err = bufio.ErrBufferFull
		}
	}
	return b.buf[b.r : b.r+n], err
}

// Discard skips the next n bytes and returns how many it skipped.
func (b *Reader) Discard(n int) (int, error) {
	if n < 0 {
		return 0, bufio.ErrNegativeCount
	}
	remain := n
	for remain > 0 {
		if b.r == b.w {
			if b.err != nil {
				return n - remain, b.readErr()
			}
			b.fill()
			continue
		}
		skip := min(b.w-b.r, remain)
		b.r += skip
		remain -= skip
	}
	return n, nil
}

// ReadSlice reads up to and including the first delim and returns a slice
// of the buffer, valid until the next call. If the buffer fills without a
// delim it returns the buffer and bufio.ErrBufferFull; at an error before
// delim it returns what was buffered and the error.
func (b *Reader) ReadSlice(delim byte) (line []byte, err error) {
	search := 0
	for {
		if i := bytes.IndexByte(b.buf[b.r+search:b.w], delim); i >= 0 {
			i += search
			line = b.buf[b.r : b.r+i+1]
			b.r += i + 1
			return line, nil
		}
		if b.err != nil {
			line = b.buf[b.r:b.w]
			b.r = b.w
			return line, b.readErr()
		}
		if b.Buffered() >= b.pool.size {
			line = b.buf[b.r:b.w]
			b.r = b.w
			return line, bufio.ErrBufferFull
		}
		search = b.w - b.r
		b.fill()
	}
}

var _ io.ByteReader = (*Reader)(nil)
