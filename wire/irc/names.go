package irc

import (
	"strings"

	"github.com/parleychat/parley/chat"
)

// Nicks are parley names, sent as they are (UTF-8). Parley's name rules
// already keep out what IRC gives a meaning to ('!', '@', ',', '*', '?',
// ':', '#', spaces and controls); checkNick adds the first characters that
// would read as a channel, a status prefix or a server mask.
func checkNick(nick string) error {
	if nick == "" {
		return chat.Errorf(chat.CodeNameInvalid, "no nickname given")
	}
	switch nick[0] {
	case '#', '&', ':', '$', '+', '~', '%', '@':
		return chat.Errorf(chat.CodeNameInvalid, "a nickname may not start with %q", nick[0])
	}
	if _, _, err := chat.ValidateName(nick); err != nil {
		return err
	}
	return nil
}

// channel returns the IRC name of a room key.
func channel(room string) string { return "#" + token(room) }

// token makes s one IRC token, as a second line of defence behind the
// hub's name rules (names and room keys are validated when they come in):
// controls, invalid UTF-8, spaces and the characters that delimit a
// hostmask or a list become '_'.
// maskParam makes s one middle parameter that may hold a mask's '!', '@'
// and '*': no spaces, controls or commas, and no leading ':'.
func maskParam(s string) string {
	b := []byte(chat.Strip(s))
	for i, c := range b {
		if c <= ' ' || c == ',' || (i == 0 && c == ':') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func token(s string) string {
	s = chat.Strip(s)
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '!' || c == '@' || c == ',' || c == '*' || c == '?' || (i == 0 && c == ':') {
			clean = false
			break
		}
	}
	if clean && s != "" {
		return s
	}
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == '!' || c == '@' || c == ',' || c == '*' || c == '?' || (i == 0 && c == ':') {
			b[i] = '_'
		}
	}
	return string(b)
}

// oneLine is client text shown on one line (a reason, a topic, an away
// message): the text rule again (IRC formatting kept), line breaks and
// tabs made spaces.
func oneLine(s string) string {
	s = chat.StripKeepFormatting(s)
	if strings.ContainsAny(s, "\n\t") {
		s = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return r
		}, s)
	}
	return s
}

// roomOf returns the room key of a channel name, or an error for a name
// that is not a channel ("dev" without '#') or not a valid room.
func roomOf(ch string) (string, error) {
	if !strings.HasPrefix(ch, "#") {
		return "", chat.Errorf(chat.CodeRoomInvalid, "not a channel name")
	}
	return chat.ValidateRoom(ch)
}

// isChannel reports whether a target names a channel.
func isChannel(target string) bool { return strings.HasPrefix(target, "#") }

// host is the host part of the hostmask of a name nobody holds now.
// Users are shown with their cloak (chat.Hub.Cloak): "account/NAME" or
// "guest/HASH"; addresses are never shown to other users.
const host = "parley"

// hostOf is the host nick is shown with: its holder's cloak, or host.
func hostOf(h *chat.Hub, nick string) string {
	if c := h.Cloak(nick); c != "" {
		return maskParam(c)
	}
	return host
}

// ident is the user part of every user's hostmask in what the server
// relays. WHOIS, WHO, USERHOST and WHOWAS show each user's own (userOf).
const ident = "u"

// identOf is the username an IRC client gave, as shown: unverified, so
// with a '~', and only letters, digits, '.', '_' and '-', at most 10.
func identOf(user string) string {
	var b strings.Builder
	b.WriteByte('~')
	for _, r := range user {
		if b.Len() > 10 {
			break
		}
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 1 {
		return "~u"
	}
	return b.String()
}

// userOf is the username shown for a session: an IRC client's own, the
// protocol's name for the others ("web", "native", "line").
func userOf(info chat.ClientInfo) string {
	if info.User != "" {
		return info.User
	}
	if p := token(info.Protocol); p != "_" {
		return p
	}
	return ident
}

// source returns the hostmask of a user on hub h.
func source(h *chat.Hub, nick string) string {
	return token(nick) + "!" + ident + "@" + hostOf(h, nick)
}

// glob reports whether name matches pattern, where '*' matches any run of
// characters and '?' any one.
func glob(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	star, mark := -1, 0
	for i, j := 0, 0; j < len(n); {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == n[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i, mark = star+1, mark+1
			j = mark
		default:
			return false
		}
		if j == len(n) {
			for i < len(p) && p[i] == '*' {
				i++
			}
			return i == len(p)
		}
	}
	for _, r := range p {
		if r != '*' {
			return false
		}
	}
	return true
}
