package node

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
	"github.com/parleychat/parley/store/sqlite"
)

// Store kinds for StoreConfig.StoreKind.
const (
	StoreMemory = "memory" // in memory, forgotten on exit
	StoreSQLite = "sqlite" // SQLite database in DataDir
)

// DefaultDataDir is where the SQLite store lives unless configured.
const DefaultDataDir = "parley-data"

// StoreConfig selects and configures the message store Start opens when
// Config.Store is nil.
type StoreConfig struct {
	StoreKind      string        // StoreMemory (default) or StoreSQLite
	DataDir        string        // sqlite: directory of parley.db, created if missing; default DefaultDataDir
	RetainMessages int           // messages kept per room (and DMs in all); 0: sqlite keeps all, memory keeps memory.DefaultPerRoom
	RetainAge      time.Duration // sqlite: delete messages older than this; 0 keeps them
	StoreSync      string        // sqlite synchronous mode: "normal" (default, survives kill -9) or "full" (survives power loss)
}

// OpenStore opens the store cfg selects. The caller closes it (a SQLite
// store is an io.Closer).
func OpenStore(cfg StoreConfig, log *slog.Logger) (chat.Store, error) {
	switch cfg.StoreKind {
	case "", StoreMemory:
		if cfg.RetainAge > 0 {
			return nil, fmt.Errorf("retention by age needs the sqlite store")
		}
		return memory.New(cfg.RetainMessages), nil
	case StoreSQLite:
		dir := cfg.DataDir
		if dir == "" {
			dir = DefaultDataDir
		}
		return sqlite.Open(dir, sqlite.Options{
			RetainMessages: cfg.RetainMessages,
			RetainAge:      cfg.RetainAge,
			Sync:           cfg.StoreSync,
			Logger:         log,
		})
	}
	return nil, fmt.Errorf("unknown store %q: want %s or %s", cfg.StoreKind, StoreSQLite, StoreMemory)
}
