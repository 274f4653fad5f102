package node

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryReleaser: memory is released only once the node has been
// idle for the quiet period and enough of the heap is resident without
// being live; once per idle period; never while activity goes on.
func TestMemoryReleaser(t *testing.T) {
	var activity, released atomic.Uint64
	var resident atomic.Uint64
	resident.Store(100 << 20)
	m := newMemoryReleaser(activity.Load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.quiet, m.tick, m.slack = 60*time.Millisecond, 5*time.Millisecond, 16<<20
	m.heap = func() (uint64, uint64) { return resident.Load(), 50 << 20 }
	m.release = func() { released.Add(1); resident.Store(55 << 20) }
	m.start()
	defer m.close()

	// Busy: activity every few milliseconds, never released.
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		activity.Add(1)
	}
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times while busy", n)
	}
	// Idle: released once, and not again while resident stays near live.
	waitFor(t, "a release once idle", func() bool { return released.Load() == 1 })
	time.Sleep(3 * m.quiet)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times in one idle period with nothing to give back", n)
	}
	// Another crowd: activity, growth, idle again: released again.
	activity.Add(1)
	resident.Store(120 << 20)
	waitFor(t, "a second release", func() bool { return released.Load() == 2 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
