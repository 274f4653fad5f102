package irc

import (
	"strconv"
	"strings"

	"github.com/parleychat/parley/chat"
)

// welcome is the registration burst: RPL_WELCOME to RPL_ISUPPORT, LUSERS
// and the MOTD.
func (c *Client) welcome(w *chat.Welcome) []*Message {
	nick := w.Name
	created := "at start-up"
	if !c.p.Created.IsZero() {
		created = c.p.Created.UTC().Format("Mon Jan 2 2006 at 15:04:05 UTC")
	}
	network := c.server()
	out := []*Message{
		c.reply(RplWelcome, nick, "Welcome to the "+network+" IRC network, "+nick),
		c.reply(RplYourHost, nick, "Your host is "+c.server()+", running version "+c.version()),
		c.reply(RplCreated, nick, "This server was created "+created),
		c.reply(RplMyInfo, nick, c.server(), c.version(), "iw", "bimnortv", "bov"),
	}
	out = append(out, c.isupportFor(nick)...)
	out = append(out, c.lusersFor(nick)...)
	return append(out, c.motdFor(nick, w.Motd)...)
}

// isupport is the RPL_ISUPPORT lines (for VERSION too).
func (c *Client) isupport() []*Message { return c.isupportFor(c.target()) }

func (c *Client) isupportFor(nick string) []*Message {
	cfg := c.hub.Config()
	maxHistory := cfg.MaxHistory
	if maxHistory <= 0 {
		maxHistory = 1000
	}
	rooms := cfg.MaxSessionRooms
	if rooms <= 0 {
		rooms = 100
	}
	tokens := []string{
		"AWAYLEN=" + strconv.Itoa(chat.MaxAwayBytes),
		"CASEMAPPING=rfc8265",
		"CHANLIMIT=#:" + strconv.Itoa(rooms),
		"CHANMODES=b,,,imnrt",
		"CHANNELLEN=" + strconv.Itoa(chat.MaxNameRunes+1),
		"CHANTYPES=#",
		"CHATHISTORY=" + strconv.Itoa(min(maxHistory, maxChatHistory)),
		"CLIENTTAGDENY=*", // client-only tags are not relayed (TAGMSG is accepted and dropped)
		"LINELEN=512",
		"MAXTARGETS=" + strconv.Itoa(maxTargets),
		"MODES=1",
		"MSGREFTYPES=msgid,timestamp",
		"NETWORK=" + c.server(),
		"NICKLEN=" + strconv.Itoa(chat.MaxNameRunes),
		"PREFIX=(ov)@+",
		"SAFELIST",
		"TARGMAX=PRIVMSG:" + strconv.Itoa(maxTargets) + ",NOTICE:" + strconv.Itoa(maxTargets) + ",JOIN:,PART:,NAMES:,LIST:,WHOIS:1,ISON:,USERHOST:5",
		"TOPICLEN=" + strconv.Itoa(topicLen),
		"UTF8ONLY",
	}
	var out []*Message
	for i := 0; i < len(tokens); i += 12 {
		end := min(i+12, len(tokens))
		params := append([]string{nick}, tokens[i:end]...)
		params = append(params, "are supported by this server")
		out = append(out, c.reply(RplISupport, params...))
	}
	return out
}

// topicLen is the TOPICLEN advertised: what fits in a TOPIC line, with
// room for the hostmask and channel. Longer topics (set from another
// front-end, up to chat.MaxTopicBytes) are cut when shown.
const topicLen = 390

func (c *Client) lusers() []*Message { return c.lusersFor(c.target()) }

func (c *Client) lusersFor(nick string) []*Message {
	users, rooms, peak := c.hub.Counts()
	n, most := strconv.Itoa(users), strconv.Itoa(peak)
	return []*Message{
		c.reply(RplLuserClient, nick, "There are "+n+" users and 0 invisible on 1 servers"),
		c.reply(RplLuserOp, nick, "0", "operator(s) online"),
		c.reply(RplLuserChannels, nick, strconv.Itoa(rooms), "channels formed"),
		c.reply(RplLuserMe, nick, "I have "+n+" clients and 0 servers"),
		c.reply(RplLocalUsers, nick, n, most, "Current local users "+n+", max "+most),
		c.reply(RplGlobalUsers, nick, n, most, "Current global users "+n+", max "+most),
	}
}

func (c *Client) motd() []*Message { return c.motdFor(c.target(), c.hub.Config().Motd) }

func (c *Client) motdFor(nick, motd string) []*Message {
	motd = strings.TrimSpace(motd)
	if motd == "" {
		return []*Message{c.reply(ErrNoMotd, nick, "MOTD File is missing")}
	}
	out := []*Message{c.reply(RplMotdStart, nick, "- "+c.server()+" Message of the day - ")}
	for _, l := range strings.Split(motd, "\n") {
		out = append(out, c.reply(RplMotd, nick, "- "+strings.TrimRight(l, "\r")))
	}
	return append(out, c.reply(RplEndOfMotd, nick, "End of /MOTD command."))
}
