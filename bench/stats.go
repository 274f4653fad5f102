package bench

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 5 minutes, with three
// significant digits.
const (
	histMin    = 1
	histMax    = 5 * 60 * 1e6
	histDigits = 3
	latBatch   = 128 // latencies a receiver buffers before taking a shard lock
)

// latencyShards is a set of HDR histograms, each behind its own lock, so
// that hundreds of receivers can record without one global lock and without
// one large histogram each.
type latencyShards struct {
	shards []latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards on separate cache lines
}

func newLatencyShards(n int) *latencyShards {
	ls := &latencyShards{shards: make([]latencyShard, n)}
	for i := range ls.shards {
		ls.shards[i].h = hdrhistogram.New(histMin, histMax, histDigits)
	}
	return ls
}

// record adds a batch of latencies (µs) to shard i.
func (ls *latencyShards) record(i int, us []int64) {
	s := &ls.shards[i%len(ls.shards)]
	s.mu.Lock()
	for _, v := range us {
		if v < histMin {
			v = histMin
		} else if v > histMax {
			v = histMax
		}
		_ = s.h.RecordValue(v)
	}
	s.mu.Unlock()
}

// merged returns one histogram with every shard's values.
func (ls *latencyShards) merged() *hdrhistogram.Histogram {
	out := hdrhistogram.New(histMin, histMax, histDigits)
	for i := range ls.shards {
		s := &ls.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// tracker accounts for what one receiver got from every sender: a bitmap of
// sequence numbers seen, so that lost, duplicated and out-of-order deliveries
// are told apart exactly. It is used by one goroutine; the delivery counter
// is read concurrently by the sampler.
type tracker struct {
	msgs    int        // messages per sender
	seen    [][]uint64 // per sender: bit seq set when seq arrived
	highest []int      // per sender: highest seq seen, -1 if none
	dup     []int      // per sender
	ooo     []int      // per sender: arrived after a higher seq
	foreign int        // bench-like messages that do not belong to this run's senders
	count   atomic.Int64
}

// expected is how many deliveries a reader that is not a sender gets.
func (t *tracker) expected() int64 { return int64(len(t.seen) * t.msgs) }

func newTracker(senders, msgs int) *tracker {
	t := &tracker{
		msgs:    msgs,
		seen:    make([][]uint64, senders),
		highest: make([]int, senders),
		dup:     make([]int, senders),
		ooo:     make([]int, senders),
	}
	words := (msgs + 63) / 64
	for i := range t.seen {
		t.seen[i] = make([]uint64, words)
		t.highest[i] = -1
	}
	return t
}

// add records that message seq of sender arrived.
func (t *tracker) add(sender, seq int) {
	if sender < 0 || sender >= len(t.seen) || seq < 0 || seq >= t.msgs {
		t.foreign++
		return
	}
	t.count.Add(1)
	w, bit := seq>>6, uint64(1)<<(seq&63)
	if t.seen[sender][w]&bit != 0 {
		t.dup[sender]++
		return
	}
	t.seen[sender][w] |= bit
	if seq < t.highest[sender] {
		t.ooo[sender]++
	} else {
		t.highest[sender] = seq
	}
}

// distinct returns how many different messages of sender arrived.
func (t *tracker) distinct(sender int) int {
	n := 0
	for _, w := range t.seen[sender] {
		n += bits.OnesCount64(w)
	}
	return n
}
