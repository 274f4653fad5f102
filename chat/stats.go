package chat

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what the hub has done, for monitoring (the
// metrics package exports it in Prometheus format). Counters only grow;
// the others are the state at the time of the snapshot.
type Stats struct {
	Sessions         map[string]int    // sessions now, by front-end protocol ("native", "tutorial", "line", ...)
	Rooms            int               // rooms now (with members, or the default room)
	Accepted         map[string]uint64 // messages accepted for the log, by kind ("say", "me", "dm")
	Deliveries       uint64            // messages handed to sessions (one per recipient)
	CommitQueue      int               // messages waiting for the log now
	Commits          uint64            // Appends to the log (batches)
	CommitErrors     uint64            // Appends that failed (their messages were refused)
	CommitSeconds    Histogram         // how long each Append took
	CommitBatch      Histogram         // messages per Append
	RateLimitDelays  uint64            // requests held back by the rate limit
	RateLimitWarning uint64            // "slow down" errors sent (the first held request of a run)
	Flooded          uint64            // sessions ended for flooding
	Stalled          bool              // the commit queue is full and nothing moves: new messages are refused
	Accounts         int               // registered accounts
	Logins           map[string]uint64 // account logins, by result ("ok", "failed", "locked")
	Moderation       map[string]uint64 // moderation actions, by action ("kick", "ban", "mode", "server_ban", "raid", ...)
}

// Histogram is a snapshot of a histogram with fixed bucket bounds, in the
// shape Prometheus takes: Buckets maps each upper bound to the number of
// observations at or below it (cumulative).
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// histogram counts observations into fixed buckets with atomics: one
// Observe is a few uncontended atomic adds.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket (not cumulative), plus one for +Inf
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Buckets: make(map[float64]uint64, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		s.Buckets[b] = cum
	}
	s.Count = cum + h.counts[len(h.bounds)].Load()
	s.Sum = math.Float64frombits(h.sum.Load())
	return s
}

// counters are the hub's monitoring counters. The fan-out adds to
// deliveries from its one goroutine; the others are rare or per message.
type counters struct {
	accepted        [KindDM + 1]atomic.Uint64
	deliveries      atomic.Uint64
	commits         atomic.Uint64
	commitErrors    atomic.Uint64
	commitSeconds   *histogram
	commitBatch     *histogram
	rateLimitDelays atomic.Uint64
	rateLimitWarned atomic.Uint64
	flooded         atomic.Uint64
	logins          [3]atomic.Uint64 // by loginResult
	moderation      sync.Map         // action -> *atomic.Uint64; a small fixed set of names
}

// loginResult indexes counters.logins.
type loginResult int

const (
	loginOK loginResult = iota
	loginFailed
	loginLocked
)

var loginResults = [...]string{loginOK: "ok", loginFailed: "failed", loginLocked: "locked"}

// moderated counts one moderation action, labelled by its first word
// ("mode +m" is "mode"; "server ban" is "server_ban").
func (c *counters) moderated(action string) {
	label := action
	if rest, ok := strings.CutPrefix(action, "server "); ok {
		label = "server_" + rest
	}
	label, _, _ = strings.Cut(label, " ")
	if rest, ok := strings.CutPrefix(label, "-"); ok { // "-op" is a deop
		label = "de" + rest
	}
	label = strings.TrimPrefix(label, "+")
	if label == "" {
		return
	}
	v, _ := c.moderation.LoadOrStore(label, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

func newCounters() *counters {
	return &counters{
		commitSeconds: newHistogram(.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10),
		commitBatch:   newHistogram(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
	}
}

func (c *counters) committed(batch int, took time.Duration, err error) {
	c.commits.Add(1)
	if err != nil {
		c.commitErrors.Add(1)
	}
	c.commitSeconds.observe(took.Seconds())
	c.commitBatch.observe(float64(batch))
}

// Deliveries returns how many messages have been handed to sessions (one
// per recipient): Stats().Deliveries without building the rest.
func (h *Hub) Deliveries() uint64 { return h.counters.deliveries.Load() }

// Stats returns a snapshot of the hub's counters and state.
func (h *Hub) Stats() Stats {
	c := h.counters
	st := Stats{
		Sessions:         map[string]int{},
		Accepted:         map[string]uint64{},
		Deliveries:       c.deliveries.Load(),
		CommitQueue:      len(h.commitQ),
		Commits:          c.commits.Load(),
		CommitErrors:     c.commitErrors.Load(),
		CommitSeconds:    c.commitSeconds.snapshot(),
		CommitBatch:      c.commitBatch.snapshot(),
		RateLimitDelays:  c.rateLimitDelays.Load(),
		RateLimitWarning: c.rateLimitWarned.Load(),
		Flooded:          c.flooded.Load(),
	}
	for _, k := range []Kind{KindSay, KindMe, KindDM} {
		st.Accepted[k.String()] = c.accepted[k].Load()
	}
	st.Logins = map[string]uint64{}
	for i, name := range loginResults {
		st.Logins[name] = c.logins[i].Load()
	}
	st.Moderation = map[string]uint64{}
	c.moderation.Range(func(k, v any) bool {
		st.Moderation[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	h.mu.RLock()
	st.Accounts = len(h.accounts)
	for _, s := range h.sessions {
		st.Sessions[s.info.Protocol]++
	}
	st.Rooms = len(h.rooms)
	h.mu.RUnlock()
	h.stallMu.Lock()
	st.Stalled = !h.stalledAt.IsZero()
	h.stallMu.Unlock()
	return st
}
