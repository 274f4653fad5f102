package cluster

import (
	"context"
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/chat"
)

// The presence bucket's keys:
//
//	n.<node>                  the node's heartbeat
//	s.<node>.<session>        a session: its name, account, away message (or that it quit, and why)
//	m.<room>.<node>.<session> the session is in the room (or just left it, and why)
//	t.<room>                  the room's topic
//
// Every node watches the whole bucket, so each knows who is where; one
// watcher keeps the changes in the order they were written.

// sessionValue is the value of an s. key.
type sessionValue struct {
	Name    string `json:"n"`
	Account string `json:"a,omitempty"`
	Away    string `json:"w,omitempty"`
	Addr    string `json:"ip,omitempty"` // a guest's address: bans and cloaks name guests by it
	Gone    bool   `json:"g,omitempty"`
	Reason  string `json:"r,omitempty"`
}

// memberValue is the value of an m. key.
type memberValue struct {
	Left   bool   `json:"l,omitempty"`
	Reason string `json:"r,omitempty"`
	By     string `json:"b,omitempty"`
}

// topicValue is the value of a t. key.
type topicValue struct {
	Text string `json:"x"`
	By   string `json:"b"`
	At   int64  `json:"at"`
	Node string `json:"node"`
}

// skey names a session of some node.
type skey struct {
	node string
	id   uint64
}

// rsess is a session on another node.
type rsess struct {
	skey
	name, account, away string
	addr                string // a guest's address ("" for an account)
	rooms               map[string]bool
}

// index is what a node knows of the others: guarded by Cluster.mu.
type index struct {
	nodes    map[string]time.Time // node -> when it was last heard of
	sessions map[skey]*rsess
	rooms    map[string]map[skey]*rsess
	names    map[string]map[skey]bool // name skeleton -> sessions using it
}

func newIndex() index {
	return index{nodes: map[string]time.Time{}, sessions: map[skey]*rsess{}, rooms: map[string]map[skey]*rsess{}, names: map[string]map[skey]bool{}}
}

// counts returns the nodes alive (me included) and the remote sessions.
func (x *index) counts(me string) (nodes, sessions int) {
	n := 1
	for node := range x.nodes {
		if node != me {
			n++
		}
	}
	return n, len(x.sessions)
}

// session returns (making it) the remote session k.
func (x *index) session(k skey) *rsess {
	s := x.sessions[k]
	if s == nil {
		s = &rsess{skey: k, rooms: map[string]bool{}}
		x.sessions[k] = s
		if _, ok := x.nodes[k.node]; !ok {
			x.nodes[k.node] = time.Now()
		}
	}
	return s
}

// rename moves s to name in the names index.
func (x *index) rename(s *rsess, name string) {
	if s.name != "" {
		skel := chat.NameSkeleton(s.name)
		delete(x.names[skel], s.skey)
		if len(x.names[skel]) == 0 {
			delete(x.names, skel)
		}
	}
	s.name = name
	if name != "" {
		skel := chat.NameSkeleton(name)
		if x.names[skel] == nil {
			x.names[skel] = map[skey]bool{}
		}
		x.names[skel][s.skey] = true
	}
}

// join and part change s's rooms; they report whether anything changed.
func (x *index) join(s *rsess, room string) bool {
	if s.rooms[room] {
		return false
	}
	s.rooms[room] = true
	if x.rooms[room] == nil {
		x.rooms[room] = map[skey]*rsess{}
	}
	x.rooms[room][s.skey] = s
	return true
}

func (x *index) part(s *rsess, room string) bool {
	if !s.rooms[room] {
		return false
	}
	delete(s.rooms, room)
	delete(x.rooms[room], s.skey)
	if len(x.rooms[room]) == 0 {
		delete(x.rooms, room)
	}
	return true
}

// others reports whether another session of s's account (its other
// device) is in room. A guest has none: a guest's name on two sessions is
// the user back on another node after its own went, and its old
// session's departure is told.
func (x *index) others(s *rsess, room string) bool {
	if s.name == "" || s.account == "" {
		return false
	}
	for k := range x.names[chat.NameSkeleton(s.name)] {
		if o := x.sessions[k]; k != s.skey && o != nil && o.account == s.account && o.rooms[room] {
			return true
		}
	}
	return false
}

// drop forgets s and returns its rooms, sorted.
func (x *index) drop(s *rsess) []string {
	rooms := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		rooms = append(rooms, r)
		x.part(s, r)
	}
	sort.Strings(rooms)
	x.rename(s, "")
	delete(x.sessions, s.skey)
	return rooms
}

// remote is a change to hand the hub, outside the lock.
type remote struct {
	ev    *chat.Event
	rooms []string
}

// Members implements chat.Cluster.
func (c *Cluster) Members(room string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.idx.rooms[room]
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for _, s := range m {
		if s.name != "" {
			out = append(out, s.name)
		}
	}
	return out
}

// RoomMembers implements chat.Cluster: members per room on other nodes,
// one per name (an account's devices are one user).
func (c *Cluster) RoomMembers() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.idx.rooms))
	for room, m := range c.idx.rooms {
		names := make(map[string]bool, len(m))
		for _, s := range m {
			names[s.name] = true
		}
		out[room] = len(names)
	}
	return out
}

// Whois implements chat.Cluster.
func (c *Cluster) Whois(name string) (chat.RemoteUserInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.idx.names[chat.NameSkeleton(name)] {
		if s := c.idx.sessions[k]; s != nil {
			return chat.RemoteUserInfo{Name: s.name, Account: s.account, Addr: s.addr}, true
		}
	}
	return chat.RemoteUserInfo{}, false
}

// GuestAddrs implements chat.Cluster.
func (c *Cluster) GuestAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range c.idx.sessions {
		if s.addr != "" && !seen[s.addr] {
			seen[s.addr] = true
			out = append(out, s.addr)
		}
	}
	return out
}

// Lookup implements chat.Cluster.
func (c *Cluster) Lookup(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.idx.names[chat.NameSkeleton(name)] {
		if s := c.idx.sessions[k]; s != nil {
			return s.name, true
		}
	}
	return "", false
}

// Announce implements chat.Cluster.
func (c *Cluster) Announce(p chat.Presence) {
	select {
	case c.announce <- p:
		return
	default:
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case c.announce <- p:
	case <-t.C:
		c.log.Error("the presence queue is full; a change is not told to the other nodes", "op", p.Op, "name", p.Name)
	case <-c.ctx.Done():
	}
}

// own is what this node has told the cluster about one of its sessions.
type own struct {
	v     sessionValue
	rooms map[string]bool
}

// startPresence loads the bucket, then keeps watching it, and starts the
// writer of this node's changes and the heartbeat.
func (c *Cluster) startPresence() error {
	w, err := c.presence.WatchAll(c.ctx)
	if err != nil {
		return err
	}
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are in
		}
		for _, r := range c.apply(e, true) {
			c.hub.Remote(r.ev, r.rooms)
		}
	}
	c.wg.Add(3)
	go c.watch(w)
	go c.write()
	go c.heartbeat()
	return nil
}

// watch applies the other nodes' changes as they come.
func (c *Cluster) watch(w jetstream.KeyWatcher) {
	c.follow(w, func(e jetstream.KeyValueEntry) {
		for _, r := range c.apply(e, false) {
			c.hub.Remote(r.ev, r.rooms)
		}
	})
}

// follow hands take every entry a bucket's watcher brings, until the
// cluster closes (one of c.wg's goroutines).
func (c *Cluster) follow(w jetstream.KeyWatcher, take func(jetstream.KeyValueEntry)) {
	defer c.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				take(e)
			}
		case <-c.ctx.Done():
			return
		}
	}
}

// apply updates the index with one bucket entry and returns what to tell
// this node's sessions (nothing for the initial load, but topics).
func (c *Cluster) apply(e jetstream.KeyValueEntry, initial bool) []remote {
	parts := strings.Split(e.Key(), ".")
	del := e.Operation() != jetstream.KeyValuePut
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []remote
	tell := func(ev *chat.Event, rooms ...string) {
		if !initial && len(rooms) > 0 {
			out = append(out, remote{ev: ev, rooms: rooms})
		}
	}
	switch {
	case parts[0] == "n" && len(parts) == 2:
		node := parts[1]
		if node == c.id {
			if del && !c.closing.Load() {
				// Another node took this one for dead (it was silent
				// through a leader election, say) and removed its
				// entries: describe every session again.
				c.log.Warn("another node took this one for dead; describing its sessions again")
				c.resync.Store(true)
				select {
				case c.kick <- struct{}{}:
				default:
				}
			}
			return nil
		}
		if del {
			// The node left, or was swept out as dead: whatever of its
			// sessions is still known here (a clean-up that did not get
			// through, a quit not written) goes with it.
			_, gone := c.nodeGoneLocked(node)
			for _, r := range gone {
				tell(r.ev, r.rooms...)
			}
		} else {
			if c.gone[node] && !initial {
				// Taken for dead here, and alive after all: read its
				// entries again (those that are left).
				delete(c.gone, node)
				c.wg.Add(1)
				go c.reload(node)
			}
			c.idx.nodes[node] = now
		}
	case parts[0] == "s" && len(parts) == 3:
		k, ok := parseSkey(parts[1], parts[2])
		if !ok || k.node == c.id {
			return nil
		}
		s := c.idx.sessions[k]
		var v sessionValue
		if !del {
			_ = json.Unmarshal(e.Value(), &v)
		}
		if del || v.Gone {
			if s == nil {
				return nil
			}
			name := s.name
			if del && v.Reason == "" {
				// Deleted with no quit first: the node sweeping out a dead
				// one (that node tells its own users so too).
				v.Reason = "lost contact with its server"
			}
			stays := map[string]bool{} // rooms the user is still in, on another device
			for room := range s.rooms {
				stays[room] = c.idx.others(s, room)
			}
			for _, room := range c.idx.drop(s) {
				if stays[room] {
					continue
				}
				tell(&chat.Event{Message: chat.Message{Kind: chat.KindPart, Room: room, Time: now}, Session: chat.RemoteSessionID(k.node, k.id), Name: name, Reason: v.Reason, Quit: true}, room)
			}
			return out
		}
		if !validName(v.Name) {
			c.log.Warn("a presence entry with an invalid name; ignored", "key", e.Key())
			return nil
		}
		if s == nil {
			s = c.idx.session(k)
		}
		c.idx.nodes[k.node] = now
		rooms := sortedRooms(s)
		if s.name != "" && s.name != v.Name {
			tell(&chat.Event{Message: chat.Message{Kind: chat.KindNick, Time: now}, Session: chat.RemoteSessionID(k.node, k.id), OldName: s.name, Name: v.Name}, rooms...)
		}
		if s.name != "" && s.away != v.Away {
			tell(&chat.Event{Message: chat.Message{Kind: chat.KindAway, Time: now, Text: v.Away}, Session: chat.RemoteSessionID(k.node, k.id), Name: v.Name}, rooms...)
		}
		c.idx.rename(s, v.Name)
		s.account, s.away = v.Account, v.Away
		s.addr = ""
		if a, err := netip.ParseAddr(v.Addr); err == nil && v.Account == "" {
			s.addr = a.Unmap().String()
		}
	case parts[0] == "m" && len(parts) == 4:
		room, err := untoken(parts[1])
		k, ok := parseSkey(parts[2], parts[3])
		if err != nil || !ok || k.node == c.id || !validRoom(room) {
			return nil
		}
		var v memberValue
		if !del {
			_ = json.Unmarshal(e.Value(), &v)
		}
		if del || v.Left {
			s := c.idx.sessions[k]
			if s != nil && c.idx.part(s, room) && !c.idx.others(s, room) {
				tell(&chat.Event{Message: chat.Message{Kind: chat.KindPart, Room: room, Time: now}, Session: chat.RemoteSessionID(k.node, k.id), Name: s.name, Reason: v.Reason, By: v.By}, room)
			}
			return out
		}
		s := c.idx.session(k)
		if c.idx.join(s, room) && s.name != "" && !c.idx.others(s, room) {
			tell(&chat.Event{Message: chat.Message{Kind: chat.KindJoin, Room: room, Time: now}, Session: chat.RemoteSessionID(k.node, k.id), Name: s.name}, room)
		}
	case parts[0] == "t" && len(parts) == 2:
		room, err := untoken(parts[1])
		if err != nil || del || !validRoom(room) {
			return nil
		}
		var v topicValue
		if json.Unmarshal(e.Value(), &v) != nil || v.Node == c.id {
			return nil
		}
		if text, err := chat.CleanLine(v.Text, chat.MaxTopicBytes); (err != nil && chat.ErrorCode(err) != chat.CodeEmpty) || text != v.Text || !validName(v.By) {
			c.log.Warn("a topic entry that is not clean; ignored", "key", e.Key())
			return nil
		}
		// Topics are stored even from the initial load: a new node learns them.
		out = append(out, remote{ev: &chat.Event{Message: chat.Message{Kind: chat.KindTopic, Room: room, From: v.By, Time: time.Unix(0, v.At), Text: v.Text}}})
	}
	return out
}

// validRoom reports whether a room key read from the bucket is one.
func validRoom(room string) bool {
	key, err := chat.ValidateRoom(room)
	return err == nil && key == room
}

func sortedRooms(s *rsess) []string {
	rooms := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	return rooms
}

func parseSkey(node, id string) (skey, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	return skey{node: node, id: n}, err == nil && node != ""
}

func sessionKey(node string, id uint64) string {
	return "s." + node + "." + strconv.FormatUint(id, 10)
}

func memberKey(room, node string, id uint64) string {
	return "m." + token(room) + "." + node + "." + strconv.FormatUint(id, 10)
}

// write sends this node's changes to the bucket, in order. What it has
// told is kept (mine), so that after being cut off the node can say it
// all again.
func (c *Cluster) write() {
	defer c.wg.Done()
	mine := map[uint64]*own{}
	for {
		select {
		case p := <-c.announce:
			c.put(mine, p)
		case <-c.kick:
		case <-c.ctx.Done():
			return
		}
		if c.resync.Load() && c.up.Load() {
			c.resync.Store(false)
			c.describe(mine)
		}
	}
}

// put records one change and writes it, trying again for a while (a
// cluster electing a new leader after losing a server answers nothing
// for a few seconds); past that, the node describes itself again once it
// can.
func (c *Cluster) put(mine map[uint64]*own, p chat.Presence) {
	var rooms []string // a quitting session's, forgotten here at once
	if p.Op == chat.PresenceQuit {
		if o := mine[p.Session]; o != nil {
			for r := range o.rooms {
				rooms = append(rooms, r)
			}
		}
		delete(mine, p.Session)
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := c.putOnce(mine, p, rooms)
		if err == nil || c.ctx.Err() != nil {
			return
		}
		if wait >= time.Second || !c.up.Load() {
			c.log.Warn("telling the cluster about a change failed; it is told again once the connection is back", "op", p.Op, "err", err)
			c.resync.Store(true)
			return
		}
		time.Sleep(wait)
	}
}

// putOnce writes one change (idempotently: it may be tried again).
func (c *Cluster) putOnce(mine map[uint64]*own, p chat.Presence, quitRooms []string) error {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	o := mine[p.Session]
	if o == nil && p.Op != chat.PresenceTopic && p.Op != chat.PresenceQuit {
		o = &own{rooms: map[string]bool{}}
		mine[p.Session] = o
	}
	var err error
	switch p.Op {
	case chat.PresenceHello, chat.PresenceNick, chat.PresenceAway:
		o.v.Name = p.Name
		if p.Op != chat.PresenceAway {
			o.v.Account = p.Account
			if p.Op == chat.PresenceHello || p.Addr != "" {
				o.v.Addr = p.Addr
			}
			if p.Account != "" {
				o.v.Addr = "" // an account answers for itself: its address is not needed
			}
		} else {
			o.v.Away = p.Text
		}
		err = c.putJSON(ctx, sessionKey(c.id, p.Session), o.v)
	case chat.PresenceJoin:
		o.rooms[p.Room] = true
		err = c.putJSON(ctx, memberKey(p.Room, c.id, p.Session), memberValue{})
	case chat.PresencePart:
		delete(o.rooms, p.Room)
		key := memberKey(p.Room, c.id, p.Session)
		if err = c.putJSON(ctx, key, memberValue{Left: true, Reason: p.Reason, By: p.By}); err == nil {
			err = c.presence.Delete(ctx, key)
		}
	case chat.PresenceQuit:
		key := sessionKey(c.id, p.Session)
		if err = c.putJSON(ctx, key, sessionValue{Name: p.Name, Gone: true, Reason: p.Reason}); err == nil {
			for _, room := range quitRooms {
				if err = c.presence.Delete(ctx, memberKey(room, c.id, p.Session)); err != nil {
					return err
				}
			}
			err = c.presence.Delete(ctx, key)
		}
	case chat.PresenceTopic:
		err = c.putJSON(ctx, "t."+token(p.Room), topicValue{Text: p.Text, By: p.Name, At: p.Time.UnixNano(), Node: c.id})
	}
	return err
}

func (c *Cluster) putJSON(ctx context.Context, key string, v any) error {
	b, _ := json.Marshal(v)
	_, err := c.presence.Put(ctx, key, b)
	return err
}

// describe writes all of this node's sessions again, and reclaims their
// names, after the node was cut off (the others may have taken it for
// dead and removed them).
func (c *Cluster) describe(mine map[uint64]*own) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	c.log.Info("describing this node's sessions to the cluster again", "sessions", len(mine))
	_ = c.putJSON(ctx, "n."+c.id, map[string]int64{"at": time.Now().UnixNano()})
	c.reclaimNames(ctx)
	// Entries of sessions that left while the node was cut off go.
	if lister, err := c.presence.ListKeysFiltered(ctx, "s."+c.id+".*", "m.*."+c.id+".*"); err == nil {
		var stale []string
		for k := range lister.Keys() {
			parts := strings.Split(k, ".")
			if id, err := strconv.ParseUint(parts[len(parts)-1], 10, 64); err == nil && mine[id] == nil {
				stale = append(stale, k)
			} else if len(parts) == 4 && mine[id] != nil {
				if room, err := untoken(parts[1]); err == nil && !mine[id].rooms[room] {
					stale = append(stale, k)
				}
			}
		}
		c.deleteKeys(ctx, stale)
	}
	for id, o := range mine {
		if err := c.putJSON(ctx, sessionKey(c.id, id), o.v); err != nil {
			c.resync.Store(true)
			return
		}
		for room := range o.rooms {
			if err := c.putJSON(ctx, memberKey(room, c.id, id), memberValue{}); err != nil {
				c.resync.Store(true)
				return
			}
		}
	}
}

// heartbeat says this node is alive, and takes silent nodes that do not
// answer a probe for dead.
func (c *Cluster) heartbeat() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		if c.up.Load() {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Heartbeat*2)
			_ = c.putJSON(ctx, "n."+c.id, map[string]int64{"at": time.Now().UnixNano()})
			c.checkLog(ctx)
			cancel()
			c.sweep() // with bounds of its own: a probe must never run out of time it did not have
			if c.resync.Load() {
				select { // wake the writer to describe the node again
				case c.kick <- struct{}{}:
				default:
				}
			}
		}
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
	}
}

// sweep probes the nodes not heard of for DeadAfter; those that do not
// answer are gone: their users part here at once, and the first node
// alive removes their entries from the bucket.
func (c *Cluster) sweep() {
	c.mu.Lock()
	var silent []string
	alive := []string{c.id}
	for node, seen := range c.idx.nodes {
		if time.Since(seen) > c.cfg.DeadAfter {
			silent = append(silent, node)
		} else {
			alive = append(alive, node)
		}
	}
	c.mu.Unlock()
	for _, node := range silent {
		if c.alive(c.ctx, node) { // its own second: an earlier node's clean-up must not use it up
			c.mu.Lock()
			if _, ok := c.idx.nodes[node]; ok {
				c.idx.nodes[node] = time.Now()
			}
			c.mu.Unlock()
			continue
		}
		c.log.Warn("a node is gone: its users leave", "node", node)
		keys, out := c.nodeGone(node)
		for _, r := range out {
			c.hub.Remote(r.ev, r.rooms)
		}
		sort.Strings(alive)
		if alive[0] == c.id {
			// In the background: during a leader election each delete may
			// hang for a while, and the next silent node must be probed now.
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
				defer cancel()
				c.deleteKeys(ctx, keys)
			}()
		}
	}
}

// reload reads a node's entries again, for a node taken for dead that
// turned out to be alive: its sessions' joins are told as they come.
func (c *Cluster) reload(node string) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	lister, err := c.presence.ListKeysFiltered(ctx, "s."+node+".*", "m.*."+node+".*")
	if err != nil {
		c.log.Warn("reading a node's entries again failed", "node", node, "err", err)
		return
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0] > keys[j][0] }) // sessions (s.) before their rooms (m.)
	for _, k := range keys {
		e, err := c.presence.Get(ctx, k)
		if err != nil {
			continue
		}
		for _, r := range c.apply(e, false) {
			c.hub.Remote(r.ev, r.rooms)
		}
	}
	c.log.Info("a node taken for dead is back", "node", node, "entries", len(keys))
}

// nodeGone forgets a node and returns its keys and the parts to tell.
func (c *Cluster) nodeGone(node string) ([]string, []remote) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeGoneLocked(node)
}

// nodeGoneLocked is nodeGone with c.mu held.
func (c *Cluster) nodeGoneLocked(node string) ([]string, []remote) {
	delete(c.idx.nodes, node)
	c.gone[node] = true
	var keys []string
	var out []remote
	type left struct {
		s     rsess // what it was (drop forgets its name)
		rooms []string
	}
	var gone []left
	for k, s := range c.idx.sessions {
		if k.node != node {
			continue
		}
		keys = append(keys, sessionKey(node, k.id))
		was := rsess{skey: s.skey, name: s.name, account: s.account}
		gone = append(gone, left{was, c.idx.drop(s)})
	}
	// Only now, with all of the node's sessions gone from the index: an
	// account's device elsewhere keeps it in a room.
	for _, g := range gone {
		s := g.s
		for _, room := range g.rooms {
			keys = append(keys, memberKey(room, node, s.id))
			if c.idx.others(&s, room) {
				continue // the account is still in the room on another node
			}
			out = append(out, remote{ev: &chat.Event{Message: chat.Message{Kind: chat.KindPart, Room: room, Time: time.Now()}, Session: chat.RemoteSessionID(node, s.id), Name: s.name, Reason: "lost contact with its server", Quit: true}, rooms: []string{room}})
		}
	}
	// The heartbeat goes last: a node that is alive after all describes
	// itself again when it sees it go, after its other entries are gone.
	return append(keys, "n."+node), out
}

// forgetNode removes a node's entries from the bucket (its own, at a
// clean shutdown; those the sessions' quits left behind otherwise).
func (c *Cluster) forgetNode(ctx context.Context, node string) {
	var keys []string
	if lister, err := c.presence.ListKeysFiltered(ctx, "s."+node+".*", "m.*."+node+".*"); err == nil {
		for k := range lister.Keys() {
			keys = append(keys, k)
		}
	}
	// The heartbeat last: until it goes, the others still know the node
	// and sweep what is left of it.
	c.deleteKeys(ctx, append(keys, "n."+node))
}

func (c *Cluster) deleteKeys(ctx context.Context, keys []string) {
	for _, k := range keys {
		for try := 1; ; try++ {
			err := c.presence.Delete(ctx, k)
			if err == nil || ctx.Err() != nil {
				break
			}
			if try == 3 {
				c.log.Warn("deleting a presence entry failed", "key", k, "err", err)
				break
			}
			select { // a leader election: once more, shortly
			case <-ctx.Done():
			case <-time.After(time.Duration(try) * 250 * time.Millisecond):
			}
		}
	}
}
