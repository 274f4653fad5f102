package testkit

import (
	"sync"
	"time"
)

// Clock is a fake clock for the hub (node.Config.Now and Sleep): time
// stands still except when something sleeps on it, which moves it forward
// at once. Rate-limit waits then cost no real time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock forward by d without waiting.
func (c *Clock) Sleep(d time.Duration) { c.Advance(d) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
