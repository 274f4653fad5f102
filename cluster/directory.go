package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/chat"
)

// Names of the directory's bucket and audit stream.
const (
	directoryBucket = "parley-directory"
	modlogPrefix    = "parley.modlog."
	// maxModlogPerRoom bounds the audit entries kept per room (and for
	// the server).
	maxModlogPerRoom = 10000
)

// Directory keeps a cluster's accounts and moderation (chat.
// SharedDirectory) in one JetStream key-value bucket, parley-directory:
//
//	a.<account key>  an account (name, password hash, ...)
//	r.<room key>     a room's settings (owner, roles, modes)
//	s.<random>       a sanction; its id is the revision that created it
//
// and the audit log in a stream (one subject per room). Every node
// watches the bucket and applies each change to its hub, in revision
// order; a node's own write is applied as it is stored. A write names the
// revision it was based on, so one based on an out-of-date copy is refused
// (chat.ErrConflict) after the newer version has been applied: two nodes
// changing one room at once both get their change in, one after the
// other, and a name is never registered twice.
//
// Lock order: Directory.mu is held while a change is stored and applied
// (the hub's acctMu or moderation.mu outside it, the hub's own locks
// inside it); nothing else in the package is taken under it.
type Directory struct {
	c  *Cluster
	kv jetstream.KeyValue

	seed chat.Directory // a node's own accounts and moderation, for a cluster that has none

	mu        sync.Mutex
	hub       chat.DirectoryApplier
	revs      map[string]uint64 // bucket key -> the last revision applied (puts and deletes)
	accounts  map[string]chat.Account
	settings  map[string]chat.RoomSettings
	sanctions map[string]chat.Sanction
	byID      map[int64]string // sanction id -> bucket key
	cloak     [32]byte         // the cluster's cloak key (k.cloak), once loaded
	hasCloak  bool
}

var _ chat.SharedDirectory = (*Directory)(nil)

// Directory returns the cluster's shared directory, for chat.Config.
// Directory.
func (c *Cluster) Directory() *Directory { return c.dir }

func newDirectory(c *Cluster, kv jetstream.KeyValue) *Directory {
	return &Directory{
		c: c, kv: kv,
		revs:      map[string]uint64{},
		accounts:  map[string]chat.Account{},
		settings:  map[string]chat.RoomSettings{},
		sanctions: map[string]chat.Sanction{},
		byID:      map[int64]string{},
	}
}

// Attach implements chat.SharedDirectory: what the bucket holds is
// applied to h, then every change as it comes.
func (d *Directory) Attach(h chat.DirectoryApplier) error {
	d.mu.Lock()
	d.hub = h
	d.mu.Unlock()
	w, err := d.kv.WatchAll(d.c.ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch the directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(d.c.ctx, d.c.cfg.StartTimeout)
	defer cancel()
	for loading := true; loading; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("cluster: the directory's watcher stopped")
			}
			if e == nil {
				loading = false // the stored values are in
				break
			}
			d.take(e, false)
		case <-ctx.Done():
			_ = w.Stop()
			return fmt.Errorf("cluster: load the directory: %w", ctx.Err())
		}
	}
	if err := d.ensureCloakKey(ctx); err != nil {
		_ = w.Stop()
		return fmt.Errorf("cluster: the cloak key: %w", err)
	}
	d.mu.Lock()
	empty := len(d.revs) <= 1 // nothing but the cloak key
	d.mu.Unlock()
	if empty && d.seed != nil {
		if err := d.importSeed(ctx); err != nil {
			_ = w.Stop()
			return fmt.Errorf("cluster: bring the node's accounts into the cluster: %w", err)
		}
	}
	d.c.wg.Add(1)
	go d.watch(w)
	return nil
}

// cloakKey is the bucket key of the cluster's cloak key.
const cloakKey = "k.cloak"

// ensureCloakKey makes the cluster's cloak key if no node has yet, and
// loads it.
func (d *Directory) ensureCloakKey(ctx context.Context) error {
	d.mu.Lock()
	has := d.hasCloak
	d.mu.Unlock()
	if has {
		return nil
	}
	var k [32]byte
	_, _ = rand.Read(k[:])
	rev, err := d.kv.Create(ctx, cloakKey, []byte(hex.EncodeToString(k[:])))
	if err == nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.hasCloak { // ours is the cluster's
			d.cloak, d.hasCloak = k, true
			d.revs[cloakKey] = max(d.revs[cloakKey], rev)
		}
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	// Another node's: read it back through a watch (a consumer on the
	// bucket's leader; a direct get may be answered by a replica that
	// has not got it yet), a few times if it is not there yet.
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		d.mu.Lock()
		err := d.refreshLocked(ctx, cloakKey)
		has := d.hasCloak
		d.mu.Unlock()
		if has {
			return nil
		}
		if err == nil && wait > 2*time.Second {
			err = errors.New("the stored cloak key is not 32 bytes of hex")
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// CloakKey implements chat.SharedDirectory.
func (d *Directory) CloakKey() [32]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cloak
}

// Seed gives the directory a node's own accounts and moderation (its
// single-node store) to bring into a cluster whose directory is still
// empty: the first node started on an existing data directory carries its
// users, rooms and bans over. The audit log stays in the node's store.
func (d *Directory) Seed(local chat.Directory) { d.seed = local }

// importSeed copies the seed into the bucket, each record only if no
// other node has stored it meanwhile, and applies what it stored.
func (d *Directory) importSeed(ctx context.Context) error {
	accts, err := d.seed.Accounts(ctx)
	if err != nil {
		return err
	}
	settings, err := d.seed.RoomSettings(ctx)
	if err != nil {
		return err
	}
	sanctions, err := d.seed.Sanctions(ctx)
	if err != nil {
		return err
	}
	if len(accts)+len(settings)+len(sanctions) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	create := func(key string, v any) (uint64, bool, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, false, err
		}
		rev, err := d.kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, false, nil // another node brought its own
		}
		if err != nil {
			return 0, false, err
		}
		d.revs[key] = rev
		n++
		return rev, true, nil
	}
	for _, a := range accts {
		key := accountKey(a.Key)
		if _, ok, err := create(key, a); err != nil {
			return err
		} else if ok {
			d.accounts[key] = a
			d.hub.ApplyDirectory(chat.DirectoryChange{Account: &a})
		}
	}
	for _, rs := range settings {
		key := settingsKey(rs.Room)
		if _, ok, err := create(key, rs); err != nil {
			return err
		} else if ok {
			d.settings[key] = rs
			d.hub.ApplyDirectory(chat.DirectoryChange{Settings: &rs})
		}
	}
	now := time.Now()
	for _, sc := range sanctions {
		if !sc.Until.IsZero() && !now.Before(sc.Until) {
			continue
		}
		key := "s." + newID()
		rev, ok, err := create(key, sc)
		if err != nil {
			return err
		} else if ok {
			sc.ID = int64(rev)
			d.sanctions[key] = sc
			d.byID[sc.ID] = key
			d.hub.ApplyDirectory(chat.DirectoryChange{Sanction: &sc})
		}
	}
	d.c.log.Info("brought this node's accounts and moderation into the cluster's directory", "records", n)
	return nil
}

// watch applies the other nodes' changes as they come.
func (d *Directory) watch(w jetstream.KeyWatcher) {
	d.c.follow(w, func(e jetstream.KeyValueEntry) { d.take(e, true) })
}

// take applies one bucket entry unless it is one already applied (this
// node's own write, or older).
func (d *Directory) take(e jetstream.KeyValueEntry, remote bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.takeLocked(e, remote)
}

// takeLocked is take with d.mu held.
func (d *Directory) takeLocked(e jetstream.KeyValueEntry, remote bool) {
	key, rev := e.Key(), e.Revision()
	if rev <= d.revs[key] {
		return
	}
	d.revs[key] = rev
	del := e.Operation() != jetstream.KeyValuePut
	change := chat.DirectoryChange{Remote: remote}
	kind, rest, _ := strings.Cut(key, ".")
	if name, err := untoken(rest); (kind == "a" || kind == "r") && (err != nil || token(name) != rest) {
		// Not the one key of a name or room (upper-case hex, say): a
		// second copy of a record, which no node writes.
		d.c.log.Warn("ignored a directory entry under a key that is not its own", "key", key)
		return
	}
	// An entry that does not decode replaces the record all the same: it
	// is gone, as it is for a node that starts now and sees only it.
	invalid := func(what string, err error) {
		d.c.log.Warn("an invalid "+what+" in the directory: taken as deleted", "key", key, "err", err)
	}
	switch kind {
	case "a":
		if del {
			a, ok := d.accounts[key]
			if !ok {
				return
			}
			delete(d.accounts, key)
			change.AccountGone = &a
			break
		}
		a, err := decodeAccount(e.Value(), rest)
		if err != nil {
			invalid("account", err)
			old, ok := d.accounts[key]
			if !ok {
				return
			}
			delete(d.accounts, key)
			change.AccountGone = &old
			break
		}
		d.accounts[key] = a
		change.Account = &a
	case "r":
		room, err := untoken(rest)
		if err != nil || !validRoom(room) {
			d.c.log.Warn("ignored an invalid room key in the directory", "key", key)
			return
		}
		rs := chat.RoomSettings{Room: room}
		if !del {
			if rs, err = decodeSettings(e.Value(), room); err != nil {
				invalid("room's settings", err)
				rs, del = chat.RoomSettings{Room: room}, true
			}
		}
		if del {
			if _, ok := d.settings[key]; !ok {
				return
			}
			delete(d.settings, key) // a room with no settings
		} else {
			d.settings[key] = rs
		}
		change.Settings = &rs
	case "s":
		if del {
			sc, ok := d.sanctions[key]
			if !ok {
				return
			}
			delete(d.sanctions, key)
			delete(d.byID, sc.ID)
			change.SanctionGone = &sc
			break
		}
		sc, err := decodeSanction(e.Value())
		if err != nil {
			invalid("sanction", err)
			old, ok := d.sanctions[key]
			if !ok {
				return
			}
			delete(d.sanctions, key)
			delete(d.byID, old.ID)
			change.SanctionGone = &old
			break
		}
		if old, ok := d.sanctions[key]; ok { // rewritten (no node does): the old one is gone
			delete(d.byID, old.ID)
		}
		sc.ID = int64(rev) // sanctions are never rewritten: the revision that made one is its id
		d.sanctions[key] = sc
		d.byID[sc.ID] = key
		change.Sanction = &sc
	case "k":
		// The cloak key: the first one read stays (guests' cloaks, and
		// the bans by them, must not change under the node).
		b, err := hex.DecodeString(string(e.Value()))
		if key != cloakKey || del || err != nil || len(b) != 32 {
			d.c.log.Warn("ignored an invalid key entry in the directory", "key", key)
			return
		}
		if !d.hasCloak {
			copy(d.cloak[:], b)
			d.hasCloak = true
		}
		return
	default:
		d.c.log.Warn("ignored an unknown key in the directory", "key", key)
		return
	}
	if d.hub != nil {
		d.hub.ApplyDirectory(change)
	}
}

// refreshLocked applies the newest version of a key (a delete included),
// after a write found it changed. Caller holds d.mu.
func (d *Directory) refreshLocked(ctx context.Context, key string) error {
	w, err := d.kv.Watch(ctx, key)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return nil
			}
			d.takeLocked(e, true)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// errNotConnected is a write's error while the node has lost NATS.
var errNotConnected = errors.New("cluster: not connected to NATS")

// writeCtx bounds one write (a leader election can take seconds).
func (d *Directory) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 8*time.Second)
}

// updateLocked stores v under key if the key is still at the revision
// applied here; chat.ErrConflict (the newer version applied) if not.
func (d *Directory) updateLocked(ctx context.Context, key string, v []byte) (uint64, error) {
	if !d.c.up.Load() {
		return 0, errNotConnected
	}
	ctx, cancel := d.writeCtx(ctx)
	defer cancel()
	rev, err := d.kv.Update(ctx, key, v, d.revs[key])
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		if err := d.refreshLocked(ctx, key); err != nil {
			return 0, err
		}
		return 0, chat.ErrConflict
	}
	if err != nil {
		return 0, err
	}
	d.revs[key] = rev
	return rev, nil
}

// deleteLocked deletes key if it is still at the revision applied here,
// then applies the deletion.
func (d *Directory) deleteLocked(ctx context.Context, key string) error {
	if !d.c.up.Load() {
		return errNotConnected
	}
	ctx, cancel := d.writeCtx(ctx)
	defer cancel()
	err := d.kv.Delete(ctx, key, jetstream.LastRevision(d.revs[key]))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	// The delete marker (or whatever came first) is applied as this
	// node's own.
	w, werr := d.kv.Watch(ctx, key)
	if werr != nil {
		return werr
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			break
		}
		d.takeLocked(e, err != nil)
	}
	if err != nil {
		return chat.ErrConflict
	}
	return nil
}

func accountKey(key string) string   { return "a." + token(key) }
func settingsKey(room string) string { return "r." + token(room) }

// Accounts implements chat.Directory.
func (d *Directory) Accounts(context.Context) ([]chat.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.accounts)), nil
}

// PutAccount implements chat.Directory.
func (d *Directory) PutAccount(ctx context.Context, a chat.Account) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	key := accountKey(a.Key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.updateLocked(ctx, key, b); err != nil {
		return err
	}
	d.accounts[key] = a
	d.hub.ApplyDirectory(chat.DirectoryChange{Account: &a})
	return nil
}

// DeleteAccount implements chat.Directory.
func (d *Directory) DeleteAccount(ctx context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.accounts[accountKey(key)]; !ok {
		return nil
	}
	if err := d.deleteLocked(ctx, accountKey(key)); err != nil && !errors.Is(err, chat.ErrConflict) {
		return err
	}
	return nil
}

// RoomSettings implements chat.Directory.
func (d *Directory) RoomSettings(context.Context) ([]chat.RoomSettings, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.settings)), nil
}

// PutRoomSettings implements chat.Directory.
func (d *Directory) PutRoomSettings(ctx context.Context, rs chat.RoomSettings) error {
	b, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	key := settingsKey(rs.Room)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.updateLocked(ctx, key, b); err != nil {
		return err
	}
	d.settings[key] = rs
	d.hub.ApplyDirectory(chat.DirectoryChange{Settings: &rs})
	return nil
}

// Sanctions implements chat.Directory.
func (d *Directory) Sanctions(context.Context) ([]chat.Sanction, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.sanctions)), nil
}

// PutSanction implements chat.Directory; the sanction's id is the
// revision that stored it.
func (d *Directory) PutSanction(ctx context.Context, sc *chat.Sanction) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	key := "s." + newID()
	d.mu.Lock()
	defer d.mu.Unlock()
	rev, err := d.updateLocked(ctx, key, b)
	if err != nil {
		return err
	}
	sc.ID = int64(rev)
	d.sanctions[key] = *sc
	d.byID[sc.ID] = key
	c := *sc
	d.hub.ApplyDirectory(chat.DirectoryChange{Sanction: &c})
	return nil
}

// DeleteSanction implements chat.Directory.
func (d *Directory) DeleteSanction(ctx context.Context, id int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	key, ok := d.byID[id]
	if !ok {
		return nil // lifted already
	}
	if err := d.deleteLocked(ctx, key); err != nil && !errors.Is(err, chat.ErrConflict) {
		return err
	}
	return nil
}

// modlogSubject is the audit stream's subject of a room ("" for the
// server).
func modlogSubject(room string) string { return modlogPrefix + token(room) }

// AppendModlog implements chat.Directory: the entry's id is its sequence
// in the audit stream.
func (d *Directory) AppendModlog(ctx context.Context, e *chat.ModEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := d.writeCtx(ctx)
	defer cancel()
	ack, err := d.c.js.Publish(ctx, modlogSubject(e.Room), b)
	if err != nil {
		return err
	}
	e.ID = int64(ack.Sequence)
	return nil
}

// Modlog implements chat.Directory, reading the audit stream (an
// operator's occasional query: it reads the room's entries from the
// oldest kept).
func (d *Directory) Modlog(ctx context.Context, room string, before int64, limit int) ([]chat.ModEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	filter := modlogSubject(room)
	if room == chat.AllRooms {
		filter = modlogPrefix + ">"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for try := 1; ; try++ {
		out, err := d.readModlog(ctx, filter, before, limit)
		if err == nil || try == 3 || ctx.Err() != nil {
			return out, err
		}
		// A JetStream request can go unanswered while the stream's
		// leader moves ("no responders"): once more, shortly.
		d.c.log.Debug("reading the audit log failed; trying again", "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		}
	}
}

// readModlog reads the audit entries of filter once.
func (d *Directory) readModlog(ctx context.Context, filter string, before int64, limit int) ([]chat.ModEntry, error) {
	cons, err := d.c.js.OrderedConsumer(ctx, d.c.modlogStream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	var ring []chat.ModEntry
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			left = meta.NumPending
			id := int64(meta.Sequence.Stream)
			if before > 0 && id >= before {
				left = 0
				continue
			}
			e, err := decodeModEntry(m.Data())
			if err == nil && modlogSubject(e.Room) != m.Subject() {
				err = errors.New("an entry of another room")
			}
			if err != nil {
				d.c.log.Warn("ignored an invalid audit entry", "id", id, "err", err)
				continue
			}
			e.ID = id
			ring = append(ring, e)
			if len(ring) > limit {
				ring = ring[1:]
			}
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			break
		}
	}
	out := make([]chat.ModEntry, len(ring))
	for i := range ring {
		out[i] = ring[len(ring)-1-i] // newest first
	}
	return out, nil
}

// modlogStream is the audit stream's name.
func (c *Cluster) modlogStream() string { return c.cfg.Stream + "_MODLOG" }

// newID is a random bucket key part.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// The directory's entries are checked like client input before a node
// uses them (the NATS deployment is trusted, what it holds is not taken on
// faith).

func decodeAccount(b []byte, tok string) (chat.Account, error) {
	var a chat.Account
	if err := json.Unmarshal(b, &a); err != nil {
		return a, err
	}
	key, err := untoken(tok)
	if err != nil || key != a.Key {
		return a, errors.New("the account is not under its own key")
	}
	if !validName(a.Name) || chat.NameKey(a.Name) != a.Key {
		return a, errors.New("not an account name")
	}
	if a.Hash == "" || len(a.Hash) > 1024 {
		return a, errors.New("no password hash")
	}
	return a, nil
}

func decodeSettings(b []byte, room string) (chat.RoomSettings, error) {
	var rs chat.RoomSettings
	if err := json.Unmarshal(b, &rs); err != nil {
		return rs, err
	}
	if rs.Room != room {
		return rs, errors.New("the settings are not under their room's key")
	}
	if rs.Owner != "" && !validKey(rs.Owner) {
		return rs, errors.New("not an owner's account")
	}
	for k, r := range rs.Roles {
		if !validKey(k) || r > chat.RoleOwner {
			return rs, errors.New("not a role")
		}
	}
	if rs.Slow < 0 {
		return rs, errors.New("a negative slow mode")
	}
	return rs, nil
}

func decodeSanction(b []byte) (chat.Sanction, error) {
	var sc chat.Sanction
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, err
	}
	switch {
	case sc.Kind != chat.SanctionBan && sc.Kind != chat.SanctionMute:
		return sc, errors.New("not a sanction kind")
	case sc.Target != chat.TargetAccount && sc.Target != chat.TargetAddress && sc.Target != chat.TargetName:
		return sc, errors.New("not a target kind")
	case sc.Room != "" && !validRoom(sc.Room):
		return sc, errors.New("not a room key")
	case sc.Value == "" || len(sc.Value) > 256:
		return sc, errors.New("no target")
	case !cleanLine(sc.Label) || !cleanLine(sc.Reason) || !cleanLine(sc.By):
		return sc, errors.New("text that is not clean")
	}
	return sc, nil
}

func decodeModEntry(b []byte) (chat.ModEntry, error) {
	var e chat.ModEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.Room != "" && !validRoom(e.Room) {
		return e, errors.New("not a room key")
	}
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Reason} {
		if !cleanLine(s) {
			return e, errors.New("text that is not clean")
		}
	}
	return e, nil
}

// validKey reports whether k is a name's key (an account or a name, in a
// room's roles).
func validKey(k string) bool {
	_, key, err := chat.ValidateName(k)
	return err == nil && key == k
}

// cleanLine reports whether s is one clean line of text (or empty).
func cleanLine(s string) bool {
	c, err := chat.CleanLine(s, 4096)
	return (err == nil || chat.ErrorCode(err) == chat.CodeEmpty) && c == s
}
