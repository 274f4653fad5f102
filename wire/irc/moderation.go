package irc

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/parleychat/parley/chat"
)

// Numerics of moderation.
const (
	RplBanList        = "367"
	RplWhoisAccount   = "330"
	RplWhoisOperator  = "313"
	ErrInviteOnlyChan = "473"
	ErrBannedFromChan = "474"
	ErrNeedReggedNick = "477"
)

// failIn tells the client why a command on a channel was refused, with the
// numeric an IRC client expects for it; others become a NOTICE.
func (c *Client) failIn(ch string, err error) {
	msg := chat.ErrorMessage(err)
	switch chat.ErrorCode(err) {
	case chat.CodeBanned:
		c.out(c.numeric(ErrBannedFromChan, ch, "Cannot join channel (+b): "+msg))
	case chat.CodeInviteOnly:
		c.out(c.numeric(ErrInviteOnlyChan, ch, "Cannot join channel (+i): "+msg))
	case chat.CodeAccountRequired:
		c.out(c.numeric(ErrNeedReggedNick, ch, "Cannot join channel (+r): "+msg))
	case chat.CodeForbidden:
		c.out(c.numeric(ErrChanOPrivsNeeded, ch, "You're not channel operator: "+msg))
	default:
		c.fail(err)
	}
}

// failSend tells the client why a message to a channel was refused.
func (c *Client) failSend(ch string, err error) {
	switch chat.ErrorCode(err) {
	case chat.CodeMuted, chat.CodeForbidden, chat.CodeSlowMode, chat.CodeAccountRequired:
		c.out(c.numeric(ErrCannotSendToChan, ch, "Cannot send to channel: "+chat.ErrorMessage(err)))
	default:
		c.fail(err)
	}
}

func (c *Client) kickCmd(s *chat.Session, m *Message) {
	ch := m.Params[0]
	room, err := roomOf(ch)
	if err != nil || (!isIn(s, room) && !roomExists(s, room)) {
		c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
		return
	}
	if !isIn(s, room) {
		c.out(c.numeric(ErrNotOnChannel, ch, "You're not on that channel"))
		return
	}
	for _, nick := range strings.Split(m.Params[1], ",") {
		if nick == "" {
			continue
		}
		if err := s.Kick(room, nick, m.Param(2)); err != nil {
			if chat.ErrorCode(err) == chat.CodeNoSuchUser {
				c.out(c.numeric(ErrUserNotInChannel, nick, ch, "They aren't on that channel"))
				continue
			}
			c.failIn(ch, err)
		}
	}
}

func (c *Client) inviteCmd(s *chat.Session, m *Message) {
	nick, ch := m.Params[0], m.Params[1]
	room, err := roomOf(ch)
	if err != nil {
		c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
		return
	}
	u := s.Hub().Lookup(nick)
	if u == nil {
		if name, ok := s.Hub().RemoteUser(nick); ok && isIn(s, room) { // on another node of the cluster
			if err := s.Invite(room, name); err != nil {
				c.failIn(ch, err)
				return
			}
			c.out(c.numeric(RplInviting, name, ch))
			return
		}
	}
	switch {
	case u == nil:
		c.out(c.numeric(ErrNoSuchNick, nick, "No such nick/channel"))
	case !isIn(s, room):
		if roomExists(s, room) {
			c.out(c.numeric(ErrNotOnChannel, ch, "You're not on that channel"))
		} else {
			c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
		}
	case isIn(u, room):
		c.out(c.numeric(ErrUserOnChannel, u.Name(), ch, "is already on channel"))
	default:
		if err := s.Invite(room, u.Name()); err != nil {
			c.failIn(ch, err)
			return
		}
		c.out(c.numeric(RplInviting, u.Name(), ch))
	}
}

func (c *Client) operCmd(_ *chat.Session, _ *Message) {
	c.out(c.numeric("491", "No O-lines: server operators are accounts named with --admin; log in to one (SASL, or /LOGIN name password)"))
}

// authenticateLate refuses SASL after registration.
func (c *Client) authenticateLate(_ *chat.Session, _ *Message) {
	c.out(c.numeric(ErrSASLAlready, "You have already registered; log in with /LOGIN name password"))
}

// channelModes renders a room's modes for RPL_CHANNELMODEIS: "+nt".
func channelModes(s *chat.Session, room string) string {
	modes, _ := s.Hub().RoomModes(room)
	return "+n" + modes
}

// channelMode runs MODE on a channel: a query, the ban list, or changes
// (+t +m +i +r, +b/-b mask, +o/-o and +v/-v nick), each through the
// hub's moderation commands.
func (c *Client) channelMode(s *chat.Session, m *Message, target, room string) {
	if len(m.Params) < 2 {
		c.out(c.numeric(RplChannelModeIs, target, channelModes(s, room)))
		return
	}
	spec, args := m.Params[1], m.Params[2:]
	if strings.Trim(spec, "+") == "b" && len(args) == 0 {
		c.banList(s, target, room)
		return
	}
	switch strings.TrimLeft(spec, "+-") {
	case "e":
		c.out(c.numeric(RplEndOfExceptList, target, "End of channel exception list"))
		return
	case "I":
		c.out(c.numeric(RplEndOfInviteList, target, "End of channel invite list"))
		return
	}
	add := true
	flags := ""
	for _, r := range spec {
		var err error
		switch r {
		case '+':
			add = true
			continue
		case '-':
			add = false
			continue
		case 'n':
			continue // always set: no messages from outside
		case 't', 'm', 'i', 'r':
			flags += map[bool]string{true: "+", false: "-"}[add] + string(r)
			continue
		case 'b', 'o', 'v':
			if len(args) == 0 {
				c.out(c.numeric(ErrNeedMoreParams, "MODE", "Not enough parameters"))
				return
			}
			arg := args[0]
			args = args[1:]
			switch r {
			case 'b':
				var who string
				if who, err = c.maskTarget(arg); err != nil {
					if add {
						c.fail(err)
						return
					}
					who, err = arg, nil // -b of a mask from the ban list
				}
				if add {
					err = s.Sanction(chat.SanctionBan, room, who, 0, "", false)
				} else {
					err = s.Lift(chat.SanctionBan, room, who, false)
				}
			case 'o':
				err = s.SetRole(room, arg, chat.RoleOp, add)
			case 'v':
				err = s.SetRole(room, arg, chat.RoleVoice, add)
			}
		default:
			c.out(c.numeric(ErrUnknownMode, string(r), "is an unknown mode char to me"))
			return
		}
		if err != nil {
			c.failIn(target, err)
			return
		}
	}
	if flags != "" {
		if err := s.SetModes(room, flags); err != nil {
			c.failIn(target, err)
		}
	}
}

// maskTarget turns an IRC ban mask into what /ban takes: "nick!*@*" is
// the nick; "*!*@account/NAME" (the host a client copies from a user's
// hostmask) is the account, "*!*@guest/HASH" the address of the guest
// shown so; "*!*@192.0.2.7" an address. Masks that name no one are refused.
func (c *Client) maskTarget(mask string) (string, error) {
	nick, rest, ok := strings.Cut(mask, "!")
	if !ok {
		return mask, nil
	}
	_, host, _ := strings.Cut(rest, "@")
	if nick != "" && !strings.ContainsAny(nick, "*?") {
		return nick, nil
	}
	if t, ok := c.hub.CloakTarget(host); ok {
		return t, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "ip:" + host, nil
	}
	if _, err := netip.ParsePrefix(host); err == nil {
		return "ip:" + host, nil
	}
	return "", chat.Errorf(chat.CodeInvalid, "the mask %s names nobody here: ban nick!*@*, *!*@account/NAME, *!*@guest/... as a user is shown, or an address", mask)
}

// banList answers MODE #room b: RPL_BANLIST per ban, then the end.
func (c *Client) banList(s *chat.Session, target, room string) {
	for _, b := range s.Hub().Bans(room) {
		c.out(c.numeric(RplBanList, target, b.Mask, b.By, strconv.FormatInt(b.At.Unix(), 10)))
	}
	c.out(c.numeric(RplEndOfBanList, target, "End of channel ban list"))
}

// chatCommand runs an IRC verb that is one of parley's commands (REGISTER,
// LOGIN, IDENTIFY, MUTE, SLOW, CLAIM, MODLOG, KILL, ...): a client sends
// "/register secret" as "REGISTER secret". Replies come as NOTICEs.
func (c *Client) chatCommand(s *chat.Session, m *Message) bool {
	cmd := chat.LookupCommand(strings.ToLower(m.Command))
	if cmd == nil || cmd.Hidden {
		return false
	}
	line := "/" + strings.ToLower(m.Command)
	for _, p := range m.Params {
		line += " " + p
	}
	req, err := chat.ParseLine(line, c.label)
	if err == nil {
		err = s.Do(req)
	}
	if err != nil {
		c.fail(err)
	}
	return true
}

// nickServ is the name IRC users (and their clients' autoidentify
// scripts) message to log in; parley answers for it.
const nickServ = "NickServ"

// nickServ answers a PRIVMSG to NickServ: IDENTIFY [account] password,
// REGISTER password, HELP, as services do, through parley's account
// commands. Replies are NOTICEs from NickServ.
func (c *Client) nickServ(s *chat.Session, text string) {
	say := func(msg string) {
		c.out(&Message{Source: nickServ + "!services@" + c.server(), Command: "NOTICE", Params: []string{s.Name(), msg}, Trailing: true})
	}
	args := strings.Fields(text)
	if len(args) == 0 {
		args = []string{"HELP"}
	}
	var err error
	switch verb := strings.ToUpper(args[0]); {
	case verb == "IDENTIFY" && len(args) == 2:
		err = s.Login(s.Name(), args[1])
	case verb == "IDENTIFY" && len(args) >= 3:
		err = s.Login(args[1], args[2])
	case verb == "REGISTER" && len(args) >= 2: // an e-mail after the password is ignored
		err = s.Register(args[1])
	default:
		say("parley's accounts: IDENTIFY [account] password, REGISTER password. The same as /login and /register; see the server's docs/moderation.md")
		return
	}
	if err != nil {
		say("error: " + chat.ErrorMessage(err))
		return
	}
	say("done")
}
