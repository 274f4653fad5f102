// Package memory is an in-memory chat.Store: fast, bounded, and forgotten
// when the process ends. For throwaway servers and tests.
package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/parleychat/parley/chat"
)

// DefaultPerRoom is how many messages a room keeps when New is given 0.
const DefaultPerRoom = 10000

// Store keeps the newest messages of each room (and of direct messages) in
// memory.
type Store struct {
	perRoom int

	mu     sync.RWMutex
	lastID uint64
	logs   map[string]*roomLog // room key -> log; "" holds direct messages
	topics map[string]chat.Topic
	d      directory // accounts and moderation
}

type roomLog struct {
	msgs   []chat.Message // oldest first
	pruned uint64         // highest id dropped by retention
}

var _ chat.Store = (*Store)(nil)

// New returns an empty store keeping at most perRoom messages per room.
func New(perRoom int) *Store {
	if perRoom <= 0 {
		perRoom = DefaultPerRoom
	}
	return &Store{perRoom: perRoom, logs: make(map[string]*roomLog), topics: make(map[string]chat.Topic)}
}

// SetTopic keeps the topic of a room.
func (s *Store) SetTopic(_ context.Context, t chat.Topic) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics[t.Room] = t
	return nil
}

// Topic returns the topic of one room.
func (s *Store) Topic(_ context.Context, room string) (chat.Topic, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.topics[room]
	return t, ok && t.Text != "", nil
}

// Topics returns every topic kept, by room.
func (s *Store) Topics(context.Context) ([]chat.Topic, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]chat.Topic, 0, len(s.topics))
	for _, t := range s.topics {
		if t.Text != "" {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

// Append stores msgs, giving each message without an id the next one.
func (s *Store) Append(_ context.Context, msgs []chat.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.lastID
	for i := range msgs {
		if msgs[i].ID == 0 {
			last++
			msgs[i].ID = last
		} else if msgs[i].ID <= last {
			return fmt.Errorf("memory store: id %d is not above the last id %d", msgs[i].ID, last)
		} else {
			last = msgs[i].ID
		}
	}
	for _, m := range msgs {
		l := s.logs[m.Room]
		if l == nil {
			l = &roomLog{}
			s.logs[m.Room] = l
		}
		l.msgs = append(l.msgs, m)
		if over := len(l.msgs) - s.perRoom; over > 0 && over >= s.perRoom/4+1 {
			l.pruned = l.msgs[over-1].ID
			l.msgs = append(l.msgs[:0:0], l.msgs[over:]...)
		}
		if m.ID > s.lastID {
			s.lastID = m.ID
		}
	}
	return nil
}

// LastID returns the highest id stored.
func (s *Store) LastID(context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastID, nil
}

// PrunedThrough returns the highest id of room dropped by retention.
func (s *Store) PrunedThrough(_ context.Context, room string) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l := s.logs[room]; l != nil {
		return l.pruned, nil
	}
	return 0, nil
}

// Backlog returns the messages q selects, oldest first.
func (s *Store) Backlog(_ context.Context, q chat.BacklogQuery) ([]chat.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []chat.Message
	take := func(room string, from, until uint64, match func(chat.Message) bool) {
		l := s.logs[room]
		if l == nil {
			return
		}
		from = max(from, q.After)
		i := sort.Search(len(l.msgs), func(i int) bool { return l.msgs[i].ID > from })
		for n := 0; i < len(l.msgs) && n < q.Limit; i++ {
			m := l.msgs[i]
			if until > 0 && m.ID > until {
				break
			}
			if match == nil || match(m) {
				out = append(out, m)
				n++
			}
		}
	}
	for _, r := range q.Rooms {
		if r.Room != "" {
			take(r.Room, r.From, r.Until, nil)
		}
	}
	if q.User != "" {
		key := chat.NameKey(q.User)
		take("", q.UserFrom, 0, func(m chat.Message) bool { return chat.NameKey(m.From) == key || chat.NameKey(m.To) == key })
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// History returns the messages matching q, oldest first.
func (s *Store) History(_ context.Context, q chat.HistoryQuery) ([]chat.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[q.Room]
	if l == nil || q.Limit <= 0 {
		return nil, nil
	}
	msgs := l.msgs
	lo := sort.Search(len(msgs), func(i int) bool { return msgs[i].ID > q.After })
	hi := len(msgs)
	if q.Before > 0 {
		hi = sort.Search(len(msgs), func(i int) bool { return msgs[i].ID >= q.Before })
	}
	if lo >= hi {
		return nil, nil
	}
	var out []chat.Message
	if q.Room != "" {
		out = msgs[lo:hi]
	} else {
		key := chat.NameKey(q.User)
		for _, m := range msgs[lo:hi] {
			if chat.NameKey(m.From) == key || chat.NameKey(m.To) == key {
				out = append(out, m)
			}
		}
	}
	if len(out) > q.Limit {
		if q.FromOldest {
			out = out[:q.Limit]
		} else {
			out = out[len(out)-q.Limit:]
		}
	}
	return append([]chat.Message(nil), out...), nil
}
