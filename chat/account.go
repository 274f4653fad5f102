package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/auth"
)

// Registration says who may create accounts.
type Registration string

// Registration modes.
const (
	RegistrationOpen   Registration = "open"   // anyone may register the name they hold (the default)
	RegistrationClosed Registration = "closed" // nobody may create an account from a chat session
	RegistrationAdmin  Registration = "admin"  // only server operators create accounts (/register NAME PASSWORD)
)

// ParseRegistration reads a --registration value.
func ParseRegistration(s string) (Registration, error) {
	switch r := Registration(strings.ToLower(s)); r {
	case RegistrationOpen, RegistrationClosed, RegistrationAdmin:
		return r, nil
	case "":
		return RegistrationOpen, nil
	}
	return "", errors.New("registration must be open, closed or admin")
}

// account is an Account with its online sessions. Every field is guarded
// by Hub.mu except delivered.
type account struct {
	Account
	sessions []*Session // online, oldest first
	// delivered is the newest direct message involving the account that
	// was handed to its sessions; written while Hub.mu is read-held, so a
	// session added under Hub.mu sees every DM either at or below it (to
	// replay) or live.
	delivered atomic.Uint64
}

// errNoDirectory is what account and moderation commands say on a hub
// without a Directory.
var errNoDirectory = &Error{Code: CodeUnavailable, Message: "accounts are not available on this server (it has no store for them)"}

// noDirectory is the error of an account or moderation command on a hub
// without a Directory.
func (h *Hub) noDirectory() *Error { return errNoDirectory }

// loadDirectory reads accounts, room settings and sanctions at start;
// last is the log's last id: every message up to it is stored, so an
// account's next login replays its direct messages up to there.
func (h *Hub) loadDirectory(last uint64) error {
	h.accounts = make(map[string]*account)
	h.acctLooks = make(map[string]*account)
	h.admins = make(map[string]bool)
	for _, a := range h.cfg.Admins {
		h.admins[NameKey(a)] = true
	}
	h.hashSem = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	h.acctGuard = auth.NewGuard(h.cfg.AccountPolicy, h.now)
	h.addrGuard = auth.NewGuard(h.cfg.AddressPolicy, h.now)
	// Accounts one address may create: RegistrationsPerHour, then none
	// for an hour (names are not to be hoarded by a script).
	h.regGuard = auth.NewGuard(auth.Policy{Window: time.Hour, LockFrom: max(h.cfg.RegistrationsPerHour, 0), LockFor: time.Hour}, h.now)
	h.mod.init()
	if _, err := rand.Read(h.cloakKey[:]); err != nil {
		return err
	}
	if h.dir == nil {
		return nil
	}
	if err := h.readDirectory(); err != nil {
		return err
	}
	for key := range h.admins {
		if h.accounts[key] == nil {
			h.log.Warn("a server operator's account is not registered yet: register it from this machine (nc 127.0.0.1 1235, then /register PASSWORD)", "admin", key)
		}
	}
	return nil
}

// readDirectory loads what the Directory holds; a SharedDirectory applies
// it (and from then on every change) itself. An account's next login
// replays its direct messages from its Seen up to the log's last id
// (lastDelivered, at start).
func (h *Hub) readDirectory() error {
	if h.sharedDir != nil {
		if err := h.sharedDir.Attach(h); err != nil {
			return err
		}
		h.cloakKey = h.sharedDir.CloakKey()
		return nil
	}
	ctx := context.Background()
	accts, err := h.dir.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		h.applyAccount(a)
	}
	settings, err := h.dir.RoomSettings(ctx)
	if err != nil {
		return err
	}
	sanctions, err := h.dir.Sanctions(ctx)
	if err != nil {
		return err
	}
	h.mod.load(settings, sanctions, h.now())
	return nil
}

// ApplyDirectory implements DirectoryApplier: a SharedDirectory's change
// becomes the hub's. A change made on another node is carried out here
// too: a ban removes the members it matches (a server ban disconnects
// them), and a deleted account's sessions are disconnected; both in the
// background, since the directory waits for ApplyDirectory.
func (h *Hub) ApplyDirectory(c DirectoryChange) {
	switch {
	case c.Account != nil:
		h.applyAccount(*c.Account)
	case c.AccountGone != nil:
		if gone := h.applyAccountGone(*c.AccountGone); c.Remote && len(gone) > 0 {
			go func() {
				for _, s := range gone {
					s.Kill("your account was deleted", ServerName)
				}
			}()
		}
	case c.Settings != nil:
		h.mod.applySettings(*c.Settings)
	case c.Sanction != nil:
		h.mod.applySanction(*c.Sanction, h.now())
		if c.Remote && c.Sanction.Kind == SanctionBan {
			go h.enforceBan(*c.Sanction)
		}
	case c.SanctionGone != nil:
		h.mod.applySanctionGone(*c.SanctionGone)
	}
}

// applyAccount makes a stored account the hub's: a new one, or a newer
// version of one it has (same Created), updated in place so that its
// sessions stay its own. A different account under the same key (deleted
// and registered again) replaces the old one.
func (h *Hub) applyAccount(a Account) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.accounts[a.Key]; cur != nil {
		if cur.Created.Equal(a.Created) {
			cur.Hash, cur.Since, cur.Seen = a.Hash, a.Since, a.Seen
			bumpTo(&cur.delivered, a.Seen)
			return
		}
		h.forgetAccountLocked(cur)
	}
	acct := &account{Account: a}
	acct.delivered.Store(max(a.Seen, h.lastDelivered.Load()))
	h.accounts[a.Key] = acct
	h.acctLooks[NameSkeleton(a.Name)] = acct
}

// applyAccountGone forgets a deleted account and returns its sessions on
// this node (they are disconnected, or, for the session that deleted it,
// kept on as a guest, by the caller).
func (h *Hub) applyAccountGone(a Account) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.accounts[a.Key]
	if cur == nil || !a.Created.IsZero() && !cur.Created.Equal(a.Created) {
		return nil
	}
	h.forgetAccountLocked(cur)
	return slices.Clone(cur.sessions)
}

// forgetAccountLocked removes an account from the hub's maps. Caller holds
// h.mu.
func (h *Hub) forgetAccountLocked(a *account) {
	if h.accounts[a.Key] == a {
		delete(h.accounts, a.Key)
	}
	if skel := NameSkeleton(a.Name); h.acctLooks[skel] == a {
		delete(h.acctLooks, skel)
	}
}

// registeredLocked returns the account a name is, or looks like; nil for
// none. Caller holds h.mu.
func (h *Hub) registeredLocked(key, skel string) *account {
	if a := h.accounts[key]; a != nil {
		return a
	}
	return h.acctLooks[skel]
}

// IsRegistered reports whether name is an account's, or looks like one:
// a guest may not take it.
func (h *Hub) IsRegistered(name string) bool {
	display, key, err := ValidateName(name)
	if err != nil {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.registeredLocked(key, NameSkeleton(display)) != nil
}

// IsAdmin reports whether the session is logged in as a server operator.
func (s *Session) IsAdmin() bool {
	s.mu.Lock()
	a := s.acct
	s.mu.Unlock()
	return a != nil && s.hub.admins[a.Key]
}

// Account returns the name of the account the session is logged in as,
// "" for a guest.
func (s *Session) Account() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return ""
	}
	return s.acct.Name
}

// nameKey returns the key (NameKey) of the session's current name.
func (s *Session) nameKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// accountKey returns the key of the session's account, "" for a guest.
func (s *Session) accountKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return ""
	}
	return s.acct.Key
}

// isLoopback reports whether ip is a loopback address (a local client,
// exempt from the per-address registration limit as from the per-address
// connection limit).
func isLoopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.IsLoopback()
}

// remoteIP returns the address part of a "host:port" remote.
func remoteIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// errLoginFailed is the one answer to a wrong account or password: it
// does not say which was wrong.
var errLoginFailed = &Error{Code: CodeAuth, Message: "wrong account name or password"}

// authenticate checks an account's password, slowed down and then refused
// by the brute-force guards (per account and per address). It runs on the
// caller's goroutine and holds no lock while hashing or waiting.
func (h *Hub) authenticate(name, password, remote string) (*account, error) {
	if h.dir == nil {
		return nil, h.noDirectory()
	}
	if len(password) > auth.MaxPasswordBytes {
		return nil, errLoginFailed
	}
	display, key, err := ValidateName(name)
	if err != nil {
		return nil, errLoginFailed
	}
	ip := remoteIP(remote)
	acctKey, addrKey := key, ip
	delay := time.Duration(0)
	for _, g := range []struct {
		guard     *auth.Guard
		key, what string
	}{{h.acctGuard, acctKey, "account " + display}, {h.addrGuard, addrKey, "your address"}} {
		d, err := g.guard.Check(g.key, g.what)
		if err != nil {
			h.counters.logins[loginLocked].Add(1)
			h.log.Warn("login refused: locked out after failed logins", "account", display, "remote", ip)
			return nil, Errorf(CodeRateLimited, "%s", err.Error())
		}
		delay = max(delay, d)
	}
	if delay > 0 {
		h.sleep(delay)
	}
	h.mu.RLock()
	a := h.accounts[key]
	hash := ""
	if a != nil {
		hash = a.Hash
	}
	h.mu.RUnlock()
	ok := false
	if a != nil {
		ok, err = h.verify(hash, password)
		if err != nil {
			h.log.Error("an account's stored password hash is unreadable", "account", display, "err", err)
		}
	} else {
		_, _ = h.verify(dummyHash(h.cfg.HashParams), password) // the same work whether or not the account exists
	}
	if !ok {
		if h.acctGuard.Fail(acctKey) {
			h.log.Warn("account locked after repeated failed logins", "account", display, "remote", ip)
		}
		if h.addrGuard.Fail(addrKey) {
			h.log.Warn("address locked after repeated failed logins", "remote", ip)
		}
		h.log.Info("failed login", "account", display, "remote", ip)
		h.counters.logins[loginFailed].Add(1)
		return nil, errLoginFailed
	}
	h.acctGuard.Succeed(acctKey)
	h.addrGuard.Succeed(addrKey)
	h.counters.logins[loginOK].Add(1)
	return a, nil
}

var dummyHashes atomic.Pointer[map[auth.Params]string]

// dummyHash is a hash of nothing, verified against when an account does
// not exist so that a login takes as long either way.
func dummyHash(p auth.Params) string {
	if m := dummyHashes.Load(); m != nil {
		if h, ok := (*m)[p]; ok {
			return h
		}
	}
	h, _ := auth.Hash("", p)
	m := map[auth.Params]string{p: h}
	dummyHashes.Store(&m)
	return h
}

// verify checks a password against a hash, with at most a few hashes
// running at once (each takes tens of megabytes).
func (h *Hub) verify(hash, password string) (bool, error) {
	h.hashSem <- struct{}{}
	defer func() { <-h.hashSem }()
	return auth.Verify(hash, password)
}

// newHash checks a password being set against the rules and hashes it,
// bounded like verify.
func (h *Hub) newHash(password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	h.hashSem <- struct{}{}
	defer func() { <-h.hashSem }()
	return auth.Hash(password, h.cfg.HashParams)
}

// checkNewPassword applies the rules for a password being set.
func checkNewPassword(pw string) error {
	switch {
	case len(pw) > auth.MaxPasswordBytes:
		return Errorf(CodeInvalid, "the password is longer than %d bytes", auth.MaxPasswordBytes)
	case utf8.RuneCountInString(pw) < auth.MinPasswordRunes:
		return Errorf(CodeInvalid, "the password needs at least %d characters", auth.MinPasswordRunes)
	case strings.ContainsAny(pw, " \t\r\n"):
		return Errorf(CodeInvalid, "the password may not contain spaces")
	}
	return nil
}

// Credential is proof that a connection gave an account's password
// (Authenticate); RegisterAccount turns it into a session.
type Credential struct{ a *account }

// Account returns the name of the account the credential is for.
func (c *Credential) Account() string { return c.a.Name }

// Authenticate checks an account's password, on the caller's goroutine:
// slowed down, then refused for a while, after repeated failures for the
// account or from the address (remote is "host:port").
func (h *Hub) Authenticate(name, password, remote string) (*Credential, error) {
	a, err := h.authenticate(name, password, remote)
	if err != nil {
		return nil, err
	}
	return &Credential{a: a}, nil
}

// RegisterAccount registers a session for the account a credential
// proves: the same user as the account's other sessions, if it has any. A
// correct account login needs no server password. The direct messages
// that arrived while the account was away are replayed after the
// session's welcome.
func (h *Hub) RegisterAccount(sink Sink, cred *Credential, info ClientInfo) (*Session, error) {
	a := cred.a
	skel := NameSkeleton(a.Name)
	if err := h.mod.checkServer(h, a.Key, remoteIP(info.Remote), skel); err != nil {
		return nil, err
	}
	if err := h.claimName(skel, a.Name, a.Key); err != nil {
		return nil, err
	}
	s, err := h.registerAccount(sink, a, info)
	if err != nil {
		h.releaseName(skel)
		return nil, err
	}
	h.announce(Presence{Op: PresenceHello, Session: s.id, Name: a.Name, Account: a.Key})
	return s, nil
}

// registerAccount is RegisterAccount once the name is claimed in the
// cluster.
func (h *Hub) registerAccount(sink Sink, a *account, info ClientInfo) (*Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if h.accounts[a.Key] != a {
		return nil, errLoginFailed // unregistered meanwhile
	}
	h.nextSess++
	s := &Session{hub: h, id: h.nextSess, sink: sink, info: info, started: h.now().UnixNano(), addrCloak: h.addressCloak(remoteIP(info.Remote))}
	h.sessions[s.id] = s
	h.peak = max(h.peak, len(h.sessions))
	s.awayHeld = true
	s.holdLive() // released by Welcome, after the away replay
	h.attachLocked(s, a)
	h.log.Info("session started", "session", s.id, "name", a.Name, "account", a.Name, "protocol", info.Protocol, "remote", info.Remote, "sessions", len(h.sessions))
	return s, nil
}

// attachLocked makes s a session of account a, under its name. Caller
// holds h.mu, not s.mu; s's live events are held (the away replay comes
// first).
func (h *Hub) attachLocked(s *Session, a *account) {
	s.mu.Lock()
	s.name, s.key, s.skel = a.Name, a.Key, NameSkeleton(a.Name)
	s.acct = a
	s.nameSince = a.Since
	rare := s.rareLocked()
	rare.awayFrom, rare.awayTo = a.Seen, a.delivered.Load()
	if s.info.DMsAfter > 0 {
		rare.awayFrom = s.info.DMsAfter // the client says exactly what it has
	}
	s.mu.Unlock()
	a.sessions = append(a.sessions, s)
	if h.names[a.Key] == nil {
		h.names[a.Key] = s
	}
	if h.looks[s.skel] == nil {
		h.looks[s.skel] = s
	}
}

// replayAway delivers the direct messages that arrived while the account
// was away (after its Seen, up to what its sessions were handed when this
// one was added), then ends the hold begun at login.
func (s *Session) replayAway() {
	s.mu.Lock()
	var from, to uint64
	if r := s.rare; r != nil {
		from, to = r.awayFrom, r.awayTo
		r.awayFrom, r.awayTo = 0, 0
	}
	name := s.name
	pending := s.awayHeld
	s.awayHeld = false
	s.mu.Unlock()
	if !pending {
		return
	}
	defer s.releaseLive()
	if to <= from {
		return
	}
	h := s.hub
	msgs, err := h.store.History(context.Background(), HistoryQuery{User: name, After: from, Before: to + 1, Limit: h.cfg.MaxResume, FromOldest: true})
	if err != nil {
		h.log.Error("replaying direct messages failed", "session", s.id, "err", err)
		s.sink.Deliver(errorEvent(Errorf(CodeUnavailable, "your direct messages are unavailable right now; /history shows them later"), ""))
		return
	}
	n := 0
	for i := range msgs {
		if NameKey(msgs[i].To) == s.key {
			n++
		}
	}
	if n > 0 {
		s.sink.Deliver(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: plural(n, "direct message") + " arrived while you were away:"}})
	}
	deliverPaced(s.sink, func(yield func(*Event) bool) {
		for i := range msgs {
			if !yield(&Event{Message: msgs[i], History: true}) {
				return
			}
		}
	})
	end := &Event{Message: Message{Kind: KindHistoryEnd, Time: h.now()}, History: true}
	if len(msgs) == h.cfg.MaxResume {
		end.Text = HistoryMore
	}
	s.sink.Deliver(end)
}

// plural returns "1 thing" or "n things".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return itoa(n) + " " + what + "s"
}

// detachLocked removes s from its account's sessions and returns the
// account if s was its last one (its Seen is then due). Caller holds h.mu
// and s.mu.
func (h *Hub) detachLocked(s *Session) *account {
	a := s.acct
	if a == nil {
		return nil
	}
	a.sessions = slices.DeleteFunc(a.sessions, func(o *Session) bool { return o == s })
	if h.names[a.Key] == s {
		delete(h.names, a.Key)
		if len(a.sessions) > 0 {
			h.names[a.Key] = a.sessions[0]
		}
	}
	if h.looks[s.skel] == s {
		delete(h.looks, s.skel)
		if len(a.sessions) > 0 {
			h.looks[s.skel] = a.sessions[0]
		}
	}
	if len(a.sessions) > 0 {
		return nil
	}
	return a
}

// saveSeen records, when an account's last session has left, how far its
// direct messages were delivered: the next login replays what is newer.
func (h *Hub) saveSeen(a *account) {
	h.acctMu.Lock()
	defer h.acctMu.Unlock()
	for try := 1; ; try++ {
		h.mu.Lock()
		if len(a.sessions) > 0 || h.accounts[a.Key] != a || a.Seen >= a.delivered.Load() {
			h.mu.Unlock()
			return
		}
		rec := a.Account
		rec.Seen = a.delivered.Load()
		h.mu.Unlock()
		err := h.dir.PutAccount(context.Background(), rec)
		if errors.Is(err, ErrConflict) && try < maxConflicts {
			continue // another node's newer version is applied: again from it
		}
		if err != nil {
			h.log.Error("saving an account failed", "account", rec.Name, "err", err)
			return
		}
		h.applied(func() { h.applyAccount(rec) })
		return
	}
}

// maxConflicts bounds the tries of a write to a SharedDirectory that
// others keep changing.
const maxConflicts = 5

// applied runs apply, the hub's side of a Directory write that has
// succeeded, unless the directory is shared (it applied the write itself).
func (h *Hub) applied(apply func()) {
	if h.sharedDir == nil {
		apply()
	}
}

// accountSessions returns the sessions a direct message to or from s
// reaches on this node: s, or every session of its account. Caller holds
// h.mu (read).
func accountSessions(s *Session) []*Session {
	if s == nil {
		return nil
	}
	if a := s.accountOf(); a != nil {
		return a.sessions
	}
	return []*Session{s}
}

// accountOf returns the session's account (nil for a guest), under s.mu;
// it changes only under Hub.mu too, so a caller holding Hub.mu sees it
// stay.
func (s *Session) accountOf() *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acct
}

// Register makes the session's current name an account with password
// (registration must be open, or the session an admin's). In admin mode an
// admin registers someone else's name with RegisterName.
func (s *Session) Register(password string) error {
	h := s.hub
	if h.dir == nil {
		return s.hub.noDirectory()
	}
	switch h.cfg.Registration {
	case RegistrationClosed:
		return Errorf(CodeForbidden, "registration is closed on this server")
	case RegistrationAdmin:
		if !s.IsAdmin() {
			return Errorf(CodeForbidden, "on this server only its operators create accounts")
		}
	}
	if s.Account() != "" {
		return Errorf(CodeInvalid, "you are already logged in as %s", s.Account())
	}
	ip := remoteIP(s.info.Remote)
	if h.admins[s.nameKey()] && !isLoopback(ip) {
		// Whoever registers an --admin name first gets the server: that
		// must be the operator, on the server's own machine.
		h.log.Warn("refused to register an admin name from another machine", "name", s.Name(), "remote", ip)
		return Errorf(CodeForbidden, "%s is a server operator's name: it can only be registered from the server's own machine", s.Name())
	}
	limited := h.cfg.RegistrationsPerHour > 0 && !isLoopback(ip)
	if _, err := h.regGuard.Check(ip, "your address"); limited && err != nil && !s.IsAdmin() {
		h.log.Warn("registration refused: too many accounts from one address", "remote", ip)
		return Errorf(CodeRateLimited, "too many accounts were registered from your address; try again in %s", err.(*auth.Locked).Retry.Round(time.Minute))
	}
	hash, err := h.newHash(password)
	if err != nil {
		return err
	}
	h.acctMu.Lock()
	defer h.acctMu.Unlock()
	h.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		h.mu.Unlock()
		return ErrClosed
	}
	name, key, skel, since := s.name, s.key, s.skel, s.nameSince
	s.mu.Unlock()
	if h.registeredLocked(key, skel) != nil {
		h.mu.Unlock()
		return Errorf(CodeNameRegistered, "%q is already registered", name)
	}
	h.mu.Unlock()
	if since == noName {
		since = h.lastCommitted.Load()
	}
	rec := Account{Name: name, Key: key, Hash: hash, Created: h.now(), Since: since, Seen: h.lastDelivered.Load()}
	if err := h.dir.PutAccount(context.Background(), rec); errors.Is(err, ErrConflict) {
		return Errorf(CodeNameRegistered, "%q was registered elsewhere meanwhile", name)
	} else if err != nil {
		h.log.Error("storing an account failed", "account", name, "err", err)
		return Errorf(CodeUnavailable, "the account could not be stored; try again")
	}
	h.applied(func() { h.applyAccount(rec) })
	h.mu.Lock()
	a := h.accounts[key]
	s.mu.Lock()
	if s.closed || s.key != key || a == nil || !a.Created.Equal(rec.Created) { // renamed or gone while the account was stored
		s.mu.Unlock()
		h.mu.Unlock()
		if a != nil && a.Created.Equal(rec.Created) {
			if err := h.dir.DeleteAccount(context.Background(), key); err == nil {
				h.applied(func() { h.applyAccountGone(rec) })
			}
		}
		return Errorf(CodeInvalid, "your name changed while registering; try again")
	}
	s.acct = a
	s.nameSince = since
	rooms := slices.Clone(s.rooms)
	s.mu.Unlock()
	a.sessions = append(a.sessions, s)
	h.mu.Unlock()
	for _, r := range rooms { // s is the account's one session in each of its rooms
		r.mu.Lock()
		r.accountIn(a)
		r.mu.Unlock()
	}
	if limited {
		h.regGuard.Fail(ip) // counts a registration, not a failure
	}
	h.upgradeClaim(skel, name, key)
	h.announce(Presence{Op: PresenceNick, Session: s.id, Name: name, Account: key}) // the other nodes: it is an account now
	h.log.Info("account registered", "account", name, "session", s.id, "remote", ip)
	s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: "the name " + name + " is now registered to you. Next time log in as " + name + " with your password (/login " + name + " PASSWORD, or " + name + ":PASSWORD as a tutorial client's name)"}})
	return nil
}

// RegisterName creates an account for name with password on behalf of an
// admin (the only way in --registration admin mode). Nobody else may be
// using the name.
func (s *Session) RegisterName(name, password string) error {
	h := s.hub
	if h.dir == nil {
		return s.hub.noDirectory()
	}
	if !s.IsAdmin() {
		return Errorf(CodeForbidden, "only server operators register other names")
	}
	if h.cfg.Registration == RegistrationClosed {
		return Errorf(CodeForbidden, "registration is closed on this server")
	}
	display, key, err := ValidateName(name)
	if err != nil {
		return err
	}
	hash, err := h.newHash(password)
	if err != nil {
		return err
	}
	skel := NameSkeleton(display)
	h.acctMu.Lock()
	defer h.acctMu.Unlock()
	h.mu.RLock()
	taken := h.registeredLocked(key, skel) != nil || h.names[key] != nil || h.looks[skel] != nil
	h.mu.RUnlock()
	if _, elsewhere := h.RemoteUser(display); taken || elsewhere {
		return Errorf(CodeNameTaken, "%q is registered or in use", display)
	}
	rec := Account{Name: display, Key: key, Hash: hash, Created: h.now(), Since: h.lastCommitted.Load(), Seen: h.lastDelivered.Load()}
	if err := h.dir.PutAccount(context.Background(), rec); errors.Is(err, ErrConflict) {
		return Errorf(CodeNameTaken, "%q was registered elsewhere meanwhile", display)
	} else if err != nil {
		h.log.Error("storing an account failed", "account", display, "err", err)
		return Errorf(CodeUnavailable, "the account could not be stored; try again")
	}
	h.applied(func() { h.applyAccount(rec) })
	h.mu.RLock()
	if h.names[key] != nil || h.looks[skel] != nil { // a guest took it meanwhile: it stays theirs until they leave
		h.log.Warn("a guest holds a name just registered by an admin", "account", display)
	}
	h.mu.RUnlock()
	h.log.Info("account registered by an admin", "account", display, "by", s.Name())
	s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: "registered the account " + display}})
	return nil
}

// Login logs a guest session in to an account: the session takes the
// account's name (its peers see a nick change) and gets what the account
// is owed (direct messages that arrived while it was away).
func (s *Session) Login(name, password string) error {
	h := s.hub
	if cur := s.Account(); cur != "" {
		return Errorf(CodeInvalid, "you are already logged in as %s", cur)
	}
	a, err := h.authenticate(name, password, s.info.Remote)
	if err != nil {
		return err
	}
	newSkel := NameSkeleton(a.Name)
	if err := h.mod.checkServer(h, a.Key, remoteIP(s.info.Remote), newSkel); err != nil {
		return err
	}
	s.mu.Lock()
	renaming := s.skel != newSkel // a guest already called by the account's name keeps its claim
	s.mu.Unlock()
	if renaming {
		if err := h.claimName(newSkel, a.Name, a.Key); err != nil {
			return err
		}
	}
	release := func(skel string) {
		if renaming {
			h.releaseName(skel)
		}
	}
	if !renaming {
		h.upgradeClaim(newSkel, a.Name, a.Key)
	}
	h.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		h.mu.Unlock()
		release(newSkel)
		return ErrClosed
	}
	if h.accounts[a.Key] != a {
		s.mu.Unlock()
		h.mu.Unlock()
		release(newSkel)
		return errLoginFailed
	}
	old, oldSkel := s.name, s.skel
	if old != a.Name {
		h.noteDepartureLocked(s, old)
	}
	if h.names[s.key] == s {
		delete(h.names, s.key)
	}
	if h.looks[s.skel] == s {
		delete(h.looks, s.skel)
	}
	rooms := slices.Clone(s.rooms)
	s.awayHeld = true
	s.mu.Unlock()
	s.holdLive()
	h.attachLocked(s, a)
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.accountIn(a)
		r.mu.Unlock()
	}
	release(oldSkel)
	h.announce(Presence{Op: PresenceNick, Session: s.id, Name: a.Name, Account: a.Key})
	h.log.Info("logged in", "session", s.id, "account", a.Name, "was", old)
	if old != a.Name {
		ev := &Event{Message: Message{Kind: KindNick, Time: h.now()}, Session: s.id, OldName: old, Name: a.Name}
		s.sink.Deliver(ev) // ahead of the held events
		s.tellPeers(rooms, ev)
	}
	s.sink.Deliver(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: "you are logged in as " + a.Name}})
	s.replayAway()
	return nil
}

// Passwd changes the session's account password.
func (s *Session) Passwd(old, pw string) error {
	h := s.hub
	key := s.accountKey()
	if key == "" {
		return Errorf(CodeAccountRequired, "you are not logged in")
	}
	if _, err := h.authenticate(s.Account(), old, s.info.Remote); err != nil {
		return err
	}
	hash, err := h.newHash(pw)
	if err != nil {
		return err
	}
	h.acctMu.Lock()
	defer h.acctMu.Unlock()
	var rec Account
	for try := 1; ; try++ {
		h.mu.RLock()
		a := h.accounts[key]
		if a != nil {
			rec = a.Account
		}
		h.mu.RUnlock()
		if a == nil {
			return Errorf(CodeAccountRequired, "your account no longer exists")
		}
		rec.Hash = hash
		err := h.dir.PutAccount(context.Background(), rec)
		if errors.Is(err, ErrConflict) && try < maxConflicts {
			continue
		}
		if err != nil {
			h.log.Error("storing an account failed", "account", rec.Name, "err", err)
			return Errorf(CodeUnavailable, "the password could not be stored; try again")
		}
		h.applied(func() { h.applyAccount(rec) })
		break
	}
	h.log.Info("password changed", "account", rec.Name, "session", s.id)
	s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: "your password has been changed"}})
	return nil
}

// Unregister deletes the session's account (after checking its password):
// the name becomes free. The account's other sessions are disconnected,
// and this one stays on as a guest under the name.
func (s *Session) Unregister(password string) error {
	h := s.hub
	key := s.accountKey()
	if key == "" {
		return Errorf(CodeAccountRequired, "you are not logged in")
	}
	if _, err := h.authenticate(s.Account(), password, s.info.Remote); err != nil {
		return err
	}
	h.acctMu.Lock()
	defer h.acctMu.Unlock()
	// Its rooms and roles go first: whoever registers the name next must
	// not inherit them.
	if err := h.mod.forgetAccount(h, key); err != nil {
		return err
	}
	h.mu.RLock()
	a := h.accounts[key]
	var rec Account
	if a != nil {
		rec = a.Account
	}
	h.mu.RUnlock()
	if err := h.dir.DeleteAccount(context.Background(), key); err != nil {
		h.log.Error("deleting an account failed", "account", key, "err", err)
		return Errorf(CodeUnavailable, "the account could not be deleted; try again")
	}
	h.applied(func() { h.applyAccountGone(rec) })
	var others []*Session
	h.mu.RLock()
	if a != nil {
		for _, o := range a.sessions {
			if o != s {
				others = append(others, o)
			}
		}
	}
	h.mu.RUnlock()
	// The other sessions go first: while s is still the account's, their
	// leaving is no one's quit in the rooms s shares with them.
	for _, o := range others {
		o.Kill("account deleted", "*")
	}
	h.mu.Lock()
	s.mu.Lock()
	rooms := slices.Clone(s.rooms)
	if a != nil {
		a.sessions = slices.DeleteFunc(a.sessions, func(o *Session) bool { return o == s })
	}
	s.acct = nil
	s.nameSince = noName
	if !s.closed {
		h.names[s.key], h.looks[s.skel] = s, s
		h.placeName(s) // its direct messages from now on only: a guest's name is not an account
	}
	s.mu.Unlock()
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.accountGone(a)
		r.mu.Unlock()
	}
	if !s.Closed() { // a guest now: the other nodes know it by its address
		h.announce(Presence{Op: PresenceNick, Session: s.id, Name: s.Name(), Addr: remoteIP(s.info.Remote)})
	}
	h.log.Info("account deleted", "account", key, "session", s.id)
	s.Send(&Event{Message: Message{Kind: KindNotice, Time: h.now(), Text: "your account is deleted; you stay on as a guest"}})
	return nil
}

// Kill ends a session from outside (an admin's /kill, a ban, an account
// deleted elsewhere): it leaves every room with reason and its connection
// is told goodbye and closed.
func (s *Session) Kill(reason, by string) {
	s.Leave(reason)
	s.sink.Deliver(&Event{Message: Message{Kind: KindBye, Time: s.hub.now()}, Reason: reason, By: by})
}

// itoa formats a small integer.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
