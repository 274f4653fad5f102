// Package sqlite is a chat.Store kept in an embedded SQLite database
// (modernc.org/sqlite, so the build needs no cgo).
//
// Layout: one database file, parley.db, in a data directory, in WAL mode.
// Writes go through a single connection, one transaction per Append batch
// (the hub's committer already batches: group commit); reads (History,
// PrunedThrough) use a separate pool of read-only connections, which WAL
// lets run concurrently with the writer.
//
// Durability: with synchronous=NORMAL (the default) a committed transaction
// has been written to the WAL file, i.e. handed to the operating system,
// before Append returns; it survives the process being killed (kill -9,
// panic, OOM kill) because the kernel still holds the written pages, and
// SQLite replays the WAL on the next open. Only an operating-system crash
// or power loss can lose the last transactions (never corrupting the
// database). synchronous=FULL adds an fsync of the WAL per transaction, one
// per batch, to survive power loss too.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parleychat/parley/chat"
)

// FileName is the database file's name inside the data directory.
const FileName = "parley.db"

// lockName is the file held locked while a store has the directory open.
const lockName = "parley.lock"

// idsName is the file that remembers the highest id ever assigned, beside
// the database: if the database loses its newest messages (a damaged or
// truncated WAL), ids still never go back.
const idsName = "parley.ids"

// applicationID marks a SQLite file as a parley database ("PRLY").
const applicationID = 0x50524c59

// schemaVersion is the user_version of the current schema: 1 had
// messages and rooms; 2 added the rooms' topics; 3 added accounts and
// moderation (directory.go), created as they are missing.
const schemaVersion = 3

// DefaultPruneInterval is how often age retention runs when Options leaves
// it zero.
const DefaultPruneInterval = time.Minute

// insertRows is how many messages one INSERT statement stores, and
// insertCols how many columns each has.
const (
	insertRows = 32
	insertCols = 9
)

// pruneChunk is how many rows one pruning transaction deletes at most, so
// that Append never waits long behind retention.
const pruneChunk = 5000

// Options configures a Store. The zero value keeps everything forever with
// synchronous=NORMAL.
type Options struct {
	// RetainMessages keeps at most about this many messages per room (and
	// as many direct messages in all); 0 keeps every message. A room may
	// briefly hold up to a quarter more before it is pruned back.
	RetainMessages int
	// RetainAge deletes messages older than this; 0 keeps them forever.
	RetainAge time.Duration
	// PruneInterval is how often age retention runs; default one minute.
	PruneInterval time.Duration
	// Sync is the SQLite synchronous setting: "normal" (default: survives a
	// killed process) or "full" (also survives power loss; one fsync per
	// batch).
	Sync string
	// Now is the clock for age retention; default time.Now.
	Now func() time.Time
	// Logger receives retention and error reports; default slog.Default().
	Logger *slog.Logger
}

// Store is a chat.Store in a SQLite database. Append must be called from
// one goroutine at a time (the hub's committer); reads are safe from any.
type Store struct {
	dir  string
	opt  Options
	log  *slog.Logger
	lock *os.File

	ids     *os.File // the id high-water mark (idsName), written after every commit
	idsSync bool     // fsync it too (Sync "full")
	idsErr  bool     // a write failed (logged once)

	w *sql.DB // the single writer connection
	r *sql.DB // read-only pool

	wmu     sync.Mutex     // serialises Append and pruning on w
	ins     *sql.Stmt      // insert one message, prepared on w
	insMany *sql.Stmt      // insert insertRows messages, prepared on w
	args    []any          // Append's reused argument buffer
	count   map[string]int // rows per room, maintained by the writer
	lastID  uint64         // highest id stored (pruned ones included), maintained by the writer
	closed  bool

	ckpt    *sql.DB       // checkpoint connection
	ckptDue chan struct{} // Append asks for a checkpoint (capacity 1)
	walSize int64         // bytes appended since the last checkpoint request; writer only
	stop    chan struct{}
	done    chan struct{} // closed when pruneLoop has stopped
	ckDone  chan struct{} // closed when checkpointLoop has stopped
}

var _ chat.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir. It fails with a
// descriptive error, never a panic, if the directory cannot be created or
// written, if another server holds it, or if parley.db is not a parley
// database or is corrupt.
func Open(dir string, opt Options) (*Store, error) {
	if opt.PruneInterval <= 0 {
		opt.PruneInterval = DefaultPruneInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.RetainMessages < 0 || opt.RetainAge < 0 {
		return nil, errors.New("sqlite store: retention limits must not be negative")
	}
	sync := strings.ToUpper(opt.Sync)
	switch sync {
	case "":
		sync = "NORMAL"
	case "NORMAL", "FULL":
	default:
		return nil, fmt.Errorf("sqlite store: sync must be normal or full, not %q", opt.Sync)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s cannot be created: %w", dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opt: opt, log: opt.Logger, lock: lock, count: map[string]int{},
		stop: make(chan struct{}), done: make(chan struct{}), ckDone: make(chan struct{}), ckptDue: make(chan struct{}, 1)}
	if err := s.open(sync); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.pruneLoop()
	go s.checkpointLoop()
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, FileName) }

// checkWritable makes sure files can be created in dir, to report an
// unwritable directory clearly instead of as a SQLite I/O error.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".parley-write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (s *Store) open(sync string) error {
	s.idsSync = sync == "FULL"
	path := s.Path()
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file; it should be parley's database", path)
	}
	base := uri(path) + "?_busy_timeout=10000"
	var err error
	// Automatic checkpoints would run inside the committing transaction
	// (and fsync there); checkpointLoop runs them beside it instead.
	if s.w, err = sql.Open("sqlite", base+"&_txlock=immediate&_journal_mode=WAL&_synchronous="+sync+"&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(33554432)"); err != nil {
		return describe(path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if err := s.migrate(ctx); err != nil {
		return describe(path, err)
	}
	const insert = `INSERT INTO messages(id, room, kind, ts, sender, recipient, from_key, to_key, body) VALUES `
	const row = `(?,?,?,?,?,?,?,?,?)`
	if s.ins, err = s.w.PrepareContext(ctx, insert+row); err != nil {
		return describe(path, err)
	}
	if s.insMany, err = s.w.PrepareContext(ctx, insert+strings.Repeat(row+",", insertRows-1)+row); err != nil {
		return describe(path, err)
	}
	s.args = make([]any, 0, insertRows*insertCols)
	if s.r, err = sql.Open("sqlite", base+"&_query_only=1"); err != nil {
		return describe(path, err)
	}
	if s.ckpt, err = sql.Open("sqlite", base+"&_synchronous="+sync); err != nil {
		return describe(path, err)
	}
	s.ckpt.SetMaxOpenConns(1)
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	if err := s.r.PingContext(ctx); err != nil {
		return describe(path, err)
	}
	if err := s.Prune(ctx); err != nil {
		return describe(path, err)
	}
	if s.lastID, err = s.storedLastID(ctx); err != nil {
		return describe(path, err)
	}
	if err := s.checkIDs(ctx); err != nil {
		return describe(path, err)
	}
	rows, err := s.w.QueryContext(ctx, `SELECT room, count(*) FROM messages GROUP BY room`)
	if err != nil {
		return describe(path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var room string
		var n int
		if err := rows.Scan(&room, &n); err != nil {
			return describe(path, err)
		}
		s.count[room] = n
	}
	return describe(path, rows.Err())
}

// migrate checks the file is a parley database (or empty) and creates the
// schema.
func (s *Store) migrate(ctx context.Context) error {
	var app, ver int
	if err := s.w.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil {
		return err
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&ver); err != nil {
		return err
	}
	var tables int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		return err
	}
	if app != applicationID && tables > 0 {
		return errNotParley
	}
	if ver > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this parley understands (%d); upgrade parley", ver, schemaVersion)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("cannot switch the database to WAL mode (journal_mode is %s)", mode)
	}
	_, err := s.w.ExecContext(ctx, fmt.Sprintf(`
PRAGMA application_id = %d;
CREATE TABLE IF NOT EXISTS messages (
	id        INTEGER PRIMARY KEY, -- hub-assigned, strictly increasing
	room      TEXT    NOT NULL,    -- room key; '' for a direct message
	kind      INTEGER NOT NULL,    -- chat.Kind
	ts        INTEGER NOT NULL,    -- server time, Unix nanoseconds
	sender    TEXT    NOT NULL,
	recipient TEXT    NOT NULL DEFAULT '',
	from_key  TEXT    NOT NULL DEFAULT '', -- chat.NameKey(sender), for DMs
	to_key    TEXT    NOT NULL DEFAULT '', -- chat.NameKey(recipient), for DMs
	body      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room_id ON messages(room, id);
CREATE INDEX IF NOT EXISTS messages_dm_from ON messages(from_key, id) WHERE room = '';
CREATE INDEX IF NOT EXISTS messages_dm_to ON messages(to_key, id) WHERE room = '';
CREATE TABLE IF NOT EXISTS rooms (
	room           TEXT PRIMARY KEY,
	pruned_through INTEGER NOT NULL DEFAULT 0, -- highest id retention deleted
	topic          TEXT    NOT NULL DEFAULT '',
	topic_by       TEXT    NOT NULL DEFAULT '',
	topic_at       INTEGER NOT NULL DEFAULT 0  -- Unix nanoseconds
) WITHOUT ROWID;
`+directorySchema, applicationID))
	if err != nil {
		return err
	}
	if ver == 1 {
		// Version 1 made rooms without the topic columns.
		for _, col := range []string{`topic TEXT NOT NULL DEFAULT ''`, `topic_by TEXT NOT NULL DEFAULT ''`, `topic_at INTEGER NOT NULL DEFAULT 0`} {
			if _, err := s.w.ExecContext(ctx, `ALTER TABLE rooms ADD COLUMN `+col); err != nil {
				return fmt.Errorf("upgrade the schema from version 1: %w", err)
			}
		}
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	// Full integrity checks are O(size); quick_check on the schema pages
	// catches a truncated or scribbled file early.
	var ok string
	if err := s.w.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&ok); err != nil {
		return err
	}
	if ok != "ok" {
		return fmt.Errorf("%w: %s", errCorrupt, ok)
	}
	return nil
}

// uriEscaper escapes what SQLite's URI filenames (and the driver's DSN
// parameters) would otherwise interpret in a path.
var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// uri returns the SQLite URI filename of path.
func uri(path string) string { return "file:" + uriEscaper.Replace(path) }

var (
	errNotParley = errors.New("the file is a SQLite database of another program")
	errCorrupt   = errors.New("the database is corrupt")
)

// describe turns SQLite's terse errors at open into ones an operator can act
// on.
func describe(path string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%s is not a parley database (it is not SQLite, or it is encrypted or damaged); move it away or use another --data-dir: %w", path, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("%s is corrupt; restore it from a backup or move it away: %w", path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("%s cannot be opened for writing; check its permissions and those of its directory: %w", path, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%s: the disk is full: %w", path, err)
		}
	}
	if errors.Is(err, errNotParley) || errors.Is(err, errCorrupt) {
		return fmt.Errorf("%s: %w; move it away or use another --data-dir", path, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// Append stores msgs in one transaction, giving each message without an id
// the next one. When it returns nil the messages are committed to the WAL.
func (s *Store) Append(ctx context.Context, msgs []chat.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errors.New("sqlite store: closed")
	}
	last := s.lastID
	for i := range msgs {
		switch id := msgs[i].ID; {
		case id == 0:
			last++
			msgs[i].ID = last
		case id <= last:
			return fmt.Errorf("sqlite store: id %d is not above the last id %d", id, last)
		default:
			last = id
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Rows go in insertRows at a time through one prepared multi-row
	// INSERT (per-statement overhead dominates single-row inserts), the
	// remainder one by one.
	insMany, ins := tx.StmtContext(ctx, s.insMany), tx.StmtContext(ctx, s.ins)
	args := s.args[:0]
	for i := range msgs {
		m := &msgs[i]
		var fk, tk string
		if m.Room == "" {
			fk, tk = chat.NameKey(m.From), chat.NameKey(m.To)
		}
		args = append(args, int64(m.ID), m.Room, int64(m.Kind), m.Time.UnixNano(), m.From, m.To, fk, tk, m.Text)
		full := len(args) == insertRows*insertCols
		if !full && i < len(msgs)-1 {
			continue
		}
		var err error
		if full {
			_, err = insMany.ExecContext(ctx, args...)
		} else {
			for j := 0; j < len(args) && err == nil; j += insertCols {
				_, err = ins.ExecContext(ctx, args[j:j+insertCols]...)
			}
		}
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("sqlite store: insert messages up to %d: %w", m.ID, err)
		}
		clear(args)
		args = args[:0]
	}
	s.args = args
	for i := range msgs {
		room := msgs[i].Room
		if _, known := s.count[room]; !known {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO rooms(room) VALUES(?)`, room); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("sqlite store: record room: %w", err)
			}
			s.count[room] = 0
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: commit: %w", err)
	}
	s.lastID = last
	s.writeIDs()
	var over []string
	for i := range msgs {
		s.walSize += int64(len(msgs[i].Text) + len(msgs[i].From) + len(msgs[i].To) + 2*len(msgs[i].Room) + 64)
	}
	if s.walSize >= checkpointBytes {
		s.walSize = 0
		select {
		case s.ckptDue <- struct{}{}:
		default:
		}
	}
	for i := range msgs {
		room := msgs[i].Room
		s.count[room]++
		if n := s.opt.RetainMessages; n > 0 && s.count[room] == n+n/4+1 {
			over = append(over, room)
		}
	}
	for _, room := range over {
		if err := s.pruneRoom(ctx, room); err != nil {
			// The messages are stored; retention catches up later.
			s.log.Error("sqlite store: pruning failed", "room", room, "err", err)
		}
	}
	return nil
}

// SetTopic stores the topic of a room.
func (s *Store) SetTopic(ctx context.Context, t chat.Topic) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errors.New("sqlite store: closed")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO rooms(room, topic, topic_by, topic_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(room) DO UPDATE SET topic = excluded.topic, topic_by = excluded.topic_by, topic_at = excluded.topic_at`,
		t.Room, t.Text, t.By, t.At.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite store: set topic: %w", err)
	}
	if _, known := s.count[t.Room]; !known {
		s.count[t.Room] = 0
	}
	return nil
}

// Topic returns the topic of one room.
func (s *Store) Topic(ctx context.Context, room string) (chat.Topic, bool, error) {
	t := chat.Topic{Room: room}
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT topic, topic_by, topic_at FROM rooms WHERE room = ? AND topic != ''`, room).Scan(&t.Text, &t.By, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Topic{}, false, nil
	}
	if err != nil {
		return chat.Topic{}, false, fmt.Errorf("sqlite store: topic: %w", err)
	}
	t.At = time.Unix(0, at)
	return t, true, nil
}

// Topics returns the topic of every room that has one.
func (s *Store) Topics(ctx context.Context) ([]chat.Topic, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT room, topic, topic_by, topic_at FROM rooms WHERE topic != '' ORDER BY room`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: topics: %w", err)
	}
	defer rows.Close()
	var out []chat.Topic
	for rows.Next() {
		var t chat.Topic
		var at int64
		if err := rows.Scan(&t.Room, &t.Text, &t.By, &at); err != nil {
			return nil, fmt.Errorf("sqlite store: topics: %w", err)
		}
		t.At = time.Unix(0, at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// LastID returns the highest id ever assigned: stored, pruned since, or
// lost with a damaged WAL (see checkIDs).
func (s *Store) LastID(context.Context) (uint64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.lastID, nil
}

// checkIDs reads the id high-water mark. If it is above the highest id the
// database holds, the newest messages were lost after they were stored
// (clients may have seen them): that is logged loudly with the range, ids
// go on above the mark so that none is given twice, and every room is
// marked as pruned through it so that a client resuming from inside the
// lost range is told history_gone instead of being silently short.
func (s *Store) checkIDs(ctx context.Context) error {
	f, err := os.OpenFile(filepath.Join(s.dir, idsName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open the id mark: %w", err)
	}
	s.ids = f
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the id mark: %w", err)
	}
	mark, _ := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	if mark > s.lastID {
		s.log.Error("sqlite store: the database is missing its newest messages (the WAL was damaged or cut?); "+
			"ids continue above the lost ones, and clients resuming inside the gap are told history_gone",
			"lost_ids", fmt.Sprintf("%d-%d", s.lastID+1, mark), "stored_last_id", s.lastID, "assigned_up_to", mark)
		if _, err := s.w.ExecContext(ctx, `UPDATE rooms SET pruned_through = max(pruned_through, ?)`, int64(mark)); err != nil {
			return fmt.Errorf("mark the lost ids: %w", err)
		}
		s.lastID = mark
	}
	s.writeIDs()
	return nil
}

// writeIDs records the highest id assigned. Caller holds s.wmu (or is
// opening the store).
func (s *Store) writeIDs() {
	if s.ids == nil {
		return
	}
	_, err := s.ids.WriteAt([]byte(fmt.Sprintf("%020d\n", s.lastID)), 0)
	if err == nil && s.idsSync {
		err = s.ids.Sync()
	}
	if err != nil && !s.idsErr {
		s.idsErr = true
		s.log.Error("sqlite store: cannot write the id mark; ids are still stored in the database", "err", err)
	}
}

// storedLastID returns the highest id the database holds, including pruned
// ones.
func (s *Store) storedLastID(ctx context.Context) (uint64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(id) FROM messages), 0), coalesce((SELECT max(pruned_through) FROM rooms), 0))`).Scan(&id)
	return uint64(id), err
}

// PrunedThrough returns the highest id of room deleted by retention.
func (s *Store) PrunedThrough(ctx context.Context, room string) (uint64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT pruned_through FROM rooms WHERE room = ?`, room).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(id), err
}

// History returns the messages matching q, oldest first.
func (s *Store) History(ctx context.Context, q chat.HistoryQuery) ([]chat.Message, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	before := uint64(1<<63 - 1)
	if q.Before > 0 && q.Before < before {
		before = q.Before
	}
	if q.After >= before {
		return nil, nil
	}
	order := "DESC"
	if q.FromOldest {
		order = "ASC"
	}
	var rows *sql.Rows
	var err error
	const cols = `SELECT id, room, kind, ts, sender, recipient, body FROM messages `
	if q.Room != "" {
		rows, err = s.r.QueryContext(ctx, cols+`WHERE room = ? AND id > ? AND id < ? ORDER BY id `+order+` LIMIT ?`,
			q.Room, int64(q.After), int64(before), q.Limit)
	} else {
		key := chat.NameKey(q.User)
		rows, err = s.r.QueryContext(ctx, cols+`WHERE room = '' AND (from_key = ? OR to_key = ?) AND id > ? AND id < ? ORDER BY id `+order+` LIMIT ?`,
			key, key, int64(q.After), int64(before), q.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite store: history: %w", err)
	}
	defer rows.Close()
	var out []chat.Message
	for rows.Next() {
		var m chat.Message
		var id, ts int64
		var kind int
		if err := rows.Scan(&id, &m.Room, &kind, &ts, &m.From, &m.To, &m.Text); err != nil {
			return nil, fmt.Errorf("sqlite store: history: %w", err)
		}
		m.ID, m.Kind, m.Time = uint64(id), chat.Kind(kind), time.Unix(0, ts)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: history: %w", err)
	}
	if !q.FromOldest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// Backlog returns the messages q selects, oldest first: one scan of the
// primary key from q.After, filtered by room ranges.
func (s *Store) Backlog(ctx context.Context, q chat.BacklogQuery) ([]chat.Message, error) {
	if q.Limit <= 0 || len(q.Rooms) == 0 && q.User == "" {
		return nil, nil
	}
	var where []string
	args := []any{int64(q.After)}
	for _, r := range q.Rooms {
		if r.Room == "" {
			continue
		}
		if r.Until > 0 {
			where = append(where, `(room = ? AND id > ? AND id <= ?)`)
			args = append(args, r.Room, int64(r.From), int64(r.Until))
		} else {
			where = append(where, `(room = ? AND id > ?)`)
			args = append(args, r.Room, int64(r.From))
		}
	}
	if q.User != "" {
		key := chat.NameKey(q.User)
		where = append(where, `(room = '' AND (from_key = ? OR to_key = ?) AND id > ?)`)
		args = append(args, key, key, int64(q.UserFrom))
	}
	if len(where) == 0 {
		return nil, nil
	}
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT id, room, kind, ts, sender, recipient, body FROM messages WHERE id > ? AND (`+
		strings.Join(where, " OR ")+`) ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: backlog: %w", err)
	}
	defer rows.Close()
	var out []chat.Message
	for rows.Next() {
		var m chat.Message
		var id, ts int64
		var kind int
		if err := rows.Scan(&id, &m.Room, &kind, &ts, &m.From, &m.To, &m.Text); err != nil {
			return nil, fmt.Errorf("sqlite store: backlog: %w", err)
		}
		m.ID, m.Kind, m.Time = uint64(id), chat.Kind(kind), time.Unix(0, ts)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Prune applies retention to every room now. It runs at open and every
// PruneInterval; count retention also runs as rooms grow.
func (s *Store) Prune(ctx context.Context) error {
	if s.opt.RetainMessages == 0 && s.opt.RetainAge == 0 {
		return nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT room FROM rooms`)
	if err != nil {
		return err
	}
	var rooms []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return err
		}
		rooms = append(rooms, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, r := range rooms {
		if s.closed {
			return nil
		}
		if err := s.pruneRoom(ctx, r); err != nil {
			return fmt.Errorf("prune %q: %w", r, err)
		}
	}
	return nil
}

// pruneRoom deletes the messages of room that retention no longer keeps,
// in chunks, and records the highest id deleted. Caller holds s.wmu.
func (s *Store) pruneRoom(ctx context.Context, room string) error {
	var cut int64 // delete every id ≤ cut
	if n := s.opt.RetainMessages; n > 0 {
		err := s.w.QueryRowContext(ctx, `SELECT id FROM messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?`, room, n).Scan(&cut)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if age := s.opt.RetainAge; age > 0 {
		// Ids follow the server clock, so everything before the oldest
		// message young enough to keep is old: a scan from the oldest that
		// stops at the first keeper.
		limit := s.opt.Now().Add(-age).UnixNano()
		var keep int64
		err := s.w.QueryRowContext(ctx, `SELECT id FROM messages WHERE room = ? AND ts >= ? ORDER BY id LIMIT 1`, room, limit).Scan(&keep)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = s.w.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM messages WHERE room = ?`, room).Scan(&keep)
			keep++
		case err != nil:
			return err
		}
		if err != nil {
			return err
		}
		if keep-1 > cut {
			cut = keep - 1
		}
	}
	if cut <= 0 {
		return nil
	}
	for {
		var hi sql.NullInt64
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT max(id), count(*) FROM (SELECT id FROM messages WHERE room = ? AND id <= ? ORDER BY id LIMIT ?)`,
			room, cut, pruneChunk).Scan(&hi, &n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE room = ? AND id <= ?`, room, hi.Int64); err != nil {
			_ = tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rooms(room, pruned_through) VALUES(?, ?)
			ON CONFLICT(room) DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)`, room, hi.Int64); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.count[room] -= n
		if s.count[room] < 0 {
			s.count[room] = 0
		}
		s.log.Debug("sqlite store: pruned", "room", room, "through", hi.Int64, "deleted", n)
		if n < pruneChunk {
			return nil
		}
	}
}

// checkpointBytes is about how much message data goes into the WAL between
// checkpoints (SQLite's own default is 1,000 pages, 4 MB).
const checkpointBytes = 2 << 20

// checkpointInterval is the longest the WAL goes without a checkpoint while
// messages come in.
const checkpointInterval = time.Second

// checkpointLoop copies the WAL back into the database file on its own
// connection, when Append has written checkpointBytes or every
// checkpointInterval, so that neither the copying nor its fsync delays a
// commit. PASSIVE checkpoints never block the writer or readers; SQLite
// restarts the WAL from its beginning once a checkpoint has caught up.
func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.ckptDue:
		case <-t.C:
		}
		if err := s.checkpoint(); err != nil {
			s.log.Error("sqlite store: checkpoint failed", "err", err)
		}
	}
}

// walCatchUpFrames is how long the WAL (in frames, i.e. pages) may grow
// before a checkpoint holds the writer back to catch up.
const walCatchUpFrames = 4096

// checkpoint runs a PASSIVE checkpoint beside the writer. SQLite starts the
// WAL over from its beginning only when a write transaction begins after a
// checkpoint has caught up completely; under sustained load commits land
// during every checkpoint, so the WAL would grow without bound. Once it is
// longer than walCatchUpFrames, a second checkpoint runs with Append held
// off: it copies only what was committed during the first, and the next
// commit restarts the WAL.
func (s *Store) checkpoint() error {
	var busy, log, done int
	if err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return err
	}
	if log <= walCatchUpFrames {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	return s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
}

// pruneLoop applies age retention every PruneInterval until Close.
func (s *Store) pruneLoop() {
	defer close(s.done)
	if s.opt.RetainAge == 0 && s.opt.RetainMessages == 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opt.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Prune(context.Background()); err != nil {
				s.log.Error("sqlite store: retention failed", "err", err)
			}
		}
	}
}

// Checkpoint copies the WAL into the database file and truncates it. Close
// does this too; it is exported for backups and tests.
func (s *Store) Checkpoint(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errors.New("sqlite store: closed")
	}
	_, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// Backup writes a consistent copy of the database to path (which must not
// exist) while the store stays in use, with SQLite's VACUUM INTO.
func (s *Store) Backup(ctx context.Context, path string) error {
	return Backup(ctx, s.dir, path)
}

// Backup writes a consistent copy of the database in dataDir to path (which
// must not exist) with SQLite's VACUUM INTO. A server may be running on
// dataDir meanwhile: the copy is a snapshot, and the server is not held up.
func Backup(ctx context.Context, dataDir, path string) error {
	src := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no parley database in %s: %w", dataDir, err)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists", path)
	}
	// A connection of its own: the read pool is query-only, which VACUUM
	// INTO refuses. It reads a snapshot; WAL lets the writer go on.
	db, err := sql.Open("sqlite", uri(src)+"?_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	var app int
	if err := db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil {
		return describe(src, err)
	}
	if app != applicationID {
		return describe(src, errNotParley)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("back up %s to %s: %w", src, path, err)
	}
	return nil
}

// Close stops retention, checkpoints the WAL and closes the database. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return nil
	}
	s.closed = true
	s.wmu.Unlock()
	close(s.stop)
	<-s.done
	<-s.ckDone
	var err error
	if s.w != nil {
		_, err = s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return errors.Join(err, s.closeDBs())
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.ids != nil {
		errs = append(errs, s.ids.Close())
	}
	if s.ins != nil {
		errs = append(errs, s.ins.Close())
	}
	if s.insMany != nil {
		errs = append(errs, s.insMany.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.lock != nil {
		errs = append(errs, unlockDir(s.lock))
	}
	return errors.Join(errs...)
}
