package cluster

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/chat"
)

// decoder names one of the directory's decoders, for the tables below.
type decoder int

const (
	decAccount decoder = iota
	decSettings
	decSanction
	decModEntry
)

func (d decoder) String() string {
	return [...]string{"account", "settings", "sanction", "modentry"}[d]
}

// decode runs d on b; arg is the account's key token (decAccount) or the
// room key (decSettings).
func (d decoder) decode(b []byte, arg string) (any, error) {
	switch d {
	case decAccount:
		return decodeAccount(b, arg)
	case decSettings:
		return decodeSettings(b, arg)
	case decSanction:
		return decodeSanction(b)
	default:
		return decodeModEntry(b)
	}
}

// mustJSON marshals v (a test's directory value).
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeDirectoryAcceptsValidEntries(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	hash := "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	for _, tc := range []struct {
		name string
		d    decoder
		arg  string
		want any
	}{
		{"account", decAccount, token("alice"),
			chat.Account{Name: "Alice", Key: "alice", Hash: hash, Created: at, Since: 5, Seen: 7}},
		{"account, unicode name", decAccount, token("chloé"),
			chat.Account{Name: "Chloé", Key: "chloé", Hash: "h"}},
		{"account, longest hash", decAccount, token("bob"),
			chat.Account{Name: "bob", Key: "bob", Hash: strings.Repeat("h", 1024)}},
		{"settings", decSettings, "dev",
			chat.RoomSettings{Room: "dev", Owner: "alice", Roles: map[string]chat.Role{"bob": chat.RoleVoice, "carol": chat.RoleOp, "dave": chat.RoleOwner, "erin": chat.RoleNone},
				TopicLock: true, Moderated: true, InviteOnly: true, Accounts: true, Until: at, Slow: 5 * time.Second}},
		{"settings, none", decSettings, "dev", chat.RoomSettings{Room: "dev"}},
		{"settings, unicode room", decSettings, "ünïcode", chat.RoomSettings{Room: "ünïcode", Owner: "chloé"}},
		{"room ban of an account", decSanction, "",
			chat.Sanction{Kind: chat.SanctionBan, Room: "dev", Target: chat.TargetAccount, Value: "bob", Label: "bob", By: "alice", Reason: "spam", At: at, Until: at.Add(time.Hour)}},
		{"server mute of an address", decSanction, "",
			chat.Sanction{Kind: chat.SanctionMute, Target: chat.TargetAddress, Value: "192.0.2.0/24", Label: "192.0.2.7", By: "*", At: at}},
		{"name ban, longest value", decSanction, "",
			chat.Sanction{Kind: chat.SanctionBan, Room: "dev", Target: chat.TargetName, Value: strings.Repeat("v", 256), Label: "v", By: "alice"}},
		{"audit entry", decModEntry, "",
			chat.ModEntry{At: at, Room: "dev", Actor: "alice", Action: "ban", Target: "bob", Reason: "spam", Until: at.Add(time.Hour)}},
		{"server audit entry", decModEntry, "",
			chat.ModEntry{At: at, Actor: "*", Action: "mode +r"}},
		{"audit entry, longest reason", decModEntry, "",
			chat.ModEntry{Room: "dev", Actor: "alice", Action: "kick", Target: "bob", Reason: strings.Repeat("r", 4096)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.decode([]byte(mustJSON(t, tc.want)), tc.arg)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			// What the node writes has its ID set by the directory (from
			// the revision or sequence), never from the value.
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded as %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeDirectoryRefusesBadEntries(t *testing.T) {
	hash := "h"
	acct := func(name, key, hash string) string {
		return fmt.Sprintf(`{"Name":%q,"Key":%q,"Hash":%q}`, name, key, hash)
	}
	settings := func(fields string) string { return `{"Room":"dev"` + fields + `}` }
	sanction := func(fields string) string {
		return `{"Kind":"ban","Room":"dev","Target":"account","Value":"bob","Label":"bob","By":"alice","Reason":"spam"` + fields + `}`
	}
	entry := func(fields string) string {
		return `{"Room":"dev","Actor":"alice","Action":"ban","Target":"bob","Reason":"spam"` + fields + `}`
	}
	// The templates themselves are valid: each case below changes one
	// thing (a later duplicate field wins in encoding/json).
	for _, ok := range []struct {
		d      decoder
		b, arg string
	}{
		{decAccount, acct("alice", "alice", hash), token("alice")},
		{decSettings, settings(""), "dev"},
		{decSanction, sanction(""), ""},
		{decModEntry, entry(""), ""},
	} {
		if _, err := ok.d.decode([]byte(ok.b), ok.arg); err != nil {
			t.Fatalf("the %s template %s is refused: %v", ok.d, ok.b, err)
		}
	}
	for _, tc := range []struct {
		name   string
		d      decoder
		b, arg string
	}{
		// Accounts.
		{"account: not json", decAccount, `{"Name":"alice",`, token("alice")},
		{"account: empty value", decAccount, ``, token("alice")},
		{"account: null", decAccount, `null`, token("alice")},
		{"account: an array", decAccount, `[]`, token("alice")},
		{"account: garbage bytes", decAccount, "\xff\x00\x1b[2J", token("alice")},
		{"account: a wrong field type", decAccount, `{"Name":"alice","Key":"alice","Hash":"h","Since":-1}`, token("alice")},
		{"account: under another key", decAccount, acct("alice", "alice", hash), token("bob")},
		{"account: under the empty key", decAccount, acct("alice", "alice", hash), "_"},
		{"account: a key token that is not hex", decAccount, acct("alice", "alice", hash), "zz"},
		{"account: a key token of odd length", decAccount, acct("alice", "alice", hash), token("alice")[1:]},
		{"account: no key", decAccount, `{"Name":"alice","Hash":"h"}`, token("alice")},
		{"account: an invalid name", decAccount, acct("al ice", "al ice", hash), token("al ice")},
		{"account: a name with an escape", decAccount, acct("al\x1bice", "al\x1bice", hash), token("al\x1bice")},
		{"account: an empty name", decAccount, acct("", "", hash), "_"},
		{"account: a reserved name", decAccount, acct("admin", "admin", hash), token("admin")},
		{"account: a name too long", decAccount, acct(strings.Repeat("a", 33), strings.Repeat("a", 33), hash), token(strings.Repeat("a", 33))},
		{"account: a name not in NFC", decAccount, acct("Chloe\u0301", "chloé", hash), token("chloé")},
		{"account: a name whose key differs", decAccount, acct("alice", "bob", hash), token("bob")},
		{"account: a key not folded", decAccount, acct("Alice", "Alice", hash), token("Alice")},
		{"account: an empty hash", decAccount, acct("alice", "alice", ""), token("alice")},
		{"account: no hash", decAccount, `{"Name":"alice","Key":"alice"}`, token("alice")},
		{"account: a huge hash", decAccount, acct("alice", "alice", strings.Repeat("h", 1025)), token("alice")},

		// Room settings.
		{"settings: not json", decSettings, `{"Room":`, "dev"},
		{"settings: empty value", decSettings, ``, "dev"},
		{"settings: null", decSettings, `null`, "dev"},
		{"settings: garbage bytes", decSettings, "\x00\x01\x02", "dev"},
		{"settings: for another room", decSettings, `{"Room":"ops","Moderated":true}`, "dev"},
		{"settings: no room", decSettings, `{"Moderated":true}`, "dev"},
		{"settings: the room not as its key", decSettings, `{"Room":"Dev"}`, "dev"},
		{"settings: a bad owner", decSettings, settings(`,"Owner":"al ice"`), "dev"},
		{"settings: an owner not folded", decSettings, settings(`,"Owner":"Alice"`), "dev"},
		{"settings: a reserved owner", decSettings, settings(`,"Owner":"admin"`), "dev"},
		{"settings: an owner with an escape", decSettings, settings(`,"Owner":"al\u001bice"`), "dev"},
		{"settings: the admin role", decSettings, settings(`,"Roles":{"bob":4}`), "dev"},
		{"settings: role 99", decSettings, settings(`,"Roles":{"bob":99}`), "dev"},
		{"settings: role 256", decSettings, settings(`,"Roles":{"bob":256}`), "dev"},
		{"settings: a negative role", decSettings, settings(`,"Roles":{"bob":-1}`), "dev"},
		{"settings: a role not a number", decSettings, settings(`,"Roles":{"bob":"op"}`), "dev"},
		{"settings: a role key not folded", decSettings, settings(`,"Roles":{"Bob":2}`), "dev"},
		{"settings: a role key with a space", decSettings, settings(`,"Roles":{"b ob":1}`), "dev"},
		{"settings: an empty role key", decSettings, settings(`,"Roles":{"":1}`), "dev"},
		{"settings: a bad role among good", decSettings, settings(`,"Roles":{"bob":1,"carol":2,"x\u0007":1}`), "dev"},
		{"settings: negative slow mode", decSettings, settings(`,"Slow":-1`), "dev"},
		{"settings: slow mode not a number", decSettings, settings(`,"Slow":"5s"`), "dev"},
		{"settings: a bad until", decSettings, settings(`,"Until":"tomorrow"`), "dev"},

		// Sanctions.
		{"sanction: not json", decSanction, `{"Kind":"ban"`, ""},
		{"sanction: empty value", decSanction, ``, ""},
		{"sanction: null", decSanction, `null`, ""},
		{"sanction: garbage bytes", decSanction, "\xfe\xff", ""},
		{"sanction: an unknown kind", decSanction, sanction(`,"Kind":"kick"`), ""},
		{"sanction: no kind", decSanction, sanction(`,"Kind":""`), ""},
		{"sanction: a kind not folded", decSanction, sanction(`,"Kind":"BAN"`), ""},
		{"sanction: an unknown target", decSanction, sanction(`,"Target":"everyone"`), ""},
		{"sanction: no target kind", decSanction, sanction(`,"Target":""`), ""},
		{"sanction: a bad room", decSanction, sanction(`,"Room":"Dev Room"`), ""},
		{"sanction: a room not folded", decSanction, sanction(`,"Room":"Dev"`), ""},
		{"sanction: a room with its #", decSanction, sanction(`,"Room":"#dev"`), ""},
		{"sanction: an empty value", decSanction, sanction(`,"Value":""`), ""},
		{"sanction: a huge value", decSanction, sanction(`,"Value":"` + strings.Repeat("v", 257) + `"`), ""},
		{"sanction: a reason with a newline", decSanction, sanction(`,"Reason":"spam\nmore"`), ""},
		{"sanction: a reason with a tab", decSanction, sanction(`,"Reason":"spam\tmore"`), ""},
		{"sanction: a reason with an escape", decSanction, sanction(`,"Reason":"spam\u001b[2J"`), ""},
		{"sanction: a reason with a bell", decSanction, sanction(`,"Reason":"spam\u0007"`), ""},
		{"sanction: a reason with spaces around", decSanction, sanction(`,"Reason":" spam "`), ""},
		{"sanction: a huge reason", decSanction, sanction(`,"Reason":"` + strings.Repeat("r", 4097) + `"`), ""},
		{"sanction: a label with control characters", decSanction, sanction(`,"Label":"bob\u0000"`), ""},
		{"sanction: a setter with a newline", decSanction, sanction(`,"By":"alice\r\nPRIVMSG"`), ""},
		{"sanction: a bad time", decSanction, sanction(`,"Until":12`), ""},

		// Audit entries.
		{"audit: not json", decModEntry, `{"Actor":`, ""},
		{"audit: empty value", decModEntry, ``, ""},
		{"audit: garbage bytes", decModEntry, "\x00garbage\xff", ""},
		{"audit: an array", decModEntry, `[1,2]`, ""},
		{"audit: a bad room", decModEntry, entry(`,"Room":"Dev Room"`), ""},
		{"audit: a room not folded", decModEntry, entry(`,"Room":"DEV"`), ""},
		{"audit: an actor with an escape", decModEntry, entry(`,"Actor":"\u001b]0;owned\u0007"`), ""},
		{"audit: an action with a newline", decModEntry, entry(`,"Action":"ban\nkick"`), ""},
		{"audit: a target with control characters", decModEntry, entry(`,"Target":"bob\u0008\u0008"`), ""},
		{"audit: a reason with a newline", decModEntry, entry(`,"Reason":"spam\nforged line"`), ""},
		{"audit: a reason with C1 controls", decModEntry, entry(`,"Reason":"spam\u009b2J"`), ""},
		{"audit: a huge reason", decModEntry, entry(`,"Reason":"` + strings.Repeat("r", 4097) + `"`), ""},
		{"audit: a bad time", decModEntry, entry(`,"At":"yesterday"`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := tc.d.decode([]byte(tc.b), tc.arg); err == nil {
				t.Fatalf("%s %q (arg %q) accepted as %+v", tc.d, tc.b, tc.arg, v)
			}
		})
	}
}

// FuzzDecodeDirectory: whatever the directory's bucket or the audit
// stream holds, under whatever key, the decoders never panic; what they
// accept passes their checks (a valid name under its own key, a room's
// settings under that room, known kinds, clean text) and, encoded again
// as a node would write it, is accepted again as the same value (compared
// encoded: a time's location may be another pointer).
func FuzzDecodeDirectory(f *testing.F) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []struct {
		v   any
		arg string
	}{
		{chat.Account{Name: "Alice", Key: "alice", Hash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Created: at, Since: 5, Seen: 7}, token("alice")},
		{chat.RoomSettings{Room: "dev", Owner: "alice", Roles: map[string]chat.Role{"bob": chat.RoleVoice, "carol": chat.RoleOp}, Moderated: true, Slow: time.Second, Until: at}, "dev"},
		{chat.Sanction{Kind: chat.SanctionBan, Room: "dev", Target: chat.TargetName, Value: "bob", Label: "Bob", By: "alice", Reason: "spam", At: at}, ""},
		{chat.Sanction{Kind: chat.SanctionMute, Target: chat.TargetAddress, Value: "192.0.2.0/24", By: "*"}, ""},
		{chat.ModEntry{At: at, Room: "dev", Actor: "alice", Action: "mode +m", Target: "", Reason: "raid"}, ""},
	} {
		b, err := json.Marshal(s.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, s.arg)
	}
	f.Add([]byte(`{"Name":"Chloe\u0301","Key":"chloé","Hash":"h"}`), token("chloé"))
	f.Add([]byte(`{"Room":"dev","Roles":{"bob":99}}`), "dev")
	f.Add([]byte(`{"Kind":"kick","Target":"everyone","Value":"x","Reason":"a\nb"}`), "_")
	f.Add([]byte("\xff\x00not json"), "zz")
	f.Fuzz(func(t *testing.T, b []byte, arg string) {
		if a, err := decodeAccount(b, arg); err == nil {
			if key, err := untoken(arg); err != nil || key != a.Key || !validName(a.Name) || chat.NameKey(a.Name) != a.Key || a.Hash == "" {
				t.Fatalf("accepted the account %+v under %q", a, arg)
			}
			again, err := decodeAccount([]byte(mustJSON(t, a)), token(a.Key))
			if err != nil || mustJSON(t, again) != mustJSON(t, a) {
				t.Fatalf("the account %+v re-encoded decodes as %+v, %v", a, again, err)
			}
		}
		if rs, err := decodeSettings(b, arg); err == nil {
			if rs.Room != arg || rs.Slow < 0 {
				t.Fatalf("accepted the settings %+v for room %q", rs, arg)
			}
			for k, r := range rs.Roles {
				if r > chat.RoleOwner || !validKey(k) {
					t.Fatalf("accepted the role %q: %d", k, r)
				}
			}
			again, err := decodeSettings([]byte(mustJSON(t, rs)), rs.Room)
			if err != nil || mustJSON(t, again) != mustJSON(t, rs) {
				t.Fatalf("the settings %+v re-encoded decode as %+v, %v", rs, again, err)
			}
		}
		if sc, err := decodeSanction(b); err == nil {
			if (sc.Kind != chat.SanctionBan && sc.Kind != chat.SanctionMute) || sc.Value == "" || (sc.Room != "" && !validRoom(sc.Room)) {
				t.Fatalf("accepted the sanction %+v", sc)
			}
			for _, s := range []string{sc.Label, sc.Reason, sc.By} {
				if strings.ContainsAny(s, "\x00\x1b\n\r\t\u009b") {
					t.Fatalf("accepted the sanction %+v with control characters", sc)
				}
			}
			again, err := decodeSanction([]byte(mustJSON(t, sc)))
			if err != nil || mustJSON(t, again) != mustJSON(t, sc) {
				t.Fatalf("the sanction %+v re-encoded decodes as %+v, %v", sc, again, err)
			}
		}
		if e, err := decodeModEntry(b); err == nil {
			if e.Room != "" && !validRoom(e.Room) {
				t.Fatalf("accepted the audit entry %+v", e)
			}
			for _, s := range []string{e.Actor, e.Action, e.Target, e.Reason} {
				if strings.ContainsAny(s, "\x00\x1b\n\r\t\u009b") {
					t.Fatalf("accepted the audit entry %+v with control characters", e)
				}
			}
			again, err := decodeModEntry([]byte(mustJSON(t, e)))
			if err != nil || mustJSON(t, again) != mustJSON(t, e) {
				t.Fatalf("the audit entry %+v re-encoded decodes as %+v, %v", e, again, err)
			}
		}
	})
}
