package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/sqlite"
	"github.com/parleychat/parley/store/storetest"
)

var ctx = context.Background()

func open(t *testing.T, dir string, opt sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ids(msgs []chat.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{})
	var want []chat.Message
	for id := uint64(1); id <= 100; id++ {
		m := storetest.Msg(id, "lobby")
		if id%10 == 0 {
			m = storetest.DM(id, "alice", "bob")
		}
		want = append(want, m)
	}
	if err := s.Append(ctx, want[:50]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, want[50:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := s.Append(ctx, want[:1]); err == nil {
		t.Fatal("append after close succeeded")
	}

	s = open(t, dir, sqlite.Options{})
	if last, err := s.LastID(ctx); err != nil || last != 100 {
		t.Fatalf("LastID after reopen = %d, %v", last, err)
	}
	room, err := s.History(ctx, chat.HistoryQuery{Room: "lobby", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	dms, err := s.History(ctx, chat.HistoryQuery{User: "BOB", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(room) != 90 || len(dms) != 10 {
		t.Fatalf("after reopen: %d room messages, %d DMs", len(room), len(dms))
	}
	for _, m := range append(room, dms...) {
		w := want[m.ID-1]
		if m.Text != w.Text || m.From != w.From || m.To != w.To || m.Kind != w.Kind || !m.Time.Equal(w.Time) {
			t.Errorf("message %d: got %+v, want %+v", m.ID, m, w)
		}
	}
}

func TestDuplicateIDRejectsBatch(t *testing.T) {
	s := open(t, t.TempDir(), sqlite.Options{})
	if err := s.Append(ctx, []chat.Message{storetest.Msg(1, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, []chat.Message{storetest.Msg(2, "a"), storetest.Msg(1, "a")}); err == nil {
		t.Fatal("a batch reusing an id was stored")
	}
	got, _ := s.History(ctx, chat.HistoryQuery{Room: "a", Limit: 10})
	if fmt.Sprint(ids(got)) != "[1]" {
		t.Fatalf("a failed batch was partly stored: %v", ids(got))
	}
}

func TestRetentionSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{RetainMessages: 20})
	for id := uint64(1); id <= 100; id++ {
		if err := s.Append(ctx, []chat.Message{storetest.Msg(id, "a")}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Reopening with a smaller limit prunes at once, and the ids of
	// pruned messages are never handed out again.
	s = open(t, dir, sqlite.Options{RetainMessages: 5})
	got, _ := s.History(ctx, chat.HistoryQuery{Room: "a", Limit: 100})
	if fmt.Sprint(ids(got)) != "[96 97 98 99 100]" {
		t.Fatalf("kept %v", ids(got))
	}
	if p, _ := s.PrunedThrough(ctx, "a"); p != 95 {
		t.Fatalf("PrunedThrough = %d, want 95", p)
	}
	if last, _ := s.LastID(ctx); last != 100 {
		t.Fatalf("LastID = %d", last)
	}
}

func TestRetentionByAge(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{RetainAge: time.Hour, Now: clock, PruneInterval: time.Hour})
	var msgs []chat.Message
	for id := uint64(1); id <= 10; id++ {
		m := storetest.Msg(id, "a")
		m.Time = now.Add(-time.Duration(11-id) * 10 * time.Minute) // 100 min ago .. 10 min ago
		msgs = append(msgs, m)
	}
	dm := storetest.DM(11, "alice", "bob")
	dm.Time = now.Add(-2 * time.Hour)
	msgs = append(msgs, dm)
	if err := s.Append(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		advance time.Duration
		want    string
		pruned  uint64
	}{
		{0, "[5 6 7 8 9 10]", 4},
		{15 * time.Minute, "[7 8 9 10]", 6},
		{time.Hour, "[]", 10},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		if err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := s.History(ctx, chat.HistoryQuery{Room: "a", Limit: 100})
		if fmt.Sprint(ids(got)) != tt.want {
			t.Errorf("after %v: kept %v, want %s", tt.advance, ids(got), tt.want)
		}
		if p, _ := s.PrunedThrough(ctx, "a"); p != tt.pruned {
			t.Errorf("after %v: PrunedThrough = %d, want %d", tt.advance, p, tt.pruned)
		}
	}
	if got, _ := s.History(ctx, chat.HistoryQuery{User: "alice", Limit: 100}); len(got) != 0 {
		t.Errorf("an old DM was kept: %v", ids(got))
	}
	// Everything is gone, yet ids do not restart.
	if last, _ := s.LastID(ctx); last != 11 {
		t.Errorf("LastID = %d, want 11", last)
	}
}

func TestBackup(t *testing.T) {
	s := open(t, t.TempDir(), sqlite.Options{})
	if err := s.Append(ctx, []chat.Message{storetest.Msg(1, "a"), storetest.Msg(2, "a")}); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := s.Backup(ctx, filepath.Join(dst, sqlite.FileName)); err != nil {
		t.Fatal(err)
	}
	b := open(t, dst, sqlite.Options{})
	got, _ := b.History(ctx, chat.HistoryQuery{Room: "a", Limit: 10})
	if fmt.Sprint(ids(got)) != "[1 2]" {
		t.Fatalf("backup holds %v", ids(got))
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the data dir
		opt   sqlite.Options
		want  string
	}{
		{"garbage file", func(t *testing.T) string {
			d := t.TempDir()
			write(t, filepath.Join(d, sqlite.FileName), bytes.Repeat([]byte("garbage!"), 1000))
			return d
		}, sqlite.Options{}, "is not a parley database"},
		{"short garbage file", func(t *testing.T) string {
			d := t.TempDir()
			write(t, filepath.Join(d, sqlite.FileName), []byte("hello"))
			return d
		}, sqlite.Options{}, "is not a parley database"},
		{"truncated database", func(t *testing.T) string {
			d := t.TempDir()
			s, err := sqlite.Open(d, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var msgs []chat.Message
			for id := uint64(1); id <= 2000; id++ {
				msgs = append(msgs, storetest.Msg(id, "lobby"))
			}
			if err := s.Append(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			s.Close()
			path := filepath.Join(d, sqlite.FileName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Scribble over everything after the header page.
			for i := 4096; i < len(b); i++ {
				b[i] = 0xAA
			}
			write(t, path, b)
			return d
		}, sqlite.Options{}, "corrupt"},
		{"another program's database", func(t *testing.T) string {
			d := t.TempDir()
			db, err := sql.Open("sqlite", filepath.Join(d, sqlite.FileName))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			return d
		}, sqlite.Options{}, "another program"},
		{"data dir is a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			write(t, f, []byte("x"))
			return f
		}, sqlite.Options{}, "cannot be created"},
		{"database is a directory", func(t *testing.T) string {
			d := t.TempDir()
			if err := os.Mkdir(filepath.Join(d, sqlite.FileName), 0o700); err != nil {
				t.Fatal(err)
			}
			return d
		}, sqlite.Options{}, "not a regular file"},
		{"read-only data dir", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("root can write to a read-only directory")
			}
			d := t.TempDir()
			if err := os.Chmod(d, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			return d
		}, sqlite.Options{}, "is not writable"},
		{"in use", func(t *testing.T) string {
			d := t.TempDir()
			open(t, d, sqlite.Options{})
			return d
		}, sqlite.Options{}, "in use by another parley server"},
		{"bad sync", func(t *testing.T) string { return t.TempDir() }, sqlite.Options{Sync: "sometimes"}, "sync must be"},
		{"negative retention", func(t *testing.T) string { return t.TempDir() }, sqlite.Options{RetainMessages: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			s, err := sqlite.Open(dir, tt.opt)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFull(t *testing.T) {
	s := open(t, t.TempDir(), sqlite.Options{Sync: "full"})
	if err := s.Append(ctx, []chat.Message{storetest.Msg(1, "a")}); err != nil {
		t.Fatal(err)
	}
}

// TestWALStaysBounded: checkpoints run beside the writer, and under
// sustained writing the WAL must still be recycled, not grow with the data.
func TestWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 60 MB")
	}
	dir := t.TempDir()
	s := open(t, dir, sqlite.Options{})
	text := strings.Repeat("x", 1500)
	msgs := make([]chat.Message, 1024)
	id := uint64(0)
	var peak int64
	for b := 0; b < 40; b++ {
		for i := range msgs {
			id++
			msgs[i] = chat.Message{ID: id, Time: time.Now(), Kind: chat.KindSay, Room: "lobby", From: "alice", Text: text}
		}
		if err := s.Append(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, sqlite.FileName+"-wal")); err == nil {
			peak = max(peak, fi.Size())
		}
	}
	db, _ := os.Stat(filepath.Join(dir, sqlite.FileName))
	t.Logf("database %d MB, WAL peak %d MB", db.Size()>>20, peak>>20)
	if peak > 40<<20 {
		t.Fatalf("the WAL grew to %d MB", peak>>20)
	}
}

// TestOddDataDirNames: characters that mean something in a URI filename are
// taken literally.
func TestOddDataDirNames(t *testing.T) {
	for _, name := range []string{"with space", "100%41", "what?x=1", "#hash", "ünïcödé", "a&b=c"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			s, err := sqlite.Open(dir, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, []chat.Message{storetest.Msg(1, "a")}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
				t.Fatalf("database not where expected: %v", err)
			}
			if err := sqlite.Backup(ctx, dir, filepath.Join(dir, "copy?.db")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "copy?.db")); err != nil {
				t.Fatalf("backup not where expected: %v", err)
			}
			s = open(t, dir, sqlite.Options{})
			if last, err := s.LastID(ctx); err != nil || last != 1 {
				t.Fatalf("LastID after reopen = %d, %v", last, err)
			}
		})
	}
}

// TestUpgradeFromVersion1: a database written by the schema before topics
// opens, keeps its messages and ids, and stores topics from then on, also
// across a reopen.
func TestUpgradeFromVersion1(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`PRAGMA journal_mode = WAL;
PRAGMA application_id = 1347570777;
CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, kind INTEGER NOT NULL, ts INTEGER NOT NULL,
	sender TEXT NOT NULL, recipient TEXT NOT NULL DEFAULT '', from_key TEXT NOT NULL DEFAULT '', to_key TEXT NOT NULL DEFAULT '', body TEXT NOT NULL);
CREATE INDEX messages_room_id ON messages(room, id);
CREATE TABLE rooms (room TEXT PRIMARY KEY, pruned_through INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
INSERT INTO messages(id, room, kind, ts, sender, body) VALUES (41, 'lobby', 1, 0, 'alice', 'from version 1');
INSERT INTO rooms(room) VALUES ('lobby');
PRAGMA user_version = 1;`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	if last, err := s.LastID(ctx); err != nil || last != 41 {
		t.Fatalf("LastID = %d, %v", last, err)
	}
	if err := s.SetTopic(ctx, chat.Topic{Room: "lobby", Text: "upgraded", By: "bob", At: time.Unix(5, 0)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, sqlite.Options{})
	topics, err := s.Topics(ctx)
	if err != nil || len(topics) != 1 || topics[0].Text != "upgraded" || topics[0].By != "bob" || !topics[0].At.Equal(time.Unix(5, 0)) {
		t.Fatalf("topics after reopen: %+v, %v", topics, err)
	}
	msgs, err := s.History(ctx, chat.HistoryQuery{Room: "lobby", Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Text != "from version 1" {
		t.Fatalf("history after the upgrade: %+v, %v", msgs, err)
	}
}

// TestIDsNeverGoBack: when the database loses its newest messages after
// they were stored (a damaged WAL, a restored backup), the id mark beside
// it keeps ids going up: the loss is logged with its range, the next id is
// above every id ever assigned, and resuming from inside the gap is
// reported as history_gone.
func TestIDsNeverGoBack(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := s.Append(ctx, []chat.Message{storetest.Msg(0, "lobby")}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Lose the newest three, as a cut WAL would.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM messages WHERE id > 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	logs := &bytes.Buffer{}
	s = open(t, dir, sqlite.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if last, err := s.LastID(ctx); err != nil || last != 10 {
		t.Fatalf("LastID = %d, %v; want 10, the highest ever assigned", last, err)
	}
	if !strings.Contains(logs.String(), "lost_ids=8-10") {
		t.Fatalf("the loss was not logged with its range:\n%s", logs)
	}
	if p, err := s.PrunedThrough(ctx, "lobby"); err != nil || p < 10 {
		t.Fatalf("PrunedThrough = %d, %v: a resume from inside the gap would look complete", p, err)
	}
	msgs := []chat.Message{storetest.Msg(0, "lobby")}
	if err := s.Append(ctx, msgs); err != nil || msgs[0].ID != 11 {
		t.Fatalf("next id %d, %v; want 11", msgs[0].ID, err)
	}
}
