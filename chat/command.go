package chat

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request is one thing a client asks for, in protocol-neutral form. Every
// front-end turns what it reads into Requests, a typed JSON request and a
// typed-in "/command" alike, and runs them with Session.Do, so the reply
// events are the same whichever way a request came.
type Request struct {
	Command string // the command's name or alias: "say", "join", "msg", ...
	Ref     string // client's correlation token, echoed on replies and errors

	Room    string // the room ("" for the current one)
	To      string // recipient of a direct message
	Name    string // the new name of a nick request
	Text    string // message text, action, or the new topic
	HasText bool   // Text was given (a topic request without it asks for the topic)
	Reason  string // why, for part and quit
	Cursor  string // rooms, who: list the names after this one (the last of the page before)
	After   uint64 // join: resume after this id; history: only ids > After
	Before  uint64 // history: only ids < Before
	Limit   int    // join: messages to replay; history: page size

	Password    string        // register, login, passwd (the old one), unregister
	NewPassword string        // passwd
	Duration    time.Duration // ban, mute: how long (0: until lifted); slow: the interval
	Mode        string        // mode: the change ("+m", "-t"); "" asks for the modes
	Server      bool          // ban, unban, bans: server-wide (admins)
}

// Command is one entry of the command table shared by every front-end.
type Command struct {
	Name    string   // without the slash
	Aliases []string // other names that run it
	Args    string   // argument synopsis, e.g. "NAME TEXT"
	Help    string   // one line
	MinArgs int      // words the typed form needs
	Hidden  bool     // a protocol request (say, ping, history...): neither typed as a /command nor listed by /help

	// parse turns the typed form's arguments into a request: args are the
	// words after the command, rest the whole text after it.
	parse func(args []string, rest string) Request
	run   func(s *Session, r Request) error
}

// Commands is the command table, in the order /help lists it.
var Commands []*Command

func init() { Commands = commandTable() }

func roomArg(a []string, _ string) Request {
	if len(a) == 0 {
		return Request{}
	}
	return Request{Room: a[0]}
}

func textArg(_ []string, rest string) Request { return Request{Text: rest, HasText: true} }

// modArgs reads "[#ROOM] NAME [DURATION] [REASON]".
func modArgs(a []string, _ string) Request {
	r := Request{}
	if len(a) > 1 && strings.HasPrefix(a[0], "#") {
		r.Room, a = a[0], a[1:]
	}
	r.Name, a = a[0], a[1:]
	if len(a) > 0 {
		if d, ok := ParseDuration(a[0]); ok {
			r.Duration, a = d, a[1:]
		}
	}
	r.Reason = strings.Join(a, " ")
	return r
}

func commandTable() []*Command {
	return []*Command{
		{Name: "nick", Args: "NAME", Help: "change your name", MinArgs: 1,
			parse: func(a []string, _ string) Request { return Request{Name: a[0]} },
			run:   func(s *Session, r Request) error { return s.Nick(r.Name) }},
		{Name: "join", Aliases: []string{"j"}, Args: "ROOM", Help: "join a room (created if new) and make it current", MinArgs: 1,
			parse: roomArg,
			run: func(s *Session, r Request) error {
				return s.Join(r.Room, JoinOptions{After: r.After, History: r.Limit})
			}},
		{Name: "part", Aliases: []string{"leave"}, Args: "[ROOM] [REASON]", Help: "leave a room (default: the current one)",
			parse: func(a []string, rest string) Request {
				if len(a) == 0 {
					return Request{}
				}
				return Request{Room: a[0], Reason: strings.TrimSpace(strings.TrimPrefix(rest, a[0]))}
			},
			run: func(s *Session, r Request) error { return s.Part(r.Room, r.Reason) }},
		{Name: "rooms", Aliases: []string{"list"}, Args: "[AFTER]", Help: "list the rooms (a long list: the rooms after AFTER)",
			parse: func(a []string, _ string) Request {
				if len(a) == 0 {
					return Request{}
				}
				return Request{Cursor: strings.TrimPrefix(a[0], "#")}
			},
			run: func(s *Session, r Request) error {
				rooms, more, err := s.Rooms(r.Cursor, r.Limit)
				if err != nil {
					return err
				}
				ev := &Event{Message: Message{Kind: KindRooms, Time: s.hub.now()}, Rooms: rooms, Ref: r.Ref}
				if more {
					ev.Text = HistoryMore
				}
				s.Send(ev)
				return nil
			}},
		{Name: "who", Aliases: []string{"names"}, Args: "[ROOM] [AFTER]", Help: "list the members of a room (default: the current one; a long list: those after AFTER)",
			parse: func(a []string, _ string) Request {
				r := Request{}
				if len(a) > 0 {
					r.Room = a[0]
				}
				if len(a) > 1 {
					r.Cursor = a[1]
				}
				return r
			},
			run: func(s *Session, r Request) error {
				key, names, err := s.Who(r.Room)
				if err != nil {
					return err
				}
				page, more := pageNames(names, r.Cursor, r.Limit)
				ev := &Event{Message: Message{Kind: KindMembers, Room: key, Time: s.hub.now()}, Members: page, Ref: r.Ref}
				if more {
					ev.Text = HistoryMore
				}
				s.Send(ev)
				return nil
			}},
		{Name: "say", Args: "TEXT", Help: "send a message to the current room (what a line without a command does)", MinArgs: 1, Hidden: true,
			parse: textArg,
			run:   func(s *Session, r Request) error { return s.Say(r.Room, r.Text, r.Ref) }},
		{Name: "me", Args: "ACTION", Help: "describe an action: /me waves", MinArgs: 1,
			parse: textArg,
			run:   func(s *Session, r Request) error { return s.Me(r.Room, r.Text, r.Ref) }},
		{Name: "msg", Aliases: []string{"dm", "tell", "query"}, Args: "NAME TEXT", Help: "send a direct message to one user", MinArgs: 2,
			parse: func(a []string, rest string) Request {
				return Request{To: a[0], Text: strings.TrimLeft(strings.TrimPrefix(rest, a[0]), " \t"), HasText: true}
			},
			run: func(s *Session, r Request) error { return s.DM(r.To, r.Text, r.Ref) }},
		{Name: "topic", Args: "[TEXT]", Help: "show or set the current room's topic",
			parse: func(a []string, rest string) Request {
				if len(a) == 0 {
					return Request{}
				}
				return Request{Text: rest, HasText: true}
			},
			run: func(s *Session, r Request) error {
				if r.HasText {
					return s.SetTopic(r.Room, r.Text)
				}
				key, topic, by, at, err := s.Topic(r.Room)
				if err != nil {
					return err
				}
				if at.IsZero() {
					at = s.hub.now()
				}
				// Session 0: the room's state (stamped when it was set), not a
				// change someone made.
				s.Send(&Event{Message: Message{Kind: KindTopic, Room: key, From: by, Text: topic, Time: at}, Ref: r.Ref})
				return nil
			}},
		{Name: "register", Args: "PASSWORD", Help: "make your name an account: nobody else can use it, and direct messages wait for you", MinArgs: 1,
			parse: func(a []string, _ string) Request {
				if len(a) > 1 { // an admin registering another name
					return Request{Name: a[0], Password: a[1]}
				}
				return Request{Password: a[0]}
			},
			run: func(s *Session, r Request) error {
				if r.Name != "" {
					return s.RegisterName(r.Name, r.Password)
				}
				return s.Register(r.Password)
			}},
		{Name: "login", Aliases: []string{"identify"}, Args: "NAME PASSWORD", Help: "log in to your account (/identify PASSWORD for the name you have)", MinArgs: 1,
			parse: func(a []string, _ string) Request {
				if len(a) == 1 {
					return Request{Password: a[0]}
				}
				return Request{Name: a[0], Password: a[1]}
			},
			run: func(s *Session, r Request) error {
				name := r.Name
				if name == "" {
					name = s.Name()
				}
				return s.Login(name, r.Password)
			}},
		{Name: "passwd", Args: "OLD NEW", Help: "change your account's password", MinArgs: 2,
			parse: func(a []string, _ string) Request { return Request{Password: a[0], NewPassword: a[1]} },
			run:   func(s *Session, r Request) error { return s.Passwd(r.Password, r.NewPassword) }},
		{Name: "unregister", Args: "PASSWORD", Help: "delete your account (you stay on as a guest)", MinArgs: 1,
			parse: func(a []string, _ string) Request { return Request{Password: a[0]} },
			run:   func(s *Session, r Request) error { return s.Unregister(r.Password) }},
		{Name: "claim", Args: "[#ROOM]", Help: "become the owner of a room that has none",
			parse: roomArg,
			run:   func(s *Session, r Request) error { return s.Claim(r.Room) }},
		{Name: "op", Args: "[#ROOM] NAME", Help: "owners: make an account an op of the room", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.SetRole(r.Room, r.Name, RoleOp, true) }},
		{Name: "deop", Args: "[#ROOM] NAME", Help: "owners: take an op's role away", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.SetRole(r.Room, r.Name, RoleOp, false) }},
		{Name: "voice", Args: "[#ROOM] NAME", Help: "ops: let a member speak in a moderated (+m) room", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.SetRole(r.Room, r.Name, RoleVoice, true) }},
		{Name: "devoice", Args: "[#ROOM] NAME", Help: "ops: take a member's voice away", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.SetRole(r.Room, r.Name, RoleVoice, false) }},
		{Name: "kick", Args: "[#ROOM] NAME [REASON]", Help: "ops: remove someone from the room", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.Kick(r.Room, r.Name, r.Reason) }},
		{Name: "ban", Args: "[#ROOM] NAME|ACCOUNT|IP [DURATION] [REASON]", Help: "ops: keep someone out of the room (accounts by account, guests by address; 10m, 2h, 7d or until /unban)", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error {
				return s.Sanction(SanctionBan, r.Room, r.Name, r.Duration, r.Reason, r.Server)
			}},
		{Name: "unban", Args: "[#ROOM] NAME|ACCOUNT|IP", Help: "ops: lift a ban", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.Lift(SanctionBan, r.Room, r.Name, r.Server) }},
		{Name: "bans", Args: "[#ROOM]", Help: "ops: list the bans and mutes in force", parse: roomArg,
			run: func(s *Session, r Request) error { return s.ListSanctions(r.Room, r.Server) }},
		{Name: "mute", Args: "[#ROOM] NAME [DURATION] [REASON]", Help: "ops: refuse someone's messages in the room", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error {
				return s.Sanction(SanctionMute, r.Room, r.Name, r.Duration, r.Reason, false)
			}},
		{Name: "unmute", Args: "[#ROOM] NAME", Help: "ops: lift a mute", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.Lift(SanctionMute, r.Room, r.Name, false) }},
		{Name: "mode", Args: "[#ROOM] [+t|+m|+i|+r|-...]", Help: "show the room's modes, or (ops) set them: t topic lock, m moderated, i invite-only, r accounts only",
			parse: func(a []string, _ string) Request {
				r := Request{}
				if len(a) > 0 && strings.HasPrefix(a[0], "#") {
					r.Room, a = a[0], a[1:]
				}
				r.Mode = strings.Join(a, "")
				return r
			},
			run: func(s *Session, r Request) error { return s.SetModes(r.Room, r.Mode) }},
		{Name: "invite", Args: "NAME [#ROOM]", Help: "invite someone to the room (ops, in an invite-only room)", MinArgs: 1,
			parse: func(a []string, _ string) Request {
				r := Request{Name: a[0]}
				if len(a) > 1 {
					r.Room = a[1]
				}
				return r
			},
			run: func(s *Session, r Request) error {
				if err := s.Invite(r.Room, r.Name); err != nil {
					return err
				}
				room := r.Room
				if room == "" {
					room = s.Current()
				}
				room, _ = ValidateRoom(room) // Invite accepted it
				// In a +i room the room was told, the inviter with it.
				if modes, _ := s.hub.RoomModes(room); !strings.Contains(modes, "i") {
					s.Send(&Event{Message: Message{Kind: KindNotice, Time: s.hub.now(), Text: "invited " + r.Name + " to #" + room}, Ref: r.Ref})
				}
				return nil
			}},
		{Name: "slow", Args: "[#ROOM] SECONDS", Help: "ops: slow mode, one message per member every SECONDS (0 turns it off)", MinArgs: 1,
			parse: func(a []string, _ string) Request {
				r := Request{}
				if len(a) > 1 && strings.HasPrefix(a[0], "#") {
					r.Room, a = a[0], a[1:]
				}
				if n, err := strconv.Atoi(a[0]); err == nil && n >= 0 {
					r.Duration, r.HasText = time.Duration(n)*time.Second, true
				} else if d, ok := ParseDuration(a[0]); ok {
					r.Duration, r.HasText = d, true
				}
				return r
			},
			run: func(s *Session, r Request) error {
				if !r.HasText && r.Duration == 0 {
					return Errorf(CodeInvalid, "usage: /slow SECONDS (0 turns it off)")
				}
				return s.SetSlow(r.Room, r.Duration)
			}},
		{Name: "modlog", Args: "[#ROOM|*] [N]", Help: "ops: the room's moderation log (admins: * for everything)",
			parse: func(a []string, _ string) Request {
				r := Request{}
				for _, w := range a {
					if n, err := strconv.Atoi(w); err == nil {
						r.Limit = n
					} else {
						r.Room = w
					}
				}
				return r
			},
			run: func(s *Session, r Request) error { return s.Modlog(r.Room, r.Limit) }},
		{Name: "kill", Args: "NAME [REASON]", Help: "server operators: disconnect someone", MinArgs: 1,
			parse: func(a []string, rest string) Request {
				return Request{Name: a[0], Reason: strings.TrimSpace(strings.TrimPrefix(rest, a[0]))}
			},
			run: func(s *Session, r Request) error { return s.KillUser(r.Name, r.Reason) }},
		{Name: "gban", Args: "NAME|ACCOUNT|IP [DURATION] [REASON]", Help: "server operators: ban from the whole server", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error {
				return s.Sanction(SanctionBan, "", r.Name, r.Duration, r.Reason, true)
			}},
		{Name: "ungban", Args: "NAME|ACCOUNT|IP", Help: "server operators: lift a server-wide ban", MinArgs: 1, parse: modArgs,
			run: func(s *Session, r Request) error { return s.Lift(SanctionBan, "", r.Name, true) }},
		{Name: "gbans", Help: "server operators: list the server-wide bans",
			run: func(s *Session, r Request) error { return s.ListSanctions("", true) }},
		{Name: "history", Help: "a page of stored messages of a room, or of your direct messages", Hidden: true,
			run: func(s *Session, r Request) error { return s.sendHistory(r) }},
		{Name: "help", Aliases: []string{"?"}, Args: "[COMMAND]", Help: "list the commands, or explain one",
			parse: func(a []string, _ string) Request {
				if len(a) == 0 {
					return Request{}
				}
				return Request{Text: a[0], HasText: true}
			},
			run: func(s *Session, r Request) error {
				var args []string
				if r.Text != "" {
					args = []string{r.Text}
				}
				text, err := HelpText(args)
				if err != nil {
					return err
				}
				s.Send(&Event{Message: Message{Kind: KindNotice, Time: s.hub.now(), Text: text}, Ref: r.Ref})
				return nil
			}},
		{Name: "ping", Help: "ask for a pong", Hidden: true,
			run: func(s *Session, r Request) error {
				s.Send(&Event{Message: Message{Kind: KindPong, Time: s.hub.now()}, Ref: r.Ref})
				return nil
			}},
		{Name: "pong", Help: "answer a ping", Hidden: true,
			run: func(*Session, Request) error { return nil }}, // reading it was the point
		{Name: "quit", Aliases: []string{"exit", "bye"}, Args: "[REASON]", Help: "leave the chat",
			parse: func(_ []string, rest string) Request { return Request{Reason: rest} },
			run: func(s *Session, r Request) error {
				reason := "quit"
				if c, err := CleanLine(r.Reason, MaxReasonBytes); err == nil {
					reason = "quit: " + c
				}
				s.Leave(reason)
				s.Send(&Event{Message: Message{Kind: KindBye, Time: s.hub.now()}, Reason: ByeGoodbye, Ref: r.Ref})
				return nil
			}},
	}
}

// sendHistory answers a history request: a page of stored messages of the
// room r.Room, or of the session's direct messages when r.Room is empty,
// then a history_end that says "more" when the page is full.
func (s *Session) sendHistory(r Request) error {
	q := HistoryQuery{Room: r.Room, After: r.After, Before: r.Before, Limit: r.Limit, FromOldest: r.After > 0 && r.Before == 0}
	msgs, limit, err := s.history(q)
	if err != nil {
		return err
	}
	if s.held.on.Load() {
		for i := range msgs {
			s.Send(&Event{Message: msgs[i], History: true, Ref: r.Ref})
		}
	} else {
		deliverPaced(s.sink, func(yield func(*Event) bool) {
			for i := range msgs {
				if !yield(&Event{Message: msgs[i], History: true, Ref: r.Ref}) {
					return
				}
			}
		})
	}
	s.charge(len(msgs) / ReplayCost)
	end := &Event{Message: Message{Kind: KindHistoryEnd, Room: q.Room, Time: s.hub.now()}, History: true, Ref: r.Ref}
	if len(msgs) == limit {
		end.Text = HistoryMore
	}
	s.Send(end)
	return nil
}

// HistoryMore is the Text of a history_end that ends a replay or page cut
// short at its limit (more is stored, and a history request pages on), and
// of a rooms or members reply cut short (ask again with the last name as
// the cursor).
const HistoryMore = "more"

// pageNames returns the sorted names after cursor, at most limit of them
// (MaxListEntries if 0 or more) and about MaxListBytes, and whether more
// follow.
func pageNames(names []string, cursor string, limit int) ([]string, bool) {
	if cursor != "" {
		i := sort.SearchStrings(names, cursor)
		if i < len(names) && names[i] == cursor {
			i++
		}
		names = names[i:]
	}
	if limit <= 0 || limit > MaxListEntries {
		limit = MaxListEntries
	}
	size := 0
	for i, n := range names {
		size += len(n) + 4
		if i == limit || size > MaxListBytes {
			return names[:i], true
		}
	}
	return names, false
}

// LookupCommand finds a command by name or alias, without the slash.
func LookupCommand(name string) *Command {
	name = strings.ToLower(name)
	for _, c := range Commands {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// Usage returns "/name ARGS".
func (c *Command) Usage() string {
	if c.Args == "" {
		return "/" + c.Name
	}
	return "/" + c.Name + " " + c.Args
}

// HelpText returns the help listing, or the help of the named command.
func HelpText(args []string) (string, error) {
	if len(args) > 0 {
		name := strings.TrimPrefix(args[0], "/")
		c := LookupCommand(name)
		if c == nil || c.Hidden {
			return "", Errorf(CodeUnknownCommand, "no command /%s; /help lists them", name)
		}
		text := c.Usage() + " - " + c.Help
		if len(c.Aliases) > 0 {
			text += " (also /" + strings.Join(c.Aliases, ", /") + ")"
		}
		return text, nil
	}
	var b strings.Builder
	b.WriteString("commands (anything else you type is a message; start it with // to send a leading /):")
	for _, c := range Commands {
		if !c.Hidden {
			fmt.Fprintf(&b, "\n  %-22s %s", c.Usage(), c.Help)
		}
	}
	return b.String(), nil
}

// ParseCommand splits a line of user input. A line starting with one slash
// is a command: name is its lower-cased name and rest everything after it.
// Anything else is a message, returned in rest with isCommand false; a
// leading "//" is unescaped to "/".
func ParseCommand(line string) (name, rest string, isCommand bool) {
	if !strings.HasPrefix(line, "/") {
		return "", line, false
	}
	if strings.HasPrefix(line, "//") {
		return "", line[1:], false
	}
	line = line[1:]
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return strings.ToLower(line), "", true
	}
	return strings.ToLower(line[:i]), strings.TrimLeft(line[i+1:], " \t"), true
}

// ParseLine turns one line of user input into a request: a /command, or a
// message to the current room. ref is the client's correlation token.
func ParseLine(line, ref string) (Request, error) {
	name, rest, isCommand := ParseCommand(line)
	if !isCommand {
		return Request{Command: "say", Text: rest, HasText: true, Ref: ref}, nil
	}
	c := LookupCommand(name)
	if c == nil || c.Hidden {
		return Request{Ref: ref}, Errorf(CodeUnknownCommand, "unknown command /%s; /help lists the commands", name)
	}
	rest = strings.TrimRight(rest, " \t\r\n")
	args := strings.Fields(rest)
	if len(args) < c.MinArgs {
		return Request{Ref: ref}, Errorf(CodeInvalid, "usage: %s", c.Usage())
	}
	var r Request
	if c.parse != nil {
		r = c.parse(args, rest)
	}
	r.Command, r.Ref = c.Name, ref
	return r, nil
}

// Do runs one request for the session through the command table. Replies
// (member lists, help, notices) are delivered to the session's sink; errors
// are returned for the front-end to render. After a quit, s.Closed() is
// true and a bye event has been sent.
func (s *Session) Do(r Request) error {
	c := LookupCommand(r.Command)
	if c == nil {
		return Errorf(CodeUnknownCommand, "unknown command %q", r.Command)
	}
	return c.run(s, r)
}

// Exec runs one line of user input for the session: a /command, or a
// message to the current room (ParseLine, then Do).
func (s *Session) Exec(line, ref string) error {
	r, err := ParseLine(line, ref)
	if err != nil {
		return err
	}
	return s.Do(r)
}
