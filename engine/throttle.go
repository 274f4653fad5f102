package engine

import (
	"errors"

	"github.com/parleychat/parley/chat"
)

// throttle charges one request read from c to s's rate limit and, when the
// client is over it, holds this reader (and so the client's input, by TCP
// flow control) until the request is due; nobody else waits. The first
// slowed request of a run gets a "slow down" error (carrying ref). A client
// that stays over the limit is told, its session ended and the connection
// finished as flooding: throttle then returns false and the read loop
// stops.
func throttle(c Conn, s *chat.Session, ref string) bool {
	wait, err := s.Admit()
	if errors.Is(err, chat.ErrFlooding) {
		c.Logger().Warn("disconnecting flooding client", "session", s.ID())
		c.Deliver(chat.ErrorEvent(err, ref))
		s.Leave(ReasonRateLimited.String())
		c.Finish(ReasonRateLimited)
		return false
	}
	if err != nil {
		c.Deliver(chat.ErrorEvent(err, ref))
	}
	s.Hold(wait)
	return true
}
