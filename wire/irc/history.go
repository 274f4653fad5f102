package irc

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
)

// maxChatHistory is the most messages one CHATHISTORY request returns (the
// CHATHISTORY token of RPL_ISUPPORT).
const maxChatHistory = 100

// refChatHistory is the Ref of messages sent in answer to CHATHISTORY: the
// encoder puts them in the batch that is open.
const refChatHistory = "\x00chathistory"

// histTarget is what a CHATHISTORY request reads: a room the session is
// in, or its direct messages with one user.
type histTarget struct {
	s    *chat.Session
	room string // room key, or "" for direct messages
	peer string // NameKey of the other user of direct messages
}

// query runs q against the target. Direct messages are filtered to the
// peer, a page at a time, so that a limit counts the peer's messages.
func (t histTarget) query(q chat.HistoryQuery) ([]chat.Message, error) {
	q.Room = t.room
	if t.room != "" {
		return t.s.History(q)
	}
	want := q.Limit
	pageSize := 1000
	if mh := t.s.Hub().Config().MaxHistory; mh > 0 && mh < pageSize {
		pageSize = mh // the most one History call returns
	}
	var out []chat.Message
	for page := 0; page < 20 && len(out) < want; page++ {
		q.Limit = pageSize
		msgs, err := t.s.History(q)
		if err != nil {
			return nil, err
		}
		var mine []chat.Message
		for _, m := range msgs {
			if chat.NameKey(m.From) == t.peer || chat.NameKey(m.To) == t.peer {
				mine = append(mine, m)
			}
		}
		if q.FromOldest {
			out = append(out, mine...)
		} else {
			out = append(mine, out...)
		}
		if len(msgs) < q.Limit {
			break
		}
		if q.FromOldest {
			q.After = msgs[len(msgs)-1].ID
		} else {
			q.Before = msgs[0].ID
		}
	}
	if len(out) > want {
		if q.FromOldest {
			out = out[:want]
		} else {
			out = out[len(out)-want:]
		}
	}
	return out, nil
}

// firstAtOrAfter returns the id of the target's first message sent at or
// after t (compared to the millisecond), or one past the newest if none
// is: a bisection over ids, each step one indexed query.
func (t histTarget) firstAtOrAfter(at time.Time) (uint64, error) {
	at = at.Truncate(time.Millisecond)
	newest, err := t.s.History(chat.HistoryQuery{Room: t.room, Limit: 1})
	if err != nil || len(newest) == 0 {
		return 0, err
	}
	top := newest[len(newest)-1]
	if top.Time.Truncate(time.Millisecond).Before(at) {
		return top.ID + 1, nil
	}
	// f(x): the time of the first message with an id above x; it grows
	// with x. Find the smallest x with f(x) >= at.
	lo, hi := uint64(0), top.ID-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		first, err := t.s.History(chat.HistoryQuery{Room: t.room, After: mid, Limit: 1, FromOldest: true})
		if err != nil {
			return 0, err
		}
		if len(first) == 0 || !first[0].Time.Truncate(time.Millisecond).Before(at) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	first, err := t.s.History(chat.HistoryQuery{Room: t.room, After: lo, Limit: 1, FromOldest: true})
	if err != nil || len(first) == 0 {
		return top.ID + 1, err
	}
	return first[0].ID, nil
}

// ref is a CHATHISTORY message reference: "*", msgid=ID or
// timestamp=TIME.
type ref struct {
	star bool
	id   uint64
	at   time.Time
}

func parseRef(s string) (ref, bool) {
	switch {
	case s == "*":
		return ref{star: true}, true
	case strings.HasPrefix(s, "msgid="):
		id, err := strconv.ParseUint(strings.TrimPrefix(s, "msgid="), 10, 64)
		return ref{id: id}, err == nil && id > 0
	case strings.HasPrefix(s, "timestamp="):
		at, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(s, "timestamp="))
		return ref{at: at}, err == nil
	}
	return ref{}, false
}

// after returns the id that messages after the reference are above.
func (t histTarget) after(r ref) (uint64, error) {
	if r.id > 0 || r.star {
		return r.id, nil
	}
	id, err := t.firstAtOrAfter(r.at.Add(time.Millisecond))
	if id == 0 {
		return 0, err
	}
	return id - 1, err
}

// before returns the id that messages before the reference are below.
func (t histTarget) before(r ref) (uint64, error) {
	if r.id > 0 {
		return r.id, nil
	}
	if r.star {
		return 0, nil
	}
	return t.firstAtOrAfter(r.at)
}

func (c *Client) historyFail(code, sub, target, text string) {
	params := []string{"CHATHISTORY", code}
	if sub != "" {
		params = append(params, sub)
	}
	if target != "" {
		params = append(params, target)
	}
	params = append(params, text)
	c.out(&Message{Source: c.server(), Command: "FAIL", Params: params, Trailing: true})
}

// chathistoryCmd answers draft/chathistory: LATEST, BEFORE, AFTER,
// AROUND, BETWEEN and TARGETS.
func (c *Client) chathistoryCmd(s *chat.Session, m *Message) {
	sub := strings.ToUpper(m.Params[0])
	if sub == "TARGETS" {
		c.historyTargets(s, m)
		return
	}
	need := 4
	if sub == "BETWEEN" {
		need = 5
	}
	switch sub {
	case "LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN":
	default:
		c.historyFail("INVALID_PARAMS", sub, "", "Unknown subcommand")
		return
	}
	if len(m.Params) < need {
		c.historyFail("INVALID_PARAMS", sub, "", "Not enough parameters")
		return
	}
	name := m.Params[1]
	t := histTarget{s: s}
	if isChannel(name) {
		room, err := roomOf(name)
		if err != nil || !isIn(s, room) {
			c.historyFail("INVALID_TARGET", sub, name, "You are not in that channel")
			return
		}
		t.room = room
	} else {
		if _, _, err := chat.ValidateName(name); err != nil {
			c.historyFail("INVALID_TARGET", sub, name, "No such nick or channel")
			return
		}
		t.peer = chat.NameKey(name)
	}
	limit, err := strconv.Atoi(m.Params[need-1])
	if err != nil || limit < 1 {
		c.historyFail("INVALID_PARAMS", sub, name, "Bad limit")
		return
	}
	limit = min(limit, maxChatHistory)
	r1, ok := parseRef(m.Params[2])
	if !ok || (r1.star && sub != "LATEST") {
		c.historyFail("INVALID_PARAMS", sub, name, "Bad message reference")
		return
	}
	var msgs []chat.Message
	switch sub {
	case "LATEST":
		var after uint64
		if after, err = t.after(r1); err == nil {
			msgs, err = t.query(chat.HistoryQuery{After: after, Limit: limit})
		}
	case "BEFORE":
		var before uint64
		if before, err = t.before(r1); err == nil && before > 0 {
			msgs, err = t.query(chat.HistoryQuery{Before: before, Limit: limit})
		}
	case "AFTER":
		var after uint64
		if after, err = t.after(r1); err == nil {
			msgs, err = t.query(chat.HistoryQuery{After: after, Limit: limit, FromOldest: true})
		}
	case "AROUND":
		var pivot uint64
		if pivot, err = t.before(r1); err == nil && pivot > 0 {
			nb := (limit - 1) / 2
			var older []chat.Message
			if nb > 0 {
				older, err = t.query(chat.HistoryQuery{Before: pivot, Limit: nb})
			}
			if err == nil {
				var newer []chat.Message
				newer, err = t.query(chat.HistoryQuery{After: pivot - 1, Limit: limit - len(older), FromOldest: true})
				msgs = append(older, newer...)
			}
		}
	case "BETWEEN":
		r2, ok := parseRef(m.Params[3])
		if !ok || r2.star {
			c.historyFail("INVALID_PARAMS", sub, name, "Bad message reference")
			return
		}
		forward := refLess(r1, r2)
		lo, hi := r1, r2
		if !forward {
			lo, hi = r2, r1
		}
		var after, before uint64
		if after, err = t.after(lo); err == nil {
			if before, err = t.before(hi); err == nil && before > after+1 {
				msgs, err = t.query(chat.HistoryQuery{After: after, Before: before, Limit: limit, FromOldest: forward})
			}
		}
	}
	if err != nil {
		c.historyFail("MESSAGE_ERROR", sub, name, "History is unavailable right now")
		return
	}
	c.local(localBatchStart, "", name, "chathistory")
	for i := range msgs {
		if i%32 == 31 {
			c.env().AwaitRoom()
		}
		s.Send(&chat.Event{Message: msgs[i], History: true, Ref: refChatHistory})
	}
	c.local(localBatchEnd, "", "", "")
}

// refLess reports whether reference a is before b.
func refLess(a, b ref) bool {
	switch {
	case a.id > 0 && b.id > 0:
		return a.id < b.id
	case !a.at.IsZero() && !b.at.IsZero():
		return a.at.Before(b.at)
	}
	return true
}

// historyTargets answers CHATHISTORY TARGETS: the rooms the session is in
// and the users it has direct messages with whose latest message falls
// between two times, oldest first.
func (c *Client) historyTargets(s *chat.Session, m *Message) {
	if len(m.Params) < 4 {
		c.historyFail("INVALID_PARAMS", "TARGETS", "", "Not enough parameters")
		return
	}
	a, ok1 := parseRef(m.Params[1])
	b, ok2 := parseRef(m.Params[2])
	limit, err := strconv.Atoi(m.Params[3])
	if !ok1 || !ok2 || a.at.IsZero() || b.at.IsZero() || err != nil || limit < 1 {
		c.historyFail("INVALID_PARAMS", "TARGETS", "", "TARGETS takes two timestamps and a limit")
		return
	}
	lo, hi := a.at.Truncate(time.Millisecond), b.at.Truncate(time.Millisecond)
	if hi.Before(lo) {
		lo, hi = hi, lo
	}
	type latest struct {
		name string
		at   time.Time
	}
	var found []latest
	in := func(t time.Time) bool {
		t = t.Truncate(time.Millisecond)
		return t.After(lo) && t.Before(hi)
	}
	for _, room := range s.Joined() {
		msgs, err := s.History(chat.HistoryQuery{Room: room, Limit: 1})
		if err == nil && len(msgs) == 1 && in(msgs[0].Time) {
			found = append(found, latest{channel(room), msgs[0].Time})
		}
	}
	dms, err := s.History(chat.HistoryQuery{Limit: 1000})
	if err == nil {
		me := chat.NameKey(s.Name())
		peers := map[string]latest{}
		for _, d := range dms {
			peer := d.From
			if chat.NameKey(peer) == me {
				peer = d.To
			}
			peers[chat.NameKey(peer)] = latest{peer, d.Time} // ascending: the last one wins
		}
		for _, l := range peers {
			if in(l.at) {
				found = append(found, l)
			}
		}
	}
	slices.SortFunc(found, func(x, y latest) int { return x.at.Compare(y.at) })
	if len(found) > limit {
		found = found[:limit]
	}
	c.local(localBatchStart, "", "", "draft/chathistory-targets")
	for _, f := range found {
		c.out(&Message{Source: c.server(), Command: "CHATHISTORY", Params: []string{"TARGETS", f.name, "timestamp=" + f.at.UTC().Format(timeFormat)}})
	}
	c.local(localBatchEnd, "", "", "")
}
