// Package cluster runs several parley nodes as one chat server on NATS
// JetStream (chat.Cluster): a JetStream stream is the room log (its
// sequence is every message's id, the same on every node), one key-value
// bucket keeps names unique across the nodes, and another says who is in
// which room on which node. The NATS server is an existing deployment
// (Config.URLs) or runs inside the process (Config.Embedded).
//
// Lock order: Cluster.mu (the presence index), Cluster.nameMu (this node's
// name claims) and Cluster.feedMu (the log's consumer) are leaves: nothing
// is taken under them, and no hub method is called while one is held.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/chat"
)

// Defaults for Config fields left zero.
const (
	DefaultStream    = "PARLEY"
	DefaultHeartbeat = time.Second
	DefaultDeadAfter = 3 * time.Second
	namesBucket      = "parley-names"
	presenceBucket   = "parley-presence"
	msgPrefix        = "parley.msg."
)

// Config configures a node's membership of a cluster.
type Config struct {
	// URLs are the NATS servers of an existing deployment (JetStream
	// enabled); ignored with Embedded.
	URLs []string
	// Embedded runs a NATS server in the process instead.
	Embedded *Embedded
	// CredsFile, NKeyFile, User, Password and Token authenticate to
	// the NATS servers (any that are set).
	CredsFile, NKeyFile, User, Password, Token string
	// CAFile, CertFile and KeyFile configure TLS to the NATS servers.
	CAFile, CertFile, KeyFile string
	// OnlyGivenURLs connects to URLs alone, never to the servers they
	// advertise (for servers behind NAT or a proxy, whose own addresses
	// the node cannot reach).
	OnlyGivenURLs bool
	// Stream names the JetStream stream of the room log; default PARLEY.
	Stream string
	// Replicas is the stream's and buckets' replica count; 0 picks
	// min(3, the JetStream servers in the cluster).
	Replicas int
	// RetainMessages and RetainAge bound the stream: messages kept per
	// room (and per pair of users for direct messages), and their age; 0
	// keeps everything.
	RetainMessages int
	RetainAge      time.Duration
	// Heartbeat is how often the node says it is alive; DeadAfter how
	// long another node may be silent before it is probed and, if it does
	// not answer, taken for dead (its users part, its names are free).
	Heartbeat, DeadAfter time.Duration
	// StartTimeout bounds the wait for the cluster at start (a freshly
	// formed cluster elects its JetStream leader first); default 60s.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Cluster is a node's connection to the cluster; it implements
// chat.Cluster.
type Cluster struct {
	cfg Config
	log *slog.Logger
	ns  *server.Server // embedded server, or nil
	// embeddedToken is what the embedded server's clients must give.
	embeddedToken string
	nc            *nats.Conn
	js            jetstream.JetStream
	id            string // this process's incarnation: a new one every start
	hub           Hub
	ping          *nats.Subscription
	acts          *nats.Subscription // the other nodes' moderation actions

	names    jetstream.KeyValue
	presence jetstream.KeyValue
	dir      *Directory // accounts and moderation

	nameMu sync.Mutex
	claims map[string]*claim // skeleton -> this node's claim

	mu       sync.Mutex
	idx      index
	gone     map[string]bool // nodes taken for dead (a heartbeat from one brings its entries back)
	closing  atomic.Bool
	announce chan chat.Presence
	kick     chan struct{} // wakes the writer to describe the node again
	resync   atomic.Bool   // the node was cut off: describe it again

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	feedMu     sync.Mutex
	feed       jetstream.ConsumeContext // the running consumer of the log
	feedGen    uint64                   // which consumer is the running one
	seen       uint64                   // the last stream sequence handed in (or skipped)
	leader     *nats.Subscription       // stream leader elections
	restarting atomic.Bool
	up         atomic.Bool            // connected to NATS
	logErr     atomic.Pointer[string] // why the last append failed, until the log answers again
	last       atomic.Uint64
}

var _ chat.Cluster = (*Cluster)(nil)

// Start connects to the cluster (starting the embedded NATS server
// first, if configured) and makes sure the stream and buckets exist. The
// hub attaches itself later (chat.Config.Cluster).
func Start(cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Embedded == nil && len(cfg.URLs) == 0 {
		return nil, errors.New("cluster: no NATS servers given and no embedded server")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	c := &Cluster{
		cfg: cfg, log: cfg.Logger.With("component", "cluster"),
		id:       hex.EncodeToString(rnd[:]),
		claims:   make(map[string]*claim),
		idx:      newIndex(),
		gone:     map[string]bool{},
		announce: make(chan chat.Presence, 1<<16),
		kick:     make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.connect(); err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, cfg.StartTimeout)
	defer cancel()
	if err := c.setup(ctx); err != nil {
		c.Close()
		return nil, err
	}
	via := c.nc.ConnectedUrlRedacted()
	if c.ns != nil {
		via = "embedded (in-process)"
	}
	c.log.Info("joined the cluster", "node", c.id, "stream", cfg.Stream, "nats", via)
	return c, nil
}

// connect starts the embedded server (if any) and connects to NATS.
func (c *Cluster) connect() error {
	opts := []nats.Option{
		nats.Name("parley " + c.id),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.up.Store(false)
			if !c.closing.Load() { // a node leaving closes it itself
				c.log.Error("lost the connection to NATS: messages are refused until it is back", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.up.Store(true)
			c.resync.Store(true)
			c.log.Warn("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { c.up.Store(false) }),
	}
	url := strings.Join(c.cfg.URLs, ",")
	if e := c.cfg.Embedded; e != nil {
		emb := *e
		emb.token = c.cfg.Token
		if emb.token == "" {
			var b [24]byte
			_, _ = rand.Read(b[:])
			emb.token = hex.EncodeToString(b[:])
		}
		opts = append(opts, nats.Token(emb.token))
		c.embeddedToken = emb.token
		ns, err := startEmbedded(emb, c.cfg.Logger)
		if err != nil {
			return err
		}
		c.ns = ns
		opts = append(opts, nats.InProcessServer(ns))
		url = ""
	} else {
		if c.cfg.OnlyGivenURLs {
			opts = append(opts, nats.IgnoreDiscoveredServers())
		}
		if c.cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(c.cfg.CredsFile))
		}
		if c.cfg.NKeyFile != "" {
			o, err := nats.NkeyOptionFromSeed(c.cfg.NKeyFile)
			if err != nil {
				return fmt.Errorf("cluster: --nats-nkey: %w", err)
			}
			opts = append(opts, o)
		}
		if c.cfg.User != "" {
			opts = append(opts, nats.UserInfo(c.cfg.User, c.cfg.Password))
		}
		if c.cfg.Token != "" {
			opts = append(opts, nats.Token(c.cfg.Token))
		}
		if c.cfg.CAFile != "" {
			opts = append(opts, nats.RootCAs(c.cfg.CAFile))
		}
		if c.cfg.CertFile != "" || c.cfg.KeyFile != "" {
			opts = append(opts, nats.ClientCert(c.cfg.CertFile, c.cfg.KeyFile))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	c.nc = nc
	c.up.Store(true)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.js = js
	c.ping, err = nc.Subscribe(nodeSubject(c.id), func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// nodeSubject is where a node answers "are you alive?".
func nodeSubject(id string) string { return "parley.node." + id }

// setup makes sure the stream and the buckets exist, waiting while a new
// cluster elects its JetStream leader.
func (c *Cluster) setup(ctx context.Context) error {
	replicas := c.cfg.Replicas
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		// Until the cluster has a JetStream leader, requests go
		// unanswered: each attempt has a bound of its own.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.js.AccountInfo(actx)
		if err == nil {
			if replicas == 0 {
				replicas = c.autoReplicas()
			}
			err = c.ensure(actx, replicas)
		}
		cancel()
		if err == nil {
			return nil
		}
		if c.cfg.Replicas == 0 && replicas > 1 && isInsufficient(err) {
			c.log.Warn("not enough JetStream servers for the replicas; trying fewer", "replicas", replicas, "err", err)
			replicas--
			continue
		}
		c.log.Info("waiting for the cluster's JetStream", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: JetStream is not available: %w", err)
		case <-time.After(wait):
		}
		if c.cfg.Replicas == 0 {
			replicas = 0
		}
	}
}

// isInsufficient tells a create refused for want of servers.
func isInsufficient(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "insufficient resources") || strings.Contains(s, "replicas > 1 not supported")
}

// autoReplicas is min(3, the servers of the cluster): for the embedded
// server, itself and the distinct routes it was given (every node is
// given the same list, so each comes to the same count whoever creates
// the stream); 3 for an external deployment (fewer are tried if it
// refuses).
func (c *Cluster) autoReplicas() int {
	e := c.cfg.Embedded
	if e == nil {
		return 3
	}
	if e.ClusterListen == "" {
		return 1
	}
	self := c.ns.ClusterAddr()
	peers := map[string]bool{}
	for _, r := range e.Routes {
		u, err := routeURL(r)
		if err != nil {
			continue
		}
		if self != nil && (u.Host == e.ClusterListen || u.Host == self.String()) {
			continue
		}
		peers[u.Host] = true
	}
	return min(3, 1+len(peers))
}

// ensure creates the stream and buckets unless they exist.
func (c *Cluster) ensure(ctx context.Context, replicas int) error {
	maxPer := int64(-1)
	if c.cfg.RetainMessages > 0 {
		maxPer = int64(c.cfg.RetainMessages)
	}
	sc := jetstream.StreamConfig{
		Name:              c.cfg.Stream,
		Description:       "parley room log: one subject per room and per pair of users",
		Subjects:          []string{msgPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		MaxAge:            c.cfg.RetainAge,
		MaxMsgsPerSubject: maxPer,
		Duplicates:        2 * time.Minute,
		AllowDirect:       true,
	}
	if _, err := c.js.Stream(ctx, sc.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := c.js.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		c.log.Info("created the room log stream", "stream", sc.Name, "replicas", replicas)
	} else if err != nil {
		return err
	}
	var err error
	if c.names, err = c.bucket(ctx, namesBucket, "parley names: one per user across the cluster", replicas); err != nil {
		return err
	}
	if c.presence, err = c.bucket(ctx, presenceBucket, "parley presence: nodes, sessions, room members, topics", replicas); err != nil {
		return err
	}
	dir, err := c.bucket(ctx, directoryBucket, "parley accounts and moderation: accounts, room settings, sanctions", replicas)
	if err != nil {
		return err
	}
	c.dir = newDirectory(c, dir)
	mc := jetstream.StreamConfig{
		Name:              c.modlogStream(),
		Description:       "parley moderation audit log: one subject per room",
		Subjects:          []string{modlogPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		MaxMsgsPerSubject: maxModlogPerRoom,
	}
	if _, err := c.js.Stream(ctx, mc.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := c.js.CreateStream(ctx, mc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

// bucket opens a key-value bucket, creating it if needed.
func (c *Cluster) bucket(ctx context.Context, name, desc string, replicas int) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, err
	}
	kv, err = c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: desc, History: 1, Storage: jetstream.FileStorage, Replicas: replicas})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return c.js.KeyValue(ctx, name)
	}
	return kv, err
}

// Hub is what a Cluster feeds: a *chat.Hub.
type Hub interface {
	// Ingest takes the log's next messages, in order; false once it has
	// shut down.
	Ingest(batch []chat.Committed) bool
	// Remote takes another node's presence change.
	Remote(ev *chat.Event, rooms []string)
	// LocalNames lists this node's names: skeleton, name, account.
	LocalNames() [][3]string
	// RemoteAction carries out another node's moderation action.
	RemoteAction(a chat.Action)
}

// Attach implements chat.Cluster: it checks that the local mirror belongs
// to this cluster's log, starts the presence watcher and the heartbeat,
// and starts feeding the hub every message after after.
func (c *Cluster) Attach(h *chat.Hub, after uint64) error { return c.attach(h, after) }

// attach is Attach for any Hub.
func (c *Cluster) attach(h Hub, after uint64) error {
	c.hub = h
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	lastSeq := st.CachedInfo().State.LastSeq
	if after > lastSeq {
		return fmt.Errorf("cluster: the local store's history (up to id %d) is not this cluster's log (at %d): start the node on a new --data-dir", after, lastSeq)
	}
	c.last.Store(after)
	if err := c.startPresence(); err != nil {
		return err
	}
	if err := c.subscribeActions(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.seen = after
	in := make(chan chat.Committed, 4096)
	if err := c.consume(ctx, in); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// A new stream leader means the consumer may have died with the old
	// one's server: it is made anew at once, rather than after the
	// client has missed two heartbeats (10 s of silence on every node).
	c.leader, err = c.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+c.cfg.Stream, func(*nats.Msg) {
		if c.restarting.CompareAndSwap(false, true) {
			c.wg.Add(1)
			go c.restartFeed(in)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.wg.Add(1)
	go c.ingest(in)
	return nil
}

// consume starts an ordered consumer of the log after the last message
// seen, replacing the running one. Messages of a replaced consumer, and
// any it or the new one hands in twice, are dropped here.
func (c *Cluster) consume(ctx context.Context, in chan chat.Committed) error {
	c.feedMu.Lock()
	from := c.seen + 1
	c.feedMu.Unlock()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{msgPrefix + ">"}}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := c.js.OrderedConsumer(ctx, c.cfg.Stream, cfg)
	if err != nil {
		return err
	}
	c.feedMu.Lock()
	c.feedGen++
	gen, old := c.feedGen, c.feed
	c.feedMu.Unlock()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		seq := meta.Sequence.Stream
		c.feedMu.Lock()
		stale := gen != c.feedGen || seq <= c.seen
		if !stale {
			c.seen = seq
		}
		c.feedMu.Unlock()
		if stale {
			return
		}
		cm, ok := c.decode(m)
		if !ok {
			return
		}
		select {
		case in <- cm:
		case <-c.ctx.Done():
		}
	}, jetstream.PullMaxMessages(2048))
	if err != nil {
		return err
	}
	c.feedMu.Lock()
	c.feed = cc
	c.feedMu.Unlock()
	if old != nil {
		old.Stop()
	}
	return nil
}

// restartFeed makes the log's consumer anew after a leader election,
// trying for a while (the new leader may take a moment to answer).
func (c *Cluster) restartFeed(in chan chat.Committed) {
	defer c.wg.Done()
	defer c.restarting.Store(false)
	for wait := 100 * time.Millisecond; c.ctx.Err() == nil; wait = min(2*wait, 2*time.Second) {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err := c.consume(ctx, in)
		cancel()
		if err == nil {
			c.log.Info("the room log has a new leader; its consumer is made anew")
			return
		}
		c.log.Warn("making the room log's consumer anew failed; trying again", "err", err)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
		}
	}
}

// ingest hands the consumed messages to the hub in batches.
func (c *Cluster) ingest(in chan chat.Committed) {
	defer c.wg.Done()
	batch := make([]chat.Committed, 0, 1024)
	for {
		select {
		case m := <-in:
			batch = append(batch[:0], m)
		case <-c.ctx.Done():
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if !c.hub.Ingest(batch) {
			return
		}
		c.last.Store(batch[len(batch)-1].ID)
	}
}

// decode turns a stream message into a committed message.
func (c *Cluster) decode(m jetstream.Msg) (chat.Committed, bool) {
	meta, err := m.Metadata()
	if err != nil {
		c.log.Error("a stream message without metadata", "err", err)
		return chat.Committed{}, false
	}
	msg, err := decodeMessage(m.Data())
	if err != nil {
		c.log.Error("an unreadable message in the stream; skipped", "seq", meta.Sequence.Stream, "err", err)
		return chat.Committed{}, false
	}
	msg.ID = meta.Sequence.Stream
	cm := chat.Committed{Message: msg}
	if origin, token, ok := strings.Cut(m.Headers().Get(nats.MsgIdHdr), "."); ok && origin == c.id {
		cm.Token, _ = strconv.ParseUint(token, 10, 64)
	}
	return cm, true
}

// errUnavailable is what Append and ClaimName return while NATS is gone.
var errUnavailable = chat.Errorf(chat.CodeUnavailable, "the server has lost contact with its cluster; try again shortly")

// Append implements chat.Cluster: it publishes the batch (each message with
// a Nats-Msg-Id, so that a retried publish is stored once) and waits until
// JetStream has stored every one.
func (c *Cluster) Append(ctx context.Context, msgs []chat.Message, tokens []uint64) error {
	if !c.up.Load() {
		return errUnavailable
	}
	_, err := c.append(ctx, msgs, tokens)
	if err != nil {
		why := err.Error()
		c.logErr.Store(&why)
	} else {
		c.logErr.Store(nil)
	}
	return err
}

// append is Append once connected; it returns the messages' ids (stream
// sequences).
func (c *Cluster) append(ctx context.Context, msgs []chat.Message, tokens []uint64) ([]uint64, error) {
	ids := make([]uint64, len(msgs))
	// Long enough to ride out the election of a new stream leader after a
	// server dies (a few seconds): what its old leader never acknowledged
	// is published again, each attempt waiting a while for its
	// acknowledgements, and the Nats-Msg-Id makes sure nothing is stored
	// twice.
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	todo := make([]int, len(msgs))
	for i := range todo {
		todo[i] = i
	}
	var lastErr error
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("cluster: %d of %d messages not stored: %w", len(todo), len(msgs), lastErr)
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
			if !c.up.Load() {
				return nil, errUnavailable
			}
		}
		futures := make([]jetstream.PubAckFuture, len(todo))
		for j, i := range todo {
			m := nats.NewMsg(subjectOf(&msgs[i]))
			m.Data = encodeMessage(&msgs[i])
			m.Header.Set(nats.MsgIdHdr, c.id+"."+strconv.FormatUint(tokens[i], 10))
			f, err := c.js.PublishMsgAsync(m, jetstream.WithExpectStream(c.cfg.Stream))
			if err != nil {
				lastErr = err
				break
			}
			futures[j] = f
		}
		var again []int
		wait := time.NewTimer(2 * time.Second)
		for j, i := range todo {
			f := futures[j]
			if f == nil {
				again = append(again, i)
				continue
			}
			select {
			case ack := <-f.Ok():
				ids[i] = ack.Sequence
			case err := <-f.Err():
				lastErr = err
				again = append(again, i)
			case <-wait.C:
				lastErr = errors.New("no acknowledgement from JetStream")
				again = append(again, todo[j:]...) // this one and every one after: published again, in order
				goto next
			case <-ctx.Done():
				wait.Stop()
				return nil, fmt.Errorf("cluster: messages not acknowledged by JetStream: %w", ctx.Err())
			}
		}
	next:
		wait.Stop()
		todo = again
	}
	return ids, nil
}

// Ready implements chat.Cluster.
func (c *Cluster) Ready() error {
	if !c.up.Load() {
		return errors.New("not connected to NATS")
	}
	if why := c.logErr.Load(); why != nil {
		return fmt.Errorf("the room log refused the last messages: %s", *why)
	}
	return nil
}

// checkLog clears a failed append once the stream answers again (the
// heartbeat calls it), so that a quiet node becomes ready by itself.
func (c *Cluster) checkLog(ctx context.Context) {
	if c.logErr.Load() == nil {
		return
	}
	if _, err := c.js.Stream(ctx, c.cfg.Stream); err == nil {
		c.logErr.Store(nil)
		c.log.Info("the room log answers again")
	}
}

// ID returns this node's incarnation id (new at every start).
func (c *Cluster) ID() string { return c.id }

// Close leaves the cluster: this node's presence and names are removed
// (so that the other nodes see its users part at once), the consumer
// stops and the embedded server, if any, shuts down. Call it after the
// hub has shut down.
func (c *Cluster) Close() {
	c.closing.Store(true)
	if c.nc != nil && c.presence != nil && c.up.Load() {
		for i := 0; i < 200 && len(c.announce) > 0; i++ {
			time.Sleep(10 * time.Millisecond) // the sessions' quits go first
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.forgetNode(ctx, c.id)
		cancel()
	}
	c.cancel()
	if c.leader != nil {
		_ = c.leader.Unsubscribe()
	}
	c.feedMu.Lock()
	feed := c.feed
	c.feedMu.Unlock()
	if feed != nil {
		feed.Stop()
	}
	c.wg.Wait()
	if c.nc != nil {
		_ = c.nc.Drain()
		for i := 0; i < 100 && !c.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		c.nc.Close()
	}
	if c.ns != nil {
		c.ns.Shutdown()
		c.ns.WaitForShutdown()
	}
}

// Stats is the cluster's state for /metrics and /readyz.
type Stats struct {
	Node      string // this incarnation's id
	Connected bool
	Nodes     int    // nodes known alive, this one included
	Remote    int    // sessions on other nodes
	LastID    uint64 // the last message ingested
}

// Stats returns the cluster's state.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	nodes, remote := c.idx.counts(c.id)
	c.mu.Unlock()
	return Stats{Node: c.id, Connected: c.up.Load(), Nodes: nodes, Remote: remote, LastID: c.last.Load()}
}

// ClusterAddr returns the embedded server's route address (for tests and
// logs), or nil.
func (c *Cluster) ClusterAddr() net.Addr {
	if c.ns == nil || c.ns.ClusterAddr() == nil {
		return nil
	}
	return c.ns.ClusterAddr()
}

// NATSURL returns the URL NATS clients reach the embedded server at, with
// the token they need in it (keep it private); "" if it has no client
// listener, or there is none.
func (c *Cluster) NATSURL() string {
	if c.ns == nil || c.ns.Addr() == nil {
		return ""
	}
	u, err := url.Parse(c.ns.ClientURL())
	if err != nil {
		return ""
	}
	u.User = url.User(c.embeddedToken)
	return u.String()
}
