package chat

import (
	"context"
	"errors"
	"time"
)

// Account is a registered name as the Directory keeps it.
type Account struct {
	Name    string    // display form, as registered
	Key     string    // NameKey(Name)
	Hash    string    // argon2id hash of the password (package auth); never logged
	Created time.Time // when registered
	// Since is the newest message id when the account was registered: its
	// direct-message history starts there.
	Since uint64
	// Seen is the newest direct message that had reached one of the
	// account's sessions when the last of them left: what arrived after it
	// is replayed at the next login.
	Seen uint64
}

// Role is what a member may do in a room. Roles are ordered: each may do
// what the ones below it may.
type Role uint8

// Roles, lowest first.
const (
	RoleNone  Role = iota // a member
	RoleVoice             // may speak in a moderated (+m) room
	RoleOp                // moderates the room
	RoleOwner             // owns the room: also ops and deops
	RoleAdmin             // a server operator (--admin): everything, everywhere
)

var roleNames = [...]string{"member", "voice", "op", "owner", "admin"}

// String returns the role's name.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "unknown"
}

// RoomSettings are a room's persisted moderation settings.
type RoomSettings struct {
	Room  string          // room key
	Owner string          // owner's account key; "" for an unowned room
	Roles map[string]Role // account key (op) or name key (voice) -> role
	// Modes.
	TopicLock  bool          // +t: only ops set the topic
	Moderated  bool          // +m: only voiced members and ops speak
	InviteOnly bool          // +i: only the invited (and ops) join
	Accounts   bool          // +r: only accounts join (raid protection sets it for a while)
	Until      time.Time     // when a raid switch ends (+r set by the server); zero for none
	Slow       time.Duration // slow mode: one message per member per Slow; 0 for none
}

// empty reports whether the settings say nothing (the room is as if it
// had none).
func (rs *RoomSettings) empty() bool {
	return rs.Owner == "" && len(rs.Roles) == 0 && !rs.TopicLock && !rs.Moderated && !rs.InviteOnly && !rs.Accounts && rs.Slow == 0
}

// SanctionKind is what a sanction does.
type SanctionKind string

// Sanction kinds.
const (
	SanctionBan  SanctionKind = "ban"  // keeps the target out of the room (or the server)
	SanctionMute SanctionKind = "mute" // refuses the target's messages in the room
)

// TargetKind is what a sanction's target identifies.
type TargetKind string

// Target kinds.
const (
	TargetAccount TargetKind = "account" // an account key: follows the user across names, devices and reconnects
	TargetAddress TargetKind = "ip"      // an IP address or CIDR prefix: the guests connecting from it (accounts there are not affected)
	TargetName    TargetKind = "name"    // a name skeleton: the name and its look-alikes
)

// Sanction is a ban or a mute, in one room or (Room "") server-wide.
type Sanction struct {
	ID     int64 // assigned by the Directory
	Kind   SanctionKind
	Room   string // room key; "" for the whole server
	Target TargetKind
	Value  string    // account key, address or prefix, or name skeleton
	Label  string    // how the target was named, for people ("bob", "192.0.2.7")
	Until  time.Time // when it ends; zero for never
	By     string    // who set it
	Reason string
	At     time.Time
}

// active reports whether the sanction is still in force at now.
func (s *Sanction) active(now time.Time) bool { return s.Until.IsZero() || now.Before(s.Until) }

// ModEntry is one line of the moderation audit log.
type ModEntry struct {
	ID     int64 // assigned by the Directory, increasing
	At     time.Time
	Room   string // room key; "" for a server-wide action
	Actor  string // who did it ("*" for the server itself)
	Action string // "kick", "ban", "mode +m", ...
	Target string // whom, as named
	Reason string
	Until  time.Time // for timed sanctions
}

// AllRooms asks Directory.Modlog for the entries of every room and the
// server.
const AllRooms = "*"

// Directory persists accounts and moderation: accounts, room settings,
// sanctions and the audit log. The hub loads accounts, settings and
// sanctions when it starts and writes through on every change, on the
// goroutine of the session that made it (never while holding a lock
// anything else waits for). store/sqlite and store/memory implement it.
type Directory interface {
	// Accounts returns every account.
	Accounts(ctx context.Context) ([]Account, error)
	// PutAccount creates or replaces the account with a.Key.
	PutAccount(ctx context.Context, a Account) error
	// DeleteAccount removes an account (and nothing else).
	DeleteAccount(ctx context.Context, key string) error
	// RoomSettings returns the settings of every room that has some.
	RoomSettings(ctx context.Context) ([]RoomSettings, error)
	// PutRoomSettings creates or replaces a room's settings.
	PutRoomSettings(ctx context.Context, rs RoomSettings) error
	// Sanctions returns every stored sanction, expired ones included.
	Sanctions(ctx context.Context) ([]Sanction, error)
	// PutSanction stores a new sanction and sets its ID.
	PutSanction(ctx context.Context, s *Sanction) error
	// DeleteSanction removes a sanction.
	DeleteSanction(ctx context.Context, id int64) error
	// AppendModlog stores an audit entry and sets its ID.
	AppendModlog(ctx context.Context, e *ModEntry) error
	// Modlog returns audit entries, newest first: of one room (room ""
	// for the server-wide ones, AllRooms for every entry), with ids below
	// before (0: no bound), at most limit.
	Modlog(ctx context.Context, room string, before int64, limit int) ([]ModEntry, error)
}

// ErrConflict is what a SharedDirectory's write returns when the record
// was changed elsewhere since the hub's copy of it: the newer version has
// been applied by the time it returns, and the hub tries again with it.
var ErrConflict = errors.New("directory: changed elsewhere meanwhile")

// SharedDirectory is a Directory that the nodes of a cluster share
// (package cluster implements it). Every change reaches every hub through
// ApplyDirectory, one at a time and in the order the directory stored
// them: a hub's own writes are applied before the write returns, other
// nodes' as they arrive. A hub with a SharedDirectory keeps no change of
// its own: its copy is only ever what the directory applied, so every
// node holds the same accounts, settings and sanctions.
type SharedDirectory interface {
	Directory
	// Attach is called once, by New: it applies everything stored (the
	// hub's initial load), then every change as it happens, until the
	// directory closes.
	Attach(DirectoryApplier) error
	// CloakKey is the key guests' address cloaks are made with (after
	// Attach): the same on every node, so a guest shows, and is banned,
	// by one cloak everywhere.
	CloakKey() [32]byte
}

// DirectoryApplier is what a SharedDirectory applies changes to: a Hub.
// ApplyDirectory must not call the directory back or wait on anything
// that does.
type DirectoryApplier interface {
	ApplyDirectory(DirectoryChange)
}

// DirectoryChange is one change of a SharedDirectory. Exactly one of the
// pointers is set.
type DirectoryChange struct {
	// Remote says another node made it (its effects on this node's
	// sessions, like a ban's, are this node's to carry out).
	Remote bool

	Account      *Account      // stored or replaced
	AccountGone  *Account      // deleted (its last stored version)
	Settings     *RoomSettings // a room's settings stored
	Sanction     *Sanction     // a new sanction (ID set)
	SanctionGone *Sanction     // a lifted sanction
}
