package irc

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Local event opcodes (chat.KindLocal, in Event.Name): what a client's Run
// sends its own encoder, in order with the session's other events.
const (
	localLine       = ""       // Text is one message to write (without CRLF)
	localLabelStart = "label"  // Ref: the responses that follow answer this label
	localLabelEnd   = "end"    // the labeled response is complete
	localBatchStart = "batch+" // Text: a batch of Reason's type for Room's target opens (chathistory)
	localBatchEnd   = "batch-" // the batch opened last closes
	localCaps       = "caps"   // Text: the capabilities from here on (after a CAP ACK)
	localQuitDedupe = 64       // quits remembered, to send one QUIT per user
	timeFormat      = "2006-01-02T15:04:05.000Z"
)

// Shared encodings of other users' live room messages, joins and parts, one
// per combination of the capabilities that change them.
var sharedFormats = [4]chat.Format{chat.NewFormat(), chat.NewFormat(), chat.NewFormat(), chat.NewFormat()}

// encoder renders the session's events as IRC lines. It runs on the
// connection's writer goroutine only.
type encoder struct {
	c    *Client
	s    *chat.Session
	caps uint32        // the capabilities in effect for what is being written (see has)
	st   *encoderState // made on first need: most clients never need one
}

// encoderState is what an encoder keeps across events for labeled
// responses, batches and QUITs. An encoder that has none (the client uses
// none of these, and saw no QUIT) costs its connection 32 bytes.
type encoderState struct {
	label    string // the labeled request being answered ("" for none)
	held     *Message
	outer    string            // the labeled-response batch, once open
	playback map[string]string // room -> open join-playback batch id
	batchSeq int
	open     []string // chathistory batches opened with localBatchStart
	quits    []uint64 // sessions whose QUIT was sent lately
}

// state returns e's state, made on first use.
func (e *encoder) state() *encoderState {
	if e.st == nil {
		e.st = &encoderState{}
	}
	return e.st
}

// labeled reports whether a labeled response is in progress.
func (e *encoder) labeled() bool { return e.st != nil && e.st.label != "" }

// inner returns the innermost open chathistory batch, "" for none.
func (e *encoder) inner() string {
	if e.st == nil || len(e.st.open) == 0 {
		return ""
	}
	return e.st.open[len(e.st.open)-1]
}

// self is the session's id.
func (e *encoder) self() uint64 { return e.s.ID() }

// loc is where played-back times are shown for clients without server-time.
func (e *encoder) loc() *time.Location {
	if l := e.c.p.Location; l != nil {
		return l
	}
	return time.Local
}

var _ engine.Skipper = (*encoder)(nil)

func newEncoder(c *Client, s *chat.Session) *encoder {
	return &encoder{c: c, s: s, caps: c.caps.Load()}
}

// Skips reports the events an IRC client is never sent: its own live
// messages without echo-message, pongs, and events of kinds it has no
// form for. It reads only atomics, so it is safe from any goroutine.
func (e *encoder) Skips(ev *chat.Event) bool {
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		return !ev.History && ev.Session == e.self() && ev.Session != 0 && e.c.caps.Load()&capEchoMessage == 0
	case chat.KindDM:
		// A direct message to oneself is shown, as on every IRC server.
		return !ev.History && ev.Session == e.self() && ev.Session != 0 && e.c.caps.Load()&capEchoMessage == 0 && ev.To != ev.From
	case chat.KindPong:
		return true
	case chat.KindAway:
		return e.c.caps.Load()&capAwayNotify == 0
	}
	return false
}

// has reports whether the client has the capabilities, as of the event
// being rendered: a CAP change applies from its ACK on, not to what was
// queued before it.
func (e *encoder) has(bits uint32) bool { return e.caps&bits == bits }

func (e *encoder) Encode(ev *chat.Event) []byte {
	if ev.Kind == chat.KindLocal {
		return e.local(ev)
	}
	if e.Skips(ev) {
		return nil // a catch-up from the store renders without the queue's check
	}
	b := e.encode(ev)
	if ev.Kind == chat.KindJoin && ev.Session != e.self() && e.has(capAwayNotify) {
		// away-notify: a user who is away when joining is said to be.
		if u := e.s.Hub().Lookup(ev.Name); u != nil {
			if away := u.Away(); away != "" {
				// b may be an encoding shared with other readers: append
				// to a copy.
				b = (&Message{Source: source(e.c.hub, ev.Name), Command: "AWAY", Params: []string{oneLine(away)}, Trailing: true}).Append(slices.Clip(b))
			}
		}
	}
	return b
}

func (e *encoder) encode(ev *chat.Event) []byte {
	resp := e.labeled() && e.isResponse(ev)
	if !resp && e.shareable(ev) {
		idx := 0
		if e.has(capMessageTags) {
			idx |= 1
		}
		if e.has(capServerTime) {
			idx |= 2
		}
		return ev.Encoded(sharedFormats[idx], func(ev *chat.Event) []byte {
			var b []byte
			for _, m := range e.render(ev) {
				b = m.Append(b)
			}
			return b
		})
	}
	var b []byte
	for _, m := range e.render(ev) {
		b = e.respond(b, m, resp)
	}
	return b
}

// shareable reports whether ev renders the same for every IRC client with
// the same capabilities: others' live room messages, joins and parts.
func (e *encoder) shareable(ev *chat.Event) bool {
	if ev.History || ev.Session == e.self() || ev.Session == 0 {
		return false
	}
	switch ev.Kind {
	case chat.KindSay, chat.KindMe:
		return true
	case chat.KindJoin:
		return true
	case chat.KindPart:
		return !ev.Quit
	}
	return false
}

// isResponse reports whether ev answers the client's own request (and so
// belongs to a labeled response): its own changes, replies, errors and
// replays, not other users' live events.
func (e *encoder) isResponse(ev *chat.Event) bool {
	switch {
	case ev.Ref == refChatHistory:
		return true
	case ev.Ref != "" && (ev.Session == e.self() || ev.Session == 0):
		// Another user's message carries that user's label: never ours.
		return ev.Ref == e.st.label // labeled(): e.st is set
	case ev.History:
		return true
	case ev.Kind.IsMessage():
		return false
	case ev.Session == e.self():
		return true
	case ev.Session == 0:
		// The state a command of ours made the hub send (a joined room's
		// topic). Server notices (an invitation, a catch-up summary) are
		// not replies.
		return ev.Kind == chat.KindTopic || ev.Kind == chat.KindMembers || ev.Kind == chat.KindRooms || ev.Kind == chat.KindHistoryEnd
	}
	return false
}

// respond appends m, tagged for the labeled response in progress when resp.
// A response of one message carries the label; a longer one is a batch.
func (e *encoder) respond(b []byte, m *Message, resp bool) []byte {
	if !resp {
		return m.Append(b)
	}
	st := e.state()
	if st.outer != "" {
		tagBatch(m, st.outer)
		return m.Append(b)
	}
	if st.held == nil {
		st.held = m
		return b
	}
	st.outer = e.newBatchID()
	start := &Message{Tags: []Tag{{"label", st.label}}, Source: e.c.server(), Command: "BATCH", Params: []string{"+" + st.outer, "labeled-response"}}
	b = start.Append(b)
	tagBatch(st.held, st.outer)
	b = st.held.Append(b)
	st.held = nil
	tagBatch(m, st.outer)
	return m.Append(b)
}

// tagBatch puts m in batch id, unless it is in an inner batch already.
func tagBatch(m *Message, id string) {
	if _, ok := m.Tag("batch"); ok {
		return
	}
	m.Tags = append([]Tag{{"batch", id}}, m.Tags...)
}

func (e *encoder) newBatchID() string {
	st := e.state()
	st.batchSeq++
	return strconv.Itoa(st.batchSeq)
}

// local runs a KindLocal event from the client's Run.
func (e *encoder) local(ev *chat.Event) []byte {
	switch ev.Name {
	case localLabelStart:
		st := e.state()
		st.label, st.held, st.outer = ev.Ref, nil, ""
		return nil
	case localLabelEnd:
		if !e.labeled() {
			return nil
		}
		st := e.st
		var b []byte
		switch {
		case st.outer != "":
			b = (&Message{Source: e.c.server(), Command: "BATCH", Params: []string{"-" + st.outer}}).Append(b)
		case st.held != nil:
			st.held.Tags = append([]Tag{{"label", st.label}}, st.held.Tags...)
			b = st.held.Append(b)
		default:
			b = (&Message{Tags: []Tag{{"label", st.label}}, Source: e.c.server(), Command: "ACK"}).Append(b)
		}
		st.label, st.held, st.outer = "", nil, ""
		return b
	case localBatchStart:
		id := e.newBatchID()
		e.st.open = append(e.st.open, id) // newBatchID made e.st
		m := &Message{Source: e.c.server(), Command: "BATCH", Params: []string{"+" + id, ev.Reason}}
		if ev.Text != "" {
			m.Params = append(m.Params, ev.Text)
		}
		return e.respond(nil, m, e.labeled())
	case localCaps:
		if n, err := strconv.ParseUint(ev.Text, 10, 32); err == nil {
			e.caps = uint32(n)
		}
		return nil
	case localBatchEnd:
		id := e.inner()
		if id == "" {
			return nil
		}
		e.st.open = e.st.open[:len(e.st.open)-1]
		return e.respond(nil, &Message{Source: e.c.server(), Command: "BATCH", Params: []string{"-" + id}}, e.labeled())
	}
	m, err := Parse(ev.Text)
	if err != nil {
		return nil
	}
	if id := e.inner(); id != "" {
		tagBatch(&m, id)
	}
	return e.respond(nil, &m, e.labeled())
}

// stamp adds the tags every message may carry: server-time and msgid.
func (e *encoder) stamp(m *Message, ev *chat.Event) *Message {
	if ev.ID != 0 && e.has(capMessageTags) {
		m.Tags = append(m.Tags, Tag{"msgid", strconv.FormatUint(ev.ID, 10)})
	}
	if !ev.Time.IsZero() && e.has(capServerTime) {
		m.Tags = append(m.Tags, Tag{"time", ev.Time.UTC().Format(timeFormat)})
	}
	return m
}

// render turns one event into IRC messages.
func (e *encoder) render(ev *chat.Event) []*Message {
	srv := e.c.server()
	me := token(e.s.Name())
	switch ev.Kind {
	case chat.KindSay, chat.KindMe, chat.KindDM:
		return e.message(ev, me)
	case chat.KindUserNotice:
		target := me
		if ev.Room != "" {
			target = channel(ev.Room)
		}
		return e.lines(ev, source(e.c.hub, ev.From), "NOTICE", token(target), ev.Text, "", false)
	case chat.KindJoin:
		return []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.Name), Command: "JOIN", Params: []string{channel(ev.Room)}}, ev)}
	case chat.KindPart:
		if ev.Quit {
			if ev.Session == e.self() || e.quitSent(ev.Session) {
				return nil
			}
			return []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.Name), Command: "QUIT", Params: []string{quitReason(oneLine(ev.Reason))}, Trailing: true}, ev)}
		}
		if ev.By != "" {
			// A KICK names its kicker: the reason is what they said.
			why := strings.TrimPrefix(strings.TrimPrefix(ev.Reason, "kicked by "+ev.By), ": ")
			if why == "" {
				why = ev.By
			}
			return []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.By), Command: "KICK", Params: []string{channel(ev.Room), token(ev.Name), oneLine(why)}, Trailing: true}, ev)}
		}
		m := &Message{Source: source(e.c.hub, ev.Name), Command: "PART", Params: []string{channel(ev.Room)}}
		if ev.Reason != "" {
			m.Params = append(m.Params, oneLine(ev.Reason))
			m.Trailing = true
		}
		return []*Message{e.stamp(m, ev)}
	case chat.KindNick:
		return []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.OldName), Command: "NICK", Params: []string{token(ev.Name)}, Trailing: true}, ev)}
	case chat.KindTopic:
		if ev.Session != 0 {
			return []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.From), Command: "TOPIC", Params: []string{channel(ev.Room), oneLine(ev.Text)}, Trailing: true}, ev)}
		}
		return topicReply(srv, me, ev.Room, oneLine(ev.Text), token(ev.From), ev.Time)
	case chat.KindAway:
		m := &Message{Source: source(e.c.hub, ev.Name), Command: "AWAY"}
		if ev.Text != "" {
			m.Params, m.Trailing = []string{oneLine(ev.Text)}, true
		}
		return []*Message{e.stamp(m, ev)}
	case chat.KindNotice:
		if ev.Mode == chat.ModeKick && ev.Room != "" {
			return nil // the KICK that follows says it all
		}
		if ev.Mode != "" && ev.Room != "" {
			// A moderation change: the MODE line clients apply to their
			// channel state; a ban's words too (its reason and length).
			params := []string{channel(ev.Room)}
			for _, f := range strings.Fields(ev.Mode) {
				params = append(params, maskParam(f))
			}
			out := []*Message{e.stamp(&Message{Source: source(e.c.hub, ev.From), Command: "MODE", Params: params}, ev)}
			if strings.HasPrefix(ev.Mode, "+b") {
				out = append(out, e.lines(ev, srv, "NOTICE", channel(ev.Room), ev.Text, "", false)...)
			}
			return out
		}
		if ev.Room != "" && ev.From != "" || ev.Room != "" && ev.Session == 0 && ev.Ref == "" {
			return e.lines(ev, srv, "NOTICE", channel(ev.Room), ev.Text, "", false)
		}
		return e.lines(ev, srv, "NOTICE", me, ev.Text, "", false)
	case chat.KindError:
		return e.errorReply(ev, me)
	case chat.KindWelcome:
		return e.c.welcome(ev.Welcome)
	case chat.KindPing:
		return []*Message{{Command: "PING", Params: []string{srv}, Trailing: true}}
	case chat.KindPong:
		return []*Message{{Source: srv, Command: "PONG", Params: []string{srv, srv}}}
	case chat.KindBye:
		why := oneLine(ev.Reason)
		if why == chat.ByeGoodbye {
			why = "quit"
		}
		return []*Message{{Command: "ERROR", Params: []string{"Closing link: " + why}, Trailing: true}}
	case chat.KindHistoryEnd:
		if e.st == nil {
			return nil
		}
		if id, ok := e.st.playback[ev.Room]; ok && ev.Ref == "" {
			delete(e.st.playback, ev.Room)
			return []*Message{{Source: srv, Command: "BATCH", Params: []string{"-" + id}}}
		}
		return nil
	case chat.KindMembers:
		return namesReply(e.c.hub, srv, me, ev.Room, ev.Members, e.has(capUserhostInNames), e.c.hub.Roles(ev.Room, ev.Members))
	case chat.KindRooms:
		out := []*Message{{Source: srv, Command: RplListStart, Params: []string{me, "Channel", "Users  Name"}}}
		for _, r := range ev.Rooms {
			out = append(out, &Message{Source: srv, Command: RplList, Params: []string{me, channel(r.Name), strconv.Itoa(r.Members), oneLine(r.Topic)}, Trailing: true})
		}
		return append(out, &Message{Source: srv, Command: RplListEnd, Params: []string{me, "End of /LIST"}})
	}
	return nil
}

// quitSent reports whether a QUIT of session id was sent lately, and
// remembers it.
func (e *encoder) quitSent(id uint64) bool {
	st := e.state()
	for _, q := range st.quits {
		if q == id {
			return true
		}
	}
	if len(st.quits) == localQuitDedupe {
		st.quits = st.quits[1:]
	}
	st.quits = append(st.quits, id)
	return false
}

// quitReason words a session's leaving as IRC clients show it.
func quitReason(r string) string {
	if rest, ok := strings.CutPrefix(r, "quit: "); ok {
		return "Quit: " + rest
	}
	if r == "quit" {
		return "Quit"
	}
	return r
}

// message renders a chat message: PRIVMSG, CTCP ACTION for /me, split into
// lines of at most LINELEN bytes.
func (e *encoder) message(ev *chat.Event, me string) []*Message {
	from, target := ev.From, ""
	switch {
	case ev.Room != "":
		target = channel(ev.Room)
	case chat.NameKey(ev.From) == chat.NameKey(me) && ev.To != "":
		target = token(ev.To) // a direct message this user sent
	default:
		target = me
		if ev.To != "" {
			target = token(ev.To)
		}
	}
	text, prefix := ev.Text, ""
	action := ev.Kind == chat.KindMe
	if ev.Kind == chat.KindDM && strings.HasPrefix(text, "/me ") {
		text, action = text[len("/me "):], true
	}
	if ev.History && !e.has(capServerTime) {
		prefix = "[" + e.when(ev.Time) + "] "
	}
	msgs := e.lines(ev, source(e.c.hub, from), "PRIVMSG", target, text, prefix, action)
	if id := e.inner(); ev.Ref == refChatHistory && id != "" {
		for _, m := range msgs {
			tagBatch(m, id)
		}
		return msgs
	}
	if ev.History && ev.Room != "" && ev.Ref == "" && e.has(capBatch) && len(msgs) > 0 {
		st := e.state()
		id, ok := st.playback[ev.Room]
		var open *Message
		if !ok {
			if st.playback == nil {
				st.playback = map[string]string{}
			}
			id = e.newBatchID()
			st.playback[ev.Room] = id
			open = &Message{Source: e.c.server(), Command: "BATCH", Params: []string{"+" + id, "chathistory", channel(ev.Room)}}
		}
		for _, m := range msgs {
			tagBatch(m, id)
		}
		if open != nil {
			msgs = append([]*Message{open}, msgs...)
		}
	}
	return msgs
}

// when formats a played-back message's time for clients without
// server-time.
func (e *encoder) when(t time.Time) string {
	t = t.In(e.loc())
	if y, m, d := t.Date(); y == time.Now().In(e.loc()).Year() {
		if ny, nm, nd := time.Now().In(e.loc()).Date(); ny == y && nm == m && nd == d {
			return t.Format("15:04")
		}
		return t.Format("Jan 2 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// lines renders text as one or more commands (PRIVMSG, NOTICE) to target:
// one per line of the text, each split on UTF-8 boundaries to fit LINELEN.
// Only the first carries the msgid.
func (e *encoder) lines(ev *chat.Event, src, cmd, target, text, prefix string, action bool) []*Message {
	overhead := 1 + len(src) + 1 + len(cmd) + 1 + len(target) + 2 + 2 // ":src CMD target :" and CRLF
	if action {
		overhead += len("\x01ACTION \x01")
	}
	budget := MaxBodyBytes + 2 - overhead - len(prefix)
	if budget < 16 {
		budget = 16
	}
	var out []*Message
	for _, ln := range strings.Split(chat.StripKeepFormatting(text), "\n") {
		for _, part := range split(ln, budget) {
			t := prefix + part
			if action {
				t = "\x01ACTION " + t + "\x01"
			}
			m := &Message{Source: src, Command: cmd, Params: []string{target, t}, Trailing: true}
			if len(out) == 0 {
				e.stamp(m, ev)
			} else if !ev.Time.IsZero() && e.has(capServerTime) {
				m.Tags = append(m.Tags, Tag{"time", ev.Time.UTC().Format(timeFormat)})
			}
			out = append(out, m)
		}
	}
	return out
}

// split cuts s into pieces of at most n bytes, at a space where one is
// near the end, never inside a UTF-8 sequence. An empty s is one empty
// piece (a blank line of a multi-line message).
func split(s string, n int) []string {
	if len(s) <= n {
		if s == "" {
			return []string{" "}
		}
		return []string{s}
	}
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if sp := strings.LastIndexByte(s[:cut], ' '); sp > cut*3/4 {
			cut = sp + 1
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// errorReply renders an error event: the numeric for the codes that have
// one, else a NOTICE.
func (e *encoder) errorReply(ev *chat.Event, me string) []*Message {
	srv := e.c.server()
	msg := ev.Err.Message
	switch ev.Err.Code {
	case chat.CodeTooLong:
		if msg == errInputTooLong.Message {
			return []*Message{{Source: srv, Command: ErrInputTooLong, Params: []string{me, msg}, Trailing: true}}
		}
	}
	return e.lines(ev, srv, "NOTICE", me, "error: "+msg, "", false)
}

// topicReply is RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC.
func topicReply(srv, me, room, topic, by string, at time.Time) []*Message {
	ch := channel(room)
	if topic == "" {
		return []*Message{{Source: srv, Command: RplNoTopic, Params: []string{me, ch, "No topic is set"}}}
	}
	out := []*Message{{Source: srv, Command: RplTopic, Params: []string{me, ch, topic}, Trailing: true}}
	if by != "" && !at.IsZero() {
		out = append(out, &Message{Source: srv, Command: RplTopicWhoTime, Params: []string{me, ch, by, strconv.FormatInt(at.Unix(), 10)}})
	}
	return out
}

// namesReply is RPL_NAMREPLY lines (as many as fit) and RPL_ENDOFNAMES.
func namesReply(h *chat.Hub, srv, me, room string, names []string, userhost bool, roles map[string]chat.Role) []*Message {
	ch := channel(room)
	var out []*Message
	const budget = 400
	cur := ""
	flush := func() {
		out = append(out, &Message{Source: srv, Command: RplNamReply, Params: []string{me, "=", ch, cur}, Trailing: true})
		cur = ""
	}
	for _, n := range names {
		prefix := ""
		switch r := roles[n]; {
		case r >= chat.RoleOp:
			prefix = "@"
		case r == chat.RoleVoice:
			prefix = "+"
		}
		if userhost {
			n = prefix + source(h, n)
		} else {
			n = prefix + token(n)
		}
		if cur != "" && len(cur)+1+len(n) > budget {
			flush()
		}
		if cur != "" {
			cur += " "
		}
		cur += n
	}
	if cur != "" {
		flush()
	}
	return append(out, &Message{Source: srv, Command: RplEndOfNames, Params: []string{me, ch, "End of /NAMES list"}})
}
