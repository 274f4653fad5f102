package chat

import (
	"fmt"
	"strings"
)

// Command is one entry of the command table shared by every text front-end.
type Command struct {
	Name    string   // without the slash
	Aliases []string // other names that run it
	Args    string   // argument synopsis, e.g. "NAME TEXT"
	Help    string   // one line
	MinArgs int      // required leading words

	run func(s *Session, args []string, rest, ref string) error
}

// Commands is the command table, in the order /help lists it.
var Commands []*Command

func init() { Commands = commandTable() }

func commandTable() []*Command {
	return []*Command{
		{Name: "nick", Args: "NAME", Help: "change your name", MinArgs: 1,
			run: func(s *Session, a []string, _, _ string) error { return s.Nick(a[0]) }},
		{Name: "join", Aliases: []string{"j"}, Args: "ROOM", Help: "join a room (created if new) and make it current", MinArgs: 1,
			run: func(s *Session, a []string, _, _ string) error { return s.Join(a[0], JoinOptions{}) }},
		{Name: "part", Aliases: []string{"leave"}, Args: "[ROOM] [REASON]", Help: "leave a room (default: the current one)",
			run: func(s *Session, a []string, rest, _ string) error {
				if len(a) == 0 {
					return s.Part("", "")
				}
				return s.Part(a[0], strings.TrimSpace(strings.TrimPrefix(rest, a[0])))
			}},
		{Name: "rooms", Aliases: []string{"list"}, Help: "list the rooms",
			run: func(s *Session, _ []string, _, ref string) error {
				s.Send(&Event{Message: Message{Kind: KindRooms, Time: s.hub.now()}, Rooms: s.Rooms(), Ref: ref})
				return nil
			}},
		{Name: "who", Aliases: []string{"names"}, Args: "[ROOM]", Help: "list the members of a room (default: the current one)",
			run: func(s *Session, a []string, _, ref string) error {
				room := ""
				if len(a) > 0 {
					room = a[0]
				}
				key, names, err := s.Who(room)
				if err != nil {
					return err
				}
				s.Send(&Event{Message: Message{Kind: KindMembers, Room: key, Time: s.hub.now()}, Members: names, Ref: ref})
				return nil
			}},
		{Name: "me", Args: "ACTION", Help: "describe an action: /me waves", MinArgs: 1,
			run: func(s *Session, _ []string, rest, ref string) error { return s.Me("", rest, ref) }},
		{Name: "msg", Aliases: []string{"dm", "tell", "query"}, Args: "NAME TEXT", Help: "send a direct message to one user", MinArgs: 2,
			run: func(s *Session, a []string, rest, ref string) error {
				return s.DM(a[0], strings.TrimLeft(strings.TrimPrefix(rest, a[0]), " \t"), ref)
			}},
		{Name: "topic", Args: "[TEXT]", Help: "show or set the current room's topic",
			run: func(s *Session, a []string, rest, ref string) error {
				if len(a) > 0 {
					return s.SetTopic("", rest)
				}
				key, topic, by, err := s.Topic("")
				if err != nil {
					return err
				}
				text := "no topic is set in " + key
				if topic != "" {
					text = fmt.Sprintf("topic of %s: %s (set by %s)", key, topic, by)
				}
				s.Send(&Event{Message: Message{Kind: KindNotice, Room: key, Time: s.hub.now(), Text: text}, Ref: ref})
				return nil
			}},
		{Name: "help", Aliases: []string{"?"}, Args: "[COMMAND]", Help: "list the commands, or explain one",
			run: func(s *Session, a []string, _, ref string) error {
				text, err := HelpText(a)
				if err != nil {
					return err
				}
				s.Send(&Event{Message: Message{Kind: KindNotice, Time: s.hub.now(), Text: text}, Ref: ref})
				return nil
			}},
		{Name: "quit", Aliases: []string{"exit", "bye"}, Args: "[REASON]", Help: "leave the chat",
			run: func(s *Session, _ []string, rest, _ string) error {
				reason := "quit"
				if r, err := CleanText(rest, 200); err == nil {
					reason = "quit: " + r
				}
				s.Leave(reason)
				s.Send(&Event{Message: Message{Kind: KindBye, Time: s.hub.now()}, Reason: ByeGoodbye})
				return nil
			}},
	}
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
		if c == nil {
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
		fmt.Fprintf(&b, "\n  %-22s %s", c.Usage(), c.Help)
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

// Exec runs one line of user input for the session: a /command, or a
// message to the current room. Replies (member lists, help, notices) are
// delivered to the session's sink; errors are returned for the front-end to
// render. After /quit, s.Closed() is true and a bye event has been sent.
func (s *Session) Exec(line, ref string) error {
	name, rest, isCommand := ParseCommand(line)
	if !isCommand {
		return s.Say("", rest, ref)
	}
	c := LookupCommand(name)
	if c == nil {
		return Errorf(CodeUnknownCommand, "unknown command /%s; /help lists the commands", name)
	}
	rest = strings.TrimRight(rest, " \t\r\n")
	args := strings.Fields(rest)
	if len(args) < c.MinArgs {
		return Errorf(CodeInvalid, "usage: %s", c.Usage())
	}
	return c.run(s, args, rest, ref)
}
