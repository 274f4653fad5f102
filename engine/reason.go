package engine

import "strings"

// CloseReason says why a connection ended. Every disconnect has exactly one,
// used in logs, in the part message others see, and in tests.
type CloseReason uint8

// Close reasons.
const (
	ReasonNone              CloseReason = iota // still open
	ReasonClientClosed                         // the peer closed the connection
	ReasonQuit                                 // the user asked to leave (/quit)
	ReasonReadError                            // reading failed (reset, timeout)
	ReasonProtocolViolation                    // malformed or oversized input
	ReasonSlowConsumer                         // outbound queue overflowed
	ReasonWriteError                           // writing failed or timed out
	ReasonHandshakeTimeout                     // no valid name in time
	ReasonHandshakeFailed                      // gave up on naming (bad version, too many tries)
	ReasonServerShutdown                       // the server is stopping
	ReasonIdle                                 // no traffic within the idle deadline
	ReasonRateLimited                          // flooded past the rate limit
	ReasonAuthFailed                           // wrong server password
	ReasonServerFull                           // connection limits reached
	ReasonRemoved                              // removed by a server operator or a server-wide ban (or its account was deleted)
)

var reasonText = [...]string{
	ReasonNone:              "open",
	ReasonClientClosed:      "connection closed",
	ReasonQuit:              "quit",
	ReasonReadError:         "read error",
	ReasonProtocolViolation: "protocol violation",
	ReasonSlowConsumer:      "slow consumer",
	ReasonWriteError:        "write error",
	ReasonHandshakeTimeout:  "handshake timeout",
	ReasonHandshakeFailed:   "handshake failed",
	ReasonServerShutdown:    "server shutdown",
	ReasonIdle:              "idle timeout",
	ReasonRateLimited:       "flooding",
	ReasonAuthFailed:        "authentication failed",
	ReasonServerFull:        "server full",
	ReasonRemoved:           "removed",
}

// String returns the reason as shown in logs and part messages.
func (r CloseReason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return "unknown"
}

// NumReasons is one more than the largest CloseReason: reasons index
// arrays of that length.
const NumReasons = int(ReasonRemoved) + 1

// Label returns the reason as a metric label: its text in snake_case
// ("slow_consumer").
func (r CloseReason) Label() string { return strings.ReplaceAll(r.String(), " ", "_") }
