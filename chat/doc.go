// Package chat is parley's protocol-agnostic core: the Hub, its rooms and
// sessions, the events they exchange, name and text rules, and the command
// table shared by every text front-end.
//
// The package knows nothing about sockets, JSON or terminals. Front-ends
// (package wire/...) turn bytes into Session calls and render Events into
// bytes; persistence and multi-node fan-out plug in through the Store and
// Broker interfaces declared here.
//
// Lock order (outermost first): Hub.mu, Room.mu, Session.mu, then whatever a
// Sink locks inside Deliver. Hub.seqMu is the innermost lock: it is held
// only to assign ids and queue a message for commit (or read the last id),
// and no other lock is taken while it is held.
package chat
