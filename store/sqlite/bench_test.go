package sqlite_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/sqlite"
)

// BenchmarkAppend measures group commit: b.N messages stored in batches
// (one transaction each) of the given size, as the hub's committer does.
// Report: msgs/s.
func BenchmarkAppend(b *testing.B) {
	text := strings.Repeat("x", 100)
	for _, sync := range []string{"normal", "full"} {
		for _, batch := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				s, err := sqlite.Open(b.TempDir(), sqlite.Options{Sync: sync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				msgs := make([]chat.Message, batch)
				now := time.Now()
				id := uint64(0)
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					for i := 0; i < n; i++ {
						id++
						msgs[i] = chat.Message{ID: id, Time: now, Kind: chat.KindSay, Room: "lobby", From: "alice", Text: text}
					}
					if err := s.Append(ctx, msgs[:n]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkHistory measures a join replay: the newest 50 of a room among
// 100,000 messages in 10 rooms.
func BenchmarkHistory(b *testing.B) {
	s, err := sqlite.Open(b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msgs := make([]chat.Message, 0, 1000)
	for id := uint64(1); id <= 100000; id++ {
		msgs = append(msgs, chat.Message{ID: id, Time: time.Now(), Kind: chat.KindSay, Room: fmt.Sprint("room", id%10), From: "alice", Text: "hello"})
		if len(msgs) == cap(msgs) {
			if err := s.Append(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := s.History(ctx, chat.HistoryQuery{Room: "room3", Limit: 50})
		if err != nil || len(got) != 50 {
			b.Fatal(len(got), err)
		}
	}
}
