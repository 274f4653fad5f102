package irc

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/parleychat/parley/chat"
)

// saslState is a SASL PLAIN exchange in progress (IRCv3 sasl-3.1).
type saslState struct {
	started bool   // AUTHENTICATE PLAIN was accepted: the next lines are the payload
	buf     []byte // base64 received so far
}

// SASL numerics.
const (
	RplLoggedIn     = "900"
	RplSASLSuccess  = "903"
	ErrSASLFail     = "904"
	ErrSASLTooLong  = "905"
	ErrSASLAborted  = "906"
	ErrSASLAlready  = "907"
	RplSASLMechs    = "908"
	saslChunk       = 400
	maxSASLBytes    = 1024 // base64 of authzid, authcid and password
	saslMechanisms  = "PLAIN"
	saslNotLoggedIn = "SASL authentication failed"
)

// authenticate runs one AUTHENTICATE line before registration: PLAIN is
// the only mechanism. The password is checked here, through the hub's
// brute-force guards, so that 903 or 904 comes before the client ends
// capability negotiation.
func (c *Client) authenticate(m *Message) {
	arg := m.Param(0)
	switch {
	case c.reg.cred != nil:
		c.sendNow(c.numeric(ErrSASLAlready, "You have already authenticated using SASL"))
		return
	case !c.has(capSASL):
		c.sendNow(c.numeric(ErrSASLFail, saslNotLoggedIn+": request the sasl capability first"))
		return
	case arg == "*":
		c.reg.sasl = saslState{}
		c.sendNow(c.numeric(ErrSASLAborted, "SASL authentication aborted"))
		return
	case !c.reg.sasl.started:
		if !strings.EqualFold(arg, saslMechanisms) {
			c.sendNow(c.numeric(RplSASLMechs, saslMechanisms, "are available SASL mechanisms"), c.numeric(ErrSASLFail, saslNotLoggedIn))
			return
		}
		c.reg.sasl.started = true
		c.sendNow(&Message{Command: "AUTHENTICATE", Params: []string{"+"}})
		return
	}
	if arg != "+" {
		c.reg.sasl.buf = append(c.reg.sasl.buf, arg...)
	}
	if len(c.reg.sasl.buf) > maxSASLBytes {
		c.reg.sasl = saslState{}
		c.sendNow(c.numeric(ErrSASLTooLong, "SASL message too long"))
		return
	}
	if len(arg) == saslChunk {
		return // more follows
	}
	payload, err := base64.StdEncoding.DecodeString(string(c.reg.sasl.buf))
	c.reg.sasl = saslState{}
	if err != nil {
		c.sendNow(c.numeric(ErrSASLFail, saslNotLoggedIn+": the payload is not base64"))
		return
	}
	parts := bytes.Split(payload, []byte{0})
	if len(parts) != 3 {
		c.sendNow(c.numeric(ErrSASLFail, saslNotLoggedIn+": PLAIN is authzid NUL authcid NUL password"))
		return
	}
	authz, authc, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && chat.NameKey(authz) != chat.NameKey(authc) {
		c.sendNow(c.numeric(ErrSASLFail, saslNotLoggedIn+": one may only log in as oneself"))
		return
	}
	cred, err := c.hub.Authenticate(authc, pw, c.reg.remote)
	if err != nil {
		msg := saslNotLoggedIn
		if chat.ErrorCode(err) == chat.CodeRateLimited {
			msg += ": " + chat.ErrorMessage(err)
		}
		c.sendNow(c.numeric(ErrSASLFail, msg))
		return
	}
	c.reg.cred = cred
	nick := c.reg.nick
	if nick == "" {
		nick = cred.Account()
	}
	in := c.reply(RplLoggedIn, nick, source(c.hub, nick), cred.Account(), "You are now logged in as "+cred.Account())
	in.Trailing = true
	ok := c.reply(RplSASLSuccess, nick, "SASL authentication successful")
	ok.Trailing = true
	c.sendNow(in, ok)
}
