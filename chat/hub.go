package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/auth"
)

// Defaults for Config fields left zero.
const (
	DefaultHistoryOnJoin   = 50
	DefaultMaxMessageBytes = 64 * 1024
	DefaultMaxRooms        = 10000
	DefaultMaxSessionRooms = 100
	DefaultMaxHistory      = 1000
	DefaultMaxResume       = 10000
	DefaultAnnounceLimit   = 1000
	DefaultCommitTimeout   = 500 * time.Millisecond
	DefaultMaxHeldBytes    = 4 << 20
	DefaultCommitQueue     = 8192
	// DefaultRegistrationsPerHour is Config.RegistrationsPerHour's default.
	DefaultRegistrationsPerHour = 20
	maxCommitBatch              = 1024
	fanoutBatches               = 4 // committed batches that may wait for fan-out
	// DefaultRoom is the room every session starts in.
	DefaultRoom = "lobby"
	// ProtocolVersion is the native protocol version this hub speaks.
	ProtocolVersion = 1
)

// Config configures a Hub. Every field has a usable zero value except Store.
type Config struct {
	ServerName string // shown in welcomes; default "parley"
	Version    string // the server software's version, shown in welcomes
	Motd       string // message of the day shown on connect
	Store      Store  // where messages are kept and read back; required
	Log        Log    // what orders messages and assigns their ids; default Store
	Broker     Broker // fan-out; default delivers locally
	// Cluster joins the hub to other nodes (a shared log, names and
	// presence across nodes); nil for a single node. With one, Store is the
	// node's local mirror of the shared log and Log is not used.
	Cluster         Cluster
	Logger          *slog.Logger        // default slog.Default()
	Now             func() time.Time    // clock; default time.Now
	Sleep           func(time.Duration) // waits on that clock (rate limiting); default time.Sleep
	HistoryOnJoin   int                 // messages replayed on join; default 50, negative for none
	MaxHistory      int                 // most messages one history request or join replay returns; default 1000
	MaxResume       int                 // most messages one resume replays before saying "more"; default 10000
	MaxMessageBytes int                 // longest message text; default 64 KiB
	MaxRooms        int                 // most rooms with members at once (empty rooms are freed); default 10000
	MaxSessionRooms int                 // most rooms one session may be in; default 100
	Password        string              // server password clients must give before they get a session; empty for none
	RateLimit       RateLimit           // per-session request rate limit; zero for none
	// AnnounceLimit is the room size above which joins, parts and quits are
	// no longer announced to the room (only the session that joins or parts
	// is told); default 1000, negative to always announce. N clients
	// joining one room otherwise cost N²/2 deliveries. The member list
	// (Who) is always complete.
	AnnounceLimit int
	// CommitTimeout is how long a message may wait for room in a full
	// commit queue while the pipeline makes no progress at all (the store
	// is stalled) before its sender is told "unavailable"; default 500 ms.
	// While messages are being stored and delivered, a sender of a full
	// queue just waits its turn (backpressure). Nothing but the sender
	// waits.
	CommitTimeout time.Duration
	// MaxHeldBytes bounds the live events held for a session while a
	// history replay runs outside the room lock; default 4 MiB. Messages
	// past it are fetched again from the store afterwards, so none is lost.
	MaxHeldBytes int
	// CommitQueue is how many accepted messages may wait for the Log;
	// default 8192.
	CommitQueue int

	// Directory keeps accounts, room settings, sanctions and the audit
	// log; default Store, if it implements Directory. Without one,
	// accounts and moderation are unavailable.
	Directory Directory
	// Registration says who may create accounts; default open.
	Registration Registration
	// RegistrationsPerHour bounds the accounts one address (but loopback)
	// may create in an hour; past it, registration from there is refused
	// for an hour. Default 20; negative for no limit.
	RegistrationsPerHour int
	// RequireAccount lets only logged-in accounts speak (guests may join
	// and read).
	RequireAccount bool
	// Admins are the account names of the server operators.
	Admins []string
	// HashParams are the argon2id costs of new password hashes; default
	// auth.DefaultParams.
	HashParams auth.Params
	// AccountPolicy and AddressPolicy slow down and lock out failed
	// logins per account and per address; defaults
	// auth.DefaultAccountPolicy and auth.DefaultAddressPolicy.
	AccountPolicy, AddressPolicy auth.Policy
	// Raid is the raid protection of every room; see RaidPolicy.
	Raid RaidPolicy
}

// Hub is the chat core: it owns rooms and sessions, hands messages to the
// Log (which gives them their ids and stores them) and fans them out. All
// methods are safe for concurrent use, and none waits on the store, except
// history reads on the goroutine of the session that asked.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	mlog   Log
	broker Broker
	// batch is the fan-out goroutine's flush batch (fanoutLoop); nil when
	// the broker delivers on goroutines of its own.
	batch *flushBatch
	now   func() time.Time
	sleep func(time.Duration)

	mu       sync.RWMutex
	sessions map[uint64]*Session
	names    map[string]*Session // name key -> session
	looks    map[string]*Session // name skeleton (NameSkeleton) -> session: no two names look alike
	rooms    map[string]*Room    // room key -> room
	nextSess uint64
	closed   bool
	departed []Departure // names given up lately, oldest first (WHOWAS)
	peak     int         // the most sessions at once

	qmu     sync.RWMutex // read-held to send on commitQ, write-held to close it
	commitQ chan pending
	qclosed bool

	lastCommitted atomic.Uint64 // id of the newest stored message
	lastDelivered atomic.Uint64 // id of the newest message fanned out: every id up to it is stored and delivered
	processed     atomic.Uint64 // queue entries the committer has taken
	published     atomic.Uint64 // messages queued for the log (Sync)
	settled       atomic.Uint64 // messages fanned out or refused by the log, in queue order (Sync)
	progress      atomic.Uint64 // counts batches taken and messages fanned out: the pipeline is moving

	lateMu    sync.Mutex
	lateNames []lateName // name fences that found the queue full

	appendStart atomic.Int64 // unix nanos when the running Append began; 0 when none runs
	appendErr   atomic.Bool  // the last Append failed
	stallMu     sync.Mutex
	stalledAt   time.Time // when a full queue was first seen; zero when not stalled

	fanoutQ   chan []*Event // committed batches, in order, for the fan-out goroutine
	spare     chan []*Event // emptied batch slices going back to the committer
	committed chan struct{} // closed when the committer and the fan-out have drained

	counters *counters // for Stats

	cluster *clusterState // nil for a single node

	dir       Directory           // nil: no accounts or moderation
	sharedDir SharedDirectory     // dir, when the nodes of a cluster share it: it applies every change
	accounts  map[string]*account // name key -> account; guarded by mu
	acctLooks map[string]*account // NameSkeleton -> account: no guest takes a look-alike; guarded by mu
	admins    map[string]bool     // account keys of server operators; read-only after New
	acctMu    sync.Mutex          // serialises account writes to the Directory; taken before mu
	hashSem   chan struct{}       // bounds password hashes running at once
	acctGuard *auth.Guard         // failed logins per account
	addrGuard *auth.Guard         // failed logins per address
	regGuard  *auth.Guard         // accounts registered per address
	mod       moderation
	cloakKey  [32]byte // keys the address hashes guests are shown with (Cloak)
}

// pending is one entry of the commit queue: a message, or a name fence.
type pending struct {
	ev   *Event
	from *Session
	room *Room    // for room messages
	to   *Session // for direct messages
	// name, with no message, marks where a session took its name: the id
	// of the last message committed before it is the session's nameSince.
	name *Session
	// toAcct is the recipient of a direct message to an account with no
	// session when it was sent (it is kept for the account; sessions that
	// logged in meanwhile get it live).
	toAcct *account
	// remote says the message came from another node of a cluster (its
	// recipients were resolved by name).
	remote bool
}

// lateName is a name fence that could not be queued (the queue was full):
// it is placed once everything queued before it is surely committed.
type lateName struct {
	s     *Session
	after uint64 // resolved once processed passes this
}

// New starts a hub on the given configuration.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("chat: Config.Store is required")
	}
	if cfg.Log == nil {
		cfg.Log = cfg.Store
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "parley"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = time.Sleep
	}
	if cfg.HistoryOnJoin == 0 {
		cfg.HistoryOnJoin = DefaultHistoryOnJoin
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = DefaultMaxHistory
	}
	if cfg.MaxResume <= 0 {
		cfg.MaxResume = DefaultMaxResume
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = DefaultMaxRooms
	}
	if cfg.MaxSessionRooms <= 0 {
		cfg.MaxSessionRooms = DefaultMaxSessionRooms
	}
	if cfg.AnnounceLimit == 0 {
		cfg.AnnounceLimit = DefaultAnnounceLimit
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	if cfg.MaxHeldBytes <= 0 {
		cfg.MaxHeldBytes = DefaultMaxHeldBytes
	}
	if cfg.CommitQueue <= 0 {
		cfg.CommitQueue = DefaultCommitQueue
	}
	if cfg.Directory == nil && cfg.Cluster == nil {
		cfg.Directory, _ = cfg.Store.(Directory)
	}
	if _, shared := cfg.Directory.(SharedDirectory); cfg.Cluster != nil && cfg.Directory != nil && !shared {
		// Accounts and moderation on one node alone would be unknown to
		// the others: a registered name or a ban could be got round on
		// another node.
		return nil, errors.New("chat: a cluster's nodes need a shared Directory (SharedDirectory)")
	}
	if cfg.Registration == "" {
		cfg.Registration = RegistrationOpen
	}
	if cfg.RegistrationsPerHour == 0 {
		cfg.RegistrationsPerHour = DefaultRegistrationsPerHour
	}
	if cfg.HashParams == (auth.Params{}) {
		cfg.HashParams = auth.DefaultParams
	}
	if cfg.AccountPolicy == (auth.Policy{}) {
		cfg.AccountPolicy = auth.DefaultAccountPolicy
	}
	if cfg.AddressPolicy == (auth.Policy{}) {
		cfg.AddressPolicy = auth.DefaultAddressPolicy
	}
	cfg.Raid = cfg.Raid.withDefaults()
	last, err := cfg.Log.LastID(context.Background())
	if err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     cfg.Store,
		mlog:      cfg.Log,
		broker:    cfg.Broker,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
		sessions:  make(map[uint64]*Session),
		names:     make(map[string]*Session),
		looks:     make(map[string]*Session),
		rooms:     make(map[string]*Room),
		commitQ:   make(chan pending, cfg.CommitQueue),
		fanoutQ:   make(chan []*Event, fanoutBatches),
		spare:     make(chan []*Event, fanoutBatches+1),
		committed: make(chan struct{}),
		counters:  newCounters(),
	}
	h.dir = cfg.Directory
	h.sharedDir, _ = cfg.Directory.(SharedDirectory)
	h.lastDelivered.Store(last)
	if err := h.loadDirectory(last); err != nil {
		return nil, err
	}
	h.lastCommitted.Store(last)
	if h.broker == nil {
		h.broker = &localBroker{}
	}
	h.broker.Subscribe(h.deliver)
	h.rooms[DefaultRoom] = newRoom(DefaultRoom, last)
	if cfg.Cluster != nil {
		h.cluster = &clusterState{c: cfg.Cluster, routes: make(map[uint64]pending)}
	}
	go h.commitLoop()
	go h.fanoutLoop()
	if h.cluster != nil {
		if err := cfg.Cluster.Attach(h, last); err != nil {
			h.Shutdown(context.Background(), "cluster unavailable")
			return nil, err
		}
	}
	return h, nil
}

// deliverRoom delivers committed messages of room r (in id order) to its
// members, each member getting them all at once.
func (h *Hub) deliverRoom(r *Room, evs []*Event) {
	r.mu.Lock()
	for r.dead {
		// Freed while the messages were on their way (their senders left
		// and the room emptied); a room of that name made since gets them.
		r.mu.Unlock()
		h.mu.RLock()
		r = h.rooms[evs[0].Room]
		if r == nil {
			// Nobody to deliver to. A room of that name made from now on
			// starts after these (newRoom reads lastDelivered under
			// Hub.mu), so its first joiner's replay includes them.
			h.lastDelivered.Store(evs[len(evs)-1].ID)
			h.mu.RUnlock()
			return
		}
		h.mu.RUnlock()
		r.mu.Lock()
	}
	b := h.batch
	for i, m := range r.members {
		m.deliverIn(b, evs)
		if b.count(len(evs)) {
			b.flush() // the first members' writes start while the others' are queued
		}
		if i%256 == 255 {
			h.progress.Add(1) // a long fan-out is progress, not a stalled store
		}
	}
	r.delivered = max(r.delivered, evs[len(evs)-1].ID)
	h.counters.deliveries.Add(uint64(len(r.members) * len(evs)))
	r.mu.Unlock()
}

// maxRun bounds the messages of one room delivered to each member at once.
const maxRun = 256

// flushBatch collects the sinks a fan-out batch has deferred writing to
// (DeferringSink). It belongs to the fan-out goroutine; nil means no
// batching (every delivery starts its write).
type flushBatch struct {
	pending    []DeferringSink
	deliveries int // since the last flush
}

// flushAfter bounds the deliveries a batch defers before it flushes, so
// that the first members' writes do not wait for the fan-out of a whole
// large group commit or a large room (well under a millisecond of
// fan-out).
const flushAfter = 8192

// add defers the write of evs on sink when it can. Safe on a nil batch.
func (b *flushBatch) add(sink Sink, evs []*Event) {
	if b != nil {
		if ds, ok := sink.(DeferringSink); ok {
			if ds.DeliverDeferred(evs) {
				b.pending = append(b.pending, ds)
			}
			return
		}
	}
	for _, ev := range evs {
		sink.Deliver(ev)
	}
}

// count notes n deliveries and reports whether the batch is due a flush
// (flushAfter deliveries since the last). Safe on a nil batch.
func (b *flushBatch) count(n int) bool {
	if b == nil {
		return false
	}
	b.deliveries += n
	return b.deliveries >= flushAfter
}

// flush starts the writes deferred so far. Safe on a nil batch.
func (b *flushBatch) flush() {
	if b == nil {
		return
	}
	for _, ds := range b.pending {
		ds.Flush()
	}
	clear(b.pending)
	b.pending = b.pending[:0]
	b.deliveries = 0
}

// localBroker delivers on the committing goroutine itself.
type localBroker struct{ deliver func(*Event) }

func (b *localBroker) Publish(ev *Event) { b.deliver(ev) }

func (b *localBroker) Subscribe(deliver func(*Event)) { b.deliver = deliver }

// Config returns the hub's effective configuration.
func (h *Hub) Config() Config { return h.cfg }

// Software returns the server software and its version ("parley v1.2.3"),
// or "parley" when no version is configured.
func (h *Hub) Software() string {
	if h.cfg.Version == "" {
		return "parley"
	}
	return "parley " + h.cfg.Version
}

// Ready reports whether the hub can take messages: it is running, its last
// store append succeeded, and the store is not stalled (an append running
// for more than a few seconds, or a full commit queue).
func (h *Hub) Ready() error {
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	switch {
	case closed:
		return errors.New("shutting down")
	case h.appendErr.Load() && h.cluster == nil: // a cluster tells by itself
		return errors.New("the last store append failed")
	}
	if t := h.appendStart.Load(); t != 0 && time.Since(time.Unix(0, t)) > stallReady {
		return fmt.Errorf("the store has been appending for %s", time.Since(time.Unix(0, t)).Round(time.Millisecond))
	}
	h.stallMu.Lock()
	stalled := !h.stalledAt.IsZero()
	h.stallMu.Unlock()
	if stalled {
		return errors.New("the store is stalled: the commit queue is full")
	}
	if h.cluster != nil {
		if err := h.cluster.c.Ready(); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// stallReady is how long an append may run before the hub is not ready.
const stallReady = 5 * time.Second

// Now returns the time on the hub's clock (Config.Now), which stamps every
// event.
func (h *Hub) Now() time.Time { return h.now() }

// ClientInfo describes a connection for logs and the member list.
type ClientInfo struct {
	Protocol string // "tutorial", "native", "line", ...
	Remote   string // remote address
	// History is how many messages a join replays when the request does
	// not say: 0 for the hub's default, negative for none (a protocol that
	// cannot tell history from live messages).
	History int
	// User and RealName are what the client said about its user (IRC's
	// username and realname); "" for none.
	User, RealName string
	// DMsAfter is, for an account's session, the id of the last direct
	// message the client has (a reconnecting client's cursor): the login
	// replays the account's direct messages after it, instead of those
	// since the account was last away. 0 for none.
	DMsAfter uint64
}

// Connect registers a new session and begins it (Register, then Begin).
func (h *Hub) Connect(sink Sink, name string, info ClientInfo, join JoinOptions) (*Session, error) {
	s, err := h.Register(sink, name, info)
	if err != nil {
		return nil, err
	}
	if err := s.Begin(join); err != nil {
		return nil, err
	}
	return s, nil
}

// Register validates name and registers a new session under it. Nothing is
// delivered to sink until Begin, so a front-end can bind its renderer to the
// session first.
func (h *Hub) Register(sink Sink, name string, info ClientInfo) (*Session, error) {
	display, key, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	skel := NameSkeleton(display)
	h.mu.RLock()
	err = h.nameFreeLocked(display, key, skel, nil)
	h.mu.RUnlock()
	if err != nil {
		return nil, err // taken here: no need to ask the cluster
	}
	if err := h.claimName(skel, display, ""); err != nil {
		return nil, err
	}
	s, err := h.registerGuest(sink, display, key, skel, info)
	if err != nil {
		h.releaseName(skel)
		return nil, err
	}
	h.announce(Presence{Op: PresenceHello, Session: s.id, Name: display, Addr: remoteIP(info.Remote)})
	return s, nil
}

// registerGuest is Register once the name is claimed in the cluster.
func (h *Hub) registerGuest(sink Sink, display, key, skel string, info ClientInfo) (*Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if a := h.registeredLocked(key, skel); a != nil {
		return nil, registeredError(display, a.Name)
	}
	if err := h.nameFreeLocked(display, key, skel, nil); err != nil {
		return nil, err
	}
	if err := h.mod.checkServer(h, "", remoteIP(info.Remote), skel); err != nil {
		return nil, err
	}
	h.nextSess++
	s := &Session{hub: h, id: h.nextSess, sink: sink, info: info, name: display, key: key, skel: skel, nameSince: noName, started: h.now().UnixNano(), addrCloak: h.addressCloak(remoteIP(info.Remote))}
	h.sessions[s.id] = s
	h.peak = max(h.peak, len(h.sessions))
	h.names[key] = s
	h.looks[skel] = s
	h.placeName(s)
	h.log.Info("session started", "session", s.id, "name", display, "protocol", info.Protocol, "remote", info.Remote, "sessions", len(h.sessions))
	return s, nil
}

// registeredError refuses a guest a registered name, or one like it.
func registeredError(name, account string) *Error {
	if NameKey(name) == NameKey(account) {
		return Errorf(CodeNameRegistered, "%q is a registered name: log in with its password (/login %s PASSWORD, or %s:PASSWORD as a tutorial client's name) or choose another", name, account, account)
	}
	return Errorf(CodeNameRegistered, "%q looks like the registered name %q; choose another", name, account)
}

// nameFreeLocked refuses a name held by another session than self, or one
// that looks like it. Caller holds h.mu.
func (h *Hub) nameFreeLocked(display, key, skel string, self *Session) error {
	if a := h.registeredLocked(key, skel); a != nil && (self == nil || self.accountOf() != a) {
		return registeredError(display, a.Name)
	}
	if other := h.names[key]; other != nil && other != self {
		return Errorf(CodeNameTaken, "the name %q is taken", display)
	}
	if other := h.looks[skel]; other != nil && other != self {
		return Errorf(CodeNameTaken, "the name %q looks like %q, which is taken", display, other.Name())
	}
	return nil
}

// Begin sends the session its welcome and joins it to the lobby, replaying
// history as join says. On error the session has left.
func (s *Session) Begin(join JoinOptions) error {
	s.Welcome()
	if err := s.Join(DefaultRoom, join); err != nil {
		s.Leave("join failed")
		return err
	}
	return nil
}

// Welcome delivers the session's welcome event, the first it gets. Begin
// calls it; a front-end whose clients choose their rooms themselves calls
// it instead of Begin.
func (s *Session) Welcome() {
	h := s.hub
	s.sink.Deliver(&Event{Message: Message{Kind: KindWelcome, Time: h.now()}, Session: s.id, Welcome: &Welcome{
		Server: h.cfg.ServerName, Software: h.Software(), Version: ProtocolVersion, Name: s.Name(),
		MaxMessageBytes: h.cfg.MaxMessageBytes, Motd: h.cfg.Motd, Account: s.Account(),
	}})
	s.replayAway()
}

// Shutdown stops the hub: no new sessions or messages are accepted, every
// accepted message is committed and delivered, and every session is sent a
// bye event with reason. It returns when the commit queue has drained or ctx
// is done.
func (h *Hub) Shutdown(ctx context.Context, reason string) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()

	h.qmu.Lock()
	if !h.qclosed {
		h.qclosed = true
		close(h.commitQ)
	}
	h.qmu.Unlock()

	select {
	case <-h.committed:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.mu.RLock()
	for _, s := range h.sessions {
		s.sink.Deliver(&Event{Message: Message{Kind: KindBye, Time: h.now()}, Reason: reason})
	}
	h.mu.RUnlock()
	return nil
}

// Sessions returns how many sessions are registered.
func (h *Hub) Sessions() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sessions)
}

// List pages: a rooms or members reply holds at most this many entries and
// about this many bytes, so that no reply outgrows a frame; a reply cut
// short says HistoryMore and the client asks for the names after its last.
const (
	MaxListEntries = 500
	MaxListBytes   = 32 << 10
)

// Rooms lists the rooms that have members or a stored topic, by name: at
// most limit of them (MaxListEntries if 0 or more) whose names come after
// after ("" for the first), and whether more follow. It reads the store's
// topics, on the caller's goroutine.
func (h *Hub) Rooms(after string, limit int) ([]RoomInfo, bool, error) {
	topics, err := h.store.Topics(context.Background())
	if err != nil {
		h.log.Error("reading topics failed", "err", err)
		return nil, false, Errorf(CodeUnavailable, "the room list is unavailable right now")
	}
	byName := make(map[string]RoomInfo, len(topics))
	for _, t := range topics {
		byName[t.Room] = RoomInfo{Name: t.Room, Topic: t.Text}
	}
	h.mu.RLock()
	for _, r := range h.rooms {
		r.mu.Lock()
		info := byName[r.name]
		info.Name, info.Members = r.name, len(r.members)
		if r.topicLoaded {
			info.Topic = r.topic
		}
		r.mu.Unlock()
		if info.Members > 0 || info.Topic != "" {
			byName[r.name] = info
		} else {
			delete(byName, r.name)
		}
	}
	h.mu.RUnlock()
	if h.cluster != nil {
		for room, n := range h.cluster.c.RoomMembers() { // members on other nodes
			info := byName[room]
			info.Name = room
			info.Members += n
			byName[room] = info
		}
	}
	list := make([]RoomInfo, 0, len(byName))
	for _, info := range byName {
		if info.Name > after {
			list = append(list, info)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	if limit <= 0 || limit > MaxListEntries {
		limit = MaxListEntries
	}
	size := 0
	for i, info := range list {
		size += len(info.Name) + len(info.Topic) + 32
		if i == limit || size > MaxListBytes {
			return list[:i], true, nil
		}
	}
	return list, false, nil
}

// room returns the room with the given key, creating it if create is set.
func (h *Hub) room(key string, create bool) (*Room, error) {
	h.mu.RLock()
	r := h.rooms[key]
	h.mu.RUnlock()
	if r != nil || !create {
		return r, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r = h.rooms[key]; r != nil {
		return r, nil
	}
	if len(h.rooms) >= h.cfg.MaxRooms {
		return nil, Errorf(CodeUnavailable, "the server has too many rooms; try an existing one")
	}
	// Every message up to the last delivered one is stored, and any later
	// one for this room (it may have been freed and made anew) is
	// delivered to it by name: a replay up to here misses nothing.
	r = newRoom(key, h.lastDelivered.Load())
	h.rooms[key] = r
	return r, nil
}

// freeIfEmpty forgets a room nobody is in (the lobby stays): a room holds
// nothing the store does not keep (its history and topic are loaded again
// when someone joins), so empty rooms cost no memory and count against no
// limit.
func (h *Hub) freeIfEmpty(r *Room) {
	if r.name == DefaultRoom {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) == 0 && !r.dead && h.rooms[r.name] == r {
		r.dead = true
		delete(h.rooms, r.name)
	}
}

// loadTopic reads a room's stored topic the first time the room is used
// after it was made (at start, or anew after it was freed). Only the
// caller waits for the store; Room.topicMu keeps a topic being set from
// racing with it.
func (h *Hub) loadTopic(r *Room) {
	r.topicMu.Lock()
	defer r.topicMu.Unlock()
	r.mu.Lock()
	loaded := r.topicLoaded
	r.mu.Unlock()
	if loaded {
		return
	}
	t, ok, err := h.store.Topic(context.Background(), r.name)
	if err != nil {
		h.log.Error("reading a topic failed", "room", r.name, "err", err)
		return // tried again at the next join
	}
	r.mu.Lock()
	if ok {
		r.topic, r.topicBy, r.topicAt = t.Text, t.By, t.At
	}
	r.topicLoaded = true
	r.mu.Unlock()
}

// noName is the nameSince of a session whose name fence has not been
// placed yet: no direct-message history is visible until it is.
const noName = math.MaxUint64

// placeName queues a name fence for s, so that its direct-message history
// starts after every message accepted before it took its name. It never
// waits: with the queue full, the fence is placed late, once the committer
// has taken everything that could have been queued before it. Caller may
// hold Hub.mu and s.mu.
func (h *Hub) placeName(s *Session) {
	if h.qmu.TryRLock() {
		closed := h.qclosed
		if !closed {
			select {
			case h.commitQ <- pending{name: s}:
				h.qmu.RUnlock()
				return
			default:
			}
		}
		h.qmu.RUnlock()
		if closed {
			return
		}
	}
	h.lateMu.Lock()
	h.lateNames = append(h.lateNames, lateName{s: s, after: h.processed.Load() + uint64(cap(h.commitQ)) + maxCommitBatch})
	h.lateMu.Unlock()
}

// placeLateNames places the late name fences that are due: those behind
// which everything has surely been committed, or all of them once the
// queue is empty. Committer only.
func (h *Hub) placeLateNames() {
	h.lateMu.Lock()
	defer h.lateMu.Unlock()
	if len(h.lateNames) == 0 {
		return
	}
	empty := len(h.commitQ) == 0
	done := h.processed.Load()
	last := h.lastCommitted.Load()
	keep := h.lateNames[:0]
	for _, l := range h.lateNames {
		if empty || done >= l.after {
			l.s.setNameSince(last)
		} else {
			keep = append(keep, l)
		}
	}
	clear(h.lateNames[len(keep):])
	h.lateNames = keep
}

// errCommitFull is what a sender is told when its message found no room in
// the commit queue within CommitTimeout.
var errCommitFull = &Error{Code: CodeUnavailable, Message: "the server cannot store messages right now; try again shortly"}

// publish sets the server time of a message event and queues it for the
// Log, which gives it its id, then fan-out. Messages are committed and
// delivered in queue order. publish holds no lock that anything else waits
// for: with the queue full it waits up to CommitTimeout for room, on the
// sender's own goroutine, then refuses the message.
func (h *Hub) publish(p pending) error {
	p.ev.Time = h.now()
	p.ev.route = &p
	h.qmu.RLock()
	defer h.qmu.RUnlock()
	if h.qclosed {
		return ErrHubClosed
	}
	select {
	case h.commitQ <- p:
		h.published.Add(1)
		h.noteAccepted(p.ev.Kind)
		return nil
	default:
	}
	t := time.NewTimer(h.cfg.CommitTimeout)
	defer t.Stop()
	for {
		moved := h.progress.Load()
		select {
		case h.commitQ <- p:
			h.published.Add(1)
			h.noteAccepted(p.ev.Kind)
			return nil
		case <-t.C:
		}
		if h.progress.Load() == moved {
			h.noteFull()
			return errCommitFull
		}
		t.Reset(h.cfg.CommitTimeout)
	}
}

// noteAccepted counts a message queued for the log.
func (h *Hub) noteAccepted(k Kind) {
	if int(k) < len(h.counters.accepted) {
		h.counters.accepted[k].Add(1)
	}
}

// noteFull logs, once per episode, that the commit queue is full and
// nothing has moved for CommitTimeout: the store is stalled.
func (h *Hub) noteFull() {
	h.stallMu.Lock()
	defer h.stallMu.Unlock()
	if !h.stalledAt.IsZero() {
		return
	}
	h.stalledAt = time.Now()
	var appending time.Duration
	if t := h.appendStart.Load(); t != 0 {
		appending = time.Since(time.Unix(0, t)).Round(time.Millisecond)
	}
	h.log.Error("store stalled: the commit queue is full and new messages are refused until it drains",
		"queued", len(h.commitQ), "current_append_running_for", appending)
}

// noteProgress logs the end of a stall once the queue has room again.
// Committer only.
func (h *Hub) noteProgress() {
	h.stallMu.Lock()
	defer h.stallMu.Unlock()
	if h.stalledAt.IsZero() || len(h.commitQ) > cap(h.commitQ)/2 {
		return
	}
	h.log.Warn("store recovered: messages are accepted again", "stalled_for", time.Since(h.stalledAt).Round(time.Millisecond))
	h.stalledAt = time.Time{}
}

// commitLoop is the single committer: it takes every queued message and
// hands them to the Log in batches (group commit: one Append gives a batch
// its ids and stores it), then passes each committed batch, in order, to
// the fan-out goroutine, so that delivering one batch overlaps storing the
// next.
func (h *Hub) commitLoop() {
	if h.cluster != nil {
		defer h.closeIngest()
	} else {
		defer close(h.fanoutQ)
	}
	batch := make([]pending, 0, maxCommitBatch)
	msgs := make([]Message, 0, maxCommitBatch)
	for p := range h.commitQ {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < maxCommitBatch {
			select {
			case q, ok := <-h.commitQ:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		h.processed.Add(uint64(len(batch)))
		h.progress.Add(1)
		if h.cluster != nil {
			h.clusterAppend(batch)
			for _, q := range batch {
				if q.name != nil {
					q.name.setNameSince(h.lastCommitted.Load())
				}
			}
			clear(batch)
			h.placeLateNames()
			h.noteProgress()
			continue
		}
		msgs = msgs[:0]
		for _, q := range batch {
			if q.ev != nil {
				m := q.ev.Message
				m.ID = 0 // the Log assigns it
				msgs = append(msgs, m)
			}
		}
		began := time.Now()
		h.appendStart.Store(began.UnixNano())
		err := h.mlog.Append(context.Background(), msgs)
		h.appendStart.Store(0)
		h.appendErr.Store(err != nil)
		if len(msgs) > 0 {
			h.counters.committed(len(msgs), time.Since(began), err)
		}
		if err != nil {
			h.log.Error("store append failed; messages refused", "count", len(msgs), "err", err)
		}
		var out []*Event
		select {
		case out = <-h.spare:
		default:
			out = make([]*Event, 0, len(batch))
		}
		i := 0
		for _, q := range batch {
			if q.name != nil {
				q.name.setNameSince(h.lastCommitted.Load())
				continue
			}
			if err != nil {
				if q.from != nil {
					q.from.deliver(errorEvent(Errorf(CodeUnavailable, "message not stored; try again"), q.ev.Ref))
				}
				h.settled.Add(1) // after the sender is told: Sync promises that too
				continue
			}
			q.ev.ID = msgs[i].ID
			i++
			h.lastCommitted.Store(q.ev.ID)
			out = append(out, q.ev)
		}
		clear(batch)
		h.placeLateNames()
		h.noteProgress()
		if len(out) > 0 {
			h.fanoutQ <- out
		}
	}
}

// maxSyncWait bounds how long Sync waits (a stalled store must not hold a
// client's PING forever).
const maxSyncWait = 2 * time.Second

// Sync returns once every message accepted before the call has been
// stored and handed to its local recipients' sinks (or refused), or after
// a bound of a few seconds if the store is stalled. A front-end calls it
// where its protocol promises order across connections: an IRC PING
// answered after a PRIVMSG means the recipients have it queued.
func (h *Hub) Sync() {
	target := h.published.Load()
	if h.settled.Load() >= target {
		return
	}
	deadline := time.Now().Add(maxSyncWait)
	for h.settled.Load() < target && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}

// fanoutLoop hands committed messages to the broker, in id order. With
// the local broker, which delivers on this goroutine, a run of messages to
// the same room is delivered to each member at once, and room deliveries
// go through the loop's flush batch (see DeferringSink).
func (h *Hub) fanoutLoop() {
	defer close(h.committed)
	_, local := h.broker.(*localBroker)
	if local {
		h.batch = &flushBatch{}
	}
	for evs := range h.fanoutQ {
		settled := uint64(0)
		for i := 0; i < len(evs); {
			j := i + 1
			if r := roomOf(evs[i]); local && r != nil {
				for j < len(evs) && j-i < maxRun && roomOf(evs[j]) == r {
					j++
				}
				h.deliverRoom(r, evs[i:j])
			} else {
				h.broker.Publish(evs[i])
			}
			for _, ev := range evs[i:j] {
				h.lastDelivered.Store(ev.ID)
				if ev.route == nil || !ev.route.remote {
					settled++ // Sync counts this node's messages
				}
				h.progress.Add(1)
			}
			i = j
		}
		h.batch.flush()
		h.settled.Add(settled) // after the flush: Sync promises the writes have started
		clear(evs)
		if cap(evs) <= maxCommitBatch {
			select {
			case h.spare <- evs[:0]:
			default:
			}
		}
	}
}

// roomOf returns the local room a committed message was published to, or
// nil (a direct message, or an event from another node).
func roomOf(ev *Event) *Room {
	if ev.route == nil {
		return nil
	}
	return ev.route.room
}

// deliver fans a committed message out to its local recipients: the members
// of its room, or the two parties of a direct message. Events from another
// node carry no route and are resolved by name.
func (h *Hub) deliver(ev *Event) {
	p := ev.route
	if p == nil {
		p = h.resolve(ev)
	}
	if p.room != nil {
		one := [1]*Event{ev}
		h.deliverRoom(p.room, one[:])
		return
	}
	if p.toAcct != nil || (p.to != nil && p.to.accountOf() != nil) || (p.from != nil && p.from.accountOf() != nil) {
		h.deliverToAccounts(p, ev)
		return
	}
	if p.to != nil {
		p.to.deliver(ev)
		h.counters.deliveries.Add(1)
	}
	if p.from != nil && p.from != p.to {
		p.from.deliver(ev)
		h.counters.deliveries.Add(1)
	}
}

// deliverToAccounts delivers a direct message to every session of the
// accounts it involves (and to a guest party's one session), each session
// once, and records it as delivered to those accounts.
func (h *Hub) deliverToAccounts(p *pending, ev *Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var told []*Session
	reach := func(list []*Session) {
		for _, s := range list {
			if !slices.Contains(told, s) {
				told = append(told, s)
				s.deliver(ev)
			}
		}
	}
	to := p.toAcct
	if to == nil && p.to != nil {
		to = p.to.accountOf()
	}
	if to != nil {
		reach(to.sessions)
		bumpTo(&to.delivered, ev.ID)
		if len(to.sessions) == 0 && p.from != nil && !p.remote && !h.onlineElsewhere(to.Name) {
			// Stored, and nobody to read it yet: the sender is told
			// after its own copy, which is the confirmation.
			defer p.from.deliver(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: to.Name + " is not online; your message is kept for them until they log in"}, Ref: ev.Ref, Session: p.from.id})
		}
	} else if p.to != nil {
		reach([]*Session{p.to})
	}
	if p.from != nil {
		if from := p.from.accountOf(); from != nil {
			reach(from.sessions)
			bumpTo(&from.delivered, ev.ID)
		} else {
			reach([]*Session{p.from})
		}
	}
	h.counters.deliveries.Add(uint64(len(told)))
}

// bumpTo raises v to at least id.
func bumpTo(v *atomic.Uint64, id uint64) {
	for {
		cur := v.Load()
		if cur >= id || v.CompareAndSwap(cur, id) {
			return
		}
	}
}

func errorEvent(err error, ref string) *Event {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Code: ErrorCode(err), Message: ErrorMessage(err)}
	}
	return &Event{Message: Message{Kind: KindError}, Err: e, Ref: ref}
}

// ErrorEvent wraps err as a KindError event for one session, carrying the
// client's correlation token ref.
func ErrorEvent(err error, ref string) *Event { return errorEvent(err, ref) }

// resolve finds the local recipients of an event published elsewhere.
func (h *Hub) resolve(ev *Event) *pending {
	p := &pending{ev: ev}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if ev.Kind == KindDM {
		p.to = h.names[NameKey(ev.To)]
		p.from = h.names[NameKey(ev.From)]
		if p.to == nil {
			// An account with no session here: recorded as delivered
			// to it, so that its next login here replays only what is
			// newer than what it has seen.
			p.toAcct = h.registeredLocked(NameKey(ev.To), NameSkeleton(ev.To))
		}
		return p
	}
	p.room = h.rooms[ev.Room]
	if p.room == nil {
		// No one here is in it now. A dead room sends the delivery to
		// whatever room of that name exists when it is made (deliverRoom
		// looks it up again), or advances lastDelivered under Hub.mu, so
		// that a room made meanwhile misses nothing.
		p.room = &Room{name: ev.Room, dead: true}
	}
	return p
}
