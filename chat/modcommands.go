package chat

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// modRoom resolves the room of a moderation command ("" for the current
// one) and returns its key, settings and the session's role in it.
func (s *Session) modRoom(room string) (string, RoomSettings, Role, error) {
	key := s.Current()
	if room != "" {
		var err error
		if key, err = ValidateRoom(room); err != nil {
			return "", RoomSettings{}, RoleNone, err
		}
	}
	if key == "" {
		return "", RoomSettings{}, RoleNone, Errorf(CodeNotMember, "you are not in any room; name one (#room)")
	}
	if s.hub.dir == nil {
		return "", RoomSettings{}, RoleNone, s.hub.noDirectory()
	}
	rs, _ := s.hub.mod.snapshot(key)
	return key, rs, s.hub.roleOf(s, &rs), nil
}

// need refuses a session whose role is below want.
func need(have, want Role, room, what string) error {
	if have >= want {
		return nil
	}
	return Errorf(CodeForbidden, "only %ss of #%s may %s (you are a %s there)", want, room, what, have)
}

// ParseDuration reads a sanction's or slow mode's duration: Go's form
// ("90s", "1h30m") or a number with s, m, h, d or w. "0", "perm" and
// "forever" mean no end (0).
func ParseDuration(s string) (time.Duration, bool) {
	switch strings.ToLower(s) {
	case "0", "perm", "permanent", "forever":
		return 0, true
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, true
	}
	if n := len(s); n >= 2 {
		v, err := strconv.Atoi(s[:n-1])
		if err == nil && v > 0 && v < 1e6 {
			switch s[n-1] {
			case 'd':
				return time.Duration(v) * 24 * time.Hour, true
			case 'w':
				return time.Duration(v) * 7 * 24 * time.Hour, true
			}
		}
	}
	return 0, false
}

// target is whom a ban or mute names.
type target struct {
	kind  TargetKind
	value string
	label string
}

// resolveTarget turns a ban's or mute's argument into a target: an
// explicit "account:", "ip:" or "name:" form; an IP address or CIDR
// prefix; a registered name (its account); an online guest (their
// address); anything else a name and its look-alikes.
func (h *Hub) resolveTarget(arg string) (target, error) {
	kind, val, explicit := strings.Cut(arg, ":")
	if explicit {
		switch TargetKind(strings.ToLower(kind)) {
		case TargetAccount:
			_, key, err := ValidateName(val)
			if err != nil {
				return target{}, err
			}
			return target{TargetAccount, key, val}, nil
		case TargetAddress:
			return h.addressTarget(val)
		case TargetName:
			display, _, err := ValidateName(val)
			if err != nil {
				return target{}, err
			}
			return target{TargetName, NameSkeleton(display), display}, nil
		}
	}
	if t, err := h.addressTarget(arg); err == nil {
		return t, nil
	}
	display, key, err := ValidateName(arg)
	if err != nil {
		return target{}, err
	}
	skel := NameSkeleton(display)
	h.mu.RLock()
	a := h.registeredLocked(key, skel)
	online := h.names[key]
	if online == nil {
		online = h.looks[skel]
	}
	h.mu.RUnlock()
	switch {
	case a != nil:
		return target{TargetAccount, a.Key, a.Name}, nil
	case online != nil:
		ip := remoteIP(online.Info().Remote)
		// The label is shown to the room: the guest's cloak, never their
		// address (ops see it with /bans).
		return target{TargetAddress, ip, online.Name() + " (guest/" + h.addressCloak(ip) + ")"}, nil
	}
	if u, ok := h.remoteWhois(display); ok && u.Account == "" && u.Addr != "" { // a guest on another node
		return target{TargetAddress, u.Addr, u.Name + " (guest/" + h.addressCloak(u.Addr) + ")"}, nil
	}
	return target{TargetName, skel, display}, nil
}

// addressTarget reads an address or a prefix. A single address is
// labelled by its cloak (the room is told "guest/HASH", never the
// address); a prefix, which no cloak stands for, by itself.
func (h *Hub) addressTarget(s string) (target, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		ip := a.Unmap().String()
		return target{TargetAddress, ip, "guest/" + h.addressCloak(ip)}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return target{TargetAddress, p.Masked().String(), p.Masked().String()}, nil
	}
	return target{}, Errorf(CodeInvalid, "%q is not an IP address or prefix", s)
}

// membersMatching returns the room's member sessions that match.
func (h *Hub) membersMatching(room string, match func(*Session) bool) []*Session {
	r, _ := h.room(room, false)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	members := append([]*Session(nil), r.members...)
	r.mu.Unlock()
	var out []*Session
	for _, m := range members {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// remoteMember returns the display name of the member of room called name
// (or a look-alike) on another node of a cluster.
func (h *Hub) remoteMember(room, name string) (string, bool) {
	skel := NameSkeleton(name)
	for _, m := range h.remoteMembers(room) {
		if NameSkeleton(m) == skel {
			return m, true
		}
	}
	return "", false
}

// remoteRole is the role in a room (settings rs) of a member on another
// node, by name: roles of op and above are accounts' (and a guest cannot
// hold an account's name), voice is a name's.
func remoteRole(h *Hub, rs *RoomSettings, name string) Role {
	key := NameKey(name)
	switch {
	case h.admins[key]:
		return RoleAdmin
	case rs.Owner == key:
		return RoleOwner
	}
	return rs.Roles[key]
}

// byName matches the sessions called name (or a look-alike).
func byName(name string) func(*Session) bool {
	key, skel := NameKey(name), NameSkeleton(name)
	return func(m *Session) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.key == key || m.skel == skel
	}
}

// forUntil renders a duration for notices: " for 1h0m0s", or "".
func forUntil(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return " for " + d.String()
}

func withReason(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// cleanReason bounds and cleans a moderation reason.
func cleanReason(reason string) (string, error) {
	if reason == "" {
		return "", nil
	}
	c, err := CleanLine(reason, MaxReasonBytes)
	if err != nil && ErrorCode(err) != CodeEmpty {
		return "", err
	}
	return c, nil
}

// Claim makes the session's account the owner of a room without one (an
// admin may claim any room, the lobby included).
func (s *Session) Claim(room string) error {
	key, rs, role, err := s.modRoom(room)
	if err != nil {
		return err
	}
	acct := s.accountKey()
	if acct == "" {
		return Errorf(CodeAccountRequired, "only accounts own rooms: /register PASSWORD first")
	}
	if role < RoleAdmin && (rs.Owner != "" || key == DefaultRoom) {
		if rs.Owner == acct {
			return Errorf(CodeInvalid, "you already own #%s", key)
		}
		return Errorf(CodeForbidden, "#%s has an owner already (or is the lobby, which only server operators moderate)", key)
	}
	if err := s.hub.mod.change(s.hub, key, func(rs *RoomSettings) { rs.Owner = acct }); err != nil {
		return err
	}
	s.logAndTell(key, "claim", s.Name(), "", time.Time{}, s.Name()+" now owns #"+key, "+o "+s.Name())
	return nil
}

// logAndTell writes an audit entry and tells the room's members: text,
// from the session, with the change as an IRC mode ("+o bob", "+m"; ""
// for none) for front-ends that show modes.
func (s *Session) logAndTell(room, action, target, reason string, until time.Time, text, mode string) {
	h := s.hub
	h.modlog(&ModEntry{At: h.now(), Room: room, Actor: s.Name(), Action: action, Target: target, Reason: reason, Until: until})
	ev := &Event{Message: Message{Kind: KindNotice, Room: room, From: s.Name(), Time: h.now(), Text: text}, Session: s.id, Mode: mode}
	if room != "" {
		h.roomEvent(room, ev)
		h.relay(Action{Op: ActionNotice, Room: room, By: s.Name(), Text: text, Mode: mode, Time: ev.Time})
	}
	if !s.inRoom(room) {
		s.Send(ev)
	}
}

// ModeKick is the Mode of a kick's notice: the kick itself is shown by
// the part event that follows (an IRC KICK).
const ModeKick = "KICK"

// banMask renders a sanction's target as an IRC ban mask, with the
// hosts users are shown with (Cloak): an account's "*!*@account/KEY", a
// guest's address as "*!*@guest/HASH" (an address is never shown; a prefix
// an op typed is), a name as "name!*@*".
func (h *Hub) banMask(sc *Sanction) string {
	switch sc.Target {
	case TargetAddress:
		if a, err := netip.ParseAddr(sc.Value); err == nil {
			return "*!*@guest/" + h.addressCloak(a.String())
		}
		return "*!*@" + sc.Value
	case TargetAccount:
		return "*!*@account/" + cloakSafe(sc.Value)
	}
	return sc.Label + "!*@*"
}

// inRoom reports whether the session is in the room.
func (s *Session) inRoom(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joined(room) != nil
}

// SetRole gives (on) or takes a role in a room: ops are made and unmade by
// the owner, voice by ops. Op goes to accounts only.
func (s *Session) SetRole(room, name string, role Role, on bool) error {
	key, _, have, err := s.modRoom(room)
	if err != nil {
		return err
	}
	want, what := RoleOp, "voice members"
	if role >= RoleOp {
		want, what = RoleOwner, "make ops"
	}
	if err := need(have, want, key, what); err != nil {
		return err
	}
	display, nkey, err := ValidateName(name)
	if err != nil {
		return err
	}
	h := s.hub
	if role >= RoleOp {
		h.mu.RLock()
		a := h.registeredLocked(nkey, NameSkeleton(display))
		h.mu.RUnlock()
		if a == nil {
			return Errorf(CodeAccountRequired, "%s is not a registered name: only accounts can be ops", display)
		}
		nkey, display = a.Key, a.Name
	}
	err = h.mod.change(h, key, func(rs *RoomSettings) {
		if rs.Roles == nil {
			rs.Roles = map[string]Role{}
		}
		if on {
			rs.Roles[nkey] = role
		} else if rs.Roles[nkey] == role {
			delete(rs.Roles, nkey)
		}
	})
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "gave", false: "took"}[on]
	action := map[bool]string{true: "+", false: "-"}[on] + role.String()
	prep := map[bool]string{true: "to", false: "from"}[on]
	letter := map[Role]string{RoleOp: "o", RoleVoice: "v"}[role]
	s.logAndTell(key, action, display, "", time.Time{}, fmt.Sprintf("%s %s %s %s %s in #%s", s.Name(), verb, role, prep, display, key), action[:1]+letter+" "+display)
	return nil
}

// Kick removes the members called name from a room (every device of an
// account), telling the room who did it and why.
func (s *Session) Kick(room, name, reason string) error {
	key, rs, have, err := s.modRoom(room)
	if err != nil {
		return err
	}
	if err := need(have, RoleOp, key, "kick"); err != nil {
		return err
	}
	if reason, err = cleanReason(reason); err != nil {
		return err
	}
	h := s.hub
	victims := h.membersMatching(key, byName(name))
	if len(victims) == 0 {
		remote, ok := h.remoteMember(key, name)
		if !ok {
			return Errorf(CodeNoSuchUser, "no one called %q is in #%s", name, key)
		}
		// On another node: its node removes them.
		if r := remoteRole(h, &rs, remote); r >= have {
			return Errorf(CodeForbidden, "%s is a %s of #%s: you cannot kick them", remote, r, key)
		}
		s.logAndTell(key, "kick", remote, reason, time.Time{}, fmt.Sprintf("%s kicked %s from #%s%s", s.Name(), remote, key, withReason(reason)), ModeKick)
		h.relay(Action{Op: ActionKick, Room: key, Target: remote, By: s.Name(), Reason: reason})
		return nil
	}
	for _, v := range victims {
		if r := h.roleOf(v, &rs); r >= have {
			return Errorf(CodeForbidden, "%s is a %s of #%s: you cannot kick them", v.Name(), r, key)
		}
	}
	who := victims[0].Name()
	s.logAndTell(key, "kick", who, reason, time.Time{}, fmt.Sprintf("%s kicked %s from #%s%s", s.Name(), who, key, withReason(reason)), ModeKick)
	for _, v := range victims {
		_ = v.part(key, "kicked by "+s.Name()+withReason(reason), s.Name())
	}
	if _, ok := h.remoteMember(key, name); ok { // the account's devices on other nodes
		h.relay(Action{Op: ActionKick, Room: key, Target: who, By: s.Name(), Reason: reason})
	}
	return nil
}

// Sanction bans or mutes a target in a room (room "" with server set:
// server-wide, admins only) for d (0: until lifted). Banned members are
// removed at once; server-banned sessions are disconnected.
func (s *Session) Sanction(kind SanctionKind, room, who string, d time.Duration, reason string, server bool) error {
	h := s.hub
	var key string
	var rs RoomSettings
	have := RoleNone
	if server {
		if !s.IsAdmin() {
			return Errorf(CodeForbidden, "only server operators ban server-wide")
		}
		if h.dir == nil {
			return s.hub.noDirectory()
		}
		have = RoleAdmin
	} else {
		var err error
		if key, rs, have, err = s.modRoom(room); err != nil {
			return err
		}
		if err := need(have, RoleOp, key, string(kind)); err != nil {
			return err
		}
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return err
	}
	t, err := h.resolveTarget(who)
	if err != nil {
		return err
	}
	now := h.now()
	sc := &Sanction{Kind: kind, Room: key, Target: t.kind, Value: t.value, Label: t.label, By: s.Name(), Reason: reason, At: now}
	if d > 0 {
		sc.Until = now.Add(d)
	}
	if sc.matches(s.ident()) || (t.kind == TargetAccount && h.admins[t.value]) {
		return Errorf(CodeForbidden, "that would %s yourself or a server operator", kind)
	}
	if err := h.mod.addSanction(h, sc); err != nil {
		return err
	}
	where := "#" + key
	if server {
		where = "the server"
	}
	verb := map[SanctionKind]string{SanctionBan: "banned", SanctionMute: "muted"}[kind]
	prep := map[SanctionKind]string{SanctionBan: "from", SanctionMute: "in"}[kind]
	text := fmt.Sprintf("%s %s %s %s %s%s%s", s.Name(), verb, t.label, prep, where, forUntil(d), withReason(reason))
	action := string(kind)
	if server {
		action = "server " + action
	}
	mode := ""
	if kind == SanctionBan && !server {
		mode = "+b " + h.banMask(sc)
	}
	s.logAndTell(key, action, t.label, reason, sc.Until, text, mode)
	if kind != SanctionBan {
		return nil
	}
	hit := func(m *Session) bool {
		if m == s || h.roleOf(m, &rs) >= RoleOp && !server {
			return false
		}
		return sc.matches(m.ident()) && !(server && m.IsAdmin())
	}
	if server {
		for _, m := range h.allSessions() {
			if hit(m) {
				m.Kill("banned from the server by "+s.Name()+withReason(reason), s.Name())
			}
		}
		return nil
	}
	for _, m := range h.membersMatching(key, hit) {
		_ = m.part(key, "banned by "+s.Name()+withReason(reason), s.Name())
	}
	return nil
}

// allSessions returns every registered session.
func (h *Hub) allSessions() []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// Lift removes the bans or mutes of a room (or, with server, the
// server-wide bans) that name who: its target as /ban resolves it, or the
// label or value it was set with.
func (s *Session) Lift(kind SanctionKind, room, who string, server bool) error {
	h := s.hub
	var key string
	if server {
		if !s.IsAdmin() {
			return Errorf(CodeForbidden, "only server operators lift server-wide bans")
		}
	} else {
		var have Role
		var err error
		if key, _, have, err = s.modRoom(room); err != nil {
			return err
		}
		if err := need(have, RoleOp, key, "un"+string(kind)); err != nil {
			return err
		}
	}
	t, terr := h.resolveTarget(who)
	fold := NameKey(who)
	gone, err := h.mod.removeSanctions(h, key, kind, func(sc *Sanction) bool {
		if terr == nil && sc.Target == t.kind && sc.Value == t.value {
			return true
		}
		label, _, _ := strings.Cut(sc.Label, " (")
		return NameKey(label) == fold || sc.Value == who || h.banMask(sc) == who
	})
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return Errorf(CodeInvalid, "no %s of %q to lift", kind, who)
	}
	where := "#" + key
	if server {
		where = "the server"
	}
	verb := map[SanctionKind]string{SanctionBan: "unbanned", SanctionMute: "unmuted"}[kind]
	action := "un" + string(kind)
	if server {
		action = "server " + action
	}
	mode := ""
	if kind == SanctionBan && !server {
		mode = "-b " + h.banMask(&gone[0])
	}
	s.logAndTell(key, action, gone[0].Label, "", time.Time{}, fmt.Sprintf("%s %s %s in %s", s.Name(), verb, gone[0].Label, where), mode)
	return nil
}

// ListSanctions tells the session the bans and mutes in force in a room
// (or, with server, the server-wide bans).
func (s *Session) ListSanctions(room string, server bool) error {
	h := s.hub
	key := ""
	if server {
		if !s.IsAdmin() {
			return Errorf(CodeForbidden, "only server operators see server-wide bans")
		}
	} else {
		var have Role
		var err error
		if key, _, have, err = s.modRoom(room); err != nil {
			return err
		}
		if err := need(have, RoleOp, key, "list bans"); err != nil {
			return err
		}
	}
	list := h.mod.sortedSanctions(key, h.now())
	where := "#" + key
	if server {
		where = "the server"
	}
	var b strings.Builder
	what := "bans and mutes"
	if len(list) == 1 {
		what = "ban or mute"
	}
	fmt.Fprintf(&b, "%s %s of %s:", itoa(len(list)), what, where)
	for _, sc := range list {
		what := string(sc.Target)
		if sc.Target == TargetAddress {
			what = "ip " + sc.Value // ops see the address; the room saw the cloak
		}
		fmt.Fprintf(&b, "\n  %s %s (%s) by %s", sc.Kind, sc.Label, what, sc.By)
		if !sc.Until.IsZero() {
			fmt.Fprintf(&b, " until %s", sc.Until.UTC().Format("2006-01-02 15:04 MST"))
		}
		if sc.Reason != "" {
			fmt.Fprintf(&b, ": %s", sc.Reason)
		}
	}
	s.Send(&Event{Message: Message{Kind: KindNotice, Room: key, Time: h.now(), Text: b.String()}})
	return nil
}

// SetModes changes a room's modes ("+m", "-t", "+im", ...), or with change
// empty tells the session what they are.
func (s *Session) SetModes(room, change string) error {
	key, rs, have, err := s.modRoom(room)
	if err != nil {
		return err
	}
	h := s.hub
	if change == "" {
		s.Send(&Event{Message: Message{Kind: KindNotice, Room: key, Time: h.now(), Text: "#" + key + " modes: " + rs.modeString(h.now())}})
		return nil
	}
	if err := need(have, RoleOp, key, "set modes"); err != nil {
		return err
	}
	type flip struct {
		c  byte
		on bool
	}
	var flips []flip
	on := true
	for i := 0; i < len(change); i++ {
		switch c := change[i]; c {
		case '+':
			on = true
		case '-':
			on = false
		case 't', 'm', 'i', 'r':
			flips = append(flips, flip{c, on})
		default:
			return Errorf(CodeInvalid, "unknown mode %q: +t topic lock, +m moderated, +i invite-only, +r accounts only", c)
		}
	}
	if len(flips) == 0 {
		return Errorf(CodeInvalid, "no mode given: /mode +t, +m, +i or +r (- to clear)")
	}
	var canon strings.Builder // "+m+t" and "+mt" are one change: "+mt"
	for i, f := range flips {
		if i == 0 || f.on != flips[i-1].on {
			canon.WriteByte(map[bool]byte{true: '+', false: '-'}[f.on])
		}
		canon.WriteByte(f.c)
	}
	change = canon.String()
	err = h.mod.change(h, key, func(rs *RoomSettings) {
		for _, f := range flips {
			switch f.c {
			case 't':
				rs.TopicLock = f.on
			case 'm':
				rs.Moderated = f.on
			case 'i':
				rs.InviteOnly = f.on
			case 'r':
				rs.Accounts, rs.Until = f.on, time.Time{}
			}
		}
	})
	if err != nil {
		return err
	}
	after, _ := h.mod.snapshot(key)
	s.logAndTell(key, "mode "+change, "", "", time.Time{}, fmt.Sprintf("%s set mode %s on #%s (now %s)", s.Name(), change, key, after.modeString(h.now())), change)
	return nil
}

// SetSlow sets a room's slow mode: each member may send one message per d
// (0 turns it off). Ops are not slowed.
func (s *Session) SetSlow(room string, d time.Duration) error {
	key, _, have, err := s.modRoom(room)
	if err != nil {
		return err
	}
	if err := need(have, RoleOp, key, "set slow mode"); err != nil {
		return err
	}
	if d < 0 || d > 24*time.Hour {
		return Errorf(CodeInvalid, "slow mode is 0 (off) to 24h")
	}
	h := s.hub
	if err := h.mod.change(h, key, func(rs *RoomSettings) { rs.Slow = d }); err != nil {
		return err
	}
	text := fmt.Sprintf("%s turned slow mode off in #%s", s.Name(), key)
	if d > 0 {
		text = fmt.Sprintf("%s set slow mode in #%s: one message every %s per member", s.Name(), key, d)
	}
	s.logAndTell(key, "slow "+d.String(), "", "", time.Time{}, text, "")
	return nil
}

// Invite lets name join an invite-only room (once, within an hour) and
// tells them, if they are online; in an invite-only room the room is told
// too (a moderation action). The inviter is not told otherwise (the
// command table confirms; IRC answers RPL_INVITING).
func (s *Session) Invite(room, name string) error {
	key, rs, have, err := s.modRoom(room)
	if err != nil {
		return err
	}
	if rs.InviteOnly {
		if err := need(have, RoleOp, key, "invite to an invite-only room"); err != nil {
			return err
		}
	} else if !s.inRoom(key) {
		return Errorf(CodeNotMember, "you are not in #%s", key)
	}
	display, nkey, err := ValidateName(name)
	if err != nil {
		return err
	}
	h := s.hub
	h.mod.invite(key, nkey, h.now())
	if t := h.Lookup(display); t != nil {
		for _, o := range h.sessionsOf(t) {
			o.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: s.Name() + " invites you to #" + key + " (/join #" + key + ")"}})
		}
	}
	h.relay(Action{Op: ActionInvite, Room: key, Target: display, By: s.Name()}) // they may join through another node
	if rs.InviteOnly {
		// Letting someone into a +i room is a moderation action: the
		// room is told, and it is audited.
		s.logAndTell(key, "invite", display, "", time.Time{}, fmt.Sprintf("%s invited %s to #%s", s.Name(), display, key), "")
	}
	return nil
}

// sessionsOf returns s and the other sessions of its account.
func (h *Hub) sessionsOf(s *Session) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]*Session(nil), accountSessions(s)...)
}

// KillUser disconnects every session called name (admins only).
func (s *Session) KillUser(name, reason string) error {
	if !s.IsAdmin() {
		return Errorf(CodeForbidden, "only server operators may /kill")
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return err
	}
	h := s.hub
	t := h.Lookup(name)
	if t == nil {
		remote, ok := h.RemoteUser(name)
		if !ok {
			return Errorf(CodeNoSuchUser, "no one called %q is online", name)
		}
		if h.admins[NameKey(remote)] {
			return Errorf(CodeForbidden, "%s is a server operator", remote)
		}
		h.modlog(&ModEntry{At: h.now(), Actor: s.Name(), Action: "kill", Target: remote, Reason: reason})
		h.relay(Action{Op: ActionKill, Target: remote, By: s.Name(), Reason: reason})
		s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: fmt.Sprintf("killed %s (on another node)", remote)}})
		return nil
	}
	if t.IsAdmin() {
		return Errorf(CodeForbidden, "%s is a server operator", t.Name())
	}
	victims := h.sessionsOf(t)
	who := t.Name()
	h.modlog(&ModEntry{At: h.now(), Actor: s.Name(), Action: "kill", Target: who, Reason: reason})
	for _, v := range victims {
		v.Kill("killed by "+s.Name()+withReason(reason), s.Name())
	}
	where := plural(len(victims), "session")
	if _, ok := h.RemoteUser(who); ok { // the account's sessions on other nodes
		h.relay(Action{Op: ActionKill, Target: who, By: s.Name(), Reason: reason})
		where += " here, and those on other nodes"
	}
	s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: fmt.Sprintf("killed %s (%s)", who, where)}})
	return nil
}

// Modlog tells the session the newest audit entries of a room (ops), or
// of everything with room AllRooms (admins).
func (s *Session) Modlog(room string, limit int) error {
	h := s.hub
	if h.dir == nil {
		return s.hub.noDirectory()
	}
	key := room
	if room != AllRooms {
		var have Role
		var err error
		if key, _, have, err = s.modRoom(room); err != nil {
			return err
		}
		if err := need(have, RoleOp, key, "read the moderation log"); err != nil {
			return err
		}
	} else if !s.IsAdmin() {
		return Errorf(CodeForbidden, "only server operators read the whole moderation log")
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	list, err := h.dir.Modlog(context.Background(), key, 0, limit)
	if err != nil {
		h.log.Error("reading the moderation log failed", "err", err)
		return Errorf(CodeUnavailable, "the moderation log is unavailable right now")
	}
	var b strings.Builder
	where := "#" + key
	if key == AllRooms {
		where = "the server"
	}
	count := itoa(len(list)) + " entries"
	if len(list) == 1 {
		count = "1 entry"
	}
	fmt.Fprintf(&b, "moderation log of %s, newest first (%s):", where, count)
	for _, e := range list {
		fmt.Fprintf(&b, "\n  %s %s", e.At.UTC().Format("2006-01-02 15:04:05"), e.Actor)
		if e.Room != "" && key == AllRooms {
			fmt.Fprintf(&b, " in #%s", e.Room)
		}
		fmt.Fprintf(&b, ": %s", e.Action)
		if e.Target != "" {
			fmt.Fprintf(&b, " %s", e.Target)
		}
		if !e.Until.IsZero() {
			fmt.Fprintf(&b, " until %s", e.Until.UTC().Format("2006-01-02 15:04"))
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, " (%s)", e.Reason)
		}
	}
	s.Send(&Event{Message: Message{Kind: KindNotice, Room: strings.TrimPrefix(key, AllRooms), Time: h.now(), Text: b.String()}})
	return nil
}
