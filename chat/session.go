package chat

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one registered user connection in the hub. Front-ends call its
// methods for what the user does; the hub delivers what the user should see
// to the session's Sink.
type Session struct {
	hub  *Hub
	id   uint64
	sink Sink
	info ClientInfo

	mu      sync.Mutex // guards the fields below; taken after Hub.mu and Room.mu
	name    string
	key     string
	skel    string           // NameSkeleton(name)
	rooms   []*Room          // joined rooms, in joining order: most sessions are in a few rooms, and a slice costs an idle session far less than a map
	since   []uint64         // since[i]: the last id of rooms[i] before the session joined it (its replay's end)
	roomIdx map[string]*Room // key -> room, kept only while rooms is longer than roomIndexAt
	current string
	away    string   // away message; "" when here
	started int64    // when registered, in Unix nanoseconds on the hub's clock; set once
	acct    *account // the account logged in to; nil for a guest. Changed only under Hub.mu too
	rare    *sessionRare
	// addrCloak is the keyed hash of the session's address it is shown
	// with as a guest (Hub.Cloak); set once.
	addrCloak string
	awayHeld  bool // a login's away replay is pending (sessionRare.awayFrom), live events are held
	closed    bool
	// nameSince is the newest message id when the session took its current
	// name: a name is not an account, so direct-message history starts
	// there and whoever takes a name later cannot read the earlier holder's.
	// It is noName until the committer has placed the name's fence.
	nameSince uint64

	spoke atomic.Int64 // when the session last sent a message (Unix nanoseconds on the hub's clock); 0 for never

	lim  limiter // rate limit of inbound requests (Admit); has its own lock
	held hold    // live events held while a replay runs; has its own lock
}

// sessionRare is the part of a session few sessions need, made on first
// use (under Session.mu): an idle guest carries only the pointer.
type sessionRare struct {
	parted []partedRoom      // rooms left lately, for a lagging connection's backlog
	gone   map[string]uint64 // per room, the pruned id a backlog has told the session about
	// The away replay of a login: direct messages in (awayFrom, awayTo],
	// delivered by replayAway while live events are held (awayHeld).
	awayFrom, awayTo uint64
}

// rareLocked returns s.rare, made if need be. Caller holds s.mu.
func (s *Session) rareLocked() *sessionRare {
	if s.rare == nil {
		s.rare = &sessionRare{}
	}
	return s.rare
}

// hold keeps a session's live events back while a history replay is being
// delivered, so that the replay runs outside every room lock and still ends
// exactly where live delivery begins. The fast path (not holding) is one
// atomic load per delivery.
type hold struct {
	on    atomic.Bool
	mu    sync.Mutex // taken after Room.mu, before the Sink's locks
	depth int        // replays running
	st    *heldEvents
}

// heldEvents is what a hold keeps while it holds, made when it first
// keeps something: an idle session carries only the pointer.
type heldEvents struct {
	events []*Event
	bytes  int
	// Past MaxHeldBytes every event is dropped until the replay ends; the
	// messages among them are fetched again from the store (lost: per room
	// key, "" for direct messages, the first and last id dropped).
	full   bool
	lost   map[string][2]uint64
	others int // events other than messages dropped
}

// deliverIn is deliver from the fan-out, of messages in id order: their
// write may wait for the end of batch b (nil: no batching).
func (s *Session) deliverIn(b *flushBatch, evs []*Event) {
	if b == nil || s.held.on.Load() {
		for _, ev := range evs {
			s.deliver(ev)
		}
		return
	}
	b.add(s.sink, evs)
}

// deliver hands ev to the session's sink, or holds it during a replay.
func (s *Session) deliver(ev *Event) {
	if !s.held.on.Load() {
		s.sink.Deliver(ev)
		return
	}
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.depth == 0 {
		s.sink.Deliver(ev)
		return
	}
	if h.st == nil {
		h.st = &heldEvents{}
	}
	st := h.st
	size := ev.Size()
	if !st.full && st.bytes+size <= s.hub.cfg.MaxHeldBytes {
		st.events = append(st.events, ev)
		st.bytes += size
		return
	}
	st.full = true
	if !ev.Kind.IsMessage() || ev.ID == 0 {
		st.others++
		return
	}
	if st.lost == nil {
		st.lost = map[string][2]uint64{}
	}
	key := ev.Room
	if ev.Kind == KindDM {
		key = ""
	}
	r, ok := st.lost[key]
	if !ok {
		r[0] = ev.ID
	}
	r[1] = ev.ID
	st.lost[key] = r
}

// holdLive starts holding live events (replays nest).
func (s *Session) holdLive() {
	s.held.mu.Lock()
	s.held.depth++
	s.held.on.Store(true)
	s.held.mu.Unlock()
}

// maxRefetchRounds bounds how often release fetches dropped messages again
// before it gives up and tells the client to page history.
const maxRefetchRounds = 3

// releaseLive ends one replay. When the last ends, the held events are
// delivered in order; messages dropped past MaxHeldBytes are fetched again
// from the store first (they are all stored), while newer events are held
// in their turn.
func (s *Session) releaseLive() {
	h := &s.held
	for round := 0; ; round++ {
		h.mu.Lock()
		if h.depth > 1 {
			h.depth--
			h.mu.Unlock()
			return
		}
		var events []*Event
		var lost map[string][2]uint64
		var others int
		if st := h.st; st != nil {
			events, lost, others = st.events, st.lost, st.others
			h.st = nil
		}
		if len(lost) == 0 || round >= maxRefetchRounds {
			for _, ev := range events {
				s.sink.Deliver(ev)
			}
			h.depth = 0
			h.on.Store(false)
			h.mu.Unlock()
			if len(lost) > 0 || others > 0 {
				s.tellDropped(lost, others)
			}
			return
		}
		// Deliver what was held before the overflow, then what was
		// dropped, from the store, still holding anything newer.
		for _, ev := range events {
			s.sink.Deliver(ev)
		}
		h.mu.Unlock()
		for key, r := range lost {
			s.refetch(key, r[0], r[1])
		}
		if others > 0 {
			s.tellDropped(nil, others)
		}
	}
}

// refetch delivers the stored messages of one room (or the session's
// direct messages, key "") with ids from first to last.
func (s *Session) refetch(key string, first, last uint64) {
	q := HistoryQuery{Room: key, After: first - 1, Before: last + 1, Limit: int(min(last-first+1, 1<<20)), FromOldest: true}
	if key == "" {
		s.mu.Lock()
		q.User = s.name
		q.After = max(q.After, s.nameSince)
		s.mu.Unlock()
	}
	msgs, err := s.hub.store.History(context.Background(), q)
	if err != nil {
		s.hub.log.Error("refetching held messages failed", "session", s.id, "room", key, "err", err)
		s.tellDropped(map[string][2]uint64{key: {first, last}}, 0)
		return
	}
	deliverPaced(s.sink, func(yield func(*Event) bool) {
		for i := range msgs {
			if !yield(&Event{Message: msgs[i]}) {
				return
			}
		}
	})
}

// tellDropped tells the session what a replay's overflow cost it.
func (s *Session) tellDropped(lost map[string][2]uint64, others int) {
	text := ""
	for key, r := range lost {
		where := "your direct messages"
		if key != "" {
			where = key
		}
		text += fmt.Sprintf("messages %d to %d of %s could not be shown while history loaded; page history to see them. ", r[0], r[1], where)
	}
	if others > 0 {
		text += fmt.Sprintf("%d joins, parts or other changes happened while history loaded and were not shown.", others)
	}
	s.sink.Deliver(&Event{Message: Message{Kind: KindNotice, Time: s.hub.now(), Text: strings.TrimSpace(text)}})
}

// setNameSince places the session's name fence.
func (s *Session) setNameSince(id uint64) {
	s.mu.Lock()
	s.nameSince = id
	s.mu.Unlock()
}

// JoinOptions says what to replay when joining a room.
type JoinOptions struct {
	// After resumes: replay exactly the messages with ids greater than
	// After (up to the hub's MaxResume), then live ones.
	After uint64
	// History is how many recent messages to replay when not resuming:
	// 0 means the hub's default, negative means none.
	History int
}

// Hub returns the hub the session belongs to.
func (s *Session) Hub() *Hub { return s.hub }

// ID returns the session's id, unique while the hub runs.
func (s *Session) ID() uint64 { return s.id }

// Info returns what the front-end said about the connection.
func (s *Session) Info() ClientInfo { return s.info }

// Name returns the session's current nickname.
func (s *Session) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// Current returns the key of the room plain text goes to ("" if none).
func (s *Session) Current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Joined returns the keys of the rooms the session is in, sorted.
func (s *Session) Joined() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]string, 0, len(s.rooms))
	for _, r := range s.rooms {
		list = append(list, r.name)
	}
	sort.Strings(list)
	return list
}

// Closed reports whether the session has left.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// roomIndexAt is the number of joined rooms from which a session indexes
// them in a map (a linear scan of a few is cheaper than a map, and smaller).
const roomIndexAt = 16

// joined returns the joined room with the given key, or nil. Caller holds
// s.mu.
func (s *Session) joined(key string) *Room {
	if s.roomIdx != nil {
		return s.roomIdx[key]
	}
	for _, r := range s.rooms {
		if r.name == key {
			return r
		}
	}
	return nil
}

// partedRoom is a room the session left: its messages in (since, until]
// were the session's.
type partedRoom struct {
	name         string
	since, until uint64
}

// maxParted bounds the rooms left that a backlog remembers.
const maxParted = 16

// addRoom records r as joined, its messages after since being the
// session's. Caller holds s.mu.
func (s *Session) addRoom(r *Room, since uint64) {
	s.rooms = append(s.rooms, r)
	s.since = append(s.since, since)
	if s.roomIdx == nil && len(s.rooms) > roomIndexAt {
		s.roomIdx = make(map[string]*Room, len(s.rooms))
		for _, r := range s.rooms {
			s.roomIdx[r.name] = r
		}
	} else if s.roomIdx != nil {
		s.roomIdx[r.name] = r
	}
}

// removeRoom forgets the joined room with the given key and returns the id
// it was joined after. Caller holds s.mu.
func (s *Session) removeRoom(key string) (since uint64) {
	if i := slices.IndexFunc(s.rooms, func(r *Room) bool { return r.name == key }); i >= 0 {
		since = s.since[i]
		s.rooms = slices.Delete(s.rooms, i, i+1)
		s.since = slices.Delete(s.since, i, i+1)
	}
	if s.roomIdx != nil {
		delete(s.roomIdx, key)
		if len(s.rooms) <= roomIndexAt/2 {
			s.roomIdx = nil
		}
	}
	return since
}

// Send delivers an event to this session only (held, like live events,
// while a replay runs).
func (s *Session) Send(ev *Event) { s.deliver(ev) }

// Join joins a room (creating it if needed) and makes it the current room.
// Recent history, or the messages after opt.After, are delivered before any
// live message, with no gap and no duplicate; the store is read outside
// every lock while the session's live events are held. Joining a room the
// session is already in makes it current, and replays what is after
// opt.After if it is set. The join is announced to the room, or, in a room
// over the hub's AnnounceLimit, only to s.
func (s *Session) Join(room string, opt JoinOptions) error {
	key, err := ValidateRoom(room)
	if err != nil {
		return err
	}
	h := s.hub
	if opt.History == 0 {
		opt.History = s.info.History
	}
	for {
		// Refuse before the room is made: a refused join must not leave
		// an empty room behind.
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if n := len(s.rooms); s.joined(key) == nil && n >= h.cfg.MaxSessionRooms {
			s.mu.Unlock()
			return Errorf(CodeInvalid, "you are in %d rooms, the most one may be in; /part one first", n)
		}
		s.mu.Unlock()
		if err := h.mod.checkJoin(s, key); err != nil {
			return err
		}
		r, err := h.room(key, true)
		if err != nil {
			return err
		}
		key = r.name // the room's copy: what the session and its events keep
		h.loadTopic(r)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			h.freeIfEmpty(r)
			return ErrClosed
		}
		already := s.joined(key) != nil
		if already {
			s.current = key
		}
		name, isAccount := s.name, s.acct != nil
		s.mu.Unlock()
		if already && opt.After == 0 {
			s.Send(&Event{Message: Message{Kind: KindNotice, Room: key, Time: h.now(), Text: "you are in " + key + "; it is now your current room"}})
			return nil
		}

		// An account already in the room on another node: this device
		// joining is no news (asked before the room's lock).
		elsewhere := isAccount && h.inRoomElsewhere(key, name)
		s.holdLive()
		r.mu.Lock()
		if r.dead { // freed since the lookup: make it anew
			r.mu.Unlock()
			s.releaseLive()
			continue
		}
		upTo := r.delivered // every id up to here is stored; later ones arrive live, held
		joinedNow := false
		if !already && r.add(s) {
			s.mu.Lock()
			s.addRoom(r, upTo)
			s.current = key
			acct := s.acct
			s.mu.Unlock()
			news := r.accountIn(acct) && !(acct != nil && elsewhere) // another device of the same user joining is no news
			// The joiner is told straight away, ahead of the replay and
			// of the live events held meanwhile: its join, the topic, the
			// room's history, then what is new.
			joined := &Event{Message: Message{Kind: KindJoin, Room: key, Time: h.now()}, Session: s.id, Name: name}
			if lim := h.cfg.AnnounceLimit; news && (lim <= 0 || len(r.members) <= lim) {
				for _, m := range r.members {
					if m != s {
						m.deliver(joined)
					}
				}
			}
			s.sink.Deliver(joined)
			joinedNow = true
			if len(r.members) == 1 && len(h.remoteMembers(key)) == 0 {
				defer h.mod.claimNew(s, key) // an account making a room owns it
			}
			if r.topic != "" {
				s.sink.Deliver(&Event{Message: Message{Kind: KindTopic, Room: key, From: r.topicBy, Time: r.topicAt, Text: r.topic}})
			}
		}
		r.mu.Unlock()
		if joinedNow {
			h.announce(Presence{Op: PresenceJoin, Session: s.id, Name: name, Room: key})
		}
		if err := s.replay(key, upTo, opt); err != nil {
			h.log.Error("history replay failed", "room", key, "session", s.id, "err", err)
			s.sink.Deliver(errorEvent(Errorf(CodeUnavailable, "history of %s is unavailable right now", key), ""))
		}
		s.releaseLive()
		return nil
	}
}

// replay delivers the stored history of room (key) up to id upTo straight
// to the sink, ahead of the held live events.
func (s *Session) replay(key string, upTo uint64, opt JoinOptions) error {
	h := s.hub
	q := HistoryQuery{Room: key, Before: upTo + 1}
	note := ""
	var msgs []Message
	if opt.After > 0 {
		// A resuming client always gets a history_end, even when it is up
		// to date, so it can tell where the replay stops.
		if opt.After < upTo {
			q.After, q.Limit, q.FromOldest = opt.After, h.cfg.MaxResume, true
			var err error
			if msgs, err = h.store.History(context.Background(), q); err != nil {
				return err
			}
			// Asked after the query: retention running in between shows
			// up here, so a gap is never reported as complete.
			pruned, err := h.store.PrunedThrough(context.Background(), key)
			if err != nil {
				return err
			}
			if opt.After < pruned {
				note = string(CodeHistoryGone)
			}
		}
	} else {
		q.Limit = opt.History
		if q.Limit == 0 {
			q.Limit = h.cfg.HistoryOnJoin
		}
		if q.Limit > h.cfg.MaxHistory {
			q.Limit = h.cfg.MaxHistory
		}
		if q.Limit <= 0 {
			return nil
		}
		var err error
		if msgs, err = h.store.History(context.Background(), q); err != nil {
			return err
		}
	}
	deliverPaced(s.sink, func(yield func(*Event) bool) {
		for i := range msgs {
			if !yield(&Event{Message: msgs[i], History: true}) {
				return
			}
		}
	})
	s.charge(len(msgs) / ReplayCost)
	if opt.After > 0 && q.Limit > 0 && len(msgs) == q.Limit && note == "" {
		note = HistoryMore // the resume was cut short; page on with a history request
	}
	s.sink.Deliver(&Event{Message: Message{Kind: KindHistoryEnd, Room: key, Time: h.now(), Text: note}, History: true})
	return nil
}

// Part leaves a room ("" for the current one), announcing reason to the
// room (only to s in a room over the hub's AnnounceLimit).
func (s *Session) Part(room, reason string) error { return s.part(room, reason, "") }

// part leaves a room; by names the moderator who kicked the session ("" for
// a part of its own).
func (s *Session) part(room, reason, by string) error {
	key, r, err := s.member(room)
	if err != nil {
		return err
	}
	if reason != "" {
		if reason, err = CleanLine(reason, MaxReasonBytes); err != nil && ErrorCode(err) != CodeEmpty {
			return err
		}
	}
	s.mu.Lock()
	since := s.removeRoom(key)
	if s.current == key {
		s.current = ""
		for _, r := range s.rooms {
			if s.current == "" || r.name < s.current {
				s.current = r.name
			}
		}
	}
	name, acct := s.name, s.acct
	s.mu.Unlock()
	elsewhere := acct != nil && s.hub.inRoomElsewhere(key, name)

	r.mu.Lock()
	part := &Event{Message: Message{Kind: KindPart, Room: key, Time: s.hub.now()}, Session: s.id, Name: name, Reason: reason, By: by}
	if r.accountOut(acct) && !elsewhere {
		r.announce(s.hub, s, part, len(r.members), true)
	} else {
		s.deliver(part) // the user is still here on another device
	}
	r.remove(s)
	until := r.delivered
	empty := len(r.members) == 0
	r.mu.Unlock()
	if empty {
		s.hub.freeIfEmpty(r)
	}
	s.hub.announce(Presence{Op: PresencePart, Session: s.id, Name: name, Room: key, Reason: reason, By: by})
	s.mu.Lock()
	rare := s.rareLocked()
	if len(rare.parted) == maxParted {
		rare.parted = slices.Delete(rare.parted, 0, 1)
	}
	rare.parted = append(rare.parted, partedRoom{name: key, since: since, until: until})
	s.mu.Unlock()
	return nil
}

// member resolves room ("" = current) to a room the session is in.
func (s *Session) member(room string) (string, *Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", nil, ErrClosed
	}
	key := s.current
	if room != "" {
		var err error
		if key, err = ValidateRoom(room); err != nil {
			return "", nil, err
		}
	}
	if key == "" {
		return "", nil, Errorf(CodeNotMember, "you are not in any room; /join one")
	}
	r := s.joined(key)
	if r == nil {
		return "", nil, Errorf(CodeNotMember, "you are not in %s; /join it first", key)
	}
	return key, r, nil
}

// Say sends a chat message to a room ("" for the current one). ref is the
// client's correlation token, echoed on its own copy and on errors.
func (s *Session) Say(room, text, ref string) error { return s.post(KindSay, room, text, ref) }

// Me sends an action ("/me waves") to a room ("" for the current one).
func (s *Session) Me(room, text, ref string) error { return s.post(KindMe, room, text, ref) }

func (s *Session) post(kind Kind, room, text, ref string) error {
	text, err := CleanText(text, s.hub.cfg.MaxMessageBytes)
	if err != nil {
		return err
	}
	key, r, err := s.member(room)
	if err != nil {
		return err
	}
	if err := s.hub.mod.checkSpeak(s, key); err != nil {
		return err
	}
	ev := &Event{Message: Message{Kind: kind, Room: key, From: s.Name(), Text: text}, Session: s.id, Ref: ref}
	s.spoke.Store(s.hub.now().UnixNano())
	return s.hub.publish(pending{ev: ev, from: s, room: r})
}

// DM sends a direct message to the user called to.
func (s *Session) DM(to, text, ref string) error {
	text, err := CleanText(text, s.hub.cfg.MaxMessageBytes)
	if err != nil {
		return err
	}
	if s.Closed() {
		return ErrClosed
	}
	h := s.hub
	if err := h.mod.checkSpeak(s, ""); err != nil {
		return err
	}
	h.mu.RLock()
	target := h.names[NameKey(to)]
	if target == nil {
		target = h.looks[NameSkeleton(to)] // names that look alike are one name: there is no impostor to reach
	}
	var away *account
	if target == nil {
		away = h.registeredLocked(NameKey(to), NameSkeleton(to)) // an account with no session: kept for it
	}
	h.mu.RUnlock()
	var toName string
	switch {
	case target != nil:
		toName = target.Name()
	case away != nil:
		toName = away.Name
	default:
		remote, ok := h.RemoteUser(to) // online on another node: delivered there
		if !ok {
			return Errorf(CodeNoSuchUser, "no one called %q is online", to)
		}
		toName = remote
	}
	ev := &Event{Message: Message{Kind: KindDM, From: s.Name(), To: toName, Text: text}, Session: s.id, Ref: ref}
	s.spoke.Store(h.now().UnixNano())
	return h.publish(pending{ev: ev, from: s, to: target, toAcct: away})
}

// Nick changes the session's name. Everyone who shares a room with the
// session, and the session itself, is told once.
func (s *Session) Nick(name string) error {
	display, key, err := ValidateName(name)
	if err != nil {
		return err
	}
	h := s.hub
	skel := NameSkeleton(display)
	if a := s.Account(); a != "" {
		if key == s.accountKey() {
			return nil
		}
		return Errorf(CodeInvalid, "you are logged in as %s, and an account keeps its name; connect as a guest to use another", a)
	}
	s.mu.Lock()
	oldSkel := s.skel
	s.mu.Unlock()
	if skel != oldSkel {
		h.mu.RLock()
		err := h.nameFreeLocked(display, key, skel, s)
		h.mu.RUnlock()
		if err != nil {
			return err
		}
		if err := h.claimName(skel, display, ""); err != nil {
			return err
		}
	}
	renamed, err := s.rename(display, key, skel)
	if skel != oldSkel {
		if err != nil || !renamed {
			h.releaseName(skel)
		} else {
			h.releaseName(oldSkel)
		}
	}
	return err
}

// rename is Nick once the new name is claimed in the cluster; it reports
// whether the session took it.
func (s *Session) rename(display, key, skel string) (bool, error) {
	h := s.hub
	h.mu.Lock()
	if err := h.nameFreeLocked(display, key, skel, s); err != nil {
		h.mu.Unlock()
		return false, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		h.mu.Unlock()
		return false, ErrClosed
	}
	old := s.name
	if old != display {
		h.noteDepartureLocked(s, old)
	}
	delete(h.names, s.key)
	delete(h.looks, s.skel)
	h.names[key] = s
	h.looks[skel] = s
	s.skel = skel
	if key != s.key {
		s.nameSince = noName
		h.placeName(s)
	}
	s.name, s.key = display, key
	rooms := slices.Clone(s.rooms)
	s.mu.Unlock()
	h.mu.Unlock()
	if old == display {
		return true, nil
	}
	h.log.Info("nick changed", "session", s.id, "old", old, "name", display)
	h.announce(Presence{Op: PresenceNick, Session: s.id, Name: display})

	ev := &Event{Message: Message{Kind: KindNick, Time: h.now()}, Session: s.id, OldName: old, Name: display}
	s.deliver(ev)
	s.tellPeers(rooms, ev)
	return true, nil
}

// SetTopic sets the topic of a room ("" for the current one), stores it
// (who set it and when), and tells the room's members. Only the setter
// waits for the store. A blank topic clears it.
func (s *Session) SetTopic(room, topic string) error {
	topic, err := CleanLine(topic, MaxTopicBytes)
	if err != nil && ErrorCode(err) != CodeEmpty {
		return err
	}
	key, r, err := s.member(room)
	if err != nil {
		return err
	}
	h := s.hub
	if h.mod.active.Load() {
		rs, _ := h.mod.snapshot(key)
		if rs.TopicLock && h.roleOf(s, &rs) < RoleOp {
			return Errorf(CodeForbidden, "the topic of #%s is locked (+t): only ops set it", key)
		}
	}
	name, now := s.Name(), h.now()
	r.topicMu.Lock()
	defer r.topicMu.Unlock()
	if err := h.store.SetTopic(context.Background(), Topic{Room: key, Text: topic, By: name, At: now}); err != nil {
		h.log.Error("storing a topic failed", "room", key, "err", err)
		return Errorf(CodeUnavailable, "the topic could not be stored; try again")
	}
	r.mu.Lock()
	r.topic, r.topicBy, r.topicAt, r.topicLoaded = topic, name, now, true
	r.broadcast(&Event{Message: Message{Kind: KindTopic, Room: key, From: name, Time: now, Text: topic}, Session: s.id})
	r.mu.Unlock()
	h.announce(Presence{Op: PresenceTopic, Session: s.id, Name: name, Room: key, Text: topic, Time: now})
	return nil
}

// Topic returns the topic of a room ("" for the current one), who set it
// and when. Any room may be asked about, joined or not: topics are public,
// as the room list shows.
func (s *Session) Topic(room string) (key, topic, by string, at time.Time, err error) {
	key = s.Current()
	if room != "" {
		if key, err = ValidateRoom(room); err != nil {
			return "", "", "", time.Time{}, err
		}
	}
	if key == "" {
		return "", "", "", time.Time{}, Errorf(CodeNotMember, "you are not in any room; name one")
	}
	h := s.hub
	if r, _ := h.room(key, false); r != nil {
		h.loadTopic(r)
		r.mu.Lock()
		defer r.mu.Unlock()
		return key, r.topic, r.topicBy, r.topicAt, nil
	}
	t, _, err := h.store.Topic(context.Background(), key)
	if err != nil {
		h.log.Error("reading a topic failed", "room", key, "err", err)
		return "", "", "", time.Time{}, Errorf(CodeUnavailable, "the topic of %s is unavailable right now", key)
	}
	return key, t.Text, t.By, t.At, nil
}

// Who returns the members of a room ("" for the current one), sorted. Any
// existing room may be listed, joined or not.
func (s *Session) Who(room string) (string, []string, error) {
	key := s.Current()
	if room != "" {
		var err error
		if key, err = ValidateRoom(room); err != nil {
			return "", nil, err
		}
	}
	if key == "" {
		return "", nil, Errorf(CodeNotMember, "you are not in any room; name one")
	}
	var names []string
	if r, _ := s.hub.room(key, false); r != nil {
		r.mu.Lock()
		names = r.names()
		r.mu.Unlock()
	}
	if remote := s.hub.remoteMembers(key); len(remote) > 0 {
		names = append(names, remote...)
		sort.Strings(names)
		names = slices.Compact(names) // an account on several nodes is one user
	}
	return key, names, nil
}

// Rooms lists the rooms with members or a topic (see Hub.Rooms).
func (s *Session) Rooms(after string, limit int) ([]RoomInfo, bool, error) {
	return s.hub.Rooms(after, limit)
}

// History returns stored messages: of a room the session is in (q.Room), or
// the session's own direct messages (q.Room empty), at most the hub's
// MaxHistory.
func (s *Session) History(q HistoryQuery) ([]Message, error) {
	msgs, _, err := s.history(q)
	return msgs, err
}

// history returns stored messages: of a room the session is in (q.Room),
// or the session's own direct messages (q.Room empty), and the page size
// used (q.Limit capped at the hub's MaxHistory).
func (s *Session) history(q HistoryQuery) ([]Message, int, error) {
	if q.Room != "" {
		key, _, err := s.member(q.Room)
		if err != nil {
			return nil, 0, err
		}
		q.Room, q.User = key, ""
	} else {
		s.mu.Lock()
		q.User = s.name
		q.After = max(q.After, s.nameSince)
		s.mu.Unlock()
	}
	if q.Limit <= 0 || q.Limit > s.hub.cfg.MaxHistory {
		q.Limit = s.hub.cfg.MaxHistory
	}
	if q.After == noName {
		return nil, q.Limit, nil
	}
	msgs, err := s.hub.store.History(context.Background(), q)
	if err != nil {
		s.hub.log.Error("history query failed", "session", s.id, "err", err)
		return nil, 0, Errorf(CodeUnavailable, "history is unavailable right now")
	}
	return msgs, q.Limit, nil
}

// Leave ends the session: it leaves every room (announcing reason, except in
// rooms over the hub's AnnounceLimit) and frees its name. Calling Leave again does nothing.
func (s *Session) Leave(reason string) {
	h := s.hub
	h.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		h.mu.Unlock()
		return
	}
	s.closed = true
	name, acct, skel := s.name, s.acct, s.skel
	h.noteDepartureLocked(s, name)
	lastOfAccount := h.detachLocked(s)
	if h.names[s.key] == s {
		delete(h.names, s.key)
	}
	if h.looks[s.skel] == s {
		delete(h.looks, s.skel)
	}
	delete(h.sessions, s.id)
	rooms := s.rooms
	s.rooms, s.since, s.roomIdx = nil, nil, nil
	if s.rare != nil {
		s.rare.parted = nil
	}
	s.current = ""
	n := len(h.sessions)
	s.mu.Unlock()
	h.mu.Unlock()

	for _, r := range rooms {
		key := r.name
		elsewhere := acct != nil && h.inRoomElsewhere(key, name)
		r.mu.Lock()
		r.remove(s)
		if r.accountOut(acct) && !elsewhere {
			r.announce(h, s, &Event{Message: Message{Kind: KindPart, Room: key, Time: h.now()}, Session: s.id, Name: name, Reason: reason, Quit: true}, len(r.members)+1, false)
		}
		empty := len(r.members) == 0
		r.mu.Unlock()
		if empty {
			h.freeIfEmpty(r)
		}
	}
	if lastOfAccount != nil && h.dir != nil {
		h.saveSeen(lastOfAccount)
	}
	h.releaseName(skel)
	h.announce(Presence{Op: PresenceQuit, Session: s.id, Name: name, Reason: reason})
	h.log.Info("session ended", "session", s.id, "name", name, "protocol", s.info.Protocol, "remote", s.info.Remote, "reason", reason, "sessions", n)
}
