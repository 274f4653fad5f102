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
	activity    func() uint64                  // grows with accepts and deliveries
	heap        func() (resident, live uint64) // heapSizes
	release     func()                         // debug.FreeOSMemory
	quiet, tick time.Duration
	slack       uint64
	log         *slog.Logger
	stop        chan struct{}
	done        chan struct{}
	once        sync.Once
}

func newMemoryReleaser(activity func() uint64, log *slog.Logger) *memoryReleaser {
	return &memoryReleaser{activity: activity, heap: heapSizes, release: debug.FreeOSMemory,
		quiet: releaseQuiet, tick: releaseTick, slack: releaseSlack, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// heapSizes returns the heap resident in memory (objects, live or not,
// fragmentation and free pages not yet returned) and the live heap as of
// the last collection.
func heapSizes() (resident, live uint64) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(samples)
	return samples[0].Value.Uint64() + samples[1].Value.Uint64() + samples[2].Value.Uint64(), samples[3].Value.Uint64()
}

func (m *memoryReleaser) start() *memoryReleaser {
	go m.run()
	return m
}

func (m *memoryReleaser) run() {
	defer close(m.done)
	t := time.NewTicker(m.tick)
	defer t.Stop()
	last, since := m.activity(), time.Now()
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
		if time.Since(since) < m.quiet {
			continue
		}
		resident, live := m.heap()
		if resident < live+m.slack {
			continue
		}
		began := time.Now()
		m.release()
		_, after := m.heap()
		m.log.Debug("idle: released memory to the system", "resident_heap_before", resident, "live_heap", after,
			"took", time.Since(began).Round(time.Millisecond))
		since = time.Now() // at most once per quiet period
	}
}

func (m *memoryReleaser) close() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}
