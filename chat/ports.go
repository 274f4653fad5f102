package chat

import (
	"context"
	"time"
)

// Sink receives the events addressed to one session, in order.
//
// Deliver must never block and must never call back into the Hub: a sink that
// cannot keep up (a slow consumer) drops the connection itself, and its
// front-end then calls Session.Leave.
type Sink interface {
	Deliver(ev *Event)
}

// A DeferringSink is a Sink whose writing can wait for the end of a batch.
// The hub's fan-out gives each committed message to a room's members with
// DeliverDeferred (a run of messages to one room at once) and, once the batch of messages it is fanning out is done
// (one group commit, bounded in deliveries), calls Flush once on each sink
// that asked for it. A member of a busy room then costs one writer wake-up
// and one write per batch rather than per message; at a low rate a batch
// is one message, so nothing waits.
type DeferringSink interface {
	Sink
	// DeliverDeferred queues evs, in order, as Deliver would each, but
	// may leave starting the write to Flush; it reports whether Flush must
	// be called. It must not keep evs (the slice; the events it may).
	DeliverDeferred(evs []*Event) (flush bool)
	// Flush starts writing what DeliverDeferred queued.
	Flush()
}

// BacklogQuery selects what a lagging session was not sent, oldest first:
// the messages with ids above After of its rooms (each only above its own
// From, and up to Until for a room it has left) and its direct messages
// (above UserFrom), at most Limit.
type BacklogQuery struct {
	After    uint64
	Rooms    []RoomRange
	User     string // "" for no direct messages
	UserFrom uint64
	Limit    int
}

// RoomRange is the part of one room's messages a session had: ids in
// (From, Until], Until 0 for no upper bound.
type RoomRange struct {
	Room        string
	From, Until uint64
}

// Topic is a room's topic as stored: its text, who set it and when.
type Topic struct {
	Room string // room key
	Text string
	By   string
	At   time.Time
}

// Pacer is implemented by sinks that can make a long replay wait for room
// in their queue. AwaitRoom blocks until the sink has room for more, or
// will not get it; the hub calls it only on the goroutine of the session
// that asked for the replay (a join, a resume, a history page), never while
// fanning out, so it makes no one else wait.
type Pacer interface {
	AwaitRoom()
}

// deliverPaced delivers a replay to the sink, waiting for room before each
// event if the sink can (a cheap check while there is room).
func deliverPaced(sink Sink, evs func(yield func(*Event) bool)) {
	p, _ := sink.(Pacer)
	for ev := range evs {
		if p != nil {
			p.AwaitRoom()
		}
		sink.Deliver(ev)
	}
}

// HistoryQuery selects stored messages of one room, or the direct messages of
// one user, oldest first.
type HistoryQuery struct {
	Room   string // room key; empty to query direct messages
	User   string // for DMs: messages from or to this name (case-folded key match)
	After  uint64 // only ids > After
	Before uint64 // only ids < Before (0 = no upper bound)
	Limit  int    // at most this many: the newest that match, or the oldest with FromOldest

	FromOldest bool // take the oldest Limit matches instead of the newest (resume)
}

// Log orders the chat: it gives every message its id and keeps it. The
// hub's single committer calls Append with batches (group commit) and fans
// a message out only after Append has returned nil. On one node the Store
// is the Log; in a cluster a shared log (a stream) can assign the ids.
type Log interface {
	// Append stores a batch of messages atomically, in order. A message
	// whose ID is 0 is given the next id (one more than the last stored),
	// written back into msgs; a message with an id, assigned by a log
	// elsewhere, keeps it, and it must be higher than every stored id. On
	// error nothing is stored and no id is used up. Append must be durable
	// when it returns nil.
	Append(ctx context.Context, msgs []Message) error
	// LastID returns the highest id ever stored, 0 for an empty log.
	LastID(ctx context.Context) (uint64, error)
}

// Store persists messages and reads them back. Implementations are used
// by a single committing goroutine for Append, and concurrently for reads.
type Store interface {
	Log
	// History returns the messages matching q, oldest first.
	History(ctx context.Context, q HistoryQuery) ([]Message, error)
	// SetTopic stores a room's topic, replacing the one before.
	SetTopic(ctx context.Context, t Topic) error
	// Topics returns every stored topic (rooms without one are left out).
	Topics(ctx context.Context) ([]Topic, error)
	// Topic returns the stored topic of one room; ok is false if it has none.
	Topic(ctx context.Context, room string) (t Topic, ok bool, err error)
	// Backlog returns the messages q selects, oldest first: what a
	// connection that fell behind reads instead of its live messages.
	Backlog(ctx context.Context, q BacklogQuery) ([]Message, error)
	// PrunedThrough returns the highest id of a message of room that
	// retention has deleted (0 if none): every message with a larger id is
	// still there. Resuming from an older id has a gap.
	PrunedThrough(ctx context.Context, room string) (uint64, error)
}

// Broker fans committed events out. The local broker hands them straight
// back to the hub; a cluster broker also carries them to other nodes.
type Broker interface {
	// Publish hands a committed message event on for delivery.
	Publish(ev *Event)
	// Subscribe registers the function that delivers events locally. It is
	// called once, by the hub, before any Publish.
	Subscribe(deliver func(*Event))
}
