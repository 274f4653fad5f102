package memory

import (
	"context"
	"maps"
	"slices"
	"sort"

	"github.com/parleychat/parley/chat"
)

var _ chat.Directory = (*Store)(nil)

// directory is the in-memory Directory: accounts and moderation, forgotten
// when the process ends. Guarded by Store.mu.
type directory struct {
	accounts  map[string]chat.Account
	settings  map[string]chat.RoomSettings
	sanctions []chat.Sanction
	modlog    []chat.ModEntry
	nextID    int64
}

func (s *Store) dir() *directory {
	if s.d.accounts == nil {
		s.d.accounts = map[string]chat.Account{}
		s.d.settings = map[string]chat.RoomSettings{}
	}
	return &s.d
}

// Accounts returns every account.
func (s *Store) Accounts(context.Context) ([]chat.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.dir().accounts))
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// PutAccount creates or replaces an account.
func (s *Store) PutAccount(_ context.Context, a chat.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir().accounts[a.Key] = a
	return nil
}

// DeleteAccount removes an account.
func (s *Store) DeleteAccount(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dir().accounts, key)
	return nil
}

// RoomSettings returns every room's settings.
func (s *Store) RoomSettings(context.Context) ([]chat.RoomSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.RoomSettings
	for _, rs := range s.dir().settings {
		rs.Roles = maps.Clone(rs.Roles)
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

// PutRoomSettings creates or replaces a room's settings.
func (s *Store) PutRoomSettings(_ context.Context, rs chat.RoomSettings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs.Roles = maps.Clone(rs.Roles)
	s.dir().settings[rs.Room] = rs
	return nil
}

// Sanctions returns every stored sanction.
func (s *Store) Sanctions(context.Context) ([]chat.Sanction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dir().sanctions), nil
}

// PutSanction stores a sanction and sets its ID.
func (s *Store) PutSanction(_ context.Context, sc *chat.Sanction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dir()
	d.nextID++
	sc.ID = d.nextID
	d.sanctions = append(d.sanctions, *sc)
	return nil
}

// DeleteSanction removes a sanction.
func (s *Store) DeleteSanction(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dir()
	d.sanctions = slices.DeleteFunc(d.sanctions, func(sc chat.Sanction) bool { return sc.ID == id })
	return nil
}

// maxModlog bounds the audit entries kept in memory.
const maxModlog = 10000

// AppendModlog stores an audit entry and sets its ID.
func (s *Store) AppendModlog(_ context.Context, e *chat.ModEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dir()
	d.nextID++
	e.ID = d.nextID
	if len(d.modlog) >= maxModlog {
		d.modlog = slices.Delete(d.modlog, 0, len(d.modlog)-maxModlog+1)
	}
	d.modlog = append(d.modlog, *e)
	return nil
}

// Modlog returns audit entries, newest first.
func (s *Store) Modlog(_ context.Context, room string, before int64, limit int) ([]chat.ModEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.ModEntry
	d := s.dir()
	for i := len(d.modlog) - 1; i >= 0 && len(out) < limit; i-- {
		e := d.modlog[i]
		if (before <= 0 || e.ID < before) && (room == chat.AllRooms || e.Room == room) {
			out = append(out, e)
		}
	}
	return out, nil
}
