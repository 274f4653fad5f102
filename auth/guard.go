package auth

import (
	"fmt"
	"sync"
	"time"
)

// Policy is how a Guard treats failed logins of one key (an account, or
// an address).
type Policy struct {
	Window   time.Duration // failures older than this are forgotten
	SlowFrom int           // from this many failures, each attempt waits first
	MaxDelay time.Duration // the longest wait (it doubles per failure from SlowFrom)
	LockFrom int           // from this many failures, attempts are refused ...
	LockFor  time.Duration // ... for this long
}

// Default policies: an account is slowed from its 3rd failure within 15
// minutes and locked for 15 minutes at its 10th; an address, which may
// serve a whole class behind one NAT, is slowed from its 10th and locked
// for 15 minutes at its 30th.
var (
	DefaultAccountPolicy = Policy{Window: 15 * time.Minute, SlowFrom: 3, MaxDelay: 8 * time.Second, LockFrom: 10, LockFor: 15 * time.Minute}
	DefaultAddressPolicy = Policy{Window: 15 * time.Minute, SlowFrom: 10, MaxDelay: 8 * time.Second, LockFrom: 30, LockFor: 15 * time.Minute}
)

// Locked is the error of an attempt refused by a lockout.
type Locked struct {
	What  string        // "account alice", "address 192.0.2.1"
	Retry time.Duration // how long the lockout still lasts
}

func (e *Locked) Error() string {
	return fmt.Sprintf("too many failed logins for %s; try again in %s", e.What, e.Retry.Round(time.Second))
}

// Guard counts failed logins per key under one policy. Safe for
// concurrent use; it never sleeps itself (Check says how long to wait).
type Guard struct {
	policy Policy
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*record
}

type record struct {
	fails  []time.Time // within the window, oldest first
	locked time.Time   // refused until then
}

// maxKeys bounds the keys a guard remembers: past it, the records with no
// recent failure are dropped first (an attacker cycling addresses costs
// memory only up to here).
const maxKeys = 100000

// NewGuard returns a guard with the policy on the clock now (time.Now if
// nil).
func NewGuard(p Policy, now func() time.Time) *Guard {
	if now == nil {
		now = time.Now
	}
	return &Guard{policy: p, now: now, keys: make(map[string]*record)}
}

// Check says whether an attempt for key may go on: a *Locked error if it is
// locked out, else how long to wait before verifying (0 when not slowed).
func (g *Guard) Check(key, what string) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.keys[key]
	if r == nil {
		return 0, nil
	}
	now := g.now()
	if now.Before(r.locked) {
		return 0, &Locked{What: what, Retry: r.locked.Sub(now)}
	}
	r.trim(now, g.policy.Window)
	n := len(r.fails)
	if g.policy.SlowFrom <= 0 || n < g.policy.SlowFrom {
		return 0, nil
	}
	d := time.Second << min(n-g.policy.SlowFrom, 16)
	return min(d, g.policy.MaxDelay), nil
}

// Fail records a failed attempt for key and reports whether it has just
// locked the key out.
func (g *Guard) Fail(key string) (locked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	r := g.keys[key]
	if r == nil {
		if len(g.keys) >= maxKeys {
			g.evictLocked(now)
		}
		r = &record{}
		g.keys[key] = r
	}
	r.trim(now, g.policy.Window)
	r.fails = append(r.fails, now)
	if g.policy.LockFrom > 0 && len(r.fails) >= g.policy.LockFrom {
		r.locked = now.Add(g.policy.LockFor)
		r.fails = nil
		return true
	}
	return false
}

// Succeed forgets key's failures (a correct password ends the count).
func (g *Guard) Succeed(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.keys[key]; r != nil && !g.now().Before(r.locked) {
		delete(g.keys, key)
	}
}

// evictLocked drops records that are neither locked nor recent. Caller
// holds g.mu.
func (g *Guard) evictLocked(now time.Time) {
	for k, r := range g.keys {
		r.trim(now, g.policy.Window)
		if len(r.fails) == 0 && !now.Before(r.locked) {
			delete(g.keys, k)
		}
	}
	for k := range g.keys { // still full: drop any, locks included
		if len(g.keys) < maxKeys {
			break
		}
		delete(g.keys, k)
	}
}

func (r *record) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(r.fails) && now.Sub(r.fails[i]) > window {
		i++
	}
	if i > 0 {
		r.fails = append(r.fails[:0], r.fails[i:]...)
	}
}
