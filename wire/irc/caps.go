package irc

import (
	"math"
	"strconv"
	"strings"
)

// capSet bits: the IRCv3 capabilities parley offers.
const (
	capCapNotify uint32 = 1 << iota
	capMessageTags
	capServerTime
	capEchoMessage
	capBatch
	capLabeledResponse
	capAwayNotify
	capChatHistory
	capMultiPrefix
	capUserhostInNames
	capUTF8Only
	capSASL
)

// capability is one offered capability: its name and, for CAP LS 302, its
// value.
type capability struct {
	name  string
	bit   uint32
	value string
}

// capabilities lists what CAP LS offers, in that order.
var capabilities = []capability{
	{"away-notify", capAwayNotify, ""},
	{"batch", capBatch, ""},
	{"cap-notify", capCapNotify, ""},
	{"draft/chathistory", capChatHistory, ""},
	{"echo-message", capEchoMessage, ""},
	{"labeled-response", capLabeledResponse, ""},
	{"message-tags", capMessageTags, ""},
	{"multi-prefix", capMultiPrefix, ""},
	{"sasl", capSASL, "PLAIN"},
	{"server-time", capServerTime, ""},
	{"userhost-in-names", capUserhostInNames, ""},
}

func lookupCap(name string) *capability {
	for i := range capabilities {
		if capabilities[i].name == name {
			return &capabilities[i]
		}
	}
	return nil
}

// has reports whether the client negotiated every capability in bits.
func (c *Client) has(bits uint32) bool { return c.caps.Load()&bits == bits }

// handleCap answers CAP LS, LIST, REQ and END.
func (c *Client) handleCap(m *Message) {
	sub := strings.ToUpper(m.Param(0))
	switch sub {
	case "LS":
		if !c.registered {
			c.capBusy = true
		}
		if v := m.Param(1); v != "" {
			if n := min(atoiOr(v, 0), math.MaxInt16); n > int(c.capVersion) {
				c.capVersion = int16(n)
			}
		}
		if c.capVersion >= 302 {
			c.caps.Or(capCapNotify) // implied by CAP LS 302
		}
		var names []string
		for _, cp := range capabilities {
			n := cp.name
			if cp.value != "" && c.capVersion >= 302 {
				n += "=" + cp.value
			}
			names = append(names, n)
		}
		c.sendCapList("LS", names)
	case "LIST":
		var names []string
		for _, cp := range capabilities {
			if c.has(cp.bit) {
				names = append(names, cp.name)
			}
		}
		c.sendCapList("LIST", names)
	case "REQ":
		if !c.registered {
			c.capBusy = true
		}
		want := m.Param(1)
		add, remove := uint32(0), uint32(0)
		ok := strings.TrimSpace(want) != ""
		for _, n := range strings.Fields(want) {
			off := strings.HasPrefix(n, "-")
			cp := lookupCap(strings.TrimPrefix(n, "-"))
			if cp == nil {
				ok = false
				break
			}
			if off {
				remove |= cp.bit
			} else {
				add |= cp.bit
			}
		}
		verb := "NAK"
		var now uint32
		if ok {
			verb = "ACK"
			for {
				old := c.caps.Load()
				now = (old | add) &^ remove
				if c.caps.CompareAndSwap(old, now) {
					break
				}
			}
		}
		c.sendCap(c.reply("CAP", c.target(), verb, want))
		if ok && c.session != nil {
			// The encoder renders with the new set from the ACK on.
			c.local(localCaps, "", strconv.FormatUint(uint64(now), 10), "")
		}
	case "END":
		c.capBusy = false
	default:
		c.sendCap(c.numeric(ErrInvalidCapCmd, m.Param(0), "Invalid CAP command"))
	}
}

// sendCapList sends a CAP LS or LIST reply, split over several lines (with
// "*" before the last on each but the last) when it is long.
func (c *Client) sendCapList(verb string, names []string) {
	const budget = 400
	var lines []string
	cur := ""
	for _, n := range names {
		if cur != "" && len(cur)+1+len(n) > budget {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += n
	}
	lines = append(lines, cur)
	for i, l := range lines {
		params := []string{c.target(), verb}
		if i < len(lines)-1 && c.capVersion >= 302 {
			params = append(params, "*")
		}
		params = append(params, l)
		m := c.reply("CAP", params...)
		m.Trailing = true
		c.sendCap(m)
	}
}

// sendCap writes a CAP reply: straight away before registration, in order
// with the session's events after it.
func (c *Client) sendCap(m *Message) {
	if c.session == nil {
		c.sendNow(m)
		return
	}
	c.out(m)
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" || len(s) > 9 {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}
