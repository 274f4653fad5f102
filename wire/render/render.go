// Package render turns hub events into short human sentences, shared by the
// text front-ends (tutorial notices, line protocol) and the plain client.
package render

import (
	"strconv"
	"strings"

	"github.com/parleychat/parley/chat"
)

// Notice renders a non-message event as one human sentence ("bob joined
// lobby"). own says the recipient caused it ("you joined lobby"). It
// returns "" for events that have no sentence.
func Notice(ev *chat.Event, own bool) string {
	switch ev.Kind {
	case chat.KindJoin:
		return who(ev.Name, own) + " joined " + ev.Room
	case chat.KindPart:
		if ev.Reason != "" {
			return who(ev.Name, own) + " left " + ev.Room + " (" + ev.Reason + ")"
		}
		return who(ev.Name, own) + " left " + ev.Room
	case chat.KindNick:
		if own {
			return "you are now known as " + ev.Name
		}
		return ev.OldName + " is now known as " + ev.Name
	case chat.KindTopic:
		if ev.Text == "" {
			return "no topic is set in " + ev.Room
		}
		if ev.Session == 0 { // the room's state (a reply, or on join), not a change
			return "topic of " + ev.Room + ": " + ev.Text + " (set by " + ev.From + ")"
		}
		return ev.From + " set the topic of " + ev.Room + ": " + ev.Text
	case chat.KindNotice:
		return ev.Text
	case chat.KindMembers:
		s := "members of " + ev.Room + " (" + strconv.Itoa(len(ev.Members)) + "): " + strings.Join(ev.Members, ", ")
		if ev.Text == chat.HistoryMore && len(ev.Members) > 0 {
			s += "; more: /who " + ev.Room + " " + ev.Members[len(ev.Members)-1]
		}
		return s
	case chat.KindRooms:
		if len(ev.Rooms) == 0 {
			return "no rooms"
		}
		parts := make([]string, 0, len(ev.Rooms))
		for _, r := range ev.Rooms {
			parts = append(parts, Room(r))
		}
		return "rooms: " + strings.Join(parts, "; ") + MoreRooms(ev)
	case chat.KindError:
		return "error: " + ev.Err.Message
	case chat.KindBye:
		return ev.Reason
	case chat.KindUserNotice:
		if ev.Room != "" {
			return "notice from " + ev.From + " in " + ev.Room + ": " + ev.Text
		}
		return "notice from " + ev.From + ": " + ev.Text
	}
	return ""
}

// MoreRooms says how to list the next page of a rooms reply cut short
// ("; more: /rooms LAST"), or "".
func MoreRooms(ev *chat.Event) string {
	if ev.Text != chat.HistoryMore || len(ev.Rooms) == 0 {
		return ""
	}
	return "; more: /rooms " + ev.Rooms[len(ev.Rooms)-1].Name
}

// Room renders one room list entry: "dev (3 members): topic".
func Room(r chat.RoomInfo) string {
	members := " members)"
	if r.Members == 1 {
		members = " member)"
	}
	s := r.Name + " (" + strconv.Itoa(r.Members) + members
	if r.Topic != "" {
		s += ": " + r.Topic
	}
	return s
}

func who(name string, own bool) string {
	if own {
		return "you"
	}
	return name
}

// Safe is what text renderers apply to every client-supplied string they
// write, as a second line of defence behind the text rule the hub applies
// when text comes in (chat.CleanText): escape sequences, controls other
// than newline and tab, bidi controls and invalid UTF-8 cannot reach a
// terminal even if an event carried them.
func Safe(s string) string { return chat.Strip(s) }

// SafeLine is Safe for text that must stay on one line (names, reasons):
// newlines and tabs become spaces.
func SafeLine(s string) string {
	s = chat.Strip(s)
	if strings.ContainsAny(s, "\n\t") {
		s = strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
	}
	return s
}
