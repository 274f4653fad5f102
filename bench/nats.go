package bench

import (
	"context"
	"net"
	"time"

	"github.com/nats-io/nats.go"
)

// NatsSubject is the subject every NATS-mode client subscribes to and
// every sender publishes to: the NATS counterpart of the lobby.
const NatsSubject = "parley.bench.lobby"

// natsDialer dials through the bench's own dial, which retries refused
// connections like the other modes do.
type natsDialer struct {
	ctx context.Context
	d   *net.Dialer
}

func (n natsDialer) Dial(_, addr string) (net.Conn, error) { return dial(n.ctx, n.d, addr) }

// dialNats opens one nats.go connection to addr and subscribes it to the
// client's subject. Echo is off, so that, as in tutorial and IRC mode, a
// sender does not receive its own messages. The subscription is
// asynchronous, with no pending limits: the library reads the socket as
// fast as the server writes, and the bench's handler runs on the
// subscription's own goroutine.
func (c *client) dialNats(ctx context.Context, d *net.Dialer, addr string) error {
	cfg := &c.run.cfg
	nc, err := nats.Connect("nats://"+addr,
		nats.Name(c.name),
		nats.NoEcho(),
		nats.NoReconnect(), // a dropped connection counts as dropped, as in the other modes
		nats.SetCustomDialer(natsDialer{ctx: ctx, d: d}),
		nats.Timeout(cfg.ConnectTimeout),
		nats.FlusherTimeout(cfg.ConnectTimeout+cfg.Timeout),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // counted by loss and disconnects, not logged
	)
	if err != nil {
		return err
	}
	subject := c.natsSubject
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { c.handleText(m.Data) })
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		nc.Close()
		return err
	}
	// Runs on the subscription's goroutine once its last handler call has
	// returned: the tracker may be read after it.
	sub.SetClosedHandler(func(string) {
		c.flushLatencies()
		c.readErr = nc.LastError()
		c.stopped.Store(true)
	})
	// The server has the subscription once it answers a PING sent after it.
	if err := nc.FlushTimeout(max(time.Until(deadlineOr(ctx, time.Now().Add(cfg.ConnectTimeout))), time.Second)); err != nil {
		nc.Close()
		return err
	}
	c.nc, c.sub = nc, sub
	return nil
}

func deadlineOr(ctx context.Context, t time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return t
}
