package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
)

// client is one bench connection.
type client struct {
	idx  int
	name string
	conn net.Conn        // framed modes
	fr   *frameReader    // reads conn
	ws   *websocket.Conn // ModeWS
	wbuf []byte          // the last WebSocket message read
	tr   *tracker
	run  *runner

	ready    atomic.Bool // saw a readiness probe
	slow     bool        // stops reading once ready
	lag      bool        // reads at a fraction of the offered rate once traffic has begun
	lagEvery time.Duration
	lagDone  atomic.Int64 // run-epoch nanoseconds when it had every message; 0 before
	stopped  atomic.Bool  // its reader returned
	readErr  error
	lat      [latBatch]int64
	nlat     int
	notices  int
	sendBuf  []byte
	nativeTx bool
	irc      bool // ModeIRC: lines, not frames
	line     bool // ModeLine: lines, not frames

	room        string // the room it is in: "lobby", or idle mode's "idle-K"
	probeTag    []byte // with rooms: the room's name, which its readiness probes carry
	sayPrefix   []byte // ModeIRC: "PRIVMSG #room :"
	nc          *nats.Conn
	sub         *nats.Subscription
	natsSubject string
}

// handshake returns the first bytes a client sends. room is the room to
// join besides (or, for IRC on a server with --irc-no-lobby, instead of)
// the lobby; "" for none.
func handshake(mode, name, room string) []byte {
	if mode == ModeIRC {
		b := "NICK " + name + "\r\nUSER " + name + " 0 * :parley bench\r\n"
		if room != "" {
			b += "JOIN #" + room + "\r\n"
		}
		return []byte(b)
	}
	if mode == ModeLine {
		b := name + "\r\n"
		if room != "" {
			b += "/join #" + room + "\r\n"
		}
		return []byte(b)
	}
	if mode == ModeNative {
		hello, _ := json.Marshal(map[string]any{"type": "hello", "name": name, "version": 1, "client": "parley-bench"})
		return appendFrame(nil, hello)
	}
	return appendFrame(nil, []byte(name))
}

var (
	nativeSayPrefix = []byte(`{"type":"say","text":"`)
	nativeSaySuffix = []byte(`"}`)
)

// appendSend appends one outgoing chat frame carrying text (in ModeWS,
// one message's payload, with no header).
func (c *client) appendSend(dst, text []byte) []byte {
	if c.irc {
		dst = append(dst, c.sayPrefix...)
		dst = append(dst, text...)
		return append(dst, '\r', '\n')
	}
	if c.line {
		dst = append(dst, text...)
		return append(dst, '\r', '\n')
	}
	if c.nc != nil { // one message's payload, published as it is
		return append(dst, text...)
	}
	if !c.nativeTx {
		return appendFrame(dst, text)
	}
	if c.ws != nil {
		dst = append(dst, nativeSayPrefix...)
		dst = append(dst, text...)
		return append(dst, nativeSaySuffix...)
	}
	n := len(nativeSayPrefix) + len(text) + len(nativeSaySuffix)
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(n), 10)
	for len(dst)-start < headerLen {
		dst = append(dst, ' ')
	}
	dst = append(dst, nativeSayPrefix...)
	dst = append(dst, text...)
	return append(dst, nativeSaySuffix...)
}

// readLoop reads until the connection fails or, for a slow client, until it
// is ready. It does not allocate per frame.
func (c *client) readLoop() {
	defer c.stopped.Store(true)
	for {
		if c.slow && c.ready.Load() {
			return
		}
		if err := c.readOne(); err != nil {
			c.readErr = err
			c.flushLatencies()
			return
		}
		if c.lag {
			c.throttle()
		}
	}
}

// throttle holds a lagging reader to its share of the offered rate: after
// n deliveries since traffic began it reads on no sooner than n × lagEvery.
func (c *client) throttle() {
	start := c.run.started.Load()
	if start == 0 {
		return // readiness: read at full speed
	}
	n := c.tr.count.Load()
	if n >= c.tr.expected() && c.lagDone.Load() == 0 {
		c.lagDone.Store(c.run.now())
	}
	due := time.Duration(start) + time.Duration(n)*c.lagEvery
	if d := due - time.Duration(c.run.now()); d > time.Millisecond {
		time.Sleep(d)
	}
}

// readOne reads and accounts for one delivery (two frames in tutorial mode).
func (c *client) readOne() error {
	var text []byte
	if c.irc {
		line, err := c.fr.nextLine()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(line, ircPing) {
			pong := append([]byte("PONG"), line[len("PING"):]...)
			return c.write(append(pong, '\r', '\n'))
		}
		t, ok := ircText(line)
		if !ok {
			c.notices++
			return nil
		}
		c.handleText(t)
		return nil
	}
	if c.line {
		l, err := c.fr.nextLine()
		if err != nil {
			return err
		}
		t, ok := lineText(l)
		if !ok {
			c.notices++
			return nil
		}
		c.handleText(t)
		return nil
	}
	if c.nativeTx {
		p, err := c.next()
		if err != nil {
			return err
		}
		t, ok := nativeText(p)
		if !ok {
			c.notices++
			return nil
		}
		text = t
	} else {
		user, err := c.fr.next()
		if err != nil {
			return err
		}
		server := len(user) == 1 && user[0] == '*'
		if text, err = c.fr.next(); err != nil {
			return err
		}
		if server {
			c.notices++
			return nil
		}
	}
	c.handleText(text)
	return nil
}

var probePrefix = []byte("R")

// handleText accounts for one chat text.
func (c *client) handleText(text []byte) {
	if bytes.HasPrefix(text, probePrefix) {
		if c.probeTag != nil && !bytes.Contains(text, c.probeTag) {
			return // another room's probe (a line client's, sent before its /join took effect)
		}
		if !c.ready.Load() {
			c.ready.Store(true)
			c.run.readyCount.Add(1)
		}
		return
	}
	sender, seq, ts, ok := parseMessage(text)
	if !ok {
		c.notices++
		return
	}
	c.tr.add(sender, seq)
	if c.lag {
		return // a laggard's latency is its catch-up time, reported apart
	}
	now := c.run.now()
	c.lat[c.nlat] = (now - ts) / 1000
	c.nlat++
	if c.nlat == len(c.lat) {
		c.flushLatencies()
	}
}

func (c *client) flushLatencies() {
	if c.nlat > 0 {
		c.run.lat.record(c.idx, c.lat[:c.nlat])
		c.nlat = 0
	}
}

// sendLoop sends the client's M messages at the configured rate.
func (c *client) sendLoop(sender int, start time.Time) (sent int, err error) {
	cfg := &c.run.cfg
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
		// Spread the senders' phases over one interval.
		start = start.Add(interval * time.Duration(sender) / time.Duration(max(cfg.Senders, 1)))
	}
	batch := 1
	if cfg.Rate <= 0 && c.ws == nil && c.nc == nil { // a WebSocket message is one request; so is a NATS publish
		batch = 16
	}
	text := make([]byte, 0, cfg.Size+32)
	for seq := 0; seq < cfg.Messages; {
		if interval > 0 {
			if d := time.Until(start.Add(interval * time.Duration(seq))); d > 0 {
				time.Sleep(d)
			}
		}
		buf := c.sendBuf[:0]
		ts := c.run.now()
		for k := 0; k < batch && seq < cfg.Messages; k++ {
			text = appendMessage(text[:0], sender, seq, ts, cfg.Size)
			buf = c.appendSend(buf, text)
			seq++
		}
		c.sendBuf = buf
		if err := c.write(buf); err != nil {
			return sent, err
		}
		sent = seq
		if c.run.stopping.Load() {
			return sent, nil
		}
	}
	return sent, nil
}

// dialWS opens the WebSocket endpoint of the HTTP port addr and sends the
// hello.
func (c *client) dialWS(ctx context.Context, addr string) error {
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return err
	}
	ws.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "name": c.name, "version": 1, "client": "parley-bench"})
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		_ = ws.CloseNow()
		return err
	}
	c.ws = ws
	return nil
}

// next returns the next inbound message's payload, valid until the next
// call: a frame's, or a WebSocket message's.
func (c *client) next() ([]byte, error) {
	if c.ws == nil {
		return c.fr.next()
	}
	_, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	buf := c.wbuf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	c.wbuf = buf
	return buf, nil
}

// write sends b: framed bytes (any number of frames), or one WebSocket
// message.
func (c *client) write(b []byte) error {
	if c.nc != nil {
		return c.nc.Publish(c.natsSubject, b)
	}
	if c.ws != nil {
		return c.ws.Write(context.Background(), websocket.MessageText, b)
	}
	_, err := c.conn.Write(b)
	return err
}

// close closes the connection at once.
func (c *client) close() {
	switch {
	case c.nc != nil:
		c.nc.Close()
	case c.ws != nil:
		_ = c.ws.CloseNow()
	case c.conn != nil:
		c.conn.Close()
	}
}

// connected reports whether the client has a connection.
func (c *client) connected() bool { return c.ws != nil || c.conn != nil || c.nc != nil }
