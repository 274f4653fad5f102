package chat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RaidPolicy is the rooms' raid protection: when more than Joins new
// guests join one room within Window, the room switches itself to
// accounts-only (+r) for For, and its members (ops included) are told.
// The lobby is left out: everyone arrives there, and a class logging in at
// once is not a raid (connection limits and RequireAccount guard it).
type RaidPolicy struct {
	Joins  int           // guests joining within Window that trip it; 0 (the zero value) or negative disables
	Window time.Duration // default 1 minute
	For    time.Duration // how long the room stays accounts-only; default 10 minutes
}

// Defaults of RaidPolicy.
const (
	DefaultRaidWindow = time.Minute
	DefaultRaidFor    = 10 * time.Minute
)

func (p RaidPolicy) withDefaults() RaidPolicy {
	if p.Joins <= 0 {
		p.Joins = -1
	}
	if p.Window <= 0 {
		p.Window = DefaultRaidWindow
	}
	if p.For <= 0 {
		p.For = DefaultRaidFor
	}
	return p
}

// moderation is the hub's moderation state: room settings and sanctions
// (loaded from the Directory and written through), and what is only kept
// in memory (invites, slow-mode clocks, raid counters).
//
// Locks: mu serialises changes and is held across Directory writes; it is
// taken before Hub.mu and every other lock. rw guards rooms and server and
// rt guards the in-memory state; both are leaves (nothing is locked while
// either is held).
type moderation struct {
	mu sync.Mutex

	rw     sync.RWMutex
	rooms  map[string]*roomMod // room key -> settings and sanctions
	server []Sanction          // server-wide sanctions
	// active says some room has settings or sanctions, or the server has
	// sanctions: while false, the message path checks nothing.
	active atomic.Bool

	rt      sync.Mutex
	invites map[string]map[string]time.Time // room -> name key -> invite expiry
	spoke   map[string]map[string]time.Time // room -> member key -> last message (slow mode)
	joins   map[string][]time.Time          // room -> recent guest joins (raid protection)
}

// roomMod is one room's persisted moderation state.
type roomMod struct {
	settings  RoomSettings
	sanctions []Sanction
}

// maxSlowClocks is how many members' last messages a slow room keeps
// before it sweeps out those whose interval has passed.
const maxSlowClocks = 1024

// inviteFor is how long an invitation stands.
const inviteFor = time.Hour

func (m *moderation) init() {
	m.rooms = make(map[string]*roomMod)
	m.invites = make(map[string]map[string]time.Time)
	m.spoke = make(map[string]map[string]time.Time)
	m.joins = make(map[string][]time.Time)
}

// load takes the stored settings and sanctions (expired ones are left out).
func (m *moderation) load(settings []RoomSettings, sanctions []Sanction, now time.Time) {
	m.rw.Lock()
	defer m.rw.Unlock()
	for _, rs := range settings {
		m.roomLocked(rs.Room).settings = rs
	}
	for _, sc := range sanctions {
		if !sc.active(now) {
			continue
		}
		if sc.Room == "" {
			m.server = append(m.server, sc)
		} else {
			rm := m.roomLocked(sc.Room)
			rm.sanctions = append(rm.sanctions, sc)
		}
	}
	m.updateActiveLocked()
}

// roomLocked returns a room's state, made if missing. Caller holds rw.
func (m *moderation) roomLocked(key string) *roomMod {
	rm := m.rooms[key]
	if rm == nil {
		rm = &roomMod{settings: RoomSettings{Room: key}}
		m.rooms[key] = rm
	}
	return rm
}

func (m *moderation) updateActiveLocked() {
	m.active.Store(len(m.rooms) > 0 || len(m.server) > 0)
}

// snapshot returns a copy of a room's settings and sanctions (zero
// settings for a room with none).
func (m *moderation) snapshot(key string) (RoomSettings, []Sanction) {
	m.rw.RLock()
	defer m.rw.RUnlock()
	rm := m.rooms[key]
	if rm == nil {
		return RoomSettings{Room: key}, nil
	}
	rs := rm.settings
	rs.Roles = maps.Clone(rs.Roles)
	return rs, slices.Clone(rm.sanctions)
}

// ident is what sanctions match a session by.
type ident struct {
	account string // account key; "" for a guest
	ip      string
	skel    string // name skeleton
}

func (s *Session) ident() ident {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ident{ip: remoteIP(s.info.Remote), skel: s.skel}
	if s.acct != nil {
		id.account = s.acct.Key
	}
	return id
}

// matches reports whether the sanction applies to id.
func (sc *Sanction) matches(id ident) bool {
	switch sc.Target {
	case TargetAccount:
		return id.account != "" && id.account == sc.Value
	case TargetName:
		return id.skel == sc.Value
	case TargetAddress:
		// An address stands for the guests behind it; accounts there
		// (a class behind one NAT) answer for themselves.
		if id.account != "" {
			return false
		}
		addr, err := netip.ParseAddr(id.ip)
		if err != nil {
			return id.ip == sc.Value
		}
		if p, err := netip.ParsePrefix(sc.Value); err == nil {
			return p.Contains(addr.Unmap())
		}
		if a, err := netip.ParseAddr(sc.Value); err == nil {
			return a.Unmap() == addr.Unmap()
		}
	}
	return false
}

// find returns the first active sanction of kind in list matching id.
func find(list []Sanction, kind SanctionKind, id ident, now time.Time) *Sanction {
	for i := range list {
		if sc := &list[i]; sc.Kind == kind && sc.active(now) && sc.matches(id) {
			return sc
		}
	}
	return nil
}

// describeSanction says what a sanction does, for the one it keeps out.
func describeSanction(what string, sc *Sanction) string {
	text := what
	if !sc.Until.IsZero() {
		text += " until " + sc.Until.UTC().Format("2006-01-02 15:04 MST")
	}
	if sc.Reason != "" {
		text += ": " + sc.Reason
	}
	return text
}

// checkServer refuses a login the server bans. acct is the account key
// ("" for a guest).
func (m *moderation) checkServer(h *Hub, acct, ip, skel string) error {
	if !m.active.Load() {
		return nil
	}
	if h.admins[acct] && acct != "" {
		return nil
	}
	m.rw.RLock()
	sc := find(m.server, SanctionBan, ident{account: acct, ip: ip, skel: skel}, h.now())
	var copyOf Sanction
	if sc != nil {
		copyOf = *sc
	}
	m.rw.RUnlock()
	if sc != nil {
		return Errorf(CodeBanned, "%s", describeSanction("you are banned from this server", &copyOf))
	}
	return nil
}

// roleOf returns a session's role in a room with settings rs (a snapshot,
// or read under rw).
func (h *Hub) roleOf(s *Session, rs *RoomSettings) Role {
	id := s.ident()
	if id.account != "" && h.admins[id.account] {
		return RoleAdmin
	}
	if rs == nil {
		return RoleNone
	}
	if id.account != "" && rs.Owner == id.account {
		return RoleOwner
	}
	if id.account != "" {
		if r := rs.Roles[id.account]; r >= RoleOp {
			return r
		}
	}
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	if r, ok := rs.Roles[key]; ok && r == RoleVoice {
		return RoleVoice
	}
	return RoleNone
}

// Role returns the session's role in a room ("" for the current one).
func (s *Session) Role(room string) Role {
	key := s.Current()
	if room != "" {
		var err error
		if key, err = ValidateRoom(room); err != nil {
			return RoleNone
		}
	}
	rs, _ := s.hub.mod.snapshot(key)
	return s.hub.roleOf(s, &rs)
}

// accountsOnly reports whether a room is accounts-only (+r) right now.
func (rs *RoomSettings) accountsOnly(now time.Time) bool {
	return rs.Accounts && (rs.Until.IsZero() || now.Before(rs.Until))
}

// checkJoin refuses a join the room's bans, invite-only mode or
// accounts-only mode keep out, and counts guests' joins for raid
// protection.
func (m *moderation) checkJoin(s *Session, key string) error {
	h := s.hub
	if !m.active.Load() && (h.cfg.Raid.Joins < 0 || s.accountKey() != "") {
		return nil
	}
	rs, sanctions := m.snapshot(key)
	role := h.roleOf(s, &rs)
	if role >= RoleOp {
		return nil
	}
	now := h.now()
	id := s.ident()
	if sc := find(sanctions, SanctionBan, id, now); sc != nil {
		return Errorf(CodeBanned, "%s", describeSanction("you are banned from #"+key, sc))
	}
	if sc := m.serverBan(id, now); sc != nil {
		return Errorf(CodeBanned, "%s", describeSanction("you are banned from this server", sc))
	}
	if rs.InviteOnly && !m.takeInvite(key, s, now) {
		return Errorf(CodeInviteOnly, "#%s is invite-only: an op must /invite you", key)
	}
	if id.account == "" {
		if rs.accountsOnly(now) {
			why := "it is open to accounts only"
			if !rs.Until.IsZero() {
				why = "raid protection has made it accounts-only for now"
			}
			return Errorf(CodeAccountRequired, "you cannot join #%s as a guest: %s; log in, or try again later", key, why)
		}
		if m.raided(h, key, now) {
			return Errorf(CodeAccountRequired, "#%s is getting a flood of new guests and is accounts-only for now; log in, or try again later", key)
		}
	}
	return nil
}

// serverBan returns the server-wide ban matching id, or nil.
func (m *moderation) serverBan(id ident, now time.Time) *Sanction {
	m.rw.RLock()
	defer m.rw.RUnlock()
	if sc := find(m.server, SanctionBan, id, now); sc != nil {
		c := *sc
		return &c
	}
	return nil
}

// takeInvite reports whether s is invited to the room, using the
// invitation up.
func (m *moderation) takeInvite(room string, s *Session, now time.Time) bool {
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	m.rt.Lock()
	defer m.rt.Unlock()
	until, ok := m.invites[room][key]
	if !ok || !now.Before(until) {
		return false
	}
	delete(m.invites[room], key)
	return true
}

// raided counts a guest's join and reports whether the room has just
// switched itself (or is switching) to accounts-only.
func (m *moderation) raided(h *Hub, room string, now time.Time) bool {
	p := h.cfg.Raid
	if p.Joins < 0 || room == "" || room == DefaultRoom {
		return false
	}
	m.rt.Lock()
	list := m.joins[room]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= p.Window {
		i++
	}
	list = append(list[i:], now)
	tripped := len(list) > p.Joins
	if tripped {
		delete(m.joins, room)
	} else {
		m.joins[room] = list
	}
	if len(m.joins) > 10000 { // bound: forget the rooms with no recent join
		for k, l := range m.joins {
			if len(l) == 0 || now.Sub(l[len(l)-1]) >= p.Window {
				delete(m.joins, k)
			}
		}
	}
	m.rt.Unlock()
	if !tripped {
		return false
	}
	until := now.Add(p.For)
	err := m.change(h, room, func(rs *RoomSettings) { rs.Accounts, rs.Until = true, until })
	if err != nil {
		h.log.Error("raid protection could not store the room's mode", "room", room, "err", err)
	}
	h.log.Warn("raid protection: room switched to accounts-only", "room", room, "guest_joins", p.Joins+1, "window", p.Window, "for", p.For)
	h.modlog(&ModEntry{At: now, Room: room, Actor: ServerName, Action: "mode +r", Reason: fmt.Sprintf("raid protection: more than %d new guests within %s", p.Joins, p.Window), Until: until})
	h.roomEvent(room, &Event{Message: Message{Kind: KindNotice, Room: room, Time: now, Text: fmt.Sprintf("raid protection: more than %d new guests joined #%s within %s, so it is open to accounts only until %s. Ops: /mode -r lifts it.",
		p.Joins, room, p.Window, until.UTC().Format("15:04 MST"))}, Mode: "+r"})
	return true
}

// checkSpeak refuses a message the server or the room does not allow
// from s: guests where accounts are required, muted members, members
// without voice in a moderated room, and slow mode. room is "" for a
// direct message.
func (m *moderation) checkSpeak(s *Session, room string) error {
	h := s.hub
	if h.cfg.RequireAccount && s.accountKey() == "" {
		return Errorf(CodeAccountRequired, "on this server only accounts may speak: /register PASSWORD, or /login NAME PASSWORD")
	}
	if !m.active.Load() || room == "" {
		return nil
	}
	id, now := s.ident(), h.now()
	m.rw.RLock()
	rm := m.rooms[room]
	if rm == nil {
		m.rw.RUnlock()
		return nil
	}
	rs := rm.settings
	var mute *Sanction
	if sc := find(rm.sanctions, SanctionMute, id, now); sc != nil {
		c := *sc
		mute = &c
	}
	m.rw.RUnlock()
	role := h.roleOf(s, &rs)
	if role >= RoleOp {
		return nil
	}
	if mute != nil {
		return Errorf(CodeMuted, "%s", describeSanction("you are muted in #"+room, mute))
	}
	if rs.Moderated && role < RoleVoice {
		return Errorf(CodeForbidden, "#%s is moderated: only voiced members and ops may speak", room)
	}
	if rs.Slow > 0 {
		key := s.memberKey()
		m.rt.Lock()
		defer m.rt.Unlock()
		last, ok := m.spoke[room][key]
		if ok && now.Sub(last) < rs.Slow {
			return Errorf(CodeSlowMode, "#%s is in slow mode: one message every %s; wait %s", room, rs.Slow, (rs.Slow - now.Sub(last)).Round(time.Second))
		}
		if m.spoke[room] == nil {
			m.spoke[room] = make(map[string]time.Time)
		}
		if len(m.spoke[room]) >= maxSlowClocks { // forget those who may speak again anyway
			for k, t := range m.spoke[room] {
				if now.Sub(t) >= rs.Slow {
					delete(m.spoke[room], k)
				}
			}
		}
		m.spoke[room][key] = now
	}
	return nil
}

// memberKey identifies a member for slow mode: its account, or its
// session.
func (s *Session) memberKey() string {
	if k := s.accountKey(); k != "" {
		return "a:" + k
	}
	return "s:" + itoa(int(s.id))
}

// change applies f to a room's settings and stores them; the change is
// kept only if the store took it.
func (m *moderation) change(h *Hub, room string, f func(rs *RoomSettings)) error {
	if h.dir == nil {
		return h.noDirectory()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for try := 1; ; try++ {
		rs, _ := m.snapshot(room)
		f(&rs)
		err := h.dir.PutRoomSettings(context.Background(), rs)
		if errors.Is(err, ErrConflict) && try < maxConflicts {
			continue // changed on another node: f again, on its version
		}
		if err != nil {
			h.log.Error("storing room settings failed", "room", room, "err", err)
			return Errorf(CodeUnavailable, "the change could not be stored; try again")
		}
		h.applied(func() { m.applySettings(rs) })
		return nil
	}
}

// applySettings makes stored room settings the hub's.
func (m *moderation) applySettings(rs RoomSettings) {
	m.rw.Lock()
	defer m.rw.Unlock()
	rm := m.roomLocked(rs.Room)
	rm.settings = rs
	if rs.empty() && len(rm.sanctions) == 0 {
		delete(m.rooms, rs.Room) // nothing to check: the message path skips it again
	}
	m.updateActiveLocked()
}

// applySanction puts a stored sanction in force (unless it has expired),
// dropping expired ones on the way.
func (m *moderation) applySanction(sc Sanction, now time.Time) {
	if !sc.active(now) {
		return
	}
	live := func(l []Sanction) []Sanction {
		return append(slices.DeleteFunc(l, func(o Sanction) bool { return !o.active(now) || o.ID == sc.ID }), sc)
	}
	m.rw.Lock()
	defer m.rw.Unlock()
	if sc.Room == "" {
		m.server = live(m.server)
	} else {
		rm := m.roomLocked(sc.Room)
		rm.sanctions = live(rm.sanctions)
	}
	m.updateActiveLocked()
}

// applySanctionGone lifts a sanction.
func (m *moderation) applySanctionGone(sc Sanction) {
	drop := func(l []Sanction) []Sanction {
		return slices.DeleteFunc(l, func(o Sanction) bool { return o.ID == sc.ID })
	}
	m.rw.Lock()
	defer m.rw.Unlock()
	if sc.Room == "" {
		m.server = drop(m.server)
	} else if rm := m.rooms[sc.Room]; rm != nil {
		rm.sanctions = drop(rm.sanctions)
		if rm.settings.empty() && len(rm.sanctions) == 0 {
			delete(m.rooms, sc.Room)
		}
	}
	m.updateActiveLocked()
}

// forgetAccount takes a deleted account's ownerships and roles away, room
// by room, each stored (a room it owned has no owner: an account may
// /claim it).
func (m *moderation) forgetAccount(h *Hub, key string) error {
	m.rw.RLock()
	var rooms []string
	for room, rm := range m.rooms {
		if _, role := rm.settings.Roles[key]; role || rm.settings.Owner == key {
			rooms = append(rooms, room)
		}
	}
	m.rw.RUnlock()
	for _, room := range rooms {
		err := m.change(h, room, func(rs *RoomSettings) {
			if rs.Owner == key {
				rs.Owner = ""
			}
			delete(rs.Roles, key)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// addSanction stores a sanction and puts it in force.
func (m *moderation) addSanction(h *Hub, sc *Sanction) error {
	if h.dir == nil {
		return h.noDirectory()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.dir.PutSanction(context.Background(), sc); err != nil {
		h.log.Error("storing a sanction failed", "room", sc.Room, "err", err)
		return Errorf(CodeUnavailable, "the %s could not be stored; try again", sc.Kind)
	}
	h.applied(func() { m.applySanction(*sc, sc.At) })
	return nil
}

// removeSanctions lifts the sanctions of kind in room ("" for
// server-wide) that match: by target value, or that apply to the online
// sessions named. It returns what it lifted.
func (m *moderation) removeSanctions(h *Hub, room string, kind SanctionKind, match func(*Sanction) bool) ([]Sanction, error) {
	if h.dir == nil {
		return nil, h.noDirectory()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.sanctionsOf(room)
	var gone []Sanction
	for i := range list {
		if list[i].Kind == kind && match(&list[i]) {
			if err := h.dir.DeleteSanction(context.Background(), list[i].ID); err != nil {
				h.log.Error("deleting a sanction failed", "room", room, "err", err)
				return gone, Errorf(CodeUnavailable, "the change could not be stored; try again")
			}
			sc := list[i]
			h.applied(func() { m.applySanctionGone(sc) })
			gone = append(gone, sc)
		}
	}
	return gone, nil
}

// enforceBan carries out a ban set on another node: the members of its
// room (below op) that it matches are removed, and for a server ban the
// sessions it matches (but admins') are disconnected.
func (h *Hub) enforceBan(sc Sanction) {
	if !sc.active(h.now()) {
		return
	}
	if sc.Room == "" {
		for _, m := range h.allSessions() {
			if sc.matches(m.ident()) && !m.IsAdmin() {
				m.Kill("banned from the server by "+sc.By+withReason(sc.Reason), sc.By)
			}
		}
		return
	}
	rs, _ := h.mod.snapshot(sc.Room)
	hit := func(m *Session) bool { return h.roleOf(m, &rs) < RoleOp && sc.matches(m.ident()) }
	for _, m := range h.membersMatching(sc.Room, hit) {
		_ = m.part(sc.Room, "banned by "+sc.By+withReason(sc.Reason), sc.By)
	}
}

// invite lets name join an invite-only room once, within inviteFor.
func (m *moderation) invite(room, nameKey string, now time.Time) {
	m.rt.Lock()
	defer m.rt.Unlock()
	if m.invites[room] == nil {
		m.invites[room] = make(map[string]time.Time)
	}
	for k, t := range m.invites[room] {
		if !now.Before(t) {
			delete(m.invites[room], k)
		}
	}
	m.invites[room][nameKey] = now.Add(inviteFor)
}

// claimNew makes an account that has just made a room (it is its only
// member and the room has no owner) its owner. The lobby is never owned.
func (m *moderation) claimNew(s *Session, room string) {
	h := s.hub
	acct := s.accountKey()
	if acct == "" || room == DefaultRoom || h.dir == nil {
		return
	}
	rs, _ := m.snapshot(room)
	if rs.Owner != "" {
		return
	}
	claimed := false
	err := m.change(h, room, func(rs *RoomSettings) {
		claimed = false // f runs again if another node changed the room meanwhile
		if rs.Owner == "" {
			rs.Owner, claimed = acct, true
		}
	})
	if err != nil || !claimed {
		return
	}
	h.modlog(&ModEntry{At: h.now(), Room: room, Actor: s.Name(), Action: "claim", Target: s.Name(), Reason: "made the room"})
	s.Send(&Event{Message: Message{Kind: KindNotice, Room: room, Time: h.now(), Text: "you own #" + room + " now: /op gives others the moderation commands (/help lists them)"}})
}

// modlog appends an audit entry (a failure is logged, never told).
func (h *Hub) modlog(e *ModEntry) {
	action := e.Action
	if e.Actor == ServerName {
		action = "raid"
	}
	h.counters.moderated(action)
	h.log.Info("moderation", "room", e.Room, "actor", e.Actor, "action", e.Action, "target", e.Target, "reason", e.Reason)
	if h.dir == nil {
		return
	}
	if err := h.dir.AppendModlog(context.Background(), e); err != nil {
		h.log.Error("storing a moderation log entry failed", "err", err)
	}
}

// roomEvent delivers ev to everyone in a room, if it has members.
func (h *Hub) roomEvent(room string, ev *Event) {
	r, _ := h.room(room, false)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.broadcast(ev)
	r.mu.Unlock()
}

// modeString renders a room's modes: "+mt", with slow mode and the owner.
func (rs *RoomSettings) modeString(now time.Time) string {
	var b strings.Builder
	b.WriteByte('+')
	if rs.InviteOnly {
		b.WriteByte('i')
	}
	if rs.Moderated {
		b.WriteByte('m')
	}
	if rs.accountsOnly(now) {
		b.WriteByte('r')
	}
	if rs.TopicLock {
		b.WriteByte('t')
	}
	out := b.String()
	if out == "+" {
		out = "(no modes)"
	}
	if rs.Slow > 0 {
		out += ", slow mode " + rs.Slow.String()
	}
	if rs.Accounts && !rs.Until.IsZero() && now.Before(rs.Until) {
		out += ", accounts-only until " + rs.Until.UTC().Format("15:04 MST")
	}
	return out
}

// RoomModes returns a room's modes as IRC letters ("imrt" order; "" for
// none) and its slow mode interval.
func (h *Hub) RoomModes(room string) (modes string, slow time.Duration) {
	rs, _ := h.mod.snapshot(room)
	now := h.now()
	for _, m := range []struct {
		on bool
		c  string
	}{{rs.InviteOnly, "i"}, {rs.Moderated, "m"}, {rs.accountsOnly(now), "r"}, {rs.TopicLock, "t"}} {
		if m.on {
			modes += m.c
		}
	}
	return modes, rs.Slow
}

// Roles returns the room's members with a role (op and above, voice), by
// name, for member lists that show them (IRC's @ and +).
func (h *Hub) Roles(room string, names []string) map[string]Role {
	rs, _ := h.mod.snapshot(room)
	out := map[string]Role{}
	for _, n := range names {
		key := NameKey(n)
		switch {
		case h.admins[key] && h.isAccount(key):
			out[n] = RoleAdmin
		case rs.Owner == key && rs.Owner != "":
			out[n] = RoleOwner
		case rs.Roles[key] >= RoleOp && h.isAccount(key):
			out[n] = rs.Roles[key]
		case rs.Roles[key] == RoleVoice:
			out[n] = RoleVoice
		}
	}
	return out
}

// isAccount reports whether some session is logged in to the account key
// (a member list shows roles only for names their account holds).
func (h *Hub) isAccount(key string) bool {
	h.mu.RLock()
	a := h.accounts[key]
	local := a != nil && len(a.sessions) > 0
	h.mu.RUnlock()
	if a == nil || local {
		return local
	}
	// Online on another node under a registered name: that is the
	// account (a guest cannot take a registered name on any node).
	_, remote := h.RemoteUser(a.Name)
	return remote
}

// sanctionsOf returns a copy of the sanctions of a room ("" for the
// server).
func (m *moderation) sanctionsOf(room string) []Sanction {
	m.rw.RLock()
	defer m.rw.RUnlock()
	if room == "" {
		return slices.Clone(m.server)
	}
	if rm := m.rooms[room]; rm != nil {
		return slices.Clone(rm.sanctions)
	}
	return nil
}

// sortedSanctions returns the active sanctions of a room ("" for the
// server), oldest first.
func (m *moderation) sortedSanctions(room string, now time.Time) []Sanction {
	list := m.sanctionsOf(room)
	list = slices.DeleteFunc(list, func(sc Sanction) bool { return !sc.active(now) })
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list
}

// BanInfo is one ban in force, as an IRC ban list shows it.
type BanInfo struct {
	Mask string // "bob!*@*", "*!*@192.0.2.7"
	By   string
	At   time.Time
}

// Bans returns the bans in force in a room, oldest first.
func (h *Hub) Bans(room string) []BanInfo {
	var out []BanInfo
	for _, sc := range h.mod.sortedSanctions(room, h.now()) {
		if sc.Kind == SanctionBan {
			out = append(out, BanInfo{Mask: h.banMask(&sc), By: sc.By, At: sc.At})
		}
	}
	return out
}

// Cloak returns the host a user is shown with where a protocol shows one
// (IRC hostmasks): "account/KEY" for an account's sessions, "guest/HASH"
// for a guest (HASH is a keyed hash of their address: the same for every
// guest from one address, the address itself never shown), "" when no one
// online holds name. Ban masks name users by it (CloakTarget).
func (h *Hub) Cloak(name string) string {
	s := h.Lookup(name)
	if s == nil {
		switch u, ok := h.remoteWhois(name); {
		case !ok:
			return ""
		case u.Account != "":
			return "account/" + cloakSafe(u.Account)
		case u.Addr != "":
			return "guest/" + h.addressCloak(u.Addr)
		}
		return ""
	}
	s.mu.Lock()
	acct := s.acct
	s.mu.Unlock()
	if acct != nil {
		return "account/" + cloakSafe(acct.Key)
	}
	return "guest/" + s.addrCloak
}

// CloakTarget turns a cloak back into what /ban and /mute take: the
// account of "account/KEY", the address behind "guest/HASH" (if a guest
// from it is online); ok is false for anything else.
func (h *Hub) CloakTarget(cloak string) (string, bool) {
	if key, ok := strings.CutPrefix(cloak, "account/"); ok && key != "" {
		h.mu.RLock()
		defer h.mu.RUnlock()
		for k, a := range h.accounts {
			if cloakSafe(k) == key {
				return "account:" + a.Key, true
			}
		}
		return "", false
	}
	if hash, ok := strings.CutPrefix(cloak, "guest/"); ok && hash != "" {
		for _, s := range h.allSessions() {
			if s.accountKey() != "" {
				continue
			}
			if s.addrCloak == hash {
				return "ip:" + remoteIP(s.Info().Remote), true
			}
		}
		if h.cluster != nil {
			for _, ip := range h.cluster.c.GuestAddrs() { // guests on other nodes
				if h.addressCloak(ip) == hash {
					return "ip:" + ip, true
				}
			}
		}
	}
	return "", false
}

// addressCloak is the keyed hash of an address shown for guests: stable
// while the server runs, meaningless without the server's key.
func (h *Hub) addressCloak(ip string) string {
	m := hmac.New(sha256.New, h.cloakKey[:])
	m.Write([]byte(ip))
	return hex.EncodeToString(m.Sum(nil)[:5])
}

// cloakSafe makes an account key usable in a hostmask (one ASCII token):
// the key itself when it is lower-case letters, digits, '.', '-' and '_',
// else "u" and a hash of it ("chloé" and "chloè" stay apart).
func cloakSafe(key string) string {
	for i := 0; i < len(key); i++ {
		if c := key[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			sum := sha256.Sum256([]byte(key))
			return "u" + hex.EncodeToString(sum[:6])
		}
	}
	return key
}
