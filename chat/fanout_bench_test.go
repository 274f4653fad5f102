package chat_test

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
)

var benchFormat = chat.NewFormat()

// countingSink stands in for a connection: it asks for the event's shared
// encoding (as the front-ends do) and counts deliveries.
type countingSink struct {
	n     *atomic.Int64
	bytes int
}

func (s *countingSink) Deliver(ev *chat.Event) {
	if ev.Kind == chat.KindSay {
		s.bytes += len(ev.Encoded(benchFormat, encodeForBench))
		s.n.Add(1)
	}
}

// deferredCountingSink is a countingSink that takes the fan-out's runs
// (chat.DeferringSink), as server.Conn does.
type deferredCountingSink struct {
	countingSink
	due bool
}

func (s *deferredCountingSink) DeliverDeferred(evs []*chat.Event) bool {
	for _, ev := range evs {
		s.Deliver(ev)
	}
	due := !s.due
	s.due = true
	return due
}

func (s *deferredCountingSink) Flush() { s.due = false }

func encodeForBench(ev *chat.Event) []byte {
	b := make([]byte, 0, 32+len(ev.From)+len(ev.Text))
	b = append(b, ev.From...)
	b = append(b, ": "...)
	return append(b, ev.Text...)
}

// BenchmarkHubFanout measures one message published to a room of N members
// (commit to the in-memory store, fan-out, shared encoding). One op is one
// message; allocs/delivery and ns/delivery divide by the deliveries.
func BenchmarkHubFanout(b *testing.B) {
	for _, deferred := range []bool{false, true} {
		for _, n := range []int{10, 500, 2000} {
			name := fmt.Sprintf("N=%d", n)
			if deferred {
				name = "deferred/" + name
			}
			b.Run(name, func(b *testing.B) { benchFanout(b, n, deferred) })
		}
	}
}

// benchFanout runs one case of BenchmarkHubFanout; deferred makes the
// sinks take the fan-out's runs, as server.Conn does.
func benchFanout(b *testing.B, n int, deferred bool) {
	hub, err := chat.New(chat.Config{Store: memory.New(0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HistoryOnJoin: -1})
	if err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Int64
	var sender *chat.Session
	for i := 0; i < n; i++ {
		var sink chat.Sink = &countingSink{n: &delivered}
		if deferred {
			sink = &deferredCountingSink{countingSink: countingSink{n: &delivered}}
		}
		s, err := hub.Connect(sink, fmt.Sprintf("u%d", i), chat.ClientInfo{Protocol: "bench"}, chat.JoinOptions{History: -1})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			sender = s
		}
	}
	text := "0123456789012345678901234567890123456789012345678901234567890123"
	// Warm up: let slices and the store reach their steady size.
	for i := 0; i < 2000; i++ {
		_ = sender.Say("", text, "")
	}
	for delivered.Load() < int64(2000*n) {
		runtime.Gosched()
	}
	delivered.Store(0)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sender.Say("", text, ""); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * int64(n)
	for delivered.Load() < want {
		runtime.Gosched()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	deliveries := float64(want)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
}
