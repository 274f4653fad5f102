package chat

import (
	"context"
	"fmt"
)

// Backlog returns, oldest first, up to limit of the stored messages with
// ids above after that this session was meant to get: those of the rooms
// it is in (since it joined each), of the rooms it left lately (up to when
// it left), and its direct messages. It is what a connection that fell
// behind reads at its own pace instead of the live messages it dropped, so
// that slowness costs the client latency, never messages. The messages the
// session sent itself are marked as its own (Session), so protocols that
// do not echo still do not. When retention has deleted messages the
// session had not been sent, a history_end event with text history_gone
// for that room comes first. It reads the store on the caller's goroutine
// and holds no hub lock while it does.
func (s *Session) Backlog(after uint64, limit int) ([]*Event, error) {
	h := s.hub
	s.mu.Lock()
	q := BacklogQuery{After: after, Limit: limit}
	for i, r := range s.rooms {
		q.Rooms = append(q.Rooms, RoomRange{Room: r.name, From: s.since[i]})
	}
	if r := s.rare; r != nil {
		kept := r.parted[:0]
		for _, p := range r.parted {
			if p.until > after {
				kept = append(kept, p)
				q.Rooms = append(q.Rooms, RoomRange{Room: p.name, From: p.since, Until: p.until})
			}
		}
		clear(r.parted[len(kept):])
		r.parted = kept
	}
	if s.nameSince != noName {
		q.User, q.UserFrom = s.name, s.nameSince
	}
	key := s.key
	s.mu.Unlock()

	var out []*Event
	for _, r := range q.Rooms {
		pruned, err := h.store.PrunedThrough(context.Background(), r.Room)
		if err != nil {
			return nil, err
		}
		if from := max(after, r.From); pruned > from && s.noteGone(r.Room, pruned) {
			out = append(out, &Event{Message: Message{Kind: KindHistoryEnd, Room: r.Room, Time: h.now(),
				Text: string(CodeHistoryGone)}, History: true})
			h.log.Warn("a lagging client missed messages that retention deleted", "session", s.id, "room", r.Room,
				"missed", fmt.Sprintf("%d-%d", from+1, pruned))
		}
	}
	msgs, err := h.store.Backlog(context.Background(), q)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		ev := &Event{Message: msgs[i]}
		if NameKey(msgs[i].From) == key {
			ev.Session = s.id // its own: protocols without echo skip it
		}
		out = append(out, ev)
	}
	return out, nil
}

// noteGone records that the session was told retention deleted a room's
// messages through id, and reports whether that is news.
func (s *Session) noteGone(room string, through uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rareLocked()
	if r.gone == nil {
		r.gone = map[string]uint64{}
	}
	if r.gone[room] >= through {
		return false
	}
	r.gone[room] = through
	return true
}
