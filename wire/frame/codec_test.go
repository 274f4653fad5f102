package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		header string
		want   int
		err    bool
		tooBig bool
	}{
		{"5         ", 5, false, false},
		{" 5        ", 5, false, false}, // the tutorial client's message headers
		{"        12", 12, false, false},
		{"0         ", 0, false, false},
		{"007       ", 7, false, false},
		{"65536     ", 65536, false, false},
		{"65537     ", 0, true, true},
		{"9999999999", 0, true, true},
		{"\t5\r\n      ", 5, false, false},
		{"          ", 0, true, false},
		{"abc       ", 0, true, false},
		{"-5        ", 0, true, false},
		{"+5        ", 0, true, false},
		{"1_0       ", 0, true, false},
		{"5 5       ", 0, true, false},
		{"0x10      ", 0, true, false},
		{"５        ", 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := ParseHeader([]byte(tt.header), 64*1024)
			if (err != nil) != tt.err {
				t.Fatalf("ParseHeader(%q) error = %v, want error %v", tt.header, err, tt.err)
			}
			var he *HeaderError
			if err != nil && (!errors.As(err, &he) || he.TooBig != tt.tooBig) {
				t.Fatalf("ParseHeader(%q) = %#v, want TooBig %v", tt.header, err, tt.tooBig)
			}
			if got != tt.want {
				t.Fatalf("ParseHeader(%q) = %d, want %d", tt.header, got, tt.want)
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	if got := string(AppendStringFrame(nil, "hello")); got != "5         hello" {
		t.Fatalf("got %q", got)
	}
	if got := string(AppendStringFrame(nil, "")); got != "0         " {
		t.Fatalf("got %q", got)
	}
	p := strings.Repeat("é", 10) // 20 bytes
	if got := string(AppendStringFrame(nil, p)); got != "20        "+p {
		t.Fatalf("got %q", got)
	}
}

// TestReaderOneByteAtATime feeds frames a byte per read.
func TestReaderOneByteAtATime(t *testing.T) {
	var stream []byte
	want := []string{"alice", "héllo wörld 王芳", "", strings.Repeat("x", 5000)}
	for _, p := range want {
		stream = AppendStringFrame(stream, p)
	}
	fr := NewReader(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(stream))), 64*1024)
	for _, w := range want {
		got, err := fr.ReadFrame()
		if err != nil || string(got) != w {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, w)
		}
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  error
	}{
		{"half header", "5    ", ErrShortFrame},
		{"short payload", "10        abc", ErrShortFrame},
		{"letters", "abcdefghij", &HeaderError{}},
		{"huge", "999999999 x", &HeaderError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewReader(bufio.NewReader(strings.NewReader(tt.input)), 1024)
			_, err := fr.ReadFrame()
			var he *HeaderError
			if _, isHeader := tt.want.(*HeaderError); isHeader {
				if !errors.As(err, &he) {
					t.Fatalf("err = %v, want a HeaderError", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzReadFrame: no input may panic the reader, allocate past the limit or
// return a payload that disagrees with its header.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("5         hello"))
	f.Add([]byte(" 5        hello5         world"))
	f.Add([]byte("999999999999"))
	f.Add([]byte("-1        "))
	f.Add([]byte("10        abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewReader(bufio.NewReader(bytes.NewReader(data)), 4096)
		for {
			p, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if len(p) > 4096 {
				t.Fatalf("payload of %d bytes past the limit", len(p))
			}
		}
	})
}

// FuzzParseHeader checks the parser against a reference: Python's
// int(h.strip()) restricted to ASCII digits.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("5         "))
	f.Add([]byte(" 12       "))
	f.Add([]byte("1_2       "))
	f.Fuzz(func(t *testing.T, h []byte) {
		n, err := ParseHeader(h, 1<<20)
		trimmed := strings.TrimFunc(string(h), func(r rune) bool { return r < 128 && pyspace(byte(r)) })
		digits := trimmed != "" && strings.Trim(trimmed, "0123456789") == ""
		if err == nil && (!digits || n < 0 || n > 1<<20) {
			t.Fatalf("ParseHeader(%q) = %d, accepted a bad header", h, n)
		}
		if err != nil && digits && len(trimmed) < 7 {
			t.Fatalf("ParseHeader(%q) refused a good header: %v", h, err)
		}
	})
}

// TestReaderGrowsBuffer: a frame's buffer grows with the bytes that arrive:
// a header declaring 64 KiB followed by one byte costs a few KiB, not 64
// (slowloris clients cannot pin memory they did not send).
func TestReaderGrowsBuffer(t *testing.T) {
	stream := []byte("65536     x")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 100
	for range rounds {
		if _, err := NewReader(bytes.NewReader(stream), 64<<10).ReadFrame(); err != ErrShortFrame {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 8<<10 {
		t.Fatalf("%d bytes allocated for a frame that declared 64 KiB and sent 1 byte", per)
	}
	// A whole frame still reads back exactly, across the growth steps.
	payload := bytes.Repeat([]byte("0123456789"), 6000)
	got, err := NewReader(bytes.NewReader(AppendFrame(nil, payload)), 64<<10).ReadFrame()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("60000-byte frame: %d bytes, %v", len(got), err)
	}
}
