// Package chat is parley's protocol-agnostic core: the Hub, its rooms and
// sessions, the events they exchange, name and text rules, and the command
// table shared by every text front-end.
//
// The package knows nothing about sockets, JSON or terminals. Front-ends
// (package wire/...) turn bytes into Session calls and render Events into
// bytes; persistence and multi-node fan-out plug in through the Store and
// Broker interfaces declared here.
//
// Lock order (outermost first): Hub.acctMu, then moderation.mu (writers of
// accounts and of moderation, held across their Directory writes), Hub.mu,
// Room.mu, Session.mu, Session's hold lock, then whatever a Sink locks
// inside Deliver. moderation.rw and moderation.rt are leaves. Hub.qmu is
// read-held only to put a message on the commit queue and write-held only
// to close it; no other lock is held while it is waited for (a name fence,
// queued under Hub.mu, only tries it). No lock is held while the store is
// called: history replays run outside the room lock with the joiner's
// live events held (see docs/architecture.md).
package chat
