package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
	"github.com/parleychat/parley/store/sqlite"
)

// countSink stands in for a connection and counts the messages delivered.
type countSink struct{ n *atomic.Int64 }

func (s countSink) Deliver(ev *chat.Event) {
	if ev.Kind == chat.KindSay {
		s.n.Add(1)
	}
}

// BenchmarkHubStore measures hub throughput (publish, group commit, fan-out
// to a room of members) with the in-memory store and with SQLite on the
// same load, to show what durability costs. Four members send concurrently;
// one op is one message. Report: msgs/s stored and delivered to everyone.
func BenchmarkHubStore(b *testing.B) {
	for _, members := range []int{10, 200} {
		for _, kind := range []string{"memory", "sqlite"} {
			b.Run(fmt.Sprintf("members=%d/store=%s", members, kind), func(b *testing.B) {
				var st chat.Store
				switch kind {
				case "memory":
					st = memory.New(0)
				case "sqlite":
					s, err := sqlite.Open(b.TempDir(), sqlite.Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					st = s
				}
				benchHub(b, st, members)
			})
		}
	}
}

func benchHub(b *testing.B, st chat.Store, members int) {
	const senders = 4
	hub, err := chat.New(chat.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HistoryOnJoin: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx, "done")
	}()
	var delivered atomic.Int64
	var from []*chat.Session
	for i := 0; i < members; i++ {
		s, err := hub.Connect(countSink{&delivered}, fmt.Sprintf("u%d", i), chat.ClientInfo{Protocol: "bench"}, chat.JoinOptions{History: -1})
		if err != nil {
			b.Fatal(err)
		}
		if i < senders {
			from = append(from, s)
		}
	}
	text := "0123456789012345678901234567890123456789012345678901234567890123"
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, s := range from {
		n := b.N / senders
		if i < b.N%senders {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < n; k++ {
				if err := s.Say("", text, ""); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := int64(b.N) * int64(members)
	for delivered.Load() < want {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
}
