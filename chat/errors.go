package chat

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Front-ends map it into their
// own protocol (a JSON code, a line prefix, a tutorial notice).
type Code string

// Error codes. They are part of the wire contract: never rename one.
const (
	CodeInvalid        Code = "invalid"         // malformed request or argument
	CodeNameInvalid    Code = "name_invalid"    // nickname breaks the rules
	CodeNameTaken      Code = "name_taken"      // nickname in use (case-insensitively)
	CodeNameReserved   Code = "name_reserved"   // nickname reserved for the server
	CodeRoomInvalid    Code = "room_invalid"    // room name breaks the rules
	CodeNotMember      Code = "not_member"      // not in that room
	CodeNoSuchUser     Code = "no_such_user"    // no one online by that name
	CodeUnknownCommand Code = "unknown_command" // no such /command
	CodeUnknownType    Code = "unknown_type"    // no such native event type
	CodeTooLong        Code = "too_long"        // message, frame or line over the limit
	CodeEmpty          Code = "empty"           // nothing left to send after cleaning
	CodeProtocol       Code = "protocol_error"  // the peer broke the wire protocol
	CodeRateLimited    Code = "rate_limited"    // too many messages
	CodeUnavailable    Code = "unavailable"     // storage or server temporarily unable
	CodeShutdown       Code = "shutting_down"   // server is stopping
	CodeBadVersion     Code = "bad_version"     // protocol version not supported
	CodeAuth           Code = "auth_failed"     // wrong or missing server password
	CodeFull           Code = "server_full"     // connection limits reached
	CodeHistoryGone    Code = "history_gone"    // resume point older than retention
	CodeInternal       Code = "internal"        // a bug or unexpected failure; details only in logs

	CodeNameRegistered  Code = "name_registered"  // the name (or one it looks like) belongs to an account: log in or choose another
	CodeAccountRequired Code = "account_required" // only logged-in accounts may do that here
	CodeForbidden       Code = "forbidden"        // your role does not allow it
	CodeBanned          Code = "banned"           // banned from the room or the server
	CodeMuted           Code = "muted"            // muted in the room
	CodeSlowMode        Code = "slow_mode"        // the room's slow mode: wait before the next message
	CodeInviteOnly      Code = "invite_only"      // the room is invite-only (+i)
)

// Error is a domain error with a stable code and a message safe to show to a
// client. Internal causes are never put in Message.
type Error struct {
	Code    Code
	Message string
}

// Error returns "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// CodeInternal otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns a client-safe message for err: the Message of an
// *Error, or a generic text for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors for control flow.
var (
	// ErrClosed is returned by Session methods after the session has left.
	ErrClosed = errors.New("chat: session closed")
	// ErrHubClosed is returned by Hub.Connect after Shutdown.
	ErrHubClosed = &Error{Code: CodeShutdown, Message: "server is shutting down"}
)
