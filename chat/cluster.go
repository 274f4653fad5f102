package chat

import (
	"context"
	"hash/fnv"
	"math"
	"sync"
	"time"
)

// Cluster joins a hub to the other nodes of a cluster: a shared log
// orders and keeps every node's messages (its sequence is their id), names
// are unique across the nodes, and every node learns who is in which room
// elsewhere. Package cluster implements it on NATS JetStream.
//
// With a Cluster, the hub's Store is a local mirror of the shared log:
// the committer hands local messages to Append, and every committed
// message of the cluster, this node's included, comes back through
// Hub.Ingest in id order, is written to the mirror and only then fanned
// out. History, resume and catch-up read the mirror, so every node gives
// the same answer for the same ids.
//
// The hub calls the methods with no hub lock held.
type Cluster interface {
	// Attach is called once, by New, with the hub and the id of the last
	// message in the local mirror. From then on the cluster calls
	// Hub.Ingest with every committed message after it, in id order, and
	// Hub.Remote with the other nodes' presence changes.
	Attach(h *Hub, after uint64) error
	// Append publishes msgs, in order, to the shared log; tokens[i] is
	// msgs[i]'s origin token, which Ingest hands back with it. It returns
	// nil once every message is stored (replicated). On error some may
	// still have been stored: they arrive through Ingest like any other.
	Append(ctx context.Context, msgs []Message, tokens []uint64) error
	// ClaimName takes a name, by its skeleton (NameSkeleton), for a
	// session of this node: an *Error with CodeNameTaken if a session on
	// another node holds it, CodeUnavailable if the cluster cannot be
	// reached. account is the account key of a logged-in session ("" for
	// a guest): the sessions of one account share its name.
	ClaimName(skel, display, account string) error
	// ReleaseName gives up a name this node claimed.
	ReleaseName(skel string)
	// Announce tells the other nodes about a change of a local session.
	// It never blocks for long: changes are sent in order, in the
	// background.
	Announce(p Presence)
	// Members returns the names of the members of room on other nodes.
	Members(room string) []string
	// RoomMembers returns how many members each room has on other nodes
	// (rooms with none are left out).
	RoomMembers() map[string]int
	// Lookup returns the display name of the user called name (compared by
	// NameSkeleton) if one is online on another node.
	Lookup(name string) (display string, ok bool)
	// Whois is Lookup with what bans and cloaks need: the user's account,
	// or a guest's address.
	Whois(name string) (RemoteUserInfo, bool)
	// GuestAddrs returns the addresses of the guests on other nodes.
	GuestAddrs() []string
	// Ready is nil while the node is connected to the cluster.
	Ready() error
	// Relay tells the other nodes about a moderation action (they carry
	// it out with Hub.RemoteAction). It is best effort: a node cut off
	// from the cluster misses it, as it misses presence; what must hold
	// everywhere (modes, roles, bans) is in the shared Directory.
	Relay(a Action)
}

// ActionOp is what an Action is.
type ActionOp uint8

// Action operations.
const (
	ActionNotice     ActionOp = iota + 1 // a room's moderation notice: Text and Mode, by By
	ActionKick                           // remove the members called Target from Room (Reason, by By)
	ActionKill                           // disconnect the sessions called Target (Reason, by By)
	ActionInvite                         // Target (a name) may join Room once; tell them
	ActionUserNotice                     // a user's notice (IRC NOTICE) from By to Room's members, or to Target: Text
)

// Action is a moderation action of one node that the others carry out on
// their own sessions.
type Action struct {
	Op     ActionOp
	Room   string // room key ("" for the server)
	Target string // a name
	By     string // who did it
	Reason string
	Text   string // a notice's text
	Mode   string // a notice's Mode (Event.Mode)
	Time   time.Time
}

// relay sends an action to the other nodes, if there are any.
func (h *Hub) relay(a Action) {
	if h.cluster == nil {
		return
	}
	if a.Time.IsZero() {
		a.Time = h.now()
	}
	h.cluster.c.Relay(a)
}

// RemoteAction carries out another node's moderation action on this
// node's sessions. A Cluster calls it (with a checked Action).
func (h *Hub) RemoteAction(a Action) {
	switch a.Op {
	case ActionNotice:
		h.roomEvent(a.Room, &Event{Message: Message{Kind: KindNotice, Room: a.Room, From: a.By, Time: a.Time, Text: a.Text}, Session: RemoteSession, Mode: a.Mode})
	case ActionKick:
		rs, _ := h.mod.snapshot(a.Room)
		hit := byName(a.Target)
		for _, m := range h.membersMatching(a.Room, func(m *Session) bool { return hit(m) && h.roleOf(m, &rs) < RoleOp }) {
			_ = m.part(a.Room, "kicked by "+a.By+withReason(a.Reason), a.By)
		}
	case ActionKill:
		if t := h.Lookup(a.Target); t != nil && !t.IsAdmin() {
			for _, v := range h.sessionsOf(t) {
				v.Kill("killed by "+a.By+withReason(a.Reason), a.By)
			}
		}
	case ActionUserNotice:
		ev := &Event{Message: Message{Kind: KindUserNotice, Room: a.Room, From: a.By, Time: a.Time, Text: a.Text}, Session: RemoteSession}
		if a.Room != "" {
			h.roomEvent(a.Room, ev)
		} else if t := h.Lookup(a.Target); t != nil {
			ev.To = t.Name()
			for _, o := range h.sessionsOf(t) {
				o.deliver(ev)
			}
		}
	case ActionInvite:
		display, nkey, err := ValidateName(a.Target)
		if err != nil {
			return
		}
		h.mod.invite(a.Room, nkey, h.now())
		if t := h.Lookup(display); t != nil {
			for _, o := range h.sessionsOf(t) {
				o.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: a.By + " invites you to #" + a.Room + " (/join #" + a.Room + ")"}})
			}
		}
	}
}

// PresenceOp is what a Presence change is.
type PresenceOp uint8

// Presence operations.
const (
	PresenceHello PresenceOp = iota + 1 // a session began (Name)
	PresenceJoin                        // the session joined Room
	PresencePart                        // the session left Room (Reason)
	PresenceNick                        // the session is now called Name
	PresenceAway                        // the session is away (Text), or back (Text empty)
	PresenceQuit                        // the session ended (Reason)
	PresenceTopic                       // Room's topic is now Text, set by Name at Time
)

// Presence is a change of one local session (or of a room's topic) that
// the other nodes of a cluster are told.
type Presence struct {
	Op      PresenceOp
	Session uint64 // the local session's id
	Name    string // its display name (the new one for PresenceNick; the setter for PresenceTopic)
	Account string // its account key, "" for a guest
	Room    string // room key for PresenceJoin, PresencePart and PresenceTopic
	Reason  string // why it left, for PresencePart and PresenceQuit
	By      string // the moderator who kicked it, for PresencePart
	Text    string // away message, or topic
	Addr    string // a guest's IP address, for PresenceHello
	Time    time.Time
}

// RemoteUserInfo is what a node knows of a user on another node.
type RemoteUserInfo struct {
	Name    string // display name
	Account string // account key; "" for a guest
	Addr    string // a guest's IP address
}

// remoteWhois is Cluster.Whois on a hub that may have no cluster.
func (h *Hub) remoteWhois(name string) (RemoteUserInfo, bool) {
	if h.cluster == nil {
		return RemoteUserInfo{}, false
	}
	return h.cluster.c.Whois(name)
}

// RemoteSession is the Session of a message that came from another node
// of a cluster: never a local session's id (those count up from 1), and
// not 0, so a front-end renders it as another user's doing.
const RemoteSession = math.MaxUint64 - 1

// RemoteSessionID is the Session of the events of session id of another
// node: one per remote session (a front-end that tells sessions apart,
// like IRC's one QUIT per user, can), never a local id (the top bit is
// set) and never RemoteSession.
func RemoteSessionID(node string, id uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	v := 1<<63 | (h.Sum64()*1099511628211+id)&(1<<62-1)
	return v
}

// Committed is one message of a cluster's shared log, as Ingest receives
// it: the message with its id (its sequence in the log) and the origin
// token its node's committer gave it (0 if another node published it).
type Committed struct {
	Message
	Token uint64
}

// clusterState is the hub's side of a cluster: the committed messages this
// node is waiting to see come back through Ingest.
type clusterState struct {
	c Cluster

	mu        sync.Mutex
	routes    map[uint64]pending // origin token -> the local message it is
	nextToken uint64

	ingestMu     sync.RWMutex // read-held while Ingest hands a batch on; write-held to close fanoutQ
	ingestClosed bool
}

// route remembers p under a new origin token, which it returns.
func (cs *clusterState) route(p pending) uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.nextToken++
	cs.routes[cs.nextToken] = p
	return cs.nextToken
}

// take removes and returns the local message of token; ok is false if it
// was taken already (it failed, or came back).
func (cs *clusterState) take(token uint64) (p pending, ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p, ok = cs.routes[token]
	if ok {
		delete(cs.routes, token)
	}
	return p, ok
}

// waiting counts the local messages stored but not yet back.
func (cs *clusterState) waiting() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.routes)
}

// clusterAppend is the committer's step in cluster mode: the batch's
// messages are published to the shared log, and delivered when they come
// back through Ingest; those the log refused are refused to their senders.
func (h *Hub) clusterAppend(batch []pending) error {
	cs := h.cluster
	var msgs []Message
	var tokens []uint64
	for _, q := range batch {
		if q.ev == nil {
			continue
		}
		m := q.ev.Message
		m.ID = 0
		msgs = append(msgs, m)
		tokens = append(tokens, cs.route(q))
	}
	if len(msgs) == 0 {
		return nil
	}
	began := time.Now()
	h.appendStart.Store(began.UnixNano())
	err := cs.c.Append(context.Background(), msgs, tokens)
	h.appendStart.Store(0)
	h.appendErr.Store(err != nil)
	h.counters.committed(len(msgs), time.Since(began), err)
	if err == nil {
		return nil
	}
	h.log.Error("cluster append failed; messages refused", "count", len(msgs), "err", err)
	for _, t := range tokens {
		q, ok := cs.take(t)
		if !ok {
			continue // it was stored after all and has been delivered
		}
		if q.from != nil {
			q.from.deliver(errorEvent(Errorf(CodeUnavailable, "message not stored: the server has lost its cluster; try again"), q.ev.Ref))
		}
		h.settled.Add(1)
	}
	return err
}

// Ingest takes committed messages of the cluster's shared log, in id order
// (a Cluster calls it, from one goroutine): each is written to the local
// mirror and then fanned out to this node's sessions. Messages at or below
// the last one ingested are skipped. It blocks while the fan-out is behind
// (backpressure on the log's consumer), and returns false once the hub has
// shut down.
func (h *Hub) Ingest(batch []Committed) bool {
	cs := h.cluster
	if cs == nil {
		return false
	}
	last := h.lastCommitted.Load()
	msgs := make([]Message, 0, len(batch))
	keep := batch[:0:0]
	for _, c := range batch {
		if c.ID <= last {
			continue
		}
		last = c.ID
		msgs = append(msgs, c.Message)
		keep = append(keep, c)
	}
	if len(msgs) == 0 {
		return true
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := h.store.Append(context.Background(), msgs)
		if err == nil {
			break
		}
		h.log.Error("writing the cluster's messages to the local store failed; retrying", "count", len(msgs), "err", err)
		h.mu.RLock()
		closed := h.closed
		h.mu.RUnlock()
		if closed {
			return false
		}
		time.Sleep(wait)
	}
	out := make([]*Event, 0, len(keep))
	for _, c := range keep {
		var ev *Event
		if c.Token != 0 {
			if q, ok := cs.take(c.Token); ok {
				ev = q.ev
				ev.ID = c.ID
			}
		}
		if ev == nil {
			ev = &Event{Message: c.Message, Session: RemoteSession}
			p := h.resolve(ev)
			p.remote = true
			ev.route = p
			if c.Token != 0 {
				if from := h.Lookup(ev.From); from != nil {
					// Ours, refused to its sender and stored after all:
					// its sender sees it as its own, not someone else's.
					ev.Session = from.id
				}
			}
		}
		h.lastCommitted.Store(c.ID)
		out = append(out, ev)
	}
	cs.ingestMu.RLock()
	defer cs.ingestMu.RUnlock()
	if cs.ingestClosed {
		return false
	}
	h.fanoutQ <- out
	return true
}

// closeIngest ends the fan-out once the committer is done and the local
// messages it stored have come back (or after a bound).
func (h *Hub) closeIngest() {
	cs := h.cluster
	deadline := time.Now().Add(5 * time.Second)
	for cs.waiting() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cs.ingestMu.Lock()
	cs.ingestClosed = true
	close(h.fanoutQ)
	cs.ingestMu.Unlock()
}

// announce tells the cluster, if there is one, about a change of s.
func (h *Hub) announce(p Presence) {
	if h.cluster == nil {
		return
	}
	if p.Time.IsZero() {
		p.Time = h.now()
	}
	h.cluster.c.Announce(p)
}

// claimName takes a name cluster-wide before the hub registers it
// locally; without a cluster it does nothing.
func (h *Hub) claimName(skel, display, account string) error {
	if h.cluster == nil {
		return nil
	}
	return h.cluster.c.ClaimName(skel, display, account)
}

// upgradeClaim makes the cluster's claim of a guest's name the account's
// once the guest has registered it or logged in to it, so that the
// account's devices on other nodes share it.
func (h *Hub) upgradeClaim(skel, name, account string) {
	if h.cluster != nil && h.claimName(skel, name, account) == nil {
		h.releaseName(skel)
	}
}

// releaseName gives up a name claimed with claimName.
func (h *Hub) releaseName(skel string) {
	if h.cluster != nil {
		h.cluster.c.ReleaseName(skel)
	}
}

// remoteMembers returns room's members on other nodes, or nil.
func (h *Hub) remoteMembers(room string) []string {
	if h.cluster == nil {
		return nil
	}
	return h.cluster.c.Members(room)
}

// RemoteUser returns the display name of the user called name if one is
// online on another node of the cluster (never on a single node).
func (h *Hub) RemoteUser(name string) (string, bool) {
	if h.cluster == nil {
		return "", false
	}
	return h.cluster.c.Lookup(name)
}

// inRoomElsewhere reports whether someone called name (an account's other
// device) is a member of room on another node.
func (h *Hub) inRoomElsewhere(room, name string) bool {
	if h.cluster == nil {
		return false
	}
	skel := NameSkeleton(name)
	for _, m := range h.cluster.c.Members(room) {
		if NameSkeleton(m) == skel {
			return true
		}
	}
	return false
}

// onlineElsewhere reports whether someone called name is online on
// another node.
func (h *Hub) onlineElsewhere(name string) bool {
	_, ok := h.RemoteUser(name)
	return ok
}

// Remote delivers a change that happened on another node to this node's
// sessions: a join or part (ev.Room set), a nick change, an away message or
// a quit (to the members of rooms, each session once), or a topic (stored
// in the local mirror, then shown to the room). A Cluster calls it, in the
// order the changes happened.
func (h *Hub) Remote(ev *Event, rooms []string) {
	if ev.Session == 0 {
		ev.Session = RemoteSession
	}
	if ev.Kind == KindTopic {
		h.remoteTopic(ev)
		return
	}
	told := map[uint64]bool{}
	for _, key := range rooms {
		r, _ := h.room(key, false)
		if r == nil {
			continue
		}
		remote := 0
		if ev.Kind == KindJoin || ev.Kind == KindPart {
			remote = len(h.remoteMembers(key))
		}
		r.mu.Lock()
		if remote > 0 && h.cfg.AnnounceLimit > 0 && len(r.members)+remote > h.cfg.AnnounceLimit {
			r.mu.Unlock()
			continue
		}
		if ev.Kind == KindJoin || ev.Kind == KindPart {
			here := false
			for _, m := range r.members {
				here = here || NameKey(m.Name()) == NameKey(ev.Name) && m.accountKey() != ""
			}
			if here {
				// The account is in the room here, on another device:
				// its arrival or departure elsewhere is no news.
				r.mu.Unlock()
				continue
			}
		}
		for _, m := range r.members {
			if !told[m.id] {
				told[m.id] = true
				if (ev.Kind == KindJoin || ev.Kind == KindPart) && NameKey(m.Name()) == NameKey(ev.Name) {
					// This user's own old session (gone with its node,
					// the user back here): not news to it, and its own
					// part would read as being out of the room.
					continue
				}
				m.deliver(ev)
			}
		}
		r.mu.Unlock()
	}
}

// remoteTopic stores a topic set on another node and tells the room.
func (h *Hub) remoteTopic(ev *Event) {
	t := Topic{Room: ev.Room, Text: ev.Text, By: ev.From, At: ev.Time}
	if err := h.store.SetTopic(context.Background(), t); err != nil {
		h.log.Error("storing a topic from the cluster failed", "room", ev.Room, "err", err)
	}
	r, _ := h.room(ev.Room, false)
	if r == nil {
		return
	}
	r.topicMu.Lock()
	defer r.topicMu.Unlock()
	r.mu.Lock()
	r.topic, r.topicBy, r.topicAt, r.topicLoaded = t.Text, t.By, t.At, true
	r.broadcast(ev)
	r.mu.Unlock()
}

// LocalNames returns the skeleton, display name and account key of every
// local session's name, for a node that reclaims them after losing the
// cluster.
func (h *Hub) LocalNames() [][3]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([][3]string, 0, len(h.looks))
	for skel, s := range h.looks {
		acct := ""
		if a := s.accountOf(); a != nil {
			acct = a.Key
		}
		out = append(out, [3]string{skel, s.Name(), acct})
	}
	return out
}
