// Package framed serves the framed port (1234): 10-byte-header frames,
// where the first frame decides the dialect: a JSON hello (a payload
// starting with '{') selects the native protocol, anything else is a
// tutorial client's username.
package framed

import (
	"errors"
	"io"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
	"github.com/parleychat/parley/server"
	"github.com/parleychat/parley/wire/frame"
	"github.com/parleychat/parley/wire/native"
	"github.com/parleychat/parley/wire/tutorial"
)

// Framing splits a stream into frame payloads, for a server listener.
func Framing(r *server.Reader, o *server.Options) server.MessageReader {
	return &reader{fr: frame.NewReader(r, o.MaxFrameBytes)}
}

// reader turns frame codec errors into the engine's: a bad header is a
// fatal BadInput (the stream cannot be followed after it); a connection
// closed mid-frame is an end of input.
type reader struct{ fr *frame.Reader }

func (r *reader) ReadMessage() ([]byte, error) {
	b, err := r.fr.ReadFrame()
	if err == nil {
		return b, nil
	}
	var he *frame.HeaderError
	switch {
	case errors.As(err, &he):
		code := chat.CodeProtocol
		if he.TooBig {
			code = chat.CodeTooLong
		}
		return nil, &engine.BadInput{Err: chat.Errorf(code, "%s; closing the connection", he.Error()), Fatal: true}
	case errors.Is(err, frame.ErrShortFrame):
		return nil, io.EOF
	}
	return nil, err
}

// Protocol is the framed port: tutorial and native clients.
type Protocol struct {
	Tutorial *tutorial.Protocol
	Native   *native.Protocol
}

// New returns the framed port's protocol; tutorialHistory replays history
// to tutorial clients too (see tutorial.Protocol).
func New(tutorialHistory bool) *Protocol {
	return &Protocol{Tutorial: &tutorial.Protocol{History: tutorialHistory}, Native: native.NewProtocol(frame.AppendFrame)}
}

var _ engine.Protocol = (*Protocol)(nil)

// Name returns "framed".
func (p *Protocol) Name() string { return "framed" }

// NewClient starts one connection, in no dialect until its first frame.
func (p *Protocol) NewClient(env engine.Env) engine.Client { return &client{p: p, env: env} }

// client becomes the tutorial or the native client on the first frame.
type client struct {
	engine.Client // nil until the first frame
	p             *Protocol
	env           engine.Env
}

func (c *client) Greeting() []byte { return nil }

func (c *client) Handshake(msg []byte) (*engine.Login, error) {
	if c.Client == nil {
		if len(msg) > 0 && msg[0] == '{' {
			c.Client = c.p.Native.NewClient(c.env)
		} else {
			c.Client = c.p.Tutorial.NewClient(c.env)
		}
	}
	return c.Client.Handshake(msg)
}

// HandshakeError before any frame (a timeout, a bad first header) is told
// the tutorial way: a native client would have sent its hello at once.
func (c *client) HandshakeError(err error, final bool) []byte {
	if c.Client == nil {
		c.Client = c.p.Tutorial.NewClient(c.env)
	}
	return c.Client.HandshakeError(err, final)
}
