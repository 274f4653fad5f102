package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/chat"
)

var _ chat.Directory = (*Store)(nil)

// directorySchema holds accounts and moderation (schema version 3).
const directorySchema = `
CREATE TABLE IF NOT EXISTS accounts (
	key     TEXT PRIMARY KEY,         -- chat.NameKey(name)
	name    TEXT    NOT NULL,
	hash    TEXT    NOT NULL,         -- argon2id, PHC format
	created INTEGER NOT NULL,         -- Unix nanoseconds
	since   INTEGER NOT NULL DEFAULT 0,
	seen    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_settings (
	room     TEXT PRIMARY KEY,
	settings TEXT NOT NULL            -- JSON of chat.RoomSettings
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sanctions (
	id     INTEGER PRIMARY KEY,
	kind   TEXT    NOT NULL,          -- ban | mute
	room   TEXT    NOT NULL,          -- '' for server-wide
	target TEXT    NOT NULL,          -- account | ip | name
	value  TEXT    NOT NULL,
	label  TEXT    NOT NULL,
	until  INTEGER NOT NULL DEFAULT 0, -- Unix nanoseconds; 0 for never
	by     TEXT    NOT NULL,
	reason TEXT    NOT NULL,
	at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS modlog (
	id     INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,
	room   TEXT    NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	reason TEXT    NOT NULL,
	until  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS modlog_room_id ON modlog(room, id);`

// write runs one statement on the writer connection.
func (s *Store) write(ctx context.Context, what, query string, args ...any) (sql.Result, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil, errors.New("sqlite store: closed")
	}
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", what, err)
	}
	return res, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Accounts returns every account.
func (s *Store) Accounts(ctx context.Context) ([]chat.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, name, hash, created, since, seen FROM accounts ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: accounts: %w", err)
	}
	defer rows.Close()
	var out []chat.Account
	for rows.Next() {
		var a chat.Account
		var created int64
		if err := rows.Scan(&a.Key, &a.Name, &a.Hash, &created, &a.Since, &a.Seen); err != nil {
			return nil, fmt.Errorf("sqlite store: accounts: %w", err)
		}
		a.Created = fromNanos(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// PutAccount creates or replaces an account.
func (s *Store) PutAccount(ctx context.Context, a chat.Account) error {
	_, err := s.write(ctx, "put account", `INSERT INTO accounts(key, name, hash, created, since, seen) VALUES(?, ?, ?, ?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET name = excluded.name, hash = excluded.hash, created = excluded.created, since = excluded.since, seen = excluded.seen`,
		a.Key, a.Name, a.Hash, nanos(a.Created), a.Since, a.Seen)
	return err
}

// DeleteAccount removes an account.
func (s *Store) DeleteAccount(ctx context.Context, key string) error {
	_, err := s.write(ctx, "delete account", `DELETE FROM accounts WHERE key = ?`, key)
	return err
}

// storedSettings is the JSON form of chat.RoomSettings.
type storedSettings struct {
	Owner      string               `json:"owner,omitempty"`
	Roles      map[string]chat.Role `json:"roles,omitempty"`
	TopicLock  bool                 `json:"topic_lock,omitempty"`
	Moderated  bool                 `json:"moderated,omitempty"`
	InviteOnly bool                 `json:"invite_only,omitempty"`
	Accounts   bool                 `json:"accounts_only,omitempty"`
	Until      int64                `json:"accounts_only_until,omitempty"`
	Slow       time.Duration        `json:"slow_ns,omitempty"`
}

// RoomSettings returns every room's settings.
func (s *Store) RoomSettings(ctx context.Context) ([]chat.RoomSettings, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT room, settings FROM room_settings ORDER BY room`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: room settings: %w", err)
	}
	defer rows.Close()
	var out []chat.RoomSettings
	for rows.Next() {
		var room, js string
		if err := rows.Scan(&room, &js); err != nil {
			return nil, fmt.Errorf("sqlite store: room settings: %w", err)
		}
		var st storedSettings
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			return nil, fmt.Errorf("sqlite store: room settings of %s: %w", room, err)
		}
		out = append(out, chat.RoomSettings{Room: room, Owner: st.Owner, Roles: st.Roles, TopicLock: st.TopicLock, Moderated: st.Moderated,
			InviteOnly: st.InviteOnly, Accounts: st.Accounts, Until: fromNanos(st.Until), Slow: st.Slow})
	}
	return out, rows.Err()
}

// PutRoomSettings creates or replaces a room's settings.
func (s *Store) PutRoomSettings(ctx context.Context, rs chat.RoomSettings) error {
	js, err := json.Marshal(storedSettings{Owner: rs.Owner, Roles: rs.Roles, TopicLock: rs.TopicLock, Moderated: rs.Moderated,
		InviteOnly: rs.InviteOnly, Accounts: rs.Accounts, Until: nanos(rs.Until), Slow: rs.Slow})
	if err != nil {
		return err
	}
	_, err = s.write(ctx, "put room settings", `INSERT INTO room_settings(room, settings) VALUES(?, ?)
		ON CONFLICT(room) DO UPDATE SET settings = excluded.settings`, rs.Room, string(js))
	return err
}

// Sanctions returns every stored sanction.
func (s *Store) Sanctions(ctx context.Context) ([]chat.Sanction, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, room, target, value, label, until, by, reason, at FROM sanctions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: sanctions: %w", err)
	}
	defer rows.Close()
	var out []chat.Sanction
	for rows.Next() {
		var sc chat.Sanction
		var until, at int64
		if err := rows.Scan(&sc.ID, &sc.Kind, &sc.Room, &sc.Target, &sc.Value, &sc.Label, &until, &sc.By, &sc.Reason, &at); err != nil {
			return nil, fmt.Errorf("sqlite store: sanctions: %w", err)
		}
		sc.Until, sc.At = fromNanos(until), fromNanos(at)
		out = append(out, sc)
	}
	return out, rows.Err()
}

// PutSanction stores a new sanction and sets its ID. Expired sanctions
// are deleted on the way.
func (s *Store) PutSanction(ctx context.Context, sc *chat.Sanction) error {
	res, err := s.write(ctx, "put sanction", `INSERT INTO sanctions(kind, room, target, value, label, until, by, reason, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sc.Kind, sc.Room, sc.Target, sc.Value, sc.Label, nanos(sc.Until), sc.By, sc.Reason, nanos(sc.At))
	if err != nil {
		return err
	}
	if sc.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	_, err = s.write(ctx, "drop expired sanctions", `DELETE FROM sanctions WHERE until != 0 AND until < ?`, time.Now().UnixNano())
	return err
}

// DeleteSanction removes a sanction.
func (s *Store) DeleteSanction(ctx context.Context, id int64) error {
	_, err := s.write(ctx, "delete sanction", `DELETE FROM sanctions WHERE id = ?`, id)
	return err
}

// AppendModlog stores an audit entry and sets its ID.
func (s *Store) AppendModlog(ctx context.Context, e *chat.ModEntry) error {
	res, err := s.write(ctx, "append modlog", `INSERT INTO modlog(at, room, actor, action, target, reason, until) VALUES(?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.At), e.Room, e.Actor, e.Action, e.Target, e.Reason, nanos(e.Until))
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

// Modlog returns audit entries, newest first.
func (s *Store) Modlog(ctx context.Context, room string, before int64, limit int) ([]chat.ModEntry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	q := `SELECT id, at, room, actor, action, target, reason, until FROM modlog WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`
	args := []any{room, before, limit}
	if room == chat.AllRooms {
		q = `SELECT id, at, room, actor, action, target, reason, until FROM modlog WHERE id < ? ORDER BY id DESC LIMIT ?`
		args = args[1:]
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: modlog: %w", err)
	}
	defer rows.Close()
	var out []chat.ModEntry
	for rows.Next() {
		var e chat.ModEntry
		var at, until int64
		if err := rows.Scan(&e.ID, &at, &e.Room, &e.Actor, &e.Action, &e.Target, &e.Reason, &until); err != nil {
			return nil, fmt.Errorf("sqlite store: modlog: %w", err)
		}
		e.At, e.Until = fromNanos(at), fromNanos(until)
		out = append(out, e)
	}
	return out, rows.Err()
}
