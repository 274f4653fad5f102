package chat

import (
	"slices"
	"time"
)

// MaxAwayBytes is the longest away message relayed; longer ones are cut.
const MaxAwayBytes = 200

// SetAway marks the session away with a reason, or back when text is
// blank. Everyone who shares a room with the session is told once (a
// KindAway event; Text empty means back); the session itself is not.
func (s *Session) SetAway(text string) error {
	if text != "" {
		var err error
		if text, err = CleanLine(text, MaxAwayBytes); err != nil && ErrorCode(err) != CodeEmpty {
			return err
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	changed := s.away != text
	s.away = text
	name := s.name
	rooms := slices.Clone(s.rooms)
	s.mu.Unlock()
	if !changed {
		return nil
	}
	ev := &Event{Message: Message{Kind: KindAway, Time: s.hub.now(), Text: text}, Session: s.id, Name: name}
	s.tellPeers(rooms, ev)
	s.hub.announce(Presence{Op: PresenceAway, Session: s.id, Name: name, Text: text})
	return nil
}

// Away returns the session's away message, "" when it is not away.
func (s *Session) Away() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.away
}

// Since returns when the session was registered.
func (s *Session) Since() time.Time { return time.Unix(0, s.started) }

// Idle returns how long ago the session last sent a message (since it was
// registered, if it never has).
func (s *Session) Idle() time.Duration {
	last := s.started
	if n := s.spoke.Load(); n != 0 {
		last = n
	}
	return max(s.hub.now().Sub(time.Unix(0, last)), 0)
}

// tellPeers delivers ev once to every other member of the given rooms.
func (s *Session) tellPeers(rooms []*Room, ev *Event) {
	told := map[uint64]bool{s.id: true}
	for _, r := range rooms {
		r.mu.Lock()
		for _, m := range r.members {
			if !told[m.id] {
				told[m.id] = true
				m.deliver(ev)
			}
		}
		r.mu.Unlock()
	}
}

// Notice sends a user notice (IRC NOTICE) to a room the session is in
// (room) or to the user called to: relayed live to the others, never
// stored, and never to be answered automatically. Exactly one of room and
// to is set.
func (s *Session) Notice(room, to, text string) error {
	text, err := CleanText(text, s.hub.cfg.MaxMessageBytes)
	if err != nil {
		return err
	}
	if to != "" {
		target := s.hub.Lookup(to)
		if target == nil {
			remote, ok := s.hub.RemoteUser(to)
			if !ok {
				return Errorf(CodeNoSuchUser, "no one called %q is online", to)
			}
			if s.Closed() {
				return ErrClosed
			}
			s.hub.relay(Action{Op: ActionUserNotice, Target: remote, By: s.Name(), Text: text}) // its node delivers it
			return nil
		}
		if s.Closed() {
			return ErrClosed
		}
		ev := &Event{Message: Message{Kind: KindUserNotice, From: s.Name(), To: target.Name(), Time: s.hub.now(), Text: text}, Session: s.id}
		for _, o := range s.hub.sessionsOf(target) { // every device of an account
			o.deliver(ev)
		}
		if target.accountKey() != "" && s.hub.onlineElsewhere(target.Name()) {
			s.hub.relay(Action{Op: ActionUserNotice, Target: target.Name(), By: s.Name(), Text: text, Time: ev.Time}) // and those on other nodes
		}
		return nil
	}
	key, r, err := s.member(room)
	if err != nil {
		return err
	}
	ev := &Event{Message: Message{Kind: KindUserNotice, Room: key, From: s.Name(), Time: s.hub.now(), Text: text}, Session: s.id}
	r.mu.Lock()
	for _, m := range r.members {
		if m != s {
			m.deliver(ev)
		}
	}
	r.mu.Unlock()
	// Its members on other nodes (even those this node has not heard of
	// yet) get it from theirs.
	s.hub.relay(Action{Op: ActionUserNotice, Room: key, By: s.Name(), Text: text, Time: ev.Time})
	return nil
}

// Lookup returns the online session called name (or a name that looks
// like it), or nil.
func (h *Hub) Lookup(name string) *Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s := h.names[NameKey(name)]; s != nil {
		return s
	}
	return h.looks[NameSkeleton(name)]
}

// Online returns the online sessions' names, sorted; at most limit of them
// (all for 0).
func (h *Hub) Online(limit int) []string {
	h.mu.RLock()
	names := make([]string, 0, len(h.sessions))
	for _, s := range h.sessions {
		names = append(names, s.Name())
		if limit > 0 && len(names) == limit {
			break
		}
	}
	h.mu.RUnlock()
	slices.Sort(names)
	return names
}

// Departure is a name that was given up: its holder left or changed it.
type Departure struct {
	Name     string
	Protocol string
	User     string // ClientInfo.User
	RealName string // ClientInfo.RealName
	At       time.Time
}

// maxDepartures bounds the departures the hub remembers (WHOWAS).
const maxDepartures = 512

// noteDepartureLocked remembers that s gave up name. Caller holds h.mu.
func (h *Hub) noteDepartureLocked(s *Session, name string) {
	if len(h.departed) == maxDepartures {
		h.departed = slices.Delete(h.departed, 0, 1)
	}
	h.departed = append(h.departed, Departure{Name: name, Protocol: s.info.Protocol, User: s.info.User, RealName: s.info.RealName, At: h.now()})
}

// WhoWas returns the latest departures of name (compared by NameKey),
// newest first, at most limit of them (all kept for 0).
func (h *Hub) WhoWas(name string, limit int) []Departure {
	key := NameKey(name)
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []Departure
	for i := len(h.departed) - 1; i >= 0; i-- {
		if NameKey(h.departed[i].Name) == key {
			out = append(out, h.departed[i])
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out
}

// Counts returns how many sessions are registered, how many rooms exist,
// and the most sessions there have been at once.
func (h *Hub) Counts() (sessions, rooms, peak int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sessions), len(h.rooms), h.peak
}
