// Package auth holds what accounts need that is not chat: password hashes
// (argon2id, golang.org/x/crypto/argon2, a salt per hash, compared in
// constant time) and a brute-force guard that slows down and then refuses
// failed logins per account and per address, on an injected clock.
//
// It knows nothing about sessions, rooms or the store; package chat uses it.
package auth
