package chat

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Room is a named set of sessions that see each other's messages. A room
// exists while it has members (the lobby always): it is made on the first
// join and freed when the last member leaves, since everything it had to
// keep (its history, its topic) is in the store.
type Room struct {
	name string // room key

	mu        sync.Mutex // guards the fields below; taken after Hub.mu
	members   []*Session
	accts     map[*account]int // sessions of each account among members: one user however many devices
	index     map[uint64]int   // session id -> position in members
	topic     string
	topicBy   string
	topicAt   time.Time // when the topic was set
	delivered uint64    // id of the newest message fanned out; every id ≤ this is stored
	// topicLoaded says the stored topic has been read (or set) since the
	// room was made.
	topicLoaded bool
	// dead says the room was freed (it emptied): whoever holds it must
	// look the room up again by name. Set under Hub.mu and mu.
	dead bool

	topicMu sync.Mutex // serialises loading and setting the topic, which wait for the store; taken before mu
}

func newRoom(key string, delivered uint64) *Room {
	// A copy: key may be a piece of a client's input line, which the room
	// would keep alive.
	return &Room{name: strings.Clone(key), index: make(map[uint64]int), delivered: delivered}
}

// Name returns the room key.
func (r *Room) Name() string { return r.name }

// add makes s a member. Caller holds r.mu.
func (r *Room) add(s *Session) bool {
	if _, ok := r.index[s.id]; ok {
		return false
	}
	r.index[s.id] = len(r.members)
	r.members = append(r.members, s)
	return true
}

// remove drops s from the members. Caller holds r.mu.
func (r *Room) remove(s *Session) bool {
	i, ok := r.index[s.id]
	if !ok {
		return false
	}
	last := len(r.members) - 1
	r.members[i] = r.members[last]
	r.index[r.members[i].id] = i
	r.members[last] = nil
	r.members = r.members[:last]
	delete(r.index, s.id)
	return true
}

// broadcast delivers ev to every member. Caller holds r.mu.
func (r *Room) broadcast(ev *Event) {
	for _, m := range r.members {
		m.deliver(ev)
	}
}

// announce delivers ev, the join or part of s, to the room: to every member,
// or only to s (when self is set) if the room has more than the hub's
// AnnounceLimit members, counting s. Caller holds r.mu.
func (r *Room) announce(h *Hub, s *Session, ev *Event, members int, self bool) {
	if lim := h.cfg.AnnounceLimit; lim <= 0 || members <= lim {
		r.broadcast(ev)
		return
	}
	if self {
		s.deliver(ev)
	}
}

// names returns the members' names, sorted, each once (an account's
// sessions are one user). Caller holds r.mu.
func (r *Room) names() []string {
	list := make([]string, 0, len(r.members))
	for _, m := range r.members {
		list = append(list, m.Name())
	}
	sort.Strings(list)
	if len(r.accts) > 0 {
		list = slices.Compact(list)
	}
	return list
}

// accountIn counts one more member session of account a (nil for a
// guest) and reports whether it is the account's first here: only then
// is the user's join news to the room. Caller holds r.mu.
func (r *Room) accountIn(a *account) (first bool) {
	if a == nil {
		return true
	}
	if r.accts == nil {
		r.accts = make(map[*account]int)
	}
	r.accts[a]++
	return r.accts[a] == 1
}

// accountOut counts one member session of account a fewer and reports
// whether it was the account's last here. Caller holds r.mu.
func (r *Room) accountOut(a *account) (last bool) {
	if a == nil {
		return true
	}
	n, ok := r.accts[a]
	if !ok {
		return true
	}
	if n <= 1 {
		delete(r.accts, a)
		return true
	}
	r.accts[a] = n - 1
	return false
}

// accountGone forgets account a (deleted). Caller holds r.mu.
func (r *Room) accountGone(a *account) { delete(r.accts, a) }
