package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/sqlite"
	"github.com/parleychat/parley/store/storetest"
)

// mirrorHub is the hub's side of the feed for the contract test: what the
// stream delivers goes into the mirror, as Hub.Ingest does.
type mirrorHub struct {
	t      *testing.T
	mirror chat.Store
	mu     sync.Mutex
	last   uint64
	moved  chan struct{}
}

func (m *mirrorHub) Ingest(batch []chat.Committed) bool {
	msgs := make([]chat.Message, len(batch))
	for i, c := range batch {
		msgs[i] = c.Message
	}
	if err := m.mirror.Append(context.Background(), msgs); err != nil {
		m.t.Errorf("mirror append: %v", err)
		return false
	}
	m.mu.Lock()
	m.last = msgs[len(msgs)-1].ID
	m.mu.Unlock()
	select {
	case m.moved <- struct{}{}:
	default:
	}
	return true
}

func (m *mirrorHub) Remote(*chat.Event, []string) {}
func (m *mirrorHub) LocalNames() [][3]string      { return nil }
func (m *mirrorHub) RemoteAction(chat.Action)     {}

// waitFor waits until the mirror holds id.
func (m *mirrorHub) waitFor(ctx context.Context, id uint64) error {
	for {
		m.mu.Lock()
		last := m.last
		m.mu.Unlock()
		if last >= id {
			return nil
		}
		select {
		case <-m.moved:
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logStore is a chat.Store whose log is the JetStream stream: Append
// publishes (the stream gives the ids) and returns once the feed has
// written the messages to the mirror; reads are the mirror's. It is the
// path every message of a cluster takes, without a hub around it.
type logStore struct {
	*sqlite.Store
	c    *Cluster
	feed *mirrorHub
	next uint64 // tokens
}

func (s *logStore) Append(ctx context.Context, msgs []chat.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	last, err := s.LastID(ctx)
	if err != nil {
		return err
	}
	for i := range msgs {
		if id := msgs[i].ID; id != 0 && id != last+uint64(i)+1 {
			return fmt.Errorf("id %d: the shared log numbers messages itself, next is %d", id, last+uint64(i)+1)
		}
	}
	tokens := make([]uint64, len(msgs))
	for i := range tokens {
		s.next++
		tokens[i] = s.next
	}
	ids, err := s.c.append(ctx, msgs, tokens)
	if err != nil {
		return err
	}
	for i := range msgs {
		msgs[i].ID = ids[i]
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.feed.waitFor(ctx, ids[len(ids)-1])
}

// TestStoreContractOverTheStream runs the store contract through the
// JetStream room log and a SQLite mirror fed by it: ids from the stream,
// history, DMs, retention, topics and the directory as on one node.
func TestStoreContractOverTheStream(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T, retain int) chat.Store {
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		c, err := Start(Config{Embedded: &Embedded{StoreDir: t.TempDir()}, RetainMessages: retain, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		mirror, err := sqlite.Open(t.TempDir(), sqlite.Options{RetainMessages: retain, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		feed := &mirrorHub{t: t, mirror: mirror, moved: make(chan struct{}, 1)}
		if err := c.attach(feed, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Close()
			mirror.Close()
		})
		return &logStore{Store: mirror, c: c, feed: feed}
	}, storetest.Options{Gapless: true})
}
