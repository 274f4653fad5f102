package chat

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"sync"

	"golang.org/x/time/rate"
)

// RateLimit is the per-session limit on what a client may send once it has
// a name: a token bucket that refills at Rate requests per second and holds
// up to Burst. Every request a front-end reads (a message, a command, a
// native event of any type) costs one token. The zero value means no limit.
type RateLimit struct {
	Rate    float64 // sustained requests per second; 0 disables the limit
	Burst   int     // requests allowed at once; default max(1, ceil(Rate))
	Strikes int     // refused requests in a row before the client is disconnected; default Burst
}

func (l RateLimit) withDefaults() RateLimit {
	if l.Burst <= 0 {
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	if l.Strikes <= 0 {
		l.Strikes = l.Burst
	}
	return l
}

// ErrFlooding is returned by Session.Admit when a client keeps sending after
// it was told to slow down. The front-end tells the client, ends the
// session and closes the connection (server.ReasonRateLimited).
var ErrFlooding = &Error{Code: CodeRateLimited, Message: "too many messages after being told to slow down; disconnecting"}

// limiter is a session's token bucket. The zero value is ready: the bucket
// is made on first use from the hub's configuration.
type limiter struct {
	mu      sync.Mutex
	bucket  *rate.Limiter
	strikes int // refused requests since the last admitted one
}

// Admit charges one inbound request to the session's rate limit, by the
// hub's clock. ok says whether to run the request; when it is false the
// request is dropped. err, when not nil, is for the client: the first
// refusal in a row is a rate_limited error telling it to slow down (later
// refusals in the same row are dropped silently), and ErrFlooding means the
// client ignored that for Strikes requests and must be disconnected.
// Admitted requests reset the count, so a client that slows down to the
// rate is only ever slowed, never dropped.
func (s *Session) Admit() (ok bool, err error) {
	cfg := s.hub.cfg.RateLimit
	if cfg.Rate <= 0 {
		return true, nil
	}
	now := s.hub.now()
	l := &s.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil {
		cfg = cfg.withDefaults()
		l.bucket = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	if l.bucket.AllowN(now, 1) {
		l.strikes = 0
		return true, nil
	}
	l.strikes++
	switch {
	case l.strikes > cfg.withDefaults().Strikes:
		return false, ErrFlooding
	case l.strikes == 1:
		return false, Errorf(CodeRateLimited, "slow down: at most %g messages per second; this one was dropped, and so are the next until you slow down", cfg.Rate)
	}
	return false, nil
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
