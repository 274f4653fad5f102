package chat

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultHistoryOnJoin   = 50
	DefaultMaxMessageBytes = 64 * 1024
	DefaultMaxRooms        = 10000
	DefaultMaxHistory      = 1000
	DefaultMaxResume       = 10000
	DefaultAnnounceLimit   = 1000
	defaultCommitQueue     = 8192
	maxCommitBatch         = 1024
	// DefaultRoom is the room every session starts in.
	DefaultRoom = "lobby"
	// ProtocolVersion is the native protocol version this hub speaks.
	ProtocolVersion = 1
)

// Config configures a Hub. Every field has a usable zero value.
type Config struct {
	ServerName      string              // shown in welcomes; default "parley"
	Motd            string              // message of the day shown on connect
	Store           Store               // where messages are kept; required
	Broker          Broker              // fan-out; default delivers locally
	Logger          *slog.Logger        // default slog.Default()
	Now             func() time.Time    // clock; default time.Now
	Sleep           func(time.Duration) // waits on that clock (rate limiting); default time.Sleep
	HistoryOnJoin   int                 // messages replayed on join; default 50, negative for none
	MaxHistory      int                 // most messages one history request or join replay returns; default 1000
	MaxResume       int                 // most messages one resume replays before saying "more"; default 10000
	MaxMessageBytes int                 // longest message text; default 64 KiB
	MaxRooms        int                 // most rooms that may exist at once; default 10000
	Password        string              // server password clients must give before they get a session; empty for none
	RateLimit       RateLimit           // per-session request rate limit; zero for none
	// AnnounceLimit is the room size above which joins, parts and quits are
	// no longer announced to the room (only the session that joins or parts
	// is told); default 1000, negative to always announce. N clients
	// joining one room otherwise cost N²/2 deliveries. The member list
	// (Who) is always complete.
	AnnounceLimit int
}

// Hub is the chat core: it owns rooms and sessions, assigns message ids,
// commits messages to the Store and fans them out. All methods are safe for
// concurrent use.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	broker Broker
	now    func() time.Time
	sleep  func(time.Duration)

	mu       sync.RWMutex
	sessions map[uint64]*Session
	names    map[string]*Session // name key -> session
	rooms    map[string]*Room    // room key -> room
	nextSess uint64
	closed   bool

	seqMu     sync.Mutex // orders id assignment with the commit queue
	lastID    uint64
	commitQ   chan pending
	seqClosed bool

	committed chan struct{} // closed when the committer has drained
}

type pending struct {
	ev   *Event
	from *Session
	room *Room    // for room messages
	to   *Session // for direct messages
}

// New starts a hub on the given configuration.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("chat: Config.Store is required")
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
	if cfg.AnnounceLimit == 0 {
		cfg.AnnounceLimit = DefaultAnnounceLimit
	}
	last, err := cfg.Store.LastID(context.Background())
	if err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     cfg.Store,
		broker:    cfg.Broker,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
		sessions:  make(map[uint64]*Session),
		names:     make(map[string]*Session),
		rooms:     make(map[string]*Room),
		lastID:    last,
		commitQ:   make(chan pending, defaultCommitQueue),
		committed: make(chan struct{}),
	}
	if h.broker == nil {
		h.broker = &localBroker{}
	}
	h.broker.Subscribe(h.deliver)
	h.rooms[DefaultRoom] = newRoom(DefaultRoom, last)
	go h.commitLoop()
	return h, nil
}

// localBroker delivers on the committing goroutine itself.
type localBroker struct{ deliver func(*Event) }

func (b *localBroker) Publish(ev *Event) { b.deliver(ev) }

func (b *localBroker) Subscribe(deliver func(*Event)) { b.deliver = deliver }

// Config returns the hub's effective configuration.
func (h *Hub) Config() Config { return h.cfg }

// ClientInfo describes a connection for logs and the member list.
type ClientInfo struct {
	Protocol string // "tutorial", "native", "line", ...
	Remote   string // remote address
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
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if _, taken := h.names[key]; taken {
		return nil, Errorf(CodeNameTaken, "the name %q is taken", display)
	}
	h.nextSess++
	s := &Session{hub: h, id: h.nextSess, sink: sink, info: info, name: display, key: key, nameSince: h.lastIDNow()}
	h.sessions[s.id] = s
	h.names[key] = s
	h.log.Info("session started", "session", s.id, "name", display, "protocol", info.Protocol, "remote", info.Remote, "sessions", len(h.sessions))
	return s, nil
}

// Begin sends the session its welcome and joins it to the lobby, replaying
// history as join says. On error the session has left.
func (s *Session) Begin(join JoinOptions) error {
	h := s.hub
	s.sink.Deliver(&Event{Message: Message{Kind: KindWelcome, Time: h.now()}, Session: s.id, Welcome: &Welcome{
		Server: h.cfg.ServerName, Version: ProtocolVersion, Name: s.Name(),
		MaxMessageBytes: h.cfg.MaxMessageBytes, Motd: h.cfg.Motd,
	}})
	if err := s.Join(DefaultRoom, join); err != nil {
		s.Leave("join failed")
		return err
	}
	return nil
}

// Shutdown stops the hub: no new sessions or messages are accepted, every
// accepted message is committed and delivered, and every session is sent a
// bye event with reason. It returns when the commit queue has drained or ctx
// is done.
func (h *Hub) Shutdown(ctx context.Context, reason string) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()

	h.seqMu.Lock()
	if !h.seqClosed {
		h.seqClosed = true
		close(h.commitQ)
	}
	h.seqMu.Unlock()

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

// Rooms lists the rooms that have members or a topic, by name.
func (h *Hub) Rooms() []RoomInfo {
	h.mu.RLock()
	list := make([]RoomInfo, 0, len(h.rooms))
	for _, r := range h.rooms {
		r.mu.Lock()
		if len(r.members) > 0 || r.topic != "" {
			list = append(list, RoomInfo{Name: r.name, Topic: r.topic, Members: len(r.members)})
		}
		r.mu.Unlock()
	}
	h.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
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
	h.seqMu.Lock()
	last := h.lastID
	h.seqMu.Unlock()
	r = newRoom(key, last)
	h.rooms[key] = r
	return r, nil
}

// lastIDNow returns the id of the newest accepted message.
func (h *Hub) lastIDNow() uint64 {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	return h.lastID
}

// publish assigns the next id and the server time to a message event and
// queues it for commit and fan-out. Ids are handed out in queue order, so
// delivery is in id order.
func (h *Hub) publish(p pending) error {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	if h.seqClosed {
		return ErrHubClosed
	}
	h.lastID++
	p.ev.ID = h.lastID
	p.ev.Time = h.now()
	p.ev.route = &p
	h.commitQ <- p
	return nil
}

// commitLoop is the single writer: it takes every queued message, stores
// them in batches (group commit) and then hands each to the broker in order.
func (h *Hub) commitLoop() {
	defer close(h.committed)
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
		msgs = msgs[:0]
		for _, q := range batch {
			msgs = append(msgs, q.ev.Message)
		}
		if err := h.store.Append(context.Background(), msgs); err != nil {
			h.log.Error("store append failed; messages refused", "count", len(batch), "err", err)
			for _, q := range batch {
				if q.from != nil {
					q.from.sink.Deliver(errorEvent(Errorf(CodeUnavailable, "message not stored; try again"), q.ev.Ref))
				}
			}
			continue
		}
		for _, q := range batch {
			h.broker.Publish(q.ev)
		}
	}
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
		p.room.mu.Lock()
		for _, m := range p.room.members {
			m.sink.Deliver(ev)
		}
		p.room.delivered = ev.ID
		p.room.mu.Unlock()
		return
	}
	if p.to != nil {
		p.to.sink.Deliver(ev)
	}
	if p.from != nil && p.from != p.to {
		p.from.sink.Deliver(ev)
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
		return p
	}
	p.room = h.rooms[ev.Room]
	if p.room == nil {
		p.room = &Room{}
	}
	return p
}
