// Package native defines parley's native protocol: JSON events carried one
// per frame of the framed protocol. The server's framed front-end and the
// client library both use these types; docs/protocol.md describes them.
package native

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parleychat/parley/chat"
)

// Version is the newest native protocol version this package speaks.
const Version = chat.ProtocolVersion

// Event types (the "type" of what the server sends). Message events (say,
// me, dm) carry ids; the rest describe changes and replies.
const (
	TypeSay        = "say"
	TypeMe         = "me"
	TypeDM         = "dm"
	TypeJoin       = "join"
	TypePart       = "part"
	TypeNick       = "nick"
	TypeTopic      = "topic"
	TypeNotice     = "notice"
	TypeMembers    = "members"
	TypeRooms      = "rooms"
	TypeError      = "error"
	TypeWelcome    = "welcome"
	TypePong       = "pong"
	TypeBye        = "bye"
	TypeHistoryEnd = "history_end"
	TypePing       = "ping"
)

// Request types that are not event types.
const (
	TypeHello   = "hello"   // the first request: name, version, password, resume
	TypeWho     = "who"     // asks for a members event
	TypeHistory = "history" // asks for a page of stored messages
	TypeCommand = "command" // a line of user input, run through the command table
	TypeQuit    = "quit"    // leave the chat
)

// More is the Text of a history_end that ends a replay or page cut short
// at its limit: a history request pages on.
const More = chat.HistoryMore

// HistoryGone is the Text of a history_end when messages after the resume
// point were deleted by retention.
const HistoryGone = string(chat.CodeHistoryGone)

// requestTypes are the typed requests of a session (a hello or a command
// aside): each is run by the command of the same name in chat's table.
var requestTypes = map[string]bool{
	TypeSay: true, TypeMe: true, TypeDM: true, TypeJoin: true, TypePart: true, TypeNick: true,
	TypeTopic: true, TypeWho: true, TypeRooms: true, TypeHistory: true, TypePing: true, TypePong: true, TypeQuit: true,
	// accounts and moderation (docs/moderation.md)
	"register": true, "login": true, "passwd": true, "unregister": true, "claim": true,
	"op": true, "deop": true, "voice": true, "devoice": true, "kick": true, "ban": true, "unban": true, "bans": true,
	"mute": true, "unmute": true, "mode": true, "invite": true, "slow": true, "modlog": true, "kill": true,
}

// Request is what a client sends. Which fields matter depends on Type; see
// docs/protocol.md.
type Request struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"` // echoed on the reply, the own-message echo and errors

	// hello
	Name     string            `json:"name,omitempty"`
	Version  int               `json:"version,omitempty"`
	Client   string            `json:"client,omitempty"`
	Password string            `json:"password,omitempty"`
	Rooms    []string          `json:"rooms,omitempty"`    // rooms to join after the lobby
	Since    map[string]uint64 `json:"since,omitempty"`    // resume: last id seen per room
	Account  string            `json:"account,omitempty"`  // hello: log in to this account with password; login: the account
	DMSince  uint64            `json:"dm_since,omitempty"` // hello of an account: the last direct message the client has (resume)
	// register, login, passwd, unregister: password is the account's;
	// passwd also takes the new one.
	NewPassword string `json:"new_password,omitempty"`
	// ban, mute: how long ("10m", "2h", "7d"; absent or "0": until
	// lifted); slow: the interval ("30s").
	Duration string `json:"duration,omitempty"`
	Mode     string `json:"mode,omitempty"`   // mode: the change ("+m"); absent asks for the modes
	Server   bool   `json:"server,omitempty"` // ban, unban, bans: server-wide (server operators)

	// say, me, dm, join, part, topic, who, history, command, quit
	Room   string  `json:"room,omitempty"`
	To     string  `json:"to,omitempty"`
	Text   *string `json:"text,omitempty"` // absent on a topic request means "tell me the topic"
	Reason string  `json:"reason,omitempty"`
	After  uint64  `json:"after,omitempty"`
	Before uint64  `json:"before,omitempty"`
	Limit  int     `json:"limit,omitempty"`
	Cursor string  `json:"cursor,omitempty"` // rooms, who: the names after this one (the next page)
}

// Event is what the server sends. Which fields are set depends on Type; see
// docs/protocol.md.
type Event struct {
	Type    string     `json:"type"`
	Ref     string     `json:"ref,omitempty"`
	ID      uint64     `json:"id,omitempty"`
	TS      *time.Time `json:"ts,omitempty"`
	Room    string     `json:"room,omitempty"`
	From    string     `json:"from,omitempty"`
	To      string     `json:"to,omitempty"`
	Name    string     `json:"name,omitempty"`
	Old     string     `json:"old,omitempty"`
	Text    string     `json:"text,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	History bool       `json:"history,omitempty"`
	Members []string   `json:"members,omitempty"`
	Rooms   []RoomInfo `json:"rooms,omitempty"`
	Code    string     `json:"code,omitempty"`
	Message string     `json:"message,omitempty"`
	By      string     `json:"by,omitempty"`   // part: the moderator who kicked or banned name; bye: who removed the session
	Mode    string     `json:"mode,omitempty"` // notice of a moderation action: the change as an IRC mode ("+m", "+o bob", "+b bob!*@*"), or "KICK"

	// welcome
	Account         string `json:"account,omitempty"` // the account logged in to; absent for a guest
	Server          string `json:"server,omitempty"`
	Software        string `json:"software,omitempty"`
	Version         int    `json:"version,omitempty"`
	MaxMessageBytes int    `json:"max_message_bytes,omitempty"`
	Motd            string `json:"motd,omitempty"`
}

// RoomInfo is one entry of a rooms event.
type RoomInfo struct {
	Name    string `json:"name"`
	Topic   string `json:"topic,omitempty"`
	Members int    `json:"members"`
}

// FromChat converts a hub event to its wire form. ref is included only when
// the event goes to the session that caused it.
func FromChat(ev *chat.Event, withRef bool) Event {
	out := Event{
		Type:    ev.Kind.String(),
		ID:      ev.ID,
		Room:    ev.Room,
		From:    ev.From,
		To:      ev.To,
		Name:    ev.Name,
		Old:     ev.OldName,
		Text:    chat.Strip(ev.Text), // IRC formatting codes are for IRC readers
		Reason:  chat.Strip(ev.Reason),
		History: ev.History,
		Members: ev.Members,
		By:      ev.By,
		Mode:    ev.Mode,
	}
	if withRef {
		out.Ref = ev.Ref
	}
	if !ev.Time.IsZero() {
		t := ev.Time.UTC()
		out.TS = &t
	}
	if ev.Kind == chat.KindMembers && out.Members == nil {
		out.Members = []string{}
	}
	if ev.Kind == chat.KindRooms {
		out.Rooms = make([]RoomInfo, len(ev.Rooms))
		for i, r := range ev.Rooms {
			out.Rooms[i] = RoomInfo{Name: r.Name, Topic: chat.Strip(r.Topic), Members: r.Members}
		}
	}
	if ev.Err != nil {
		out.Code, out.Message = string(ev.Err.Code), ev.Err.Message
	}
	if w := ev.Welcome; w != nil {
		out.Server, out.Software, out.Version, out.Name = w.Server, w.Software, w.Version, w.Name
		out.MaxMessageBytes, out.Motd, out.Account = w.MaxMessageBytes, w.Motd, w.Account
	}
	return out
}

// IsMessage reports whether the event is a stored chat message (say, me, dm).
func (e *Event) IsMessage() bool { return e.Type == TypeSay || e.Type == TypeMe || e.Type == TypeDM }

// kinds maps event types back to the hub's kinds.
var kinds = func() map[string]chat.Kind {
	m := map[string]chat.Kind{}
	for k := chat.KindSay; k.String() != "unknown"; k++ {
		m[k.String()] = k
	}
	return m
}()

// ToChat converts a wire event back to the hub's event type (the inverse
// of FromChat), for the renderers of wire/render on the client side. An
// unknown type has Kind 0.
func ToChat(ev *Event) *chat.Event {
	ce := &chat.Event{
		Message: chat.Message{ID: ev.ID, Kind: kinds[ev.Type], Room: ev.Room, From: ev.From, To: ev.To, Text: ev.Text},
		Name:    ev.Name, OldName: ev.Old, Reason: ev.Reason, Members: ev.Members, History: ev.History, Ref: ev.Ref, By: ev.By, Mode: ev.Mode,
	}
	if ev.TS != nil {
		ce.Time = *ev.TS
	}
	for _, r := range ev.Rooms {
		ce.Rooms = append(ce.Rooms, chat.RoomInfo{Name: r.Name, Topic: r.Topic, Members: r.Members})
	}
	if ev.Type == TypeError {
		ce.Err = &chat.Error{Code: chat.Code(ev.Code), Message: ev.Message}
	}
	if ev.Type == TypeWelcome {
		ce.Welcome = &chat.Welcome{Server: ev.Server, Software: ev.Software, Version: ev.Version, Name: ev.Name, MaxMessageBytes: ev.MaxMessageBytes, Motd: ev.Motd, Account: ev.Account}
	}
	return ce
}

// Marshal encodes an event as JSON.
func Marshal(ev Event) []byte {
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen for these field types
		panic(fmt.Sprintf("native: marshal %s: %v", ev.Type, err))
	}
	return b
}

// DecodeRequest parses one client request. Errors are *chat.Error with code
// invalid, safe to show to the client.
func DecodeRequest(payload []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, chat.Errorf(chat.CodeInvalid, "not a valid JSON event: %s", jsonProblem(err))
	}
	if r.Type == "" {
		return r, chat.Errorf(chat.CodeInvalid, "the event has no \"type\"")
	}
	return r, nil
}

// DecodeEvent parses one server event (used by clients).
func DecodeEvent(payload []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return e, fmt.Errorf("native: bad event: %w", err)
	}
	return e, nil
}

func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q must be %s", e.Field, e.Type)
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	}
	return "cannot decode"
}

// TextOf returns *r.Text or "".
func (r Request) TextOf() string {
	if r.Text == nil {
		return ""
	}
	return *r.Text
}
