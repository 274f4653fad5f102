package chat

import (
	"sync/atomic"
	"time"
)

// Kind tells what an Event is.
type Kind uint8

// Event kinds. Say, Me and DM are messages: they get an id, a timestamp and
// are stored. The others describe room and session changes or replies.
const (
	KindSay        Kind = iota + 1 // chat message in a room
	KindMe                         // action ("/me waves") in a room
	KindDM                         // direct message between two users
	KindJoin                       // Name joined Room
	KindPart                       // Name left Room (Reason says why)
	KindNick                       // OldName is now Name
	KindTopic                      // Room's topic set to Text by From
	KindNotice                     // server text for one session (help, info)
	KindMembers                    // Members of Room
	KindRooms                      // list of Rooms
	KindError                      // Err for one session
	KindWelcome                    // first event of a session: Welcome
	KindPong                       // reply to a ping
	KindBye                        // the server is closing this session: Reason
	KindHistoryEnd                 // end of a replay for Room (Text says why, if cut short)
	KindPing                       // the server asks an idle client for a sign of life (native)
	KindAway                       // Name is away (Text says why) or, with Text empty, back
	KindUserNotice                 // a user's notice to Room or To (IRC NOTICE): relayed live, never stored, never answered automatically
	KindLocal                      // a front-end's own event for its encoder, sent to its own session (Text: what to write); the hub never makes one
)

var kindNames = [...]string{
	KindSay: "say", KindMe: "me", KindDM: "dm", KindJoin: "join", KindPart: "part",
	KindNick: "nick", KindTopic: "topic", KindNotice: "notice", KindMembers: "members",
	KindRooms: "rooms", KindError: "error", KindWelcome: "welcome", KindPong: "pong",
	KindBye: "bye", KindHistoryEnd: "history_end", KindPing: "ping",
	KindAway: "away", KindUserNotice: "user_notice", KindLocal: "local",
}

// String returns the kind's wire name ("say", "join", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// IsMessage reports whether events of this kind are stored messages.
func (k Kind) IsMessage() bool { return k == KindSay || k == KindMe || k == KindDM }

// ByeGoodbye is the Reason of the bye event that ends a session the user
// chose to leave (as opposed to a server shutdown).
const ByeGoodbye = "goodbye"

// Message is a stored chat message: what a Store persists and replays.
type Message struct {
	ID   uint64    // server-assigned, strictly increasing
	Time time.Time // server time when accepted
	Kind Kind      // KindSay, KindMe or KindDM
	Room string    // room key; empty for a DM
	From string    // sender's name at the time
	To   string    // recipient's name for a DM
	Text string    // cleaned text
}

// RoomInfo describes a room in a room list.
type RoomInfo struct {
	Name    string
	Topic   string
	Members int
}

// Welcome is what a session learns when it is registered.
type Welcome struct {
	Server          string // server name
	Software        string // server software and version: "parley v1.2.3"
	Version         int    // native protocol version spoken
	Name            string // the session's accepted name
	MaxMessageBytes int    // longest message text accepted
	Motd            string // message of the day, may be empty
	Account         string // the account logged in to; "" for a guest
}

// Event is one thing that happens, delivered to Sinks. Events are shared by
// every recipient and must be treated as read-only once published.
type Event struct {
	Message

	Session uint64     // id of the session that caused it; 0 for the server
	Name    string     // subject of join/part/nick
	OldName string     // previous name for KindNick
	Reason  string     // why, for part and bye
	Members []string   // KindMembers
	Rooms   []RoomInfo // KindRooms
	Err     *Error     // KindError
	Welcome *Welcome   // KindWelcome
	Ref     string     // client's correlation token; only meaningful to Session
	History bool       // a replayed message, not a live one
	Quit    bool       // KindPart: the session left the chat (every room at once), not just this room
	By      string     // KindPart: the moderator who kicked Name; KindBye: who removed the session ("*" for the server)
	Mode    string     // KindNotice of a moderation action: the change as an IRC mode ("+o bob", "+m", "-b *!*@192.0.2.7"), or ModeKick

	route *pending                 // local recipients, set when published on this node
	enc   atomic.Pointer[encoding] // encodings made so far, newest first
}

// encoding is one wire encoding of an event, in a list that only grows.
type encoding struct {
	format Format
	bytes  []byte
	next   *encoding
}

// Size estimates the event's encoded size in bytes, for byte-bounded queues.
func (e *Event) Size() int {
	n := 64 + len(e.Text) + len(e.From) + len(e.Room) + len(e.To) + len(e.Name) + len(e.Reason)
	for _, m := range e.Members {
		n += len(m) + 4
	}
	for _, r := range e.Rooms {
		n += len(r.Name) + len(r.Topic) + 32
	}
	return n
}

// Format identifies one wire encoding of events, so that an event shared by
// many recipients is encoded once per format, not once per recipient.
type Format uint32

var formats atomic.Uint32

// NewFormat returns a new encoding identity. Call it once per encoding (a
// package variable); there is no limit on how many exist.
func NewFormat() Format { return Format(formats.Add(1)) }

// Encoded returns the event encoded in format f, calling encode only the
// first time the format is asked for (two recipients racing may both
// encode; one result is kept). Safe for concurrent use.
func (e *Event) Encoded(f Format, encode func(*Event) []byte) []byte {
	head := e.enc.Load()
	for p := head; p != nil; p = p.next {
		if p.format == f {
			return p.bytes
		}
	}
	n := &encoding{format: f, bytes: encode(e)}
	for {
		n.next = head
		if e.enc.CompareAndSwap(head, n) {
			return n.bytes
		}
		// Another format (or this one) was added meanwhile: look again.
		newHead := e.enc.Load()
		for p := newHead; p != head; p = p.next {
			if p.format == f {
				return p.bytes
			}
		}
		head = newHead
	}
}
