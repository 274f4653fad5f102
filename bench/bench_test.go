package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parleychat/parley/node"
)

func TestMessageRoundTrip(t *testing.T) {
	b := appendMessage(nil, 7, 12345, 987654321, 64)
	if len(b) != 64 {
		t.Fatalf("len %d, want 64", len(b))
	}
	s, q, ts, ok := parseMessage(b)
	if !ok || s != 7 || q != 12345 || ts != 987654321 {
		t.Fatalf("parse = %d %d %d %v", s, q, ts, ok)
	}
	for _, bad := range []string{"", "P", "P1 2", "Px 1 2 ", "hello", "P1 2 3"} {
		if _, _, _, ok := parseMessage([]byte(bad)); ok {
			t.Errorf("parseMessage(%q) ok", bad)
		}
	}
}

func TestNativeText(t *testing.T) {
	live := []byte(`{"type":"say","id":3,"ts":"2026-01-01T00:00:00Z","room":"lobby","from":"a","text":"P1 2 3 xx"}`)
	if txt, ok := nativeText(live); !ok || string(txt) != "P1 2 3 xx" {
		t.Fatalf("nativeText = %q %v", txt, ok)
	}
	hist := []byte(`{"type":"say","id":3,"room":"lobby","from":"a","text":"P1 2 3 xx","history":true}`)
	if _, ok := nativeText(hist); ok {
		t.Fatal("history counted as live")
	}
	if _, ok := nativeText([]byte(`{"type":"join","name":"a"}`)); ok {
		t.Fatal("join counted")
	}
}

func TestTrackerAccounting(t *testing.T) {
	tr := newTracker(2, 100)
	for _, seq := range []int{0, 1, 3, 2, 2, 5} { // 2 late, 2 twice, 4 and 6..99 lost
		tr.add(0, seq)
	}
	tr.add(1, 0)
	tr.add(5, 0)   // not a sender of this run
	tr.add(0, 100) // beyond M
	if got := tr.distinct(0); got != 5 {
		t.Errorf("distinct = %d, want 5", got)
	}
	if tr.dup[0] != 1 || tr.ooo[0] != 1 {
		t.Errorf("dup %d ooo %d, want 1 1", tr.dup[0], tr.ooo[0])
	}
	if tr.foreign != 2 || tr.count.Load() != 7 {
		t.Errorf("foreign %d count %d", tr.foreign, tr.count.Load())
	}
}

func TestFrameReaderSplitAndGrow(t *testing.T) {
	var stream []byte
	stream = appendFrame(stream, []byte("alice"))
	stream = appendFrame(stream, make([]byte, 100)) // larger than the buffer
	stream = appendFrame(stream, []byte(""))
	fr := newFrameReader(&trickle{data: stream}, 16)
	for _, want := range []int{5, 100, 0} {
		p, err := fr.next()
		if err != nil || len(p) != want {
			t.Fatalf("frame of %d bytes, err %v; want %d", len(p), err, want)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("err %v at end, want EOF", err)
	}
}

// trickle returns its data three bytes at a time.
type trickle struct{ data []byte }

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 3)], t.data)
	t.data = t.data[n:]
	return n, nil
}

func TestSteadyRate(t *testing.T) {
	var s []sample
	for i := 0; i <= 100; i++ {
		s = append(s, sample{time.Duration(i) * 10 * time.Millisecond, int64(i) * 1000})
	}
	if r := steadyRate(s, 100000); r < 99000 || r > 101000 {
		t.Fatalf("rate %f, want 100000", r)
	}
}

// TestRunAgainstNode runs short benches against an in-process server.
func TestRunAgainstNode(t *testing.T) {
	n, err := node.Start(node.Config{FrameAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}()
	for _, mode := range []string{ModeTutorial, ModeNative} {
		t.Run(mode, func(t *testing.T) {
			res, err := Run(context.Background(), Config{Addr: n.Addr("frame").String(), Mode: mode, Clients: 8, Senders: 3, Messages: 50,
				ConnectTimeout: 10 * time.Second, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Traffic
			if !tr.Complete || tr.Lost != 0 || tr.Duplicated != 0 || tr.OutOfOrder != 0 {
				t.Fatalf("run: %s", res.JSON())
			}
			want := int64(3 * 50 * 8)
			if mode == ModeTutorial {
				want = 3 * 50 * 7
			}
			if tr.Delivered != want || tr.Latency.Count != want {
				t.Fatalf("delivered %d, latencies %d, want %d", tr.Delivered, tr.Latency.Count, want)
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		res, err := Run(context.Background(), Config{Addr: n.Addr("frame").String(), Idle: true, Clients: 20, Hold: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Idle == nil || res.Idle.StillOpen != 20 {
			t.Fatalf("idle: %s", res.JSON())
		}
	})
}

// BenchmarkReceive measures the bench's own receive path (frame reading,
// parsing, loss accounting, latency recording): it must not allocate.
func BenchmarkReceive(b *testing.B) {
	for _, mode := range []string{ModeTutorial, ModeNative} {
		b.Run(mode, func(b *testing.B) {
			r := &runner{cfg: Config{Mode: mode, Senders: 10, Messages: 1 << 20}, epoch: time.Now(), lat: newLatencyShards(4)}
			var stream []byte
			for seq := 0; seq < 256; seq++ {
				text := appendMessage(nil, seq%10, seq, 1, 64)
				if mode == ModeNative {
					stream = appendFrame(stream, []byte(`{"type":"say","id":12345,"ts":"2026-11-22T04:58:08.123456789Z","room":"lobby","from":"b1234-1","text":"`+string(text)+`"}`))
				} else {
					stream = appendFrame(stream, []byte("b1234-1"))
					stream = appendFrame(stream, text)
				}
			}
			c := &client{run: r, tr: newTracker(10, 1<<20), fr: newFrameReader(&loop{data: stream}, 16<<10)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.readOne(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loop yields its data forever, in reads of up to 4 KiB.
type loop struct {
	data []byte
	off  int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), 4096)], l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}
