package chat

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is the per-session limit on what a client may send once it has
// a name: a token bucket that refills at Rate requests per second and holds
// up to Burst. Every request a front-end reads (a message, a command, a
// native event of any type) costs one token. A client over the limit is
// slowed down, not dropped: its connection is not read until its next
// request is due, so nothing it sent is lost and nobody else waits. A client
// kept over the limit for FloodAfter without a pause is disconnected as a
// flooder. The zero value means no limit.
type RateLimit struct {
	Rate       float64       // sustained requests per second; 0 disables the limit
	Burst      int           // requests allowed at once; default max(1, ceil(Rate))
	FloodAfter time.Duration // continuous slowing before disconnecting; default 10 s
}

func (l RateLimit) withDefaults() RateLimit {
	if l.Burst <= 0 {
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	if l.FloodAfter <= 0 {
		l.FloodAfter = 10 * time.Second
	}
	return l
}

// ErrFlooding is returned by Session.Admit when a client has kept sending
// over the rate limit for too long. The front-end tells the client, ends
// the session and closes the connection (engine.ReasonRateLimited).
var ErrFlooding = &Error{Code: CodeRateLimited, Message: "flooding: over the message rate limit for too long; disconnecting"}

// limiter is a session's token bucket. The zero value is ready: the bucket
// is made on first use from the hub's configuration.
type limiter struct {
	mu        sync.Mutex
	bucket    *rate.Limiter
	slowSince int64 // start of the current run of slowed requests, Unix nanoseconds by the hub's clock; 0 when not slowed
}

// Admit charges one inbound request to the session's rate limit, by the
// hub's clock, and returns how long the front-end must hold the request
// (and stop reading) before running it: zero within the limit. The first
// slowed request of a run also returns a rate_limited error for the client
// ("slow down"); ErrFlooding means the client has been over the limit for
// FloodAfter without a pause and must be disconnected.
func (s *Session) Admit() (wait time.Duration, err error) {
	cfg := s.hub.cfg.RateLimit
	if cfg.Rate <= 0 {
		return 0, nil
	}
	cfg = cfg.withDefaults()
	now := s.hub.now()
	l := &s.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil {
		l.bucket = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	r := l.bucket.ReserveN(now, 1)
	wait = r.DelayFrom(now)
	if wait <= 0 {
		l.slowSince = 0
		return 0, nil
	}
	s.hub.counters.rateLimitDelays.Add(1)
	if l.slowSince == 0 {
		l.slowSince = now.UnixNano()
		s.hub.counters.rateLimitWarned.Add(1)
		return wait, Errorf(CodeRateLimited, "slow down: at most %g messages per second; yours are being delayed, and a client that keeps this up for %s is disconnected", cfg.Rate, cfg.FloodAfter)
	}
	if time.Duration(now.UnixNano()-l.slowSince) >= cfg.FloodAfter {
		r.CancelAt(now)
		s.hub.counters.flooded.Add(1)
		return 0, ErrFlooding
	}
	return wait, nil
}

// ReplayCost is how many replayed or paged messages cost one more token of
// the rate limit: a client that replays a big history in a loop is slowed
// down like one that floods.
const ReplayCost = 100

// charge takes n more tokens for work a request caused beyond its own
// token (a replay): the client's next requests wait for them. It never
// blocks.
func (s *Session) charge(n int) {
	cfg := s.hub.cfg.RateLimit
	if cfg.Rate <= 0 || n <= 0 {
		return
	}
	cfg = cfg.withDefaults()
	now := s.hub.now()
	l := &s.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil {
		l.bucket = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	l.bucket.ReserveN(now, min(n, cfg.Burst))
}

// Hold blocks the caller for d on the hub's clock (Config.Sleep). Front-ends
// call it with Admit's wait, on the connection's own reader goroutine.
func (s *Session) Hold(d time.Duration) {
	if d > 0 {
		s.hub.sleep(d)
	}
}

// NeedsPassword reports whether clients must give the server password
// before they get a session.
func (h *Hub) NeedsPassword() bool { return h.cfg.Password != "" }

// CheckPassword compares given with the server password in constant time
// (of the password's length too: both are hashed first). It returns nil when
// the server has no password or given matches, and an *Error with code
// auth_failed otherwise.
func (h *Hub) CheckPassword(given string) error {
	if h.cfg.Password == "" {
		return nil
	}
	want := sha256.Sum256([]byte(h.cfg.Password))
	got := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
		return nil
	}
	if given == "" {
		return Errorf(CodeAuth, "this server needs a password")
	}
	return Errorf(CodeAuth, "wrong password")
}
