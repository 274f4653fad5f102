package node

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Giving memory back after a crowd arrives.
//
// The Go runtime keeps the heap it has grown to: after a class of 15,000
// connects, the heap holds their connections (about 3 KB each) and room
// for as much again (the collector's headroom, GOGC), and the memory freed
// along the way stays resident until the scavenger slowly returns what is
// above that. An idle chat server has nothing to spend that headroom on.
// memoryReleaser watches the node: once nothing has been accepted or
// delivered for releaseQuiet and more than releaseSlack of the heap is
// resident without being live, it collects and returns the free memory to
// the operating system (debug.FreeOSMemory). A busy node is never touched,
// and an idle one pays one collection per crowd.

// releaseQuiet is how long a node must be idle before memory is released;
// releaseSlack is how much resident heap above the live heap is worth a
// collection.
const (
	releaseQuiet = 2 * time.Second
	releaseSlack = 16 << 20
	releaseTick  = 500 * time.Millisecond
)

type memoryReleaser struct {
	activity func() uint64 // grows with accepts and deliveries
	log      *slog.Logger
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func startMemoryReleaser(activity func() uint64, log *slog.Logger) *memoryReleaser {
	m := &memoryReleaser{activity: activity, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *memoryReleaser) run() {
	defer close(m.done)
	t := time.NewTicker(releaseTick)
	defer t.Stop()
	last, since := m.activity(), time.Now()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if a := m.activity(); a != last {
			last, since = a, time.Now()
			continue
		}
		if time.Since(since) < releaseQuiet {
			continue
		}
		metrics.Read(samples)
		resident := samples[0].Value.Uint64() + samples[1].Value.Uint64() + samples[2].Value.Uint64()
		live := samples[3].Value.Uint64()
		if resident < live+releaseSlack {
			continue
		}
		began := time.Now()
		debug.FreeOSMemory()
		metrics.Read(samples)
		m.log.Debug("idle: released memory to the system", "resident_heap_before", resident, "live_heap", samples[3].Value.Uint64(),
			"took", time.Since(began).Round(time.Millisecond))
		since = time.Now() // at most once per quiet period
	}
}

func (m *memoryReleaser) close() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}
