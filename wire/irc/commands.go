package irc

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

var _ engine.Runner = (*Client)(nil)

// out queues messages to the client in order with the session's events
// (through its encoder, which adds labels and batches).
func (c *Client) out(msgs ...*Message) {
	for _, m := range msgs {
		c.session.Send(&chat.Event{Message: chat.Message{Kind: chat.KindLocal, Text: m.String()}})
	}
}

// local queues a local opcode for the encoder.
func (c *Client) local(op, ref, text, reason string) {
	c.session.Send(&chat.Event{Message: chat.Message{Kind: chat.KindLocal, Text: text}, Name: op, Ref: ref, Reason: reason})
}

// Run runs the line Parse kept.
func (c *Client) Run(s *chat.Session, req chat.Request) error {
	m := c.msg
	c.msg = nil // not kept past its line
	if m == nil {
		m = &Message{} // a line Parse could not read (req says why)
	}
	if c.lag != nil && m.Command != "PONG" {
		if d := c.lag.Reserve().Delay(); d > 0 {
			time.Sleep(d) // fake lag: this client's next lines wait, unread
		}
	}
	if c.label != "" {
		// Everything the command causes for this client, up to the end
		// marker, is its labeled response: one line is labeled, more are
		// a batch, none is an ACK.
		c.local(localLabelStart, c.label, "", "")
		defer c.local(localLabelEnd, "", "", "")
	}
	switch req.Command {
	case "irc-bad":
		c.out(c.numeric(ErrUnknownCommand, "*", "Unknown command: the line could not be parsed ("+req.Text+")"))
		return nil
	case "irc-too-long":
		c.out(c.numeric(ErrInputTooLong, "Input line was too long"))
		return nil
	case "irc-not-utf8":
		// UTF8ONLY: nothing that is not UTF-8 is relayed.
		c.out(&Message{Source: c.server(), Command: "FAIL", Params: []string{token(m.Command), "INVALID_UTF8", "Message rejected: this server takes UTF-8 only (set your client's encoding to UTF-8)"}})
		return nil
	}
	h, ok := handlers[m.Command]
	if !ok {
		if !c.chatCommand(s, m) {
			c.out(c.numeric(ErrUnknownCommand, m.Command, "Unknown command"))
		}
		return nil
	}
	if len(m.Params) < h.min {
		c.out(c.numeric(ErrNeedMoreParams, m.Command, "Not enough parameters"))
		return nil
	}
	h.run(c, s, m)
	return nil
}

type handler struct {
	min int // parameters needed
	run func(c *Client, s *chat.Session, m *Message)
}

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"PING":         {1, (*Client).ping},
		"PONG":         {0, func(*Client, *chat.Session, *Message) {}},
		"CAP":          {1, func(c *Client, _ *chat.Session, m *Message) { c.handleCap(m) }},
		"PASS":         {0, (*Client).alreadyRegistered},
		"USER":         {0, (*Client).alreadyRegistered},
		"NICK":         {0, (*Client).nickCmd},
		"JOIN":         {1, (*Client).joinCmd},
		"PART":         {1, (*Client).partCmd},
		"PRIVMSG":      {0, (*Client).privmsg},
		"NOTICE":       {0, (*Client).notice},
		"TAGMSG":       {1, (*Client).tagmsg},
		"TOPIC":        {1, (*Client).topicCmd},
		"NAMES":        {0, (*Client).namesCmd},
		"LIST":         {0, (*Client).listCmd},
		"WHO":          {0, (*Client).whoCmd},
		"WHOIS":        {1, (*Client).whoisCmd},
		"WHOWAS":       {1, (*Client).whowasCmd},
		"AWAY":         {0, (*Client).awayCmd},
		"MODE":         {1, (*Client).modeCmd},
		"ISON":         {1, (*Client).isonCmd},
		"USERHOST":     {1, (*Client).userhostCmd},
		"VERSION":      {0, (*Client).versionCmd},
		"TIME":         {0, (*Client).timeCmd},
		"INFO":         {0, (*Client).infoCmd},
		"ADMIN":        {0, (*Client).adminCmd},
		"MOTD":         {0, (*Client).motdCmd},
		"LUSERS":       {0, (*Client).lusersCmd},
		"QUIT":         {0, (*Client).quitCmd},
		"KICK":         {2, (*Client).kickCmd},
		"INVITE":       {2, (*Client).inviteCmd},
		"OPER":         {2, (*Client).operCmd},
		"HELP":         {0, (*Client).helpCmd},
		"CHATHISTORY":  {1, (*Client).chathistoryCmd},
		"AUTHENTICATE": {0, (*Client).authenticateLate},
	}
}

func (c *Client) ping(s *chat.Session, m *Message) {
	// Everything accepted before the PING reaches its readers before the
	// PONG is written: a PING is a barrier, as clients and test suites
	// use it.
	s.Hub().Sync()
	c.env().AwaitCaughtUp() // and, if this client fell behind, it has them
	c.out(&Message{Source: c.server(), Command: "PONG", Params: []string{c.server(), cutUTF8(m.Params[0], maxEcho)}, Trailing: true})
}

func (c *Client) alreadyRegistered(_ *chat.Session, _ *Message) {
	c.out(c.numeric(ErrAlreadyRegistered, "You may not reregister"))
}

func (c *Client) nickCmd(s *chat.Session, m *Message) {
	nick := m.Param(0)
	if nick == "" {
		c.out(c.numeric(ErrNoNicknameGiven, "No nickname given"))
		return
	}
	if err := checkNick(nick); err != nil {
		c.out(c.numeric(ErrErroneusNickname, nick, "Erroneous nickname: "+chat.ErrorMessage(err)))
		return
	}
	if err := s.Nick(nick); err != nil {
		switch chat.ErrorCode(err) {
		case chat.CodeNameTaken:
			c.out(c.numeric(ErrNicknameInUse, nick, "Nickname is already in use: "+chat.ErrorMessage(err)))
		case chat.CodeNameInvalid, chat.CodeNameReserved:
			c.out(c.numeric(ErrErroneusNickname, nick, "Erroneous nickname: "+chat.ErrorMessage(err)))
		default:
			c.fail(err)
		}
	}
}

// fail tells the client an error that has no numeric of its own.
func (c *Client) fail(err error) {
	if err == chat.ErrClosed {
		return
	}
	c.out(c.reply("NOTICE", c.target(), "error: "+chat.ErrorMessage(err)))
}

// joinOptions is how a JOIN replays: not at all for a client that fetches
// history itself.
func (c *Client) joinOptions() chat.JoinOptions {
	if c.has(capChatHistory) {
		return chat.JoinOptions{History: -1}
	}
	return chat.JoinOptions{}
}

func (c *Client) joinCmd(s *chat.Session, m *Message) {
	if m.Params[0] == "0" {
		for _, room := range s.Joined() {
			_ = s.Part(room, "")
		}
		return
	}
	for _, ch := range strings.Split(m.Params[0], ",") {
		if ch == "" {
			continue
		}
		room, err := roomOf(ch)
		if err != nil {
			c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel: "+chat.ErrorMessage(err)))
			continue
		}
		if isIn(s, room) {
			continue // already there: nothing to say
		}
		if err := s.Join(room, c.joinOptions()); err != nil {
			if chat.ErrorCode(err) == chat.CodeInvalid {
				c.out(c.numeric(ErrTooManyChannels, ch, "You have joined too many channels"))
				continue
			}
			c.failIn(ch, err)
			continue
		}
		c.sendNames(room)
	}
}

// isIn reports whether s is in the room.
func isIn(s *chat.Session, room string) bool {
	for _, r := range s.Joined() {
		if r == room {
			return true
		}
	}
	return false
}

// roomExists reports whether a room has members.
func roomExists(s *chat.Session, room string) bool {
	_, names, err := s.Who(room)
	return err == nil && len(names) > 0
}

func (c *Client) partCmd(s *chat.Session, m *Message) {
	reason := m.Param(1)
	for _, ch := range strings.Split(m.Params[0], ",") {
		if ch == "" {
			continue
		}
		room, err := roomOf(ch)
		if err != nil {
			c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
			continue
		}
		if !isIn(s, room) {
			if roomExists(s, room) {
				c.out(c.numeric(ErrNotOnChannel, ch, "You're not on that channel"))
			} else {
				c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
			}
			continue
		}
		if err := s.Part(room, reason); err != nil {
			c.fail(err)
		}
	}
}

// sendNames sends RPL_NAMREPLY and RPL_ENDOFNAMES for a room.
func (c *Client) sendNames(room string) {
	_, names, err := c.session.Who(room)
	if err != nil {
		names = nil
	}
	c.out(namesReply(c.hub, c.server(), c.target(), room, names, c.has(capUserhostInNames), c.hub.Roles(room, names))...)
}

func (c *Client) namesCmd(s *chat.Session, m *Message) {
	if len(m.Params) == 0 {
		c.out(c.numeric(RplEndOfNames, "*", "End of /NAMES list"))
		return
	}
	for _, ch := range strings.Split(m.Params[0], ",") {
		room, err := roomOf(ch)
		if err != nil {
			c.out(c.numeric(RplEndOfNames, ch, "End of /NAMES list"))
			continue
		}
		c.sendNames(room)
	}
}

// splitTargets returns a message's targets, at most maxTargets.
const maxTargets = 4

func (c *Client) privmsg(s *chat.Session, m *Message) { c.sendText(s, m, false) }
func (c *Client) notice(s *chat.Session, m *Message)  { c.sendText(s, m, true) }

// sendText runs PRIVMSG and NOTICE. A NOTICE gets no error replies (RFC
// 2812: nothing is ever sent back automatically for one).
func (c *Client) sendText(s *chat.Session, m *Message, isNotice bool) {
	tell := func(msgs ...*Message) {
		if !isNotice {
			c.out(msgs...)
		}
	}
	if len(m.Params) == 0 || m.Params[0] == "" {
		tell(c.numeric(ErrNoRecipient, "No recipient given ("+m.Command+")"))
		return
	}
	if len(m.Params) < 2 || m.Params[1] == "" {
		tell(c.numeric(ErrNoTextToSend, "No text to send"))
		return
	}
	targets := strings.Split(m.Params[0], ",")
	if len(targets) > maxTargets {
		tell(c.numeric("407", m.Params[0], "Too many targets"))
		return
	}
	text := m.Params[1]
	action := false
	if strings.HasPrefix(text, "\x01") {
		body := strings.TrimSuffix(strings.TrimPrefix(text, "\x01"), "\x01")
		verb, rest, _ := strings.Cut(body, " ")
		if strings.ToUpper(verb) != "ACTION" {
			if !isNotice {
				c.ctcp(s, targets, strings.ToUpper(verb), rest)
			}
			return // other CTCP is answered by the server, never relayed
		}
		text, action = rest, true
		if text == "" {
			text = " "
		}
	}
	if c.label != "" && c.has(capEchoMessage) {
		// The echoes are the response: have them queued before it ends.
		defer s.Hub().Sync()
	}
	for _, t := range targets {
		if t == "" {
			continue // "a,,b"
		}
		var err error
		switch {
		case strings.EqualFold(t, nickServ) && !isNotice:
			c.nickServ(s, text)
			continue
		case isChannel(t):
			room, rerr := roomOf(t)
			if rerr != nil {
				tell(c.numeric(ErrNoSuchChannel, t, "No such channel"))
				continue
			}
			if !isIn(s, room) {
				if roomExists(s, room) {
					tell(c.numeric(ErrCannotSendToChan, t, "Cannot send to channel (join it first)"))
				} else {
					tell(c.numeric(ErrNoSuchChannel, t, "No such channel"))
				}
				continue
			}
			switch {
			case isNotice:
				s.Hub().Sync() // after this client's messages before it, which go through the store
				err = s.Notice(room, "", text)
			case action:
				err = s.Me(room, text, c.label)
			default:
				err = s.Say(room, text, c.label)
			}
		default:
			target := s.Hub().Lookup(t)
			if _, elsewhere := s.Hub().RemoteUser(t); target == nil && elsewhere {
				// Online on another node of the cluster: delivered there.
				if isNotice {
					s.Hub().Sync()
					err = s.Notice("", t, text)
					break
				}
				dm := text
				if action {
					dm = "/me " + text
				}
				err = s.DM(t, dm, c.label)
				break
			}
			if target == nil && (isNotice || !s.Hub().IsRegistered(t)) {
				tell(c.numeric(ErrNoSuchNick, t, "No such nick/channel"))
				continue
			}
			if target == nil { // an account that is away: the message is kept for it
				dm := text
				if action {
					dm = "/me " + text
				}
				if err = s.DM(t, dm, c.label); err == nil {
					tell(c.numeric(RplAway, t, "is not online; your message is kept until they log in"))
				}
				break
			}
			if isNotice {
				s.Hub().Sync()
				err = s.Notice("", t, text)
				break
			}
			dm := text
			if action {
				dm = "/me " + text // direct messages have no action kind: other clients show it as typed
			}
			if err = s.DM(t, dm, c.label); err == nil {
				if away := target.Away(); away != "" {
					tell(c.numeric(RplAway, target.Name(), away))
				}
			}
		}
		if err != nil {
			switch chat.ErrorCode(err) {
			case chat.CodeEmpty:
				tell(c.numeric(ErrNoTextToSend, "No text to send"))
			case chat.CodeNoSuchUser:
				tell(c.numeric(ErrNoSuchNick, t, "No such nick/channel"))
			case chat.CodeNotMember:
				tell(c.numeric(ErrCannotSendToChan, t, "Cannot send to channel"))
			default:
				if !isNotice {
					c.failSend(t, err)
				}
			}
			continue
		}
		if isNotice && c.has(capEchoMessage) {
			echo := &Message{Source: source(c.hub, s.Name()), Command: "NOTICE", Params: []string{t, chat.StripKeepFormatting(m.Params[1])}, Trailing: true}
			if c.has(capServerTime) {
				echo.Tags = []Tag{{"time", s.Hub().Now().UTC().Format(timeFormat)}}
			}
			c.out(echo)
		}
	}
}

// ctcp answers a CTCP request to users on their behalf (parley clients
// do not speak CTCP, and relaying it would let anyone probe IRC users'
// clients); CTCP to a channel is dropped.
func (c *Client) ctcp(s *chat.Session, targets []string, verb, arg string) {
	for _, t := range targets {
		if t == "" || isChannel(t) {
			continue
		}
		name, protocol := "", ""
		if target := s.Hub().Lookup(t); target != nil {
			name, protocol = target.Name(), target.Info().Protocol+" client"
		} else if remote, ok := s.Hub().RemoteUser(t); ok {
			name, protocol = remote, "on another node of this server"
		} else {
			c.out(c.numeric(ErrNoSuchNick, t, "No such nick/channel"))
			continue
		}
		var answer string
		switch verb {
		case "VERSION":
			answer = "VERSION " + s.Hub().Software() + " (" + protocol + ", answered by the server)"
		case "PING":
			answer = "PING " + cutUTF8(arg, maxEcho)
		case "TIME":
			answer = "TIME " + s.Hub().Now().Format(time.RFC1123Z)
		case "CLIENTINFO":
			answer = "CLIENTINFO ACTION CLIENTINFO PING TIME VERSION"
		default:
			answer = "ERRMSG " + verb + " :unsupported; parley answers CLIENTINFO, PING, TIME and VERSION"
		}
		c.out(&Message{Source: source(c.hub, name), Command: "NOTICE", Params: []string{s.Name(), "\x01" + answer + "\x01"}, Trailing: true})
	}
}

// tagmsg takes TAGMSG and relays nothing: client-only tags (typing
// notifications, reactions) are not carried yet.
func (c *Client) tagmsg(_ *chat.Session, _ *Message) {}

func (c *Client) topicCmd(s *chat.Session, m *Message) {
	ch := m.Params[0]
	room, err := roomOf(ch)
	if err != nil {
		c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
		return
	}
	if len(m.Params) < 2 {
		key, topic, by, at, err := s.Topic(room)
		if err != nil {
			c.fail(err)
			return
		}
		if !isIn(s, key) && !roomExists(s, key) && topic == "" {
			c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
			return
		}
		c.out(topicReply(c.server(), c.target(), key, topic, by, at)...)
		return
	}
	if !isIn(s, room) {
		if roomExists(s, room) {
			c.out(c.numeric(ErrNotOnChannel, ch, "You're not on that channel"))
		} else {
			c.out(c.numeric(ErrNoSuchChannel, ch, "No such channel"))
		}
		return
	}
	if err := s.SetTopic(room, m.Params[1]); err != nil {
		c.failIn(ch, err)
	}
}

func (c *Client) listCmd(s *chat.Session, m *Message) {
	var only map[string]bool
	if len(m.Params) > 0 && m.Params[0] != "" {
		only = map[string]bool{}
		for _, ch := range strings.Split(m.Params[0], ",") {
			if room, err := roomOf(ch); err == nil {
				only[room] = true
			}
		}
	}
	c.out(c.numeric(RplListStart, "Channel", "Users  Name"))
	cursor := ""
	for page := 0; page < 20; page++ {
		rooms, more, err := s.Rooms(cursor, 0)
		if err != nil {
			c.fail(err)
			break
		}
		for _, r := range rooms {
			if only != nil && !only[r.Name] {
				continue
			}
			if r.Members == 0 {
				continue // a stored topic of a room nobody is in
			}
			c.out(&Message{Source: c.server(), Command: RplList, Params: []string{c.target(), channel(r.Name), strconv.Itoa(r.Members), r.Topic}, Trailing: true})
		}
		if !more || len(rooms) == 0 {
			break
		}
		cursor = rooms[len(rooms)-1].Name
		c.env().AwaitRoom()
	}
	c.out(c.numeric(RplListEnd, "End of /LIST"))
}

// userFlags is a WHO reply's flags: here or gone (away).
func userFlags(u *chat.Session) string {
	if u.Away() != "" {
		return "G"
	}
	return "H"
}

func (c *Client) realnameOf(u *chat.Session) string {
	if rn := u.Info().RealName; rn != "" {
		return rn
	}
	return "parley " + u.Info().Protocol + " user"
}

func (c *Client) whoCmd(s *chat.Session, m *Message) {
	mask := m.Param(0)
	if mask == "" {
		mask = "*"
	}
	reply := func(ch string, u *chat.Session) {
		c.out(&Message{Source: c.server(), Command: RplWhoReply, Params: []string{c.target(), ch, userOf(u.Info()), hostOf(c.hub, u.Name()), c.server(), u.Name(), userFlags(u), "0 " + c.realnameOf(u)}, Trailing: true})
	}
	// A user on another node of a cluster: what this node knows of them.
	replyRemote := func(ch, name string) {
		c.out(&Message{Source: c.server(), Command: RplWhoReply, Params: []string{c.target(), ch, "u", hostOf(c.hub, name), c.server(), name, "H", "1 " + name}, Trailing: true})
	}
	switch {
	case isChannel(mask):
		if room, err := roomOf(mask); err == nil {
			_, names, _ := s.Who(room)
			for i, n := range names {
				if u := s.Hub().Lookup(n); u != nil {
					reply(channel(room), u)
				} else if name, ok := s.Hub().RemoteUser(n); ok {
					replyRemote(channel(room), name)
				}
				if i%100 == 99 {
					c.env().AwaitRoom()
				}
			}
		}
	case mask == "*" || mask == "0":
		for i, n := range s.Hub().Online(chat.MaxListEntries) {
			if u := s.Hub().Lookup(n); u != nil {
				reply("*", u)
			}
			if i%100 == 99 {
				c.env().AwaitRoom()
			}
		}
	case strings.ContainsAny(mask, "*?"):
		pattern := chat.NameKey(mask)
		for i, n := range s.Hub().Online(chat.MaxListEntries) {
			if !glob(pattern, chat.NameKey(n)) {
				continue
			}
			if u := s.Hub().Lookup(n); u != nil {
				reply("*", u)
			}
			if i%100 == 99 {
				c.env().AwaitRoom()
			}
		}
	default:
		if u := s.Hub().Lookup(mask); u != nil {
			reply("*", u)
		} else if name, ok := s.Hub().RemoteUser(mask); ok {
			replyRemote("*", name)
		}
	}
	c.out(c.numeric(RplEndOfWho, mask, "End of WHO list"))
}

func (c *Client) whoisCmd(s *chat.Session, m *Message) {
	nick := m.Params[len(m.Params)-1] // WHOIS [server] nick
	if i := strings.IndexByte(nick, ','); i >= 0 {
		nick = nick[:i]
	}
	u := s.Hub().Lookup(nick)
	if u == nil {
		if name, ok := s.Hub().RemoteUser(nick); ok {
			// On another node of the cluster: what this node knows.
			c.out(c.numeric(RplWhoisUser, name, "u", hostOf(c.hub, name), "*", name),
				c.numeric(RplWhoisServer, name, c.server(), "another node of this cluster"),
				c.numeric(RplEndOfWhois, name, "End of /WHOIS list"))
			return
		}
		c.out(c.numeric(ErrNoSuchNick, nick, "No such nick/channel"), c.numeric(RplEndOfWhois, nick, "End of /WHOIS list"))
		return
	}
	name := u.Name()
	out := []*Message{c.numeric(RplWhoisUser, name, userOf(u.Info()), hostOf(c.hub, name), "*", c.realnameOf(u))}
	// The channels, in as many lines as they need.
	line := ""
	for _, r := range u.Joined() {
		if line != "" && len(line)+1+len(channel(r)) > 300 {
			out = append(out, c.numeric(RplWhoisChannels, name, line))
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += channel(r)
	}
	if line != "" {
		out = append(out, c.numeric(RplWhoisChannels, name, line))
	}
	out = append(out, c.numeric(RplWhoisServer, name, c.server(), c.serverInfo()))
	if away := u.Away(); away != "" {
		out = append(out, c.numeric(RplAway, name, away))
	}
	if acct := u.Account(); acct != "" {
		out = append(out, c.numeric(RplWhoisAccount, name, acct, "is logged in as"))
	}
	if u.IsAdmin() {
		out = append(out, c.numeric(RplWhoisOperator, name, "is a server operator"))
	}
	out = append(out, c.numeric(RplWhoisIdle, name, strconv.FormatInt(int64(u.Idle()/time.Second), 10), strconv.FormatInt(u.Since().Unix(), 10), "seconds idle, signon time"))
	out = append(out, c.numeric(RplEndOfWhois, name, "End of /WHOIS list"))
	c.out(out...)
}

// serverInfo is the server's one-line description.
func (c *Client) serverInfo() string {
	if info := c.p.Description; info != "" {
		return info
	}
	return c.hub.Software() + " chat server"
}

func (c *Client) whowasCmd(s *chat.Session, m *Message) {
	nick := m.Params[0]
	limit := atoiOr(m.Param(1), 0)
	was := s.Hub().WhoWas(nick, limit)
	if len(was) == 0 {
		c.out(c.numeric(ErrWasNoSuchNick, nick, "There was no such nickname"))
	}
	for _, d := range was {
		realname := d.RealName
		if realname == "" {
			realname = "parley " + d.Protocol + " user"
		}
		c.out(c.numeric(RplWhoWasUser, d.Name, userOf(chat.ClientInfo{Protocol: d.Protocol, User: d.User}), host, "*", realname),
			c.numeric(RplWhoisServer, d.Name, c.server(), d.At.UTC().Format(time.RFC1123)))
	}
	c.out(c.numeric(RplEndOfWhoWas, nick, "End of WHOWAS"))
}

func (c *Client) awayCmd(s *chat.Session, m *Message) {
	text := strings.TrimSpace(m.Param(0))
	if err := s.SetAway(text); err != nil {
		c.fail(err)
		return
	}
	if s.Away() == "" {
		c.out(c.numeric(RplUnAway, "You are no longer marked as being away"))
	} else {
		c.out(c.numeric(RplNowAway, "You have been marked as being away"))
	}
}

func (c *Client) modeCmd(s *chat.Session, m *Message) {
	target := m.Params[0]
	if !isChannel(target) {
		if chat.NameKey(target) != chat.NameKey(s.Name()) {
			if s.Hub().Lookup(target) == nil {
				c.out(c.numeric(ErrNoSuchNick, target, "No such nick/channel"))
			} else {
				c.out(c.numeric(ErrUsersDontMatch, "Can't change mode for other users"))
			}
			return
		}
		if len(m.Params) < 2 {
			c.out(c.numeric(RplUModeIs, "+"+c.umodes.String()))
			return
		}
		c.setUserModes(s, m.Params[1])
		return
	}
	room, err := roomOf(target)
	if err != nil || (!isIn(s, room) && !roomExists(s, room)) {
		c.out(c.numeric(ErrNoSuchChannel, target, "No such channel"))
		return
	}
	c.channelMode(s, m, target, room)
}

// userModes is the set of user modes a client has set: i and w, shown by
// MODE, not enforced.
type userModes uint8

func umodeBit(r rune) userModes {
	if r == 'i' {
		return 1
	}
	return 2 // 'w'
}

// String lists the modes set, in the order IRC servers show them.
func (m userModes) String() string {
	return [4]string{"", "i", "w", "iw"}[m&3]
}

// setUserModes takes +i and +w (kept, shown by MODE) and refuses others.
func (c *Client) setUserModes(s *chat.Session, spec string) {
	add, unknown := true, false
	changed := ""
	for _, r := range spec {
		switch r {
		case '+':
			add = true
		case '-':
			add = false
		case 'i', 'w':
			bit := umodeBit(r)
			has := c.umodes&bit != 0
			if add && !has {
				c.umodes |= bit
				changed += "+" + string(r)
			} else if !add && has {
				c.umodes &^= bit
				changed += "-" + string(r)
			}
		default:
			unknown = true
		}
	}
	if changed != "" {
		c.out(&Message{Source: source(c.hub, s.Name()), Command: "MODE", Params: []string{s.Name(), changed}, Trailing: true})
	}
	if unknown {
		c.out(c.numeric(ErrUModeUnknownFlag, "Unknown MODE flag"))
	}
}

func (c *Client) isonCmd(s *chat.Session, m *Message) {
	var on []string
	for _, p := range m.Params {
		for _, n := range strings.Fields(p) {
			if u := s.Hub().Lookup(n); u != nil {
				on = append(on, u.Name())
			} else if name, ok := s.Hub().RemoteUser(n); ok { // on another node of the cluster
				on = append(on, name)
			}
		}
	}
	c.out(&Message{Source: c.server(), Command: RplIsOn, Params: []string{c.target(), strings.Join(on, " ")}, Trailing: true})
}

func (c *Client) userhostCmd(s *chat.Session, m *Message) {
	var out []string
	for i, n := range m.Params {
		if i == 5 {
			break
		}
		u := s.Hub().Lookup(n)
		if u == nil {
			if name, ok := s.Hub().RemoteUser(n); ok { // on another node of the cluster
				out = append(out, name+"=+u@"+hostOf(c.hub, name))
			}
			continue
		}
		flag := "+"
		if u.Away() != "" {
			flag = "-"
		}
		out = append(out, u.Name()+"="+flag+userOf(u.Info())+"@"+hostOf(c.hub, u.Name()))
	}
	c.out(&Message{Source: c.server(), Command: RplUserHost, Params: []string{c.target(), strings.Join(out, " ")}, Trailing: true})
}

// version is the server software as one token.
func (c *Client) version() string { return strings.ReplaceAll(c.hub.Software(), " ", "-") }

func (c *Client) versionCmd(_ *chat.Session, _ *Message) {
	c.out(c.numeric(RplVersion, c.version(), c.server(), "parley chat server: IRC, web, terminal, nc and the socket tutorials' clients in one room"))
	c.out(c.isupport()...)
}

func (c *Client) timeCmd(s *chat.Session, _ *Message) {
	c.out(c.numeric(RplTime, c.server(), s.Hub().Now().Format(time.RFC1123)))
}

func (c *Client) infoCmd(_ *chat.Session, _ *Message) {
	for _, l := range []string{
		c.hub.Software() + ": one chat for IRC clients, browsers, the terminal client, nc and the socket tutorials' programs.",
		"Rooms are channels; every message is stored and has an id (the msgid tag).",
		"See docs/irc.md for what is supported.",
	} {
		c.out(c.numeric(RplInfo, l))
	}
	c.out(c.numeric(RplEndOfInfo, "End of INFO list"))
}

func (c *Client) adminCmd(_ *chat.Session, _ *Message) {
	c.out(c.numeric(RplAdminMe, c.server(), "Administrative info"),
		c.numeric(RplAdminLoc1, c.serverInfo()),
		c.numeric(RplAdminLoc2, "run with parley serve"),
		c.numeric(RplAdminEmail, "nobody@"+c.server()))
}

func (c *Client) motdCmd(_ *chat.Session, _ *Message) { c.out(c.motd()...) }

func (c *Client) lusersCmd(_ *chat.Session, _ *Message) { c.out(c.lusers()...) }

func (c *Client) quitCmd(s *chat.Session, m *Message) {
	_ = s.Do(chat.Request{Command: "quit", Reason: m.Param(0)})
}

func (c *Client) helpCmd(_ *chat.Session, m *Message) {
	subject := strings.ToUpper(m.Param(0))
	if subject == "" {
		subject = "*"
	} else if _, ok := handlers[subject]; !ok {
		c.out(c.numeric("524", subject, "No help available on this topic"))
		return
	} else {
		c.out(c.numeric("704", subject, subject+": see docs/irc.md for what parley does with it"), c.numeric("706", subject, "End of /HELP"))
		return
	}
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	slices.Sort(names)
	c.out(c.numeric("704", subject, "parley speaks these IRC commands:"))
	for i := 0; i < len(names); i += 8 {
		end := min(i+8, len(names))
		c.out(c.numeric("705", subject, strings.Join(names[i:end], " ")))
	}
	c.out(c.numeric("706", subject, "See docs/irc.md"))
}
