package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/chat"
)

// claim is this node's hold on a name: the sessions here that use it (an
// account's several devices share one), and the bucket revision written.
type claim struct {
	count    int
	account  string
	revision uint64 // 0 if another node's entry is shared (an account on several nodes)
}

// nameEntry is the value of a name in the names bucket.
type nameEntry struct {
	Name    string `json:"n"`
	Node    string `json:"node"`
	Account string `json:"a,omitempty"`
}

// ClaimName implements chat.Cluster: create-if-absent in the names bucket.
// A name held by a node that does not answer (killed, or cut off) is
// taken over.
func (c *Cluster) ClaimName(skel, display, account string) error {
	c.nameMu.Lock()
	if cl := c.claims[skel]; cl != nil {
		// The hub allows one session per name here but an account's: a
		// claim of the same account is another device, and an account
		// claim of a guest's is that guest registering its name (or
		// logging in to it).
		if account == "" || cl.account != account && cl.account != "" {
			c.nameMu.Unlock()
			return chat.Errorf(chat.CodeNameTaken, "the name %q is taken", display)
		}
		upgrade, rev := cl.account == "" && cl.revision != 0, cl.revision
		cl.account = account
		cl.count++
		c.nameMu.Unlock()
		if upgrade {
			// The bucket says so too, so that the account's devices on
			// other nodes share the name rather than find it taken.
			c.upgradeName(skel, display, account, rev)
		}
		return nil
	}
	c.nameMu.Unlock()
	if !c.up.Load() {
		return errUnavailable
	}
	// Long enough to ride out a leader election after a server is lost.
	ctx, cancel := context.WithTimeout(c.ctx, 8*time.Second)
	defer cancel()
	val, _ := json.Marshal(nameEntry{Name: display, Node: c.id, Account: account})
	key := token(skel)
	rev, err := c.names.Create(ctx, key, val)
	shared := false
	for attempt := 0; errors.Is(err, jetstream.ErrKeyExists) && attempt < 3; attempt++ {
		var e jetstream.KeyValueEntry
		e, err = c.names.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			rev, err = c.names.Create(ctx, key, val)
			continue
		}
		if err != nil {
			break
		}
		var held nameEntry
		_ = json.Unmarshal(e.Value(), &held)
		elsewhere := held.Node != c.id && c.alive(ctx, held.Node) // held by a live node, not this one
		switch {
		case elsewhere && account != "" && held.Account == account:
			shared, err = true, nil // the account is online on another node too: one user
		case elsewhere:
			return chat.Errorf(chat.CodeNameTaken, "the name %q is taken", held.Name)
		default:
			// Ours from before (a release that did not get through) or a
			// dead node's: take it over, unless it changes meanwhile.
			c.log.Info("taking over a name", "name", display, "held_by", held.Node)
			rev, err = c.names.Update(ctx, key, val, e.Revision())
			if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
				err = jetstream.ErrKeyExists // changed meanwhile: look again
			}
		}
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return chat.Errorf(chat.CodeNameTaken, "the name %q is taken", display)
		}
		c.log.Error("claiming a name failed", "name", display, "err", err)
		return errUnavailable
	}
	c.nameMu.Lock()
	defer c.nameMu.Unlock()
	if cl := c.claims[skel]; cl != nil { // claimed here meanwhile
		if account != "" && cl.account == account {
			cl.count++
			return nil
		}
		if !shared {
			go c.dropName(key, rev)
		}
		return chat.Errorf(chat.CodeNameTaken, "the name %q is taken", display)
	}
	cl := &claim{count: 1, account: account}
	if !shared {
		cl.revision = rev
	}
	c.claims[skel] = cl
	return nil
}

// upgradeName rewrites this node's entry of a guest's name, at rev, as the
// account's.
func (c *Cluster) upgradeName(skel, display, account string, rev uint64) {
	ctx, cancel := context.WithTimeout(c.ctx, 8*time.Second)
	defer cancel()
	val, _ := json.Marshal(nameEntry{Name: display, Node: c.id, Account: account})
	next, err := c.names.Update(ctx, token(skel), val, rev)
	if err != nil {
		c.log.Warn("marking a name as an account's failed: its devices on other nodes may find it taken", "name", display, "err", err)
		return
	}
	c.nameMu.Lock()
	defer c.nameMu.Unlock()
	if cl := c.claims[skel]; cl != nil && cl.revision == rev {
		cl.revision = next
	}
}

// isWrongSequence tells a compare-and-set that lost (10071; 10164 on a
// replicated bucket).
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// ReleaseName implements chat.Cluster: the last local session using the
// name deletes it from the bucket, unless another node wrote it since.
func (c *Cluster) ReleaseName(skel string) {
	c.nameMu.Lock()
	cl := c.claims[skel]
	if cl == nil {
		c.nameMu.Unlock()
		return
	}
	cl.count--
	if cl.count > 0 {
		c.nameMu.Unlock()
		return
	}
	delete(c.claims, skel)
	c.nameMu.Unlock()
	if cl.revision != 0 {
		c.dropName(token(skel), cl.revision)
	}
}

// dropName deletes a name this node wrote at revision.
func (c *Cluster) dropName(key string, rev uint64) {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	if err := c.names.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && !isWrongSequence(err) && !errors.Is(err, context.Canceled) {
		// Left behind: the next claim of the name takes it over, since
		// this node does not hold it.
		c.log.Warn("releasing a name failed", "err", err)
	}
}

// reclaimNames writes this node's names again after it was cut off (other
// nodes may have taken them over meanwhile: those are logged, and the
// sessions keep them here until they leave).
func (c *Cluster) reclaimNames(ctx context.Context) {
	for _, n := range c.hub.LocalNames() {
		skel, display, account := n[0], n[1], n[2]
		c.nameMu.Lock()
		cl := c.claims[skel]
		c.nameMu.Unlock()
		if cl == nil || cl.revision == 0 {
			continue
		}
		val, _ := json.Marshal(nameEntry{Name: display, Node: c.id, Account: account})
		key := token(skel)
		rev, err := c.names.Create(ctx, key, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			var e jetstream.KeyValueEntry
			if e, err = c.names.Get(ctx, key); err == nil {
				var held nameEntry
				_ = json.Unmarshal(e.Value(), &held)
				if held.Node == c.id {
					rev = e.Revision()
				} else {
					c.log.Warn("a name of this node was taken on another while it was cut off", "name", display, "node", held.Node)
					continue
				}
			}
		}
		if err != nil {
			c.log.Warn("reclaiming a name failed", "name", display, "err", err)
			continue
		}
		c.nameMu.Lock()
		if cl := c.claims[skel]; cl != nil && cl.revision != 0 {
			cl.revision = rev
		}
		c.nameMu.Unlock()
	}
}

// alive asks a node whether it is there; no answer within a second, or no
// one listening, means it is gone.
func (c *Cluster) alive(ctx context.Context, node string) bool {
	if node == c.id {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 200*time.Millisecond {
		return true // no time left to ask: not a verdict of death
	}
	_, err := c.nc.RequestWithContext(ctx, nodeSubject(node), nil)
	if err == nil {
		return true
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return false
	}
	return true // we cannot tell (our own connection is down): assume it is
}
